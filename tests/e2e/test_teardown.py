"""teardown_lab end to end against the emulator: a clean project afterwards, bystanders untouched,
reruns, dry runs, and load-balancer leftovers."""

from __future__ import annotations

import pytest
from google.cloud import compute_v1
from google.cloud.iam_admin_v1 import types as iam_types

from gke_lab.clients import Clients
from gke_lab.naming import per_lab_names
from gke_lab.overrides import apply_overrides
from gke_lab.ownership import Marker
from tests.fixtures_emulator import LOCAL_NETWORK, PROJECT, lab_spec

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROLE = "roles/logging.logWriter"  # one of the node service account's roles
KINDS = (
    "networks",
    "subnetworks",
    "firewalls",
    "routes",
    "routers",
    "instances",
    "serviceAccounts",
    "clusters",
)


def spec(*extra: str):
    return apply_overrides(None, [LOCAL_NETWORK, *extra])


# Another lab in the same project: names of its own (gke_lab.naming), the key ring shared.
OTHER = per_lab_names("other")
OTHER_KEYS = (OTHER["kms.node_key"], OTHER["kms.secrets_key"])


def other_lab_spec():
    return lab_spec("other", "delete_default_network=false")


def provision(**kw):
    from flows.provision import provision_lab

    return provision_lab(**kw)


def teardown(**kw):
    from flows.teardown import teardown_lab

    return teardown_lab(**kw)


def names(state: dict, kind: str) -> set[str]:
    return {item.get("email") or item["name"] for item in state.get(kind, [])}


def bindings(state: dict) -> set[tuple[str, str]]:
    return {(b["role"], m) for b in state["iamPolicy"].get("bindings", []) for m in b["members"]}


def in_default_network(item: dict) -> bool:
    return item.get("name") == "default" or str(item.get("network", "")).endswith("/global/networks/default")


def comparable(state: dict, *, drop_default: bool) -> dict:
    """The project's inventory as comparable JSON (policy etags aside)."""
    out = {}
    for kind in KINDS:
        items = [i for i in state.get(kind, []) if not (drop_default and in_default_network(i))]
        out[kind] = sorted(items, key=lambda i: str(i.get("selfLink") or i.get("name") or i.get("email")))
    out["iamPolicy"] = sorted(bindings(state))
    return out


def add_bystanders(clients: Clients) -> dict:
    """Unmarked resources a teardown must never touch, in a network of their own, plus members on the very
    roles the node service account gets."""
    from gke_lab import ops

    net = compute_v1.Network(name="bystander-net", auto_create_subnetworks=False, description="team network")
    op = clients.networks.insert_unary(project=PROJECT, network_resource=net)
    ops.wait_compute(clients, op, project=PROJECT, resource="bystander-net")
    subnet = compute_v1.Subnetwork(
        name="bystander-subnet",
        ip_cidr_range="10.200.0.0/24",
        network=f"projects/{PROJECT}/global/networks/bystander-net",
    )
    op = clients.subnetworks.insert_unary(project=PROJECT, region="us-west1", subnetwork_resource=subnet)
    ops.wait_compute(clients, op, project=PROJECT, region="us-west1", resource="bystander-subnet")
    rule = compute_v1.Firewall(
        name="bystander-allow-ssh",
        network=f"projects/{PROJECT}/global/networks/bystander-net",
        source_ranges=["10.0.0.0/8"],
        allowed=[compute_v1.Allowed(I_p_protocol="tcp", ports=["22"])],
    )
    op = clients.firewalls.insert_unary(project=PROJECT, firewall_resource=rule)
    ops.wait_compute(clients, op, project=PROJECT, resource="bystander-allow-ssh")
    clients.iam.create_service_account(
        request=iam_types.CreateServiceAccountRequest(
            name=f"projects/{PROJECT}",
            account_id="bystander",
            service_account=iam_types.ServiceAccount(display_name="not a lab's"),
        )
    )
    policy = clients.projects.get_iam_policy(request={"resource": f"projects/{PROJECT}"})
    extra = [f"serviceAccount:bystander@{PROJECT}.iam.gserviceaccount.com", "user:alice@example.com"]
    policy.bindings.add(role=ROLE, members=extra)
    clients.projects.set_iam_policy(request={"resource": f"projects/{PROJECT}", "policy": policy})
    return {"members": extra}


