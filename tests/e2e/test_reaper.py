"""reap_expired_labs end to end: exactly the expired labs go; unexpired, unlabelled and excluded stay."""

from __future__ import annotations

import time

import pytest

from gke_lab.clients import Clients
from gke_lab.overrides import apply_overrides
from gke_lab.ownership import Marker
from tests.e2e.emulator_admin import admin, last_seq, mutations_since, project_state

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROJECT = "gke-detail"
NUMBER = 415104041262
LOCAL = "cluster.master_authorized_networks=[{cidr: 127.0.0.1/32, name: local}]"
PAST = int(time.time()) - 3600


def lab_spec(lab: str, first: bool = False):
    return apply_overrides(
        None,
        [
            LOCAL,
            f"lab={lab}",
            f"delete_default_network={'true' if first else 'false'}",
            f"network.name={lab}-net",
            f"network.subnet.name={lab}-subnet",
            f"network.router={lab}-router",
            f"network.nat={lab}-nat",
            f"node_service_account.name={lab}-node",
            f"cluster.name={lab}-cluster",
            f"kms.node_key={lab}-node-key",
            f"kms.secrets_key={lab}-secret-key",
        ],
    )


def patch(emu, kind: str, name: str, fields: dict) -> None:
    admin(emu, "POST", "patch", json={"project": PROJECT, "kind": kind, "name": name, "fields": fields})


def cluster_labels(emu, name: str) -> dict:
    return next(c for c in project_state(emu)["clusters"] if c["name"] == name).get("resourceLabels", {})


def set_cluster_labels(emu, name: str, labels: dict) -> None:
    patch(emu, "cluster", name, {"resourceLabels": labels})


def provision(spec):
    from flows.provision import provision_lab

    return provision_lab(spec=spec)


def reap(**kw):
    from flows.reaper import reap_expired_labs

    return reap_expired_labs(projects=[PROJECT], **kw)


def lab_names(st: dict) -> dict[str, set[str]]:
    """Which labs' networks, clusters and service accounts exist."""
    return {
        "networks": {n["name"] for n in st["networks"]},
        "clusters": {c["name"] for c in st["clusters"]},
        "accounts": {a["email"].split("@")[0] for a in st["serviceAccounts"]},
    }


@pytest.fixture
def emu(emulator_factory):
    return emulator_factory(projects={PROJECT: NUMBER})


def add_bystanders() -> None:
    """An unmarked network and service account, and another member on a node-SA role."""
    from google.cloud import compute_v1
    from google.cloud.iam_admin_v1 import types as iam_types

    from gke_lab import ops

    clients = Clients.from_env()
    net = compute_v1.Network(name="team-net", auto_create_subnetworks=False, description="not a lab's")
    op = clients.networks.insert_unary(project=PROJECT, network_resource=net)
    ops.wait_compute(clients, op, project=PROJECT, resource="team-net")
    clients.iam.create_service_account(
        request=iam_types.CreateServiceAccountRequest(
            name=f"projects/{PROJECT}", account_id="team-robot", service_account=iam_types.ServiceAccount()
        )
    )
    policy = clients.projects.get_iam_policy(request={"resource": f"projects/{PROJECT}"})
    policy.bindings.add(role="roles/logging.logWriter", members=["user:alice@example.com"])
    clients.projects.set_iam_policy(request={"resource": f"projects/{PROJECT}", "policy": policy})


def test_reaper_takes_exactly_the_expired_labs(prefect_harness, emu):
    add_bystanders()
    for i, lab in enumerate(("expired", "fresh", "excluded", "unlabelled")):
        provision(lab_spec(lab, first=i == 0))
    set_cluster_labels(emu, "expired-cluster", Marker("expired", PAST).labels())
    set_cluster_labels(emu, "excluded-cluster", Marker("excluded", PAST).labels())
    set_cluster_labels(emu, "unlabelled-cluster", {})

    # A dry run decides, tears nothing down and reports.
    seq = last_seq(emu)
    dry = reap(dry_run=True, exclude=["excluded"])
    assert mutations_since(emu, seq) == []
    decisions = {d["lab"]: d for d in dry["decisions"]}
    assert {lab for lab, d in decisions.items() if d["action"] == "reap"} == {"expired"}
    assert decisions["excluded"]["reason"] == "excluded"
    assert "not expired" in decisions["fresh"]["reason"]
    assert decisions["-"]["cluster"] == "us-west1/unlabelled-cluster"
    assert "may still be provisioning" in decisions["unlabelled"]["reason"]

    before = project_state(emu)
    result = reap(exclude=["excluded"])
    after = project_state(emu)
    assert result["outcomes"].keys() == {f"{PROJECT}/expired"}
    names = lab_names(after)
    assert "expired-cluster" not in names["clusters"] and "expired-net" not in names["networks"]
    assert "expired-node" not in names["accounts"]
    for lab in ("fresh", "excluded", "unlabelled"):
        assert f"{lab}-cluster" in names["clusters"] and f"{lab}-net" in names["networks"]
        assert f"{lab}-node" in names["accounts"]
    assert "team-net" in names["networks"] and "team-robot" in names["accounts"]
    alice = [b for b in after["iamPolicy"]["bindings"] if "user:alice@example.com" in b["members"]]
    assert [b["role"] for b in alice] == ["roles/logging.logWriter"]
    assert not any("expired-node@" in m for b in after["iamPolicy"]["bindings"] for m in b["members"])
    # Survivors are byte-for-byte untouched.
    for kind in ("networks", "subnetworks", "routers", "serviceAccounts", "clusters"):
        kept_before = [i for i in before[kind] if not i["name"].split("/")[-1].startswith("expired")]
        assert sorted(map(repr, kept_before)) == sorted(map(repr, after[kind])), kind


