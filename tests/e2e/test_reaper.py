"""reap_expired_labs end to end: exactly the expired labs go; unexpired, unlabelled and excluded stay."""

from __future__ import annotations

import time

import pytest

from gke_lab.clients import Clients
from gke_lab.naming import per_lab_names
from gke_lab.ownership import Marker
from gke_lab.spec import LabSpec
from tests.fixtures_emulator import PROJECT, EmulatorAdmin, lab_spec

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PAST = int(time.time()) - 3600


def reaper_lab(lab: str, first: bool = False) -> LabSpec:
    """A lab with names of its own; only the first lab of a project deletes the default network."""
    return lab_spec(lab, f"delete_default_network={'true' if first else 'false'}")


def cluster_of(lab: str) -> str:
    return per_lab_names(lab)["cluster.name"]


def network_of(lab: str) -> str:
    return per_lab_names(lab)["network.name"]


def account_of(lab: str) -> str:
    return per_lab_names(lab)["node_service_account.name"]


def patch(admin: EmulatorAdmin, kind: str, name: str, fields: dict) -> None:
    admin.patch(PROJECT, kind, name, fields)


def cluster_labels(admin: EmulatorAdmin, name: str) -> dict:
    return next(c for c in admin.project_state()["clusters"] if c["name"] == name).get("resourceLabels", {})


def set_cluster_labels(admin: EmulatorAdmin, name: str, labels: dict) -> None:
    patch(admin, "cluster", name, {"resourceLabels": labels})


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


def test_reaper_takes_exactly_the_expired_labs(prefect_harness, lab_admin):
    add_bystanders()
    for i, lab in enumerate(("expired", "fresh", "excluded", "unlabelled")):
        provision(reaper_lab(lab, first=i == 0))
    set_cluster_labels(lab_admin, cluster_of("expired"), Marker("expired", PAST).labels())
    set_cluster_labels(lab_admin, cluster_of("excluded"), Marker("excluded", PAST).labels())
    set_cluster_labels(lab_admin, cluster_of("unlabelled"), {})

    # A dry run decides, tears nothing down and reports.
    seq = lab_admin.last_seq()
    dry = reap(dry_run=True, exclude=["excluded"])
    assert lab_admin.mutations_since(seq) == []
    decisions = {d["lab"]: d for d in dry["decisions"]}
    assert {lab for lab, d in decisions.items() if d["action"] == "reap"} == {"expired"}
    assert decisions["excluded"]["reason"] == "excluded"
    assert "not expired" in decisions["fresh"]["reason"]
    assert decisions["-"]["cluster"] == f"us-west1/{cluster_of('unlabelled')}"
    assert "may still be provisioning" in decisions["unlabelled"]["reason"]

    before = lab_admin.project_state()
    result = reap(exclude=["excluded"])
    after = lab_admin.project_state()
    assert result["outcomes"].keys() == {f"{PROJECT}/expired"}
    names = lab_names(after)
    assert cluster_of("expired") not in names["clusters"] and network_of("expired") not in names["networks"]
    assert account_of("expired") not in names["accounts"]
    for lab in ("fresh", "excluded", "unlabelled"):
        assert cluster_of(lab) in names["clusters"] and network_of(lab) in names["networks"]
        assert account_of(lab) in names["accounts"]
    assert "team-net" in names["networks"] and "team-robot" in names["accounts"]
    alice = [b for b in after["iamPolicy"]["bindings"] if "user:alice@example.com" in b["members"]]
    assert [b["role"] for b in alice] == ["roles/logging.logWriter"]
    assert not any(
        f"{account_of('expired')}@" in m for b in after["iamPolicy"]["bindings"] for m in b["members"]
    )
    # Survivors are byte-for-byte untouched.
    for kind in ("networks", "subnetworks", "routers", "serviceAccounts", "clusters"):
        kept_before = [i for i in before[kind] if not i["name"].split("/")[-1].startswith("gke-expired")]
        assert sorted(map(repr, kept_before)) == sorted(map(repr, after[kind])), kind


def test_corrupt_or_missing_expiry_label_falls_back_to_create_time(prefect_harness, lab_admin):
    provision(reaper_lab("aged", first=True))
    provision(reaper_lab("young"))
    for lab in ("aged", "young"):
        labels = cluster_labels(lab_admin, cluster_of(lab))
        labels["gke-lab-expires"] = "not-a-number"
        set_cluster_labels(lab_admin, cluster_of(lab), labels)
    patch(lab_admin, "cluster", cluster_of("aged"), {"createTime": "2020-11-29T17:00:00+00:00"})

    result = reap(default_ttl_hours=8)
    decisions = {d["lab"]: d for d in result["decisions"]}
    assert decisions["aged"]["action"] == "reap" and "createTime+ttl" in decisions["aged"]["reason"]
    assert decisions["young"]["action"] == "skip"  # never "now": created minutes ago, 8 h TTL
    names = lab_names(lab_admin.project_state())
    assert cluster_of("aged") not in names["clusters"] and cluster_of("young") in names["clusters"]


def test_orphans_are_reaped_once_their_own_markers_expire(prefect_harness, lab_admin):
    from gke_lab import ops

    spec = reaper_lab("orphan", first=True)
    provision(spec)
    clients = Clients.from_env()
    # The cluster is gone (deleted by hand); network, subnet, router and SA are left over.
    op = clients.container.delete_cluster(name=spec.cluster_name)
    ops.wait_container(clients, op, location_path=spec.cluster_parent, resource=spec.cluster_name)

    # While the markers have not expired, it might be a lab still being provisioned: left alone.
    first = reap()
    assert {d["lab"]: d["action"] for d in first["decisions"]} == {"orphan": "skip"}
    assert spec.network.name in lab_names(lab_admin.project_state())["networks"]

    expired = Marker("orphan", PAST).description()
    for kind, name in (
        ("network", spec.network.name),
        ("subnetwork", spec.network.subnet.name),
        ("router", spec.network.router),
        ("serviceAccount", spec.node_sa_email),
    ):
        patch(lab_admin, kind, name, {"description": expired})
    result = reap()
    assert {d["lab"]: d["action"] for d in result["decisions"]} == {"orphan": "reap"}
    st = lab_admin.project_state()
    names = lab_names(st)
    assert spec.network.name not in names["networks"] and account_of("orphan") not in names["accounts"]
    assert not [s for s in st["subnetworks"] if s["name"] == spec.network.subnet.name]
    assert not [r for r in st["routers"] if r["name"] == spec.network.router]
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


def test_planted_markers_cannot_stop_the_reaper(prefect_harness, lab_admin):
    """A marker naming no valid lab, or an expiry past year 9999, is no marker at all (foreign, as
    `Marker` decodes it): the reaper neither raises nor acts on it."""
    plant_rule("planted", 'gke-lab:{"managed-by":"gke-lab","lab":"Not A Lab","expires":1}')
    plant_rule("far-future", 'gke-lab:{"managed-by":"gke-lab","lab":"far-future","expires":1000000000000}')
    seq = lab_admin.last_seq()
    result = reap()
    assert lab_admin.mutations_since(seq) == []
    labs = {d["lab"] for d in result["decisions"]}
    assert "Not A Lab" not in labs and "far-future" not in labs
    assert {"planted", "far-future"} <= {f["name"] for f in lab_admin.project_state()["firewalls"]}