def add_unmarked_cluster(clients: Clients, keys: tuple[str, str] = OTHER_KEYS) -> None:
    """A cluster nobody labelled, in the bystander network (made like a lab's, then stripped of labels)."""
    from gke_lab import ops
    from gke_lab.requests import build_cluster

    base = spec(
        "lab=bystander",
        "network.name=bystander-net",
        "network.subnet.name=bystander-subnet",
        "node_service_account.name=bystander",
        "cluster.name=bystander-cluster",
        "cluster.master_ipv4_cidr=172.16.0.32/28",
        f"kms.node_key={keys[0]}",  # the other lab's keys (and their agent bindings) exist already
        f"kms.secrets_key={keys[1]}",
    )
    config = clients.container.get_server_config(name=base.cluster_parent)
    cluster = build_cluster(base, config.default_cluster_version, Marker("bystander", 0))
    # The keys exactly as named (a lab other than the default derives names left at the article's).
    node_key, secrets_key = (f"{base.keyring_name}/cryptoKeys/{key}" for key in keys)
    for pool in cluster.node_pools:
        pool.config.boot_disk_kms_key = node_key
    cluster.database_encryption.key_name = secrets_key
    cluster.resource_labels.clear()
    cluster.ip_allocation_policy.create_subnetwork = False
    cluster.ip_allocation_policy.cluster_secondary_range_name = ""
    cluster.ip_allocation_policy.services_secondary_range_name = ""
    cluster.ip_allocation_policy.cluster_ipv4_cidr_block = "10.64.0.0/14"
    cluster.ip_allocation_policy.services_ipv4_cidr_block = "10.68.0.0/20"
    op = clients.container.create_cluster(parent=base.cluster_parent, cluster=cluster)
    ops.wait_container(clients, op, location_path=base.cluster_parent, resource="bystander-cluster")


def add_load_balancer(result: dict, name: str = "leftover-lb") -> None:
    """A LoadBalancer Service somebody left in the lab's cluster (GKE adds a k8s-fw-* rule for it)."""
    from kubernetes import client as k8s

    from gke_lab import kube

    access = result["cluster"]
    api = kube.api_client(access["endpoint"], access["ca_certificate"], Clients.from_env().access_token())
    svc = k8s.V1Service(
        metadata=k8s.V1ObjectMeta(name=name),
        spec=k8s.V1ServiceSpec(
            type="LoadBalancer",
            selector={"app": "echo-server"},
            ports=[k8s.V1ServicePort(port=80, target_port=8080)],
        ),
    )
    k8s.CoreV1Api(api).create_namespaced_service("default", svc)


def k8s_rules(state: dict, network: str) -> set[str]:
    return {
        f["name"]
        for f in state.get("firewalls", [])
        if f["name"].startswith(("k8s-", "k8s2-")) and f["network"].endswith(f"/networks/{network}")
    }


# ------------------------------------------------------------------------------------------------ tests


def test_provision_then_teardown_restores_the_project_and_spares_bystanders(prefect_harness, lab_admin):
    clients = Clients.from_env()
    add_bystanders(clients)
    other = provision(spec=other_lab_spec())  # another lab in the same project, sharing the keys
    assert other["verification"]["passed"] is True
    add_unmarked_cluster(clients)
    before = lab_admin.project_state()

    lab = spec()
    result = provision(spec=lab)
    add_load_balancer(result)
    assert k8s_rules(lab_admin.project_state(), "gke-network"), "the emulator should have added a k8s-fw rule"
    report = teardown(spec=lab, destroy_keys=True)
    after = lab_admin.project_state()

    # Exactly as before, except the default network the spec deleted (and the kept keys, below).
    assert comparable(after, drop_default=False) == comparable(before, drop_default=True)
    assert "default" in names(before, "networks") and "default" not in names(after, "networks")
    # Bystanders on the node SA's very role keep their binding; our member is gone.
    assert (ROLE, "user:alice@example.com") in bindings(after)
    assert (ROLE, f"serviceAccount:bystander@{PROJECT}.iam.gserviceaccount.com") in bindings(after)
    assert (ROLE, other_lab_spec().node_sa_member) in bindings(after)
    assert not any(m == lab.node_sa_member for _, m in bindings(after))

    # Key ring and keys are reused: still there. Only this lab's keys have their versions scheduled for
    # destruction; the other lab's keys in the same key ring stay enabled.
    assert names(after, "cryptoKeys") == names(before, "cryptoKeys") | {
        lab.key_name("node"),
        lab.key_name("secrets"),
    }
    versions = {v["name"]: v["state"] for v in after["cryptoKeyVersions"]}
    for name, state in versions.items():
        key = name.split("/cryptoKeys/")[1].split("/")[0]
        assert state == ("ENABLED" if key in OTHER_KEYS else "DESTROY_SCHEDULED"), name
    assert {r["action"] for r in report["rows"] if r["phase"] == "keys"} == {"destruction scheduled"}

    deleted = {(r["kind"], r["name"]) for r in report["rows"] if r["action"] == "deleted"}
    assert ("cluster", "us-west1/cluster") in deleted
    assert ("network", "gke-network") in deleted
    assert ("service_account", lab.node_sa_email) in deleted
    assert ("service", "cluster:default/leftover-lb") in deleted


