"""Hostile specs and overrides: every one is refused with the field named, none crashes or is misread.

The cases go through the same core functions as the CLI (`--set`), chat commands and flow parameters
(`apply_overrides`), through spec files (`LabSpec.from_yaml`), and through the real `gke-lab plan` entry
point, which must answer exit code 2 with the dotted field path, never a traceback (exit 1) or a hang.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from gke_lab.cli import main
from gke_lab.overrides import apply_overrides
from gke_lab.spec import LabSpec, SpecError

MW = "cluster.maintenance_window"
AN = "cluster.master_authorized_networks"

# (overrides, dotted field path the refusal names, a fragment of its message)
OVERRIDE_CASES = [
    # full-string matches: a trailing newline is not part of a valid name or version
    (['lab="demo\\n"'], "lab", "not a valid name"),
    (['cluster.name="cluster\\n"'], "cluster.name", "not a valid name"),
    (['network.name="gke-network\\n"'], "network.name", "not a valid name"),
    (['network.subnet.name="gke-subnet\\n"'], "network.subnet.name", "not a valid name"),
    (['network.router="gke-router\\n"'], "network.router", "not a valid name"),
    (['echo.namespace="default\\n"'], "echo.namespace", "not a valid name"),
    (['cluster.tags=["gke-node\\n"]'], "cluster.tags[0]", "not a valid name"),
    (['cluster.version="1.30\\n"'], "cluster.version", "not a GKE version"),
    (['cluster.version="1.30.5-gke.1\\n"'], "cluster.version", "not a GKE version"),
    (['project_id="gke-detail\\n"'], "project_id", "not a valid project ID"),
    (['kms.keyring="keyring-gke\\n"'], "kms.keyring", "Cloud KMS"),
    (['node_service_account.name="gke-node\\n"'], "node_service_account.name", "service account"),
    ([f'{AN}=[{{cidr: 203.0.113.7/32, name: "me\\n"}}]'], f"{AN}[0].name", "control characters"),
    # authorized networks judged by their union
    ([f"{AN}=[{{cidr: 0.0.0.0/1}}, {{cidr: 128.0.0.0/1}}]"], f"{AN}[0].cidr", "public addresses"),
    ([f"{AN}=[{{cidr: 0.0.0.0/0}}]"], f"{AN}[0].cidr", "whole internet"),
    ([f"{AN}=[{{cidr: 64.0.0.0/2}}]"], f"{AN}[0].cidr", "allow_public_control_plane"),
    ([f"{AN}=[{{cidr: 8.0.0.0/7}}]"], f"{AN}[0].cidr", "public addresses"),
    (
        [f"{AN}=[" + ", ".join(f"{{cidr: {n}.0.0.0/8}}" for n in (1, 2, 3)) + "]"],
        AN,
        "together the ranges",
    ),
    ([f"{AN}=[]"], AN, "no authorized networks"),
    # subnet, Pod and Service ranges only in private or shared space
    (["network.subnet.cidr=127.0.0.0/20"], "network.subnet.cidr", "private or shared"),
    (["network.subnet.cidr=169.254.0.0/20"], "network.subnet.cidr", "private or shared"),
    (["network.subnet.cidr=224.0.0.0/20"], "network.subnet.cidr", "private or shared"),
    (["network.subnet.cidr=0.0.0.0/20"], "network.subnet.cidr", "private or shared"),
    (["network.subnet.cidr=8.8.0.0/20"], "network.subnet.cidr", "private or shared"),
    (["network.pods_range.cidr=127.64.0.0/14"], "network.pods_range.cidr", "private or shared"),
    (["network.pods_range.cidr=0.0.0.0/14"], "network.pods_range.cidr", "private or shared"),
    (["network.pods_range.cidr=240.0.0.0/14"], "network.pods_range.cidr", "private or shared"),
    (["network.services_range.cidr=169.254.0.0/20"], "network.services_range.cidr", "private or shared"),
    (["network.services_range.cidr=239.0.0.0/20"], "network.services_range.cidr", "private or shared"),
    # capacity against the autoscaling maximum
    (
        ["network.subnet.cidr=10.128.0.0/29", "cluster.autoscaling.max=1000"],
        "cluster.autoscaling.max",
        "admits only 4",
    ),
    (["cluster.num_nodes=3", "network.subnet.cidr=10.128.0.0/29"], "cluster.num_nodes", "admits only"),
    # the lab's network cannot be the default network it deletes
    (["network.name=default"], "network.name", "delete_default_network"),
    # strict integers and booleans
    (["cluster.num_nodes=true"], "cluster.num_nodes", "integer"),
    (["ttl_hours=true"], "ttl_hours", "number"),
    (["cluster.autoscaling.max=yes"], "cluster.autoscaling.max", "integer"),
    (["cluster.num_nodes=1.0"], "cluster.num_nodes", "integer"),
    (['cluster.num_nodes="2"'], "cluster.num_nodes", "integer"),
    (["echo.replicas=true"], "echo.replicas", "integer"),
    (["cluster.preemptible=1"], "cluster.preemptible", "boolean"),
    (["cluster.workload_identity=yes"], "cluster.workload_identity", "boolean"),
    (["cluster.network_policy=off"], "cluster.network_policy", "boolean"),
    (["delete_default_network=on"], "delete_default_network", "boolean"),
    # YAML 1.2: sexagesimal and other YAML 1.1 forms are text, so a number field refuses them
    (["ttl_hours=1:30"], "ttl_hours", "number"),
    (["cluster.disk_size_gb=1:40"], "cluster.disk_size_gb", "integer"),
    (["ttl_hours=.nan"], "ttl_hours", "finite"),
    (["ttl_hours=.inf"], "ttl_hours", "finite"),
    # duplicate keys in an override value
    ([f"{AN}=[{{cidr: 203.0.113.7/32, cidr: 0.0.0.0/0}}]"], f"{AN}[0].cidr", "duplicate key"),
    # roles outside the least-privilege allowlist
    (["node_service_account.roles=[roles/owner]"], "node_service_account.roles[0]", "least-privilege"),
    (["node_service_account.roles=[roles/editor]"], "node_service_account.roles[0]", "least-privilege"),
    (
        ["node_service_account.roles=[roles/logging.logWriter, roles/iam.serviceAccountTokenCreator]"],
        "node_service_account.roles[1]",
        "allow_privileged_roles",
    ),
    (["node_service_account.roles=[roles/iam.serviceAccountUser]"], "node_service_account.roles[0]", "least"),
    (
        ["node_service_account.roles=[roles/iam.serviceAccountAdmin]"],
        "node_service_account.roles[0]",
        "least",
    ),
    (
        ["node_service_account.roles=[roles/resourcemanager.projectIamAdmin]"],
        "node_service_account.roles[0]",
        "least",
    ),
    (
        ["node_service_account.allow_privileged_roles=yes"],
        "node_service_account.allow_privileged_roles",
        "boolean",
    ),
    # recurrences: one RRULE line, DAILY/WEEKLY/MONTHLY, no DTSTART
    (
        [f'{MW}.recurrence="DTSTART:20200101T000000Z\\nRRULE:FREQ=WEEKLY;BYDAY=SA,SU"'],
        f"{MW}.recurrence",
        "DTSTART",
    ),
    ([f"{MW}.recurrence=FREQ=WEEKLY;BYDAY=SA,SU;DTSTART=20200101T000000Z"], f"{MW}.recurrence", "DTSTART"),
    (
        [f"{MW}.recurrence=FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30"],
        f"{MW}.recurrence",
        "DAILY, WEEKLY or MONTHLY",
    ),
    ([f"{MW}.recurrence=FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"], f"{MW}.recurrence", "not an accepted"),
    ([f'{MW}.recurrence="FREQ=WEEKLY;BYDAY=SA,SU\\n"'], f"{MW}.recurrence", "not an accepted"),
    ([f"{MW}.recurrence=FREQ=WEEKLY;BYDAY=SA;BYDAY=SU"], f"{MW}.recurrence", "repeated"),
    # rules that can never match are refused before dateutil searches them up to the year 9999
    ([f"{MW}.recurrence=FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30"], f"{MW}.recurrence", "no day that exists"),
    ([f"{MW}.recurrence=FREQ=MONTHLY;BYMONTH=4,6;BYMONTHDAY=31"], f"{MW}.recurrence", "no day that exists"),
    ([f"{MW}.recurrence=FREQ=MONTHLY;BYDAY=6SA"], f"{MW}.recurrence", "BYDAY"),
    ([f"{MW}.recurrence=FREQ=DAILY;BYSETPOS=2"], f"{MW}.recurrence", "unknown or repeated"),
    # maintenance times far from now
    (
        [f"{MW}.start=9999-12-31T17:00:00Z", f"{MW}.end=9999-12-31T23:00:00Z"],
        f"{MW}.start",
        "year 9999",
    ),
    ([f"{MW}.start=0001-01-01T00:00:00Z"], f"{MW}.start", "year 1"),
    # TTL bounded to a year; extend past it refused elsewhere
    (["ttl_hours=8761"], "ttl_hours", "less than or equal to 8760"),
    (["ttl_hours=1e400"], "ttl_hours", "finite"),
    # deep nesting and aliases in an override value
    (["cluster.tags=" + "[" * 1000], "cluster.tags", "nested more than"),
    (["cluster.tags=[&a x, *a]"], "cluster.tags", "anchors and aliases"),
]


@pytest.mark.parametrize(
    "overrides,path,fragment", OVERRIDE_CASES, ids=[f"{c[1]}:{c[0][-1][:48]}" for c in OVERRIDE_CASES]
)
def test_hostile_override_is_refused_naming_the_field(overrides, path, fragment):
    with pytest.raises(SpecError) as info:
        apply_overrides(None, overrides)
    messages = [m for p, m in info.value.problems if p == path]
    assert messages, info.value.problems
    assert any(fragment in m for m in messages), messages


# (YAML spec file text, dotted field path, message fragment)
FILE_CASES = [
    ("lab: demo\nlab: other\n", "lab", "duplicate key"),
    ("cluster:\n  num_nodes: 1\n  num_nodes: 3\n", "cluster.num_nodes", "duplicate key"),
    (
        "network:\n  subnet: {name: s, cidr: 10.0.0.0/20}\n  subnet: {name: t, cidr: 10.1.0.0/20}\n",
        "network.subnet",
        "duplicate",
    ),
    ("ttl_hours: 1:30\n", "ttl_hours", "number"),
    ("cluster:\n  num_nodes: true\n", "cluster.num_nodes", "integer"),
    ("cluster:\n  preemptible: yes\n", "cluster.preemptible", "boolean"),
    ('lab: "demo\\n"\n', "lab", "not a valid name"),
    ("cluster:\n  version: '1.30\n\n'\n", "cluster.version", "not a GKE version"),
    ("cluster:\n  master_authorized_networks: []\n", AN, "no authorized networks"),
    (
        "cluster:\n  master_authorized_networks:\n    - {cidr: 0.0.0.0/1}\n    - {cidr: 128.0.0.0/1}\n",
        f"{AN}[0].cidr",
        "public addresses",
    ),
    ("network:\n  name: default\n", "network.name", "delete_default_network"),
    ("node_service_account:\n  roles: [roles/owner]\n", "node_service_account.roles[0]", "least-privilege"),
    (
        "cluster:\n  maintenance_window:\n    start: 9999-12-31T17:00:00Z\n    end: 9999-12-31T23:00:00Z\n",
        f"{MW}.start",
        "9999",
    ),
    (
        "network:\n  pods_range: {name: p, cidr: 127.0.0.0/14}\n",
        "network.pods_range.cidr",
        "private or shared",
    ),
    ("x: " + "[" * 1000 + "\n", "(file)", "nested more than"),
    ("a: &x [1, 2]\nb: *x\n", "(file)", "anchors and aliases"),
]


@pytest.fixture
def runner():
    return CliRunner()


@pytest.mark.parametrize("text,path,fragment", FILE_CASES, ids=[f"{c[1]}:{c[0][:30]}" for c in FILE_CASES])
def test_hostile_spec_file_exits_2_naming_the_field(runner, tmp_path, text, path, fragment):
    spec = tmp_path / "lab.yaml"
    spec.write_text(text)
    result = runner.invoke(main, ["plan", "--spec", str(spec)])
    assert result.exit_code == 2, (result.output, result.exception)
    assert f"{path}: " in result.stderr and fragment in result.stderr, result.stderr


@pytest.mark.parametrize(
    "overrides,path,fragment",
    [c for c in OVERRIDE_CASES if c[1] in ("lab", "ttl_hours", "cluster.num_nodes", f"{MW}.start", AN)],
)
def test_hostile_override_through_the_cli_exits_2(runner, overrides, path, fragment):
    args = ["plan"]
    for text in overrides:
        args += ["--set", text]
    result = runner.invoke(main, args)
    assert result.exit_code == 2, (result.output, result.exception)
    assert f"{path}: " in result.stderr and fragment in result.stderr, result.stderr


def test_yaml_12_scalars_are_text_not_numbers_or_booleans():
    spec = apply_overrides(None, ["lab=yes", "cluster.name=on", "echo.namespace=no"])
    assert (spec.lab, spec.cluster.name, spec.echo.namespace) == ("yes", "on", "no")
    spec = LabSpec.from_yaml("lab: off\ncluster:\n  disk_size_gb: 010\n")
    assert spec.lab == "off" and spec.cluster.disk_size_gb == 10
    with pytest.raises(SpecError) as info:
        LabSpec.from_yaml("cluster:\n  version: 1.30\n")  # a float where text is needed: refused, not 1.3
    assert "cluster.version" in dict(info.value.problems)


def test_allowed_inputs_stay_valid():
    """The default spec, the README's examples and the explicit escape hatches are accepted."""
    LabSpec()
    apply_overrides(None, ["cluster.num_nodes=2", f"{AN}=[{{cidr: 198.51.100.4/32, name: me}}]"])
    apply_overrides(None, ["project_id=my-project", "lab=alice", "ttl_hours=4"])
    apply_overrides(None, [f"{AN}=[{{cidr: 127.0.0.1/32, name: local}}]"])
    apply_overrides(None, ["ttl_hours=0"])  # never expires
    apply_overrides(None, ["ttl_hours=8760"])
    apply_overrides(
        None,
        [f"{AN}=[{{cidr: 0.0.0.0/1}}, {{cidr: 128.0.0.0/1}}]", "cluster.allow_public_control_plane=true"],
    )
    apply_overrides(
        None, ["node_service_account.roles=[roles/owner]", "node_service_account.allow_privileged_roles=true"]
    )
    apply_overrides(None, ["network.name=default", "delete_default_network=false"])
    apply_overrides(None, [f"{AN}=[{{cidr: 10.0.0.0/8}}, {{cidr: 8.8.8.0/24}}]"])
    apply_overrides(None, ["network.subnet.cidr=192.168.0.0/20", "network.pods_range.cidr=172.20.0.0/14"])
    apply_overrides(None, ["network.services_range.cidr=198.18.0.0/20"])
    apply_overrides(None, [f"{MW}.recurrence=FREQ=DAILY", f"{MW}.recurrence=RRULE:FREQ=WEEKLY;BYDAY=SA,SU"])
    apply_overrides(None, ["cluster.version=1.30", "cluster.version=1.30.5-gke.1014001"])


