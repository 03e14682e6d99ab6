"""The command line around provisioning: plan --live (read-only), up, kubeconfig; run name, tags and lock."""

from __future__ import annotations

import contextlib
import json
import re

import pytest
import yaml
from click.testing import CliRunner
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName
from prefect.exceptions import ObjectNotFound

from gke_lab.cli import main
from tests.fixtures_emulator import LOCAL_NETWORK, PROJECT, EmulatorAdmin
from tests.fixtures_external import service_account_key

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROVISIONS = FlowRunFilter(name=FlowRunFilterName(any_=[f"provision cluster@{PROJECT}"]))


def _live(runner: CliRunner) -> dict:
    out = runner.invoke(main, ["plan", "--live", "--json", "--set", LOCAL_NETWORK], catch_exceptions=False)
    assert out.exit_code == 0, out.output
    return json.loads(out.stdout)["live"]


def test_plan_live_up_kubeconfig(prefect_harness, lab_admin, tmp_path):
    runner = CliRunner()

    before = _live(runner)
    kinds = {(e["kind"], e["name"]) for e in before["create"]}
    assert ("compute.network", "gke-network") in kinds
    assert ("container.cluster", "cluster") in kinds
    assert ("kms.cryptoKey", "key-gke-secret") in kinds
    assert before["delete"] == [{"kind": "compute.network", "name": "default"}]
    assert lab_admin.mutations_since(0) == [], "plan --live must not mutate"

    # Other tests of the session provision the same default lab: what is asserted below must be what
    # this `up` created, so its lock is removed first and the runs that exist now are remembered.
    from prefect.client.orchestration import get_client

    lock = f"gke-lab:{PROJECT}:cluster"
    with get_client(sync_client=True) as client:
        with contextlib.suppress(ObjectNotFound):
            client.delete_global_concurrency_limit_by_name(lock)
        earlier = {r.id for r in client.read_flow_runs(flow_run_filter=PROVISIONS)}

    up = runner.invoke(main, ["up", "--set", LOCAL_NETWORK], catch_exceptions=False)
    assert up.exit_code == 0, up.output
    assert "# Lab card: cluster" in up.stdout
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name(lock)  # created again by this `up`
        assert limit.limit == 1 and limit.active_slots == 0  # and released when it finished
        new = [r for r in client.read_flow_runs(flow_run_filter=PROVISIONS) if r.id not in earlier]
    assert len(new) == 1, [(r.name, r.id) for r in new]
    (run,) = new
    assert run.state is not None and run.state.is_completed()
    assert {"lab:cluster", f"project:{PROJECT}"} <= set(run.tags)

    mark = lab_admin.last_seq()
    after = _live(runner)
    assert after["create"] == [] and after["differs"] == [] and after["blocked"] == []
    assert ("container.cluster", "cluster") in {(e["kind"], e["name"]) for e in after["exists"]}
    assert lab_admin.mutations_since(mark) == []

    # A spec that differs in a field fixed at creation is reported, not ignored.
    drift = runner.invoke(
        main,
        ["plan", "--live", "--json", "--set", LOCAL_NETWORK, "--set", "network.subnet.cidr=10.130.0.0/20"],
    )
    differs = json.loads(drift.stdout)["live"]["differs"]
    assert any(d["name"] == "gke-subnet" and d["differences"][0]["field"] == "ip_cidr_range" for d in differs)

    # Authorized networks can change in place, but gke-lab reports the difference instead of ignoring it.
    other = "cluster.master_authorized_networks=[{cidr: 10.0.0.0/8, name: office}]"
    mark = lab_admin.last_seq()
    changed = runner.invoke(main, ["up", "--set", other])
    assert changed.exit_code == 1
    assert "authorized_networks_config.cidr_blocks" in changed.stderr
    assert lab_admin.mutations_since(mark) == []

    path = tmp_path / "kubeconfig"
    kc = runner.invoke(
        main, ["kubeconfig", "--set", LOCAL_NETWORK, "--output", str(path)], catch_exceptions=False
    )
    assert kc.exit_code == 0, kc.output
    config = yaml.safe_load(path.read_text())
    assert config["current-context"] == "gke_gke-detail_us-west1_cluster"
    assert config["clusters"][0]["cluster"]["server"].startswith("https://127.0.0.1:")


def test_up_with_bad_spec_exits_2_naming_the_field(emulator):
    out = CliRunner().invoke(main, ["up", "--set", "cluster.num_nodes=-3"])
    assert out.exit_code == 2
    assert "cluster.num_nodes" in out.stderr
    assert EmulatorAdmin(emulator.url).mutations_since(0) == []


def test_credentials_block_gives_service_account_credentials(prefect_harness, emulator, monkeypatch):
    """A prefect-gcp GcpCredentials block is resolved in the flow layer; tokens come from its token_uri."""
    from prefect_gcp import GcpCredentials

    from flows.common import use_credentials
    from gke_lab.clients import Clients, set_default_credentials

    info = service_account_key(PROJECT, f"{emulator.url}/token").info
    GcpCredentials(service_account_info=info).save("lab-runner-test", overwrite=True)
    try:
        use_credentials("lab-runner-test")
        monkeypatch.delenv("GKE_LAB_EMULATOR_HOST")  # the real-cloud path: no anonymous credentials
        clients = Clients.from_env()
        assert clients.credentials.service_account_email == info["client_email"]
        token = clients.access_token()
        assert token.startswith("ya29.")
        assert clients.access_token() == token  # cached until it expires
    finally:
        set_default_credentials(None)


def test_plan_flow_is_read_only_and_lists_creates(prefect_harness, emulator):
    from flows.plan import plan_lab

    plan = plan_lab(overrides=[LOCAL_NETWORK])
    created = {(e["kind"], e["name"]) for e in plan["live"]["create"]}
    assert ("container.cluster", "cluster") in created and (
        "iam.serviceAccount",
        f"gke-node@{PROJECT}.iam.gserviceaccount.com",
    ) in created
    assert plan["cluster_request"]["parent"] == f"projects/{PROJECT}/locations/us-west1"
    entries = EmulatorAdmin(emulator.url).requests()
    assert entries and [e for e in entries if e["mutating"]] == []


def test_plan_reads_live_state_when_a_target_is_configured(emulator, monkeypatch):
    """With GKE_LAB_EMULATOR_HOST set, a plain `plan` includes the live diff; `--offline` reads nothing."""
    runner = CliRunner()
    auto = runner.invoke(main, ["plan", "--set", LOCAL_NETWORK], catch_exceptions=False)
    assert auto.exit_code == 0, auto.output
    assert "Live state (what a run would do now)" in auto.stdout
    assert re.search(r"delete\s+compute\.network\s+default", auto.stdout)  # columns fit the widest kind
    reads = len(EmulatorAdmin(emulator.url).requests())
    assert reads > 0

    offline = runner.invoke(
        main, ["plan", "--offline", "--json", "--set", LOCAL_NETWORK], catch_exceptions=False
    )
    assert offline.exit_code == 0, offline.output
    assert "live" not in json.loads(offline.stdout)
    assert len(EmulatorAdmin(emulator.url).requests()) == reads, "--offline must not call the target"

    monkeypatch.delenv("GKE_LAB_EMULATOR_HOST")
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.setenv("CLOUDSDK_CONFIG", "/nonexistent-gcloud-config")
    bare = runner.invoke(main, ["plan", "--json"], catch_exceptions=False)
    assert "live" not in json.loads(bare.stdout)
