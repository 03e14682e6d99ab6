"""`gke-lab plan`: exit codes, --json keys, field-named errors on stderr."""

import json
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from gke_lab.cli import main
from gke_lab.plan import LivePlan, build_plan, render_text
from gke_lab.resources.decision import Action, Decision
from gke_lab.spec import LabSpec


@pytest.fixture
def runner():
    return CliRunner()


def test_plan_default_prints_the_article_figures(runner):
    result = runner.invoke(main, ["plan"])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for figure in ("4,092", "1,024", "112,640", "4,096", "pod range binds"):
        assert figure in out
    for name in ("gke-network", "gke-subnet", "keyring-gke", "key-gke-node", "key-gke-secret", "gke-node"):
        assert name in out


def test_plan_json(runner):
    result = runner.invoke(main, ["plan", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    ip = plan["ip_plan"]
    assert {
        "max_nodes_by_subnet": 4092,
        "max_nodes_by_pod_range": 1024,
        "max_nodes": 1024,
        "max_pods": 112640,
        "max_services": 4096,
        "pod_cidr_per_node_prefix": 24,
    }.items() <= ip.items()
    assert plan["cluster_request"]["parent"] == "projects/gke-detail/locations/us-west1"
    assert plan["cluster_request"]["cluster"]["name"] == "cluster"
    kinds = [r["kind"] for r in plan["resources"]]
    assert kinds.count("kms.cryptoKey") == 2 and "container.cluster" in kinds
    assert plan["spec"]["project_id"] == "gke-detail"


def test_bad_master_cidr_exits_2_naming_the_field(runner):
    result = runner.invoke(main, ["plan", "--set", "cluster.master_ipv4_cidr=172.16.0.0/29"])
    assert result.exit_code == 2
    assert "cluster.master_ipv4_cidr" in result.stderr
    assert "/28" in result.stderr
    assert result.stdout == ""


def test_several_errors_and_unknown_path(runner):
    result = runner.invoke(main, ["plan", "--set", "cluster.nodes=1", "--set", "echo.replicas=0", "--json"])
    assert result.exit_code == 2
    assert "cluster.nodes" in result.stderr and "echo.replicas" in result.stderr


def test_spec_file_and_overrides(runner, tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_text("lab: team-a\nnetwork:\n  pods_range: {name: pods, cidr: 100.64.0.0/22}\n")
    result = runner.invoke(
        main, ["plan", "--spec", str(path), "--set", "cluster.autoscaling.max=2", "--json"]
    )
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["spec"]["lab"] == "team-a"
    assert plan["ip_plan"]["max_nodes"] == 4 and plan["ip_plan"]["binding_range"] == "pods_range"
    assert not plan["warnings"]
    # Autoscaling past what the Pod range holds (6 nodes > 4) is refused, no longer only a warning.
    refused = runner.invoke(main, ["plan", "--spec", str(path), "--set", "cluster.autoscaling.max=3"])
    assert refused.exit_code == 2 and "cluster.autoscaling.max" in refused.stderr
    assert "network.pods_range.cidr" in refused.stderr


def test_missing_spec_file_exits_2(runner, tmp_path):
    result = runner.invoke(main, ["plan", "--spec", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "cannot read" in result.stderr


def test_plan_functions_are_reusable():
    plan = build_plan(LabSpec(), now=0)
    assert plan.to_dict()["ownership"]["labels"]["gke-lab-expires"] == str(8 * 3600)
    assert "IP plan" in render_text(plan)
    exists = Decision(
        Action.EXISTS, "compute.network", "gke-network", "projects/p/global/networks/gke-network"
    )
    plan = plan.with_live(LivePlan(decisions=(exists,)))
    assert "Live state" in render_text(plan)


def test_console_script_runs_as_a_process():
    code = "from gke_lab.cli import main; main()"
    proc = subprocess.run(
        [sys.executable, "-c", code, "plan", "--set", "cluster.master_ipv4_cidr=172.16.0.0/29"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "cluster.master_ipv4_cidr" in proc.stderr


def test_plan_shows_channel_version_source_and_exclusion(runner):
    result = runner.invoke(main, ["plan", "--offline"])
    assert result.exit_code == 0, result.output
    (row,) = [line for line in result.stdout.splitlines() if "container.cluster" in line]
    assert "channel REGULAR" in row
    assert "version: the default of serverConfig.channels[REGULAR]" in row
    assert "exclusion NO_MINOR_OR_NODE_UPGRADES until " in row
    assert "2027-06-14" not in result.stdout
    for name in ("compute", "container", "cloudkms", "iam", "cloudresourcemanager"):
        assert re.search(rf"ensure\s+serviceusage\.service\s+{name}\.googleapis\.com", result.stdout)


def test_plan_warns_about_the_no_channel_removal(runner):
    legacy = ["cluster.release_channel=null", "cluster.legacy_no_channel=true", "cluster.auto_upgrade=false"]
    result = runner.invoke(main, ["plan", "--offline", *(a for s in legacy for a in ("--set", s))])
    assert result.exit_code == 0, result.output
    assert "warning: no release channel" in result.stdout and "2027-06-14" in result.stdout
    refused = runner.invoke(main, ["plan", "--offline", "--set", "cluster.release_channel=null"])
    assert refused.exit_code == 2 and "cluster.legacy_no_channel" in refused.stderr