def test_destroy_keys_schedules_destruction_of_own_keys(prefect_harness, lab_admin):
    lab = spec()
    provision(spec=lab)
    report = teardown(spec=lab, destroy_keys=True)
    state = lab_admin.project_state()
    assert {k["name"].rsplit("/", 1)[-1] for k in state["cryptoKeys"]} >= {"key-gke-node", "key-gke-secret"}
    versions = [v for v in state["cryptoKeyVersions"] if "/keyRings/keyring-gke/" in v["name"]]
    assert versions and {v["state"] for v in versions} == {"DESTROY_SCHEDULED"}
    scheduled = [r for r in report["rows"] if r["action"] == "destruction scheduled"]
    assert len(scheduled) == len(versions)
    # A rerun finds nothing left to do and is still a success.
    seq = lab_admin.last_seq()
    again = teardown(spec=lab, destroy_keys=True)
    assert lab_admin.mutations_since(seq) == []
    assert not [r for r in again["rows"] if r["action"] in ("deleted", "destruction scheduled")]


def test_teardown_of_a_lab_that_is_gone_succeeds_with_nothing_to_do(prefect_harness, lab_admin):
    seq = lab_admin.last_seq()
    report = teardown(spec=spec())
    assert [r for r in report["rows"] if r["action"] != "kept"] == []
    assert lab_admin.mutations_since(seq) == []
    report = teardown(identity={"project_id": PROJECT, "lab": "never-was"})
    assert report["rows"] == []


def test_dry_run_lists_and_deletes_nothing(prefect_harness, lab_admin):
    lab = spec()
    provision(spec=lab)
    before = lab_admin.project_state()
    seq = lab_admin.last_seq()
    report = teardown(spec=lab, dry_run=True, destroy_keys=True)
    assert lab_admin.mutations_since(seq) == []
    assert comparable(lab_admin.project_state(), drop_default=False) == comparable(before, drop_default=False)
    would = {(r["kind"], r["name"]) for r in report["rows"] if r["action"] == "would delete"}
    assert {
        ("cluster", "us-west1/cluster"),
        ("network", "gke-network"),
        ("router", "us-west1/gke-router"),
    } <= would
    assert any(r["action"] == "would schedule destruction" for r in report["rows"])


def test_same_named_resources_without_our_marker_are_reported_and_kept(prefect_harness, lab_admin):
    clients = Clients.from_env()
    from gke_lab import ops

    for name, description in (
        ("gke-network", "made by hand"),
        ("gke-other", Marker("someone-else", 1).description()),
    ):
        net = compute_v1.Network(name=name, auto_create_subnetworks=False, description=description)
        op = clients.networks.insert_unary(project=PROJECT, network_resource=net)
        ops.wait_compute(clients, op, project=PROJECT, resource=name)
    clients.iam.create_service_account(
        request=iam_types.CreateServiceAccountRequest(
            name=f"projects/{PROJECT}",
            account_id="gke-node",
            service_account=iam_types.ServiceAccount(description=Marker("someone-else", 1).description()),
        )
    )
    seq = lab_admin.last_seq()
    report = teardown(spec=spec("network.name=gke-network"))
    assert lab_admin.mutations_since(seq) == []
    kept = {(r["kind"], r["name"]): r["reason"] for r in report["rows"] if r["action"] == "kept"}
    assert "no gke-lab ownership marker" in kept[("network", "gke-network")]
    assert "someone-else" in kept[("service_account", f"gke-node@{PROJECT}.iam.gserviceaccount.com")]
    assert {"gke-network", "gke-other"} <= names(lab_admin.project_state(), "networks")