# ------------------------------------------------------------------------------------------ special files


def _plan(spec: str) -> subprocess.CompletedProcess[str]:
    # A subprocess: a file that blocks on open (a FIFO) must not hang the test run; the timeout only
    # guards the suite, the assertion is on the exit code.
    return subprocess.run(
        [sys.executable, "-c", "from gke_lab.cli import main; main()", "plan", "--spec", spec],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "GKE_LAB_EMULATOR_HOST": "", "GOOGLE_APPLICATION_CREDENTIALS": ""},
    )


def test_dev_zero_is_refused():
    result = _plan("/dev/zero")
    assert result.returncode == 2, result.stderr
    assert "(file): " in result.stderr and "character device" in result.stderr


def test_fifo_is_refused_without_hanging(tmp_path):
    fifo = tmp_path / "lab.yaml"
    os.mkfifo(fifo)
    result = _plan(str(fifo))
    assert result.returncode == 2, result.stderr
    assert "(file): " in result.stderr and "FIFO" in result.stderr


def test_directory_is_refused(tmp_path):
    result = _plan(str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert "(file): " in result.stderr and "directory" in result.stderr


def test_non_utf8_file_is_refused(runner, tmp_path):
    spec = tmp_path / "lab.yaml"
    spec.write_bytes(b"lab: caf\xe9\n")
    result = runner.invoke(main, ["plan", "--spec", str(spec)])
    assert result.exit_code == 2, (result.output, result.exception)
    assert "(file): " in result.stderr and "UTF-8" in result.stderr


def test_huge_file_is_refused(runner, tmp_path):
    spec = tmp_path / "lab.yaml"
    spec.write_text("# padding\n" * 200_000)
    result = runner.invoke(main, ["plan", "--spec", str(spec)])
    assert result.exit_code == 2, (result.output, result.exception)
    assert "(file): " in result.stderr and "larger than" in result.stderr


def test_deep_nesting_in_a_file_is_refused(runner, tmp_path):
    spec = tmp_path / "lab.yaml"
    spec.write_text("[" * 100_000)
    result = runner.invoke(main, ["plan", "--spec", str(spec)])
    assert result.exit_code == 2, (result.output, result.exception)
    assert "nested more than" in result.stderr


def test_a_symlink_to_a_regular_spec_is_read(runner, tmp_path):
    real = tmp_path / "real.yaml"
    real.write_text("lab: linked\n")
    link = tmp_path / "lab.yaml"
    link.symlink_to(real)
    result = runner.invoke(main, ["plan", "--spec", str(link), "--json"])
    assert result.exit_code == 0, result.output
    assert '"lab": "linked"' in result.stdout


# ------------------------------------------------------------------------------------------ flow parameters


def test_flow_parameters_refuse_through_the_same_core():
    from flows.params import resolve_spec

    with pytest.raises(SpecError) as info:
        resolve_spec(overrides=["cluster.num_nodes=true", "node_service_account.roles=[roles/owner]"])
    paths = {p for p, _ in info.value.problems}
    assert {"cluster.num_nodes", "node_service_account.roles[0]"} <= paths
    with pytest.raises(ValueError) as raised:
        resolve_spec(spec={"ttl_hours": True, "network": {"name": "default"}})
    assert "ttl_hours" in str(raised.value) and "network.name" in str(raised.value)
    with pytest.raises(ValueError) as raised:
        resolve_spec(spec={"lab": "demo\n"})
    assert "lab" in str(raised.value)