def test_corrupt_or_missing_expiry_label_falls_back_to_create_time(prefect_harness, emu):
    provision(lab_spec("aged", first=True))
    provision(lab_spec("young"))
    for lab in ("aged", "young"):
        labels = cluster_labels(emu, f"{lab}-cluster")
        labels["gke-lab-expires"] = "not-a-number"
        set_cluster_labels(emu, f"{lab}-cluster", labels)
    patch(emu, "cluster", "aged-cluster", {"createTime": "2020-11-29T17:00:00+00:00"})

    result = reap(default_ttl_hours=8)
    decisions = {d["lab"]: d for d in result["decisions"]}
    assert decisions["aged"]["action"] == "reap" and "createTime+ttl" in decisions["aged"]["reason"]
    assert decisions["young"]["action"] == "skip"  # never "now": created minutes ago, 8 h TTL
    names = lab_names(project_state(emu))
    assert "aged-cluster" not in names["clusters"] and "young-cluster" in names["clusters"]


def test_orphans_are_reaped_once_their_own_markers_expire(prefect_harness, emu):
    from gke_lab import ops

    spec = lab_spec("orphan", first=True)
    provision(spec)
    clients = Clients.from_env()
    # The cluster is gone (deleted by hand); network, subnet, router and SA are left over.
    op = clients.container.delete_cluster(name=spec.cluster_name)
    ops.wait_container(clients, op, location_path=spec.cluster_parent, resource=spec.cluster_name)

    # While the markers have not expired, it might be a lab still being provisioned: left alone.
    first = reap()
    assert {d["lab"]: d["action"] for d in first["decisions"]} == {"orphan": "skip"}
    assert "orphan-net" in lab_names(project_state(emu))["networks"]

    expired = Marker("orphan", PAST).description()
    for kind, name in (
        ("network", "orphan-net"),
        ("subnetwork", "orphan-subnet"),
        ("router", "orphan-router"),
        ("serviceAccount", spec.node_sa_email),
    ):
        patch(emu, kind, name, {"description": expired})
    result = reap()
    assert {d["lab"]: d["action"] for d in result["decisions"]} == {"orphan": "reap"}
    st = project_state(emu)
    names = lab_names(st)
    assert "orphan-net" not in names["networks"] and "orphan-node" not in names["accounts"]
    assert not [s for s in st["subnetworks"] if s["name"] == "orphan-subnet"]
    assert not [r for r in st["routers"] if r["name"] == "orphan-router"]
    members = {m for b in st["iamPolicy"].get("bindings", []) for m in b["members"]}
    assert spec.node_sa_member not in members


def plant_rule(name: str, description: str) -> None:
    from google.cloud import compute_v1

    from gke_lab import ops

    clients = Clients.from_env()
    rule = compute_v1.Firewall(
        name=name,
        network=f"projects/{PROJECT}/global/networks/default",
        description=description,
        source_ranges=["10.0.0.0/8"],
        allowed=[compute_v1.Allowed(I_p_protocol="tcp", ports=["22"])],
    )
    op = clients.firewalls.insert(project=PROJECT, firewall_resource=rule)
    ops.wait_compute(clients, op, project=PROJECT, resource=f"projects/{PROJECT}/global/firewalls/{name}")


def test_planted_markers_cannot_stop_the_reaper(prefect_harness, emu):
    """A marker naming no valid lab, or an expiry past year 9999, is reported; the reaper never raises."""
    plant_rule("planted", 'gke-lab:{"managed-by":"gke-lab","lab":"Not A Lab","expires":1}')
    plant_rule("far-future", 'gke-lab:{"managed-by":"gke-lab","lab":"far-future","expires":1000000000000}')
    seq = last_seq(emu)
    result = reap()
    assert mutations_since(emu, seq) == []
    decisions = {d["lab"]: d for d in result["decisions"]}
    assert decisions["Not A Lab"]["action"] == "skip"
    assert "not a valid lab name" in decisions["Not A Lab"]["reason"]
    assert decisions["far-future"]["action"] == "skip"
    assert "planted" in {f["name"] for f in project_state(emu)["firewalls"]}