def test_teardown_failing_midway_is_finished_by_a_rerun(prefect_harness, lab_admin):
    from prefect.states import State

    from flows.teardown import teardown_lab

    lab = spec()
    provision(spec=lab)

    def fail_once(api: str, path_regex: str) -> None:
        rule = {"api": api, "method": "DELETE", "path_regex": path_regex, "count": 1, "status": 403}
        lab_admin.configure_faults({"rules": [rule]})

    # The cluster delete is refused: nothing it still uses (NAT, network, node account, keys) is touched.
    fail_once("container", "/clusters/")
    seq = lab_admin.last_seq()
    state: State = teardown_lab(spec=lab, return_state=True)
    assert state.is_failed()
    after_cluster = {e["path"] for e in lab_admin.mutations_since(seq)}
    assert not [p for p in after_cluster if "/routers/" in p or "/networks/" in p or "serviceAccounts" in p]
    kept = lab_admin.project_state()
    assert "cluster" in names(kept, "clusters") and lab.node_sa_email in names(kept, "serviceAccounts")
    assert any(m == lab.node_sa_member for _, m in bindings(kept))

    # The subnet delete fails permanently once: the run stops after cluster, rules and router are gone.
    fail_once("compute", "subnetworks")
    state = teardown_lab(spec=lab, return_state=True)
    assert state.is_failed()
    half = lab_admin.project_state()
    assert "cluster" not in names(half, "clusters") and "gke-network" in names(half, "networks")
    lab_admin.clear_faults()

    report = teardown(spec=lab)
    done = lab_admin.project_state()
    assert "gke-network" not in names(done, "networks")
    assert "gke-subnet" not in names(done, "subnetworks")
    assert lab.node_sa_email not in names(done, "serviceAccounts")
    gone = {(r["kind"], r["name"]) for r in report["rows"] if r["action"] == "deleted"}
    assert ("subnetwork", "us-west1/gke-subnet") in gone and ("cluster", "us-west1/cluster") not in gone


def test_load_balancer_left_behind_does_not_block_network_deletion(prefect_harness, lab_admin):
    """Even when the workload step cannot run, GKE's leftover k8s-fw rule is removed before the network."""
    from gke_lab import teardown as td

    lab = spec()
    result = provision(spec=lab)
    add_load_balancer(result, "orphaned-lb")
    clients = Clients.from_env()
    target = td.LabTarget.from_spec(lab)
    # Delete the cluster first, as if the workload step had been skipped: the Service's rule is left behind.
    td.delete_clusters(clients, target)
    leftover = k8s_rules(lab_admin.project_state(), "gke-network")
    assert leftover, "a deleted cluster should leave its LoadBalancer rule behind"
    report = teardown(spec=lab)
    state = lab_admin.project_state()
    assert "gke-network" not in names(state, "networks")
    assert not k8s_rules(state, "gke-network")
    deleted = {r["name"] for r in report["rows"] if r["action"] == "deleted" and r["kind"] == "firewall"}
    assert leftover <= deleted


def test_report_is_published_as_an_artifact(prefect_harness, lab_admin):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactCollectionFilter, ArtifactCollectionFilterKey

    result = teardown(spec=spec(), dry_run=True)
    key = "cluster-gke-detail-teardown"
    with get_client(sync_client=True) as client:
        found = client.read_latest_artifacts(
            artifact_filter=ArtifactCollectionFilter(key=ArtifactCollectionFilterKey(any_=[key]))
        )
    assert [a.key for a in found] == [key]
    assert found[0].data.startswith("# Teardown of lab `cluster` in `gke-detail` (dry run")
    assert "| step | kind | resource | outcome | why |" in found[0].data
    assert result["dry_run"] is True


KILLABLE = """
import sys
from gke_lab import teardown as td
from gke_lab.clients import Clients
from gke_lab.naming import per_lab_names
from gke_lab.spec import LabSpec
td.teardown(Clients.from_env(), td.LabTarget.from_spec(LabSpec.model_validate_json(sys.argv[1])))
"""


def test_teardown_killed_midway_is_finished_by_a_rerun(prefect_harness, lab_admin):
    """SIGKILL while the cluster is being deleted; the rerun waits out that delete and finishes the rest."""
    import os
    import subprocess
    import sys
    import time

    lab = spec()
    provision(spec=lab)
    proc = subprocess.Popen([sys.executable, "-c", KILLABLE, lab.model_dump_json()], env=dict(os.environ))
    try:
        deadline = time.monotonic() + 300
        stopping = False
        while time.monotonic() < deadline and proc.poll() is None:
            clusters = lab_admin.project_state()["clusters"]
            if any(c["status"] == "STOPPING" for c in clusters):
                stopping = True
                break
            time.sleep(0.02)
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert stopping, "the killed run should have started deleting the cluster"
    half = lab_admin.project_state()
    assert "gke-network" in names(half, "networks") and lab.node_sa_email in names(half, "serviceAccounts")

    report = teardown(spec=lab)
    done = lab_admin.project_state()
    assert names(done, "clusters") == set()
    assert "gke-network" not in names(done, "networks") and "gke-subnet" not in names(done, "subnetworks")
    assert lab.node_sa_email not in names(done, "serviceAccounts")
    assert not any(m == lab.node_sa_member for _, m in bindings(done))
    assert not [r for r in report["rows"] if r["action"] == "failed"]


def test_teardown_rides_out_transient_faults(prefect_harness, lab_admin):
    """429s and 503s on a random share of calls are retried; the teardown still completes."""
    lab = spec()
    provision(spec=lab)
    lab_admin.configure_faults({"fault_rate": 0.15})
    try:
        report = teardown(spec=lab, destroy_keys=True)
    finally:
        lab_admin.clear_faults()
    st = lab_admin.project_state()
    assert names(st, "clusters") == set() and "gke-network" not in names(st, "networks")
    assert lab.node_sa_email not in names(st, "serviceAccounts")
    assert not [r for r in report["rows"] if r["action"] == "failed"]
    injected = [e for e in lab_admin.requests() if e["status"] in (429, 503)]
    assert injected, "the fault rate should have failed some calls"


def test_teardown_waits_for_the_labs_concurrency_slot(prefect_harness, lab_admin):
    """While another run of the same lab holds gke-lab:<project>:<lab>, the teardown changes nothing."""
    import threading
    import time

    from prefect.concurrency.sync import concurrency

    lab = spec()
    provision(spec=lab)  # also creates the one-slot limit
    outcome: dict = {}
    with concurrency(f"gke-lab:{PROJECT}:{lab.lab}", occupy=1, strict=True):
        seq = lab_admin.last_seq()
        worker = threading.Thread(target=lambda: outcome.update(teardown(spec=lab)))
        worker.start()
        time.sleep(5)  # not a timing assertion: a racing teardown would have deleted something by now
        assert lab_admin.mutations_since(seq) == []
        assert worker.is_alive()
    worker.join(timeout=600)
    assert outcome and "cluster" not in names(lab_admin.project_state(), "clusters")


def test_down_with_the_wrong_region_never_strips_a_running_cluster(prefect_harness, lab_admin):
    """The lab's cluster is found in every location: it is torn down with the rest, never left running
    without its NAT, node service account or bindings."""
    lab = spec()
    provision(spec=lab)
    wrong = spec("region=us-east1", "cluster.node_locations=[us-east1-b, us-east1-c]")
    teardown(spec=wrong)
    state = lab_admin.project_state()
    running = [c for c in state.get("clusters", []) if c["name"] == "cluster"]
    routers = names(state, "routers")
    accounts = names(state, "serviceAccounts")
    assert not running or ("gke-router" in routers and lab.node_sa_email in accounts)
    assert not running and lab.node_sa_email not in accounts


def test_a_cluster_with_edited_labels_stops_the_teardown_and_keeps_its_keys(prefect_harness, lab_admin):
    lab = spec()
    provision(spec=lab)
    lab_admin.call(
        "POST",
        "patch",
        json={
            "project": PROJECT,
            "kind": "cluster",
            "name": "cluster",
            "fields": {"resourceLabels": {"team": "kept-by-hand"}},
        },
    )
    seq = lab_admin.last_seq()
    state = teardown_lab_state(spec=lab, destroy_keys=True)
    assert state.is_failed() and "cluster" in (state.message or "")
    assert lab_admin.mutations_since(seq) == []
    versions = [
        v for v in lab_admin.project_state()["cryptoKeyVersions"] if "/keyRings/keyring-gke/" in v["name"]
    ]
    assert versions and "DESTROY_SCHEDULED" not in {v["state"] for v in versions}


def test_key_versions_used_by_any_cluster_are_never_scheduled_for_destruction(prefect_harness, lab_admin):
    """An unmarked cluster in its own network that encrypts with the lab's keys: teardown stops, naming it."""
    lab = spec()
    provision(spec=lab)
    clients = Clients.from_env()
    add_bystanders(clients)
    add_unmarked_cluster(clients, keys=("key-gke-node", "key-gke-secret"))
    seq = lab_admin.last_seq()
    state = teardown_lab_state(spec=lab, destroy_keys=True)
    assert state.is_failed() and "bystander-cluster" in (state.message or "")
    assert lab_admin.mutations_since(seq) == []


def teardown_lab_state(**kw):
    from flows.teardown import teardown_lab

    return teardown_lab(return_state=True, **kw)
