"""Whatever `plan --live` says for a resource is what `up` does with it, case by case, on the emulator.

The plan is read with `gke_lab.plan.live_decisions` (what `gke-lab plan --live` and the plan flow render)
and each resource is then ensured with the core function its provisioning task wraps (no Prefect):
CREATE -> created, EXISTS -> no mutating call, DELETE -> deleted, DIFFERS -> DriftError naming the same
fields, BLOCKED -> the same refusal, with no mutating call.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from google.cloud import compute_v1, kms_v1
from google.cloud.iam_admin_v1 import types as iam_types

from gke_lab.clients import Clients
from gke_lab.errors import DriftError, LabError, NotOwnedError, RefusedError
from gke_lab.ops import wait_compute
from gke_lab.overrides import apply_overrides
from gke_lab.ownership import Marker, marker_for
from gke_lab.plan import live_decisions
from gke_lab.requests import project_bindings as wanted_roles
from gke_lab.resources import (
    cluster,
    crypto_key,
    default_network,
    key_bindings,
    key_ring,
    network,
    project,
    project_bindings,
    router,
    service_account,
    services,
    subnetwork,
    workload,
)
from gke_lab.resources.decision import Action, Blocker, Decision, SettingsDriftError
from gke_lab.spec import LabSpec
from tests.fixtures_emulator import LOCAL_NETWORK, PROJECT, EmulatorAdmin

pytestmark = [pytest.mark.e2e]

# What the run reports for each resource, by the action the plan announced.
OUTCOME = {
    Action.CREATE: "created",
    Action.EXISTS: "unchanged",
    Action.UPDATE: "updated",
    Action.DELETE: "deleted",
    Action.SKIP: "skipped",
}


def lab(*changes: str) -> LabSpec:
    return apply_overrides(None, [LOCAL_NETWORK, *changes])


@pytest.fixture
def c(lab_emulator):
    return Clients.from_env()


def marker(spec: LabSpec) -> Marker:
    return marker_for(spec, time.time())


def planned(c: Clients, spec: LabSpec, kind: str, name: str) -> Decision:
    """The plan's decision for one resource (the whole live plan is read, as `plan --live` does)."""
    (decision,) = [d for d in live_decisions(c, spec) if (d.kind, d.name) == (kind, name)]
    return decision


def up(c: Clients, spec: LabSpec) -> dict[tuple[str, str], str]:
    """The provisioning run through the core ensures, in the flow's order: what happened to each resource."""
    out: dict[tuple[str, str], str] = {}
    stamp = marker(spec)

    def record(kind: str, name: str, created: bool) -> None:
        out[(kind, name)] = "created" if created else "unchanged"

    enabled = services.ensure(c, spec)
    served = services.read(c, spec).served
    for name in services.REQUIRED:
        out[(services.KIND, name)] = (
            "created" if name in enabled.enabled else "unchanged" if served else "skipped"
        )
    removed = default_network.ensure(c, spec)
    out[(default_network.KIND, default_network.NAME)] = "deleted" if removed.deleted else "skipped"
    record(network.KIND, spec.network.name, network.ensure(c, spec, stamp).created)
    record(subnetwork.KIND, spec.network.subnet.name, subnetwork.ensure(c, spec, stamp).created)
    record(router.KIND, spec.network.router, router.ensure(c, spec, stamp).created)
    record(key_ring.KIND, spec.kms.keyring, key_ring.ensure(c, spec).created)
    for which in crypto_key.WHICH:
        record(crypto_key.KIND, spec.key_id(which), crypto_key.ensure(c, spec, stamp, which).created)
    grants = key_bindings.ensure(c, spec, project.project_number(c, spec.project_id))
    for grant in grants:
        record(key_bindings.KIND, grant.resource.rsplit("/", 1)[-1], bool(grant.granted))
    account = service_account.ensure(c, spec, stamp)
    record(service_account.KIND, spec.node_sa_email, account.created)
    roles = project_bindings.ensure(c, spec, account.created_at)
    for role, member in wanted_roles(spec):
        record(project_bindings.KIND, role, (role, member) in roles.granted)
    version = project.choose_version(c, spec).version
    access = cluster.ensure(c, spec, stamp, version, [g.granted_at for g in grants] + [roles.granted_at])
    record(cluster.KIND, spec.cluster.name, access.created)
    applied = workload.deploy(c, spec, access)
    states = {applied.deployment, applied.service}
    out[(workload.KIND, workload.NAME)] = (
        "created" if "created" in states else "updated" if "updated" in states else "unchanged"
    )
    return out


def assert_up_stops_as_planned(admin: EmulatorAdmin, decision: Decision, run: Callable[[], object]) -> None:
    """DIFFERS -> DriftError with the plan's fields; BLOCKED -> the plan's refusal; nothing mutated."""
    assert decision.stops, decision
    seq = admin.last_seq()
    with pytest.raises(LabError) as info:
        run()
    if decision.action is Action.DIFFERS:
        assert isinstance(info.value, DriftError)
        assert [f for f, _, _ in info.value.differences] == [d.field for d in decision.differences]
        assert isinstance(info.value, SettingsDriftError) is decision.changeable
    else:
        expected = {Blocker.NOT_OWNED: NotOwnedError, Blocker.REFUSED: RefusedError}.get(
            decision.blocker, LabError
        )
        assert type(info.value) is expected
        assert str(info.value) == decision.message
    assert admin.mutations_since(seq) == []


def fields(decision: Decision) -> list[str]:
    return [d.field for d in decision.differences]


# ---------------------------------------------------------------------------------------------------------


def test_fresh_lab_creates_what_plan_lists_and_a_second_run_changes_nothing(lab_admin, c):
    spec = lab()
    before = live_decisions(c, spec)
    assert {d.action for d in before if d.kind != services.KIND} == {Action.CREATE, Action.DELETE}
    # Services: enabled already in this project (a fresh one is covered by test_provision).
    assert {d.action for d in before if d.kind == services.KIND} == {Action.EXISTS}
    outcome = up(c, spec)
    assert outcome == {(d.kind, d.name): OUTCOME[d.action] for d in before}

    after = live_decisions(c, spec)
    assert {(d.kind, d.name): d.action for d in after if d.action is not Action.SKIP} == {
        (d.kind, d.name): Action.EXISTS for d in before if d.action not in (Action.DELETE, Action.SKIP)
    }
    seq = lab_admin.last_seq()
    again = up(c, spec)
    assert again == {(d.kind, d.name): OUTCOME[d.action] for d in after}
    assert lab_admin.mutations_since(seq) == []


def test_changed_echo_replicas_is_an_update_in_place(lab_admin, c):
    up(c, lab())
    spec = lab("echo.replicas=3")
    decision = planned(c, spec, workload.KIND, workload.NAME)
    assert decision.action is Action.UPDATE
    assert up(c, spec)[(workload.KIND, workload.NAME)] == "updated"


def test_default_network_in_use_is_blocked_and_up_refuses(lab_admin, c):
    spec = lab()
    vm = {
        "name": "precious-vm",
        "networkInterfaces": [{"network": f"projects/{PROJECT}/global/networks/default"}],
    }
    lab_admin.call("POST", f"projects/{PROJECT}/zones/us-west1-a/instances", json=vm)
    decision = planned(c, spec, default_network.KIND, default_network.NAME)
    assert decision.action is Action.BLOCKED and "precious-vm" in decision.message
    assert_up_stops_as_planned(lab_admin, decision, lambda: default_network.guard(c, spec))
    assert_up_stops_as_planned(lab_admin, decision, lambda: default_network.ensure(c, spec))


@pytest.mark.parametrize(
    ("fields_patched", "field"),
    [
        ({"routingConfig": {"routingMode": "REGIONAL"}}, "routing_config.routing_mode"),
        ({"autoCreateSubnetworks": True}, "auto_create_subnetworks"),
    ],
)
def test_network_drift_differs_and_up_stops(lab_admin, c, fields_patched, field):
    spec = lab()
    network.ensure(c, spec, marker(spec))
    lab_admin.patch(PROJECT, "networks", "gke-network", fields_patched)
    decision = planned(c, spec, network.KIND, spec.network.name)
    assert decision.action is Action.DIFFERS and fields(decision) == [field]
    assert_up_stops_as_planned(lab_admin, decision, lambda: network.ensure(c, spec, marker(spec)))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ("network.subnet.cidr=10.130.0.0/20", "ip_cidr_range"),
        ("network.pods_range.cidr=100.72.0.0/14", "secondary_ip_ranges[gke-cluster-pods]"),
    ],
)
def test_subnet_drift_differs_and_up_stops(lab_admin, c, change, field):
    network.ensure(c, lab(), marker(lab()))
    subnetwork.ensure(c, lab(), marker(lab()))
    spec = lab(change)
    decision = planned(c, spec, subnetwork.KIND, spec.network.subnet.name)
    assert decision.action is Action.DIFFERS and fields(decision) == [field]
    assert_up_stops_as_planned(lab_admin, decision, lambda: subnetwork.ensure(c, spec, marker(spec)))


def test_subnet_and_router_in_another_network_differ_and_up_stops(lab_admin, c):
    elsewhere = lab("network.name=other-net")
    for ensure in (network.ensure, subnetwork.ensure, router.ensure):
        ensure(c, elsewhere, marker(elsewhere))
    spec = lab()
    assert planned(c, spec, network.KIND, spec.network.name).action is Action.CREATE
    network.ensure(c, spec, marker(spec))
    sub = planned(c, spec, subnetwork.KIND, spec.network.subnet.name)
    assert sub.action is Action.DIFFERS and fields(sub) == ["network"]
    assert_up_stops_as_planned(lab_admin, sub, lambda: subnetwork.ensure(c, spec, marker(spec)))
    rtr = planned(c, spec, router.KIND, spec.network.router)
    assert rtr.action is Action.DIFFERS and fields(rtr) == ["network"]
    assert_up_stops_as_planned(lab_admin, rtr, lambda: router.ensure(c, spec, marker(spec)))


def test_router_without_the_nat_differs_and_up_stops(lab_admin, c):
    spec = lab()
    for ensure in (network.ensure, subnetwork.ensure, router.ensure):
        ensure(c, spec, marker(spec))
    lab_admin.call(
        "POST",
        "patch",
        json={"project": PROJECT, "kind": "routers", "name": "gke-router", "fields": {"nats": []}},
    )
    decision = planned(c, spec, router.KIND, spec.network.router)
    assert decision.action is Action.DIFFERS and fields(decision) == ["nats"]
    assert_up_stops_as_planned(lab_admin, decision, lambda: router.ensure(c, spec, marker(spec)))


def test_same_named_network_of_another_lab_or_unmarked_is_blocked(lab_admin, c):
    # Labs get names of their own unless a name is chosen explicitly: both choose the same network name.
    other = lab("lab=other", "network.name=shared-net")
    network.ensure(c, other, marker(other))
    spec = lab("network.name=shared-net")
    decision = planned(c, spec, network.KIND, spec.network.name)
    assert decision.action is Action.BLOCKED and "owned by lab 'other'" in decision.message
    assert_up_stops_as_planned(lab_admin, decision, lambda: network.ensure(c, spec, marker(spec)))

    op = c.subnetworks.insert_unary(
        project=PROJECT,
        region=spec.region,
        subnetwork_resource=compute_v1.Subnetwork(
            name=spec.network.subnet.name,
            network=spec.network_self_link,
            ip_cidr_range=spec.network.subnet.cidr,
        ),
    )
    wait_compute(c, op, project=PROJECT, region=spec.region, resource="unmarked subnet")
    decision = planned(c, spec, subnetwork.KIND, spec.network.subnet.name)
    assert decision.action is Action.BLOCKED and "no gke-lab ownership marker" in decision.message
    assert_up_stops_as_planned(lab_admin, decision, lambda: subnetwork.ensure(c, spec, marker(spec)))


def test_key_not_owned_is_blocked_and_key_purpose_differs(lab_admin, c):
    spec = lab()
    key_ring.ensure(c, spec)
    c.kms.create_crypto_key(
        parent=spec.keyring_name,
        crypto_key_id=spec.key_id("node"),
        crypto_key=kms_v1.CryptoKey(purpose=kms_v1.CryptoKey.CryptoKeyPurpose.ENCRYPT_DECRYPT),
    )
    unmarked = planned(c, spec, crypto_key.KIND, spec.key_id("node"))
    assert unmarked.action is Action.BLOCKED and unmarked.blocker is Blocker.NOT_OWNED
    assert_up_stops_as_planned(lab_admin, unmarked, lambda: crypto_key.ensure(c, spec, marker(spec), "node"))

    crypto_key.ensure(c, spec, marker(spec), "secrets")
    patch = {"purpose": "ASYMMETRIC_SIGN"}
    lab_admin.patch(PROJECT, "cryptoKeys", spec.key_name("secrets"), patch)
    drift = planned(c, spec, crypto_key.KIND, spec.key_id("secrets"))
    assert drift.action is Action.DIFFERS and fields(drift) == ["purpose"]
    assert_up_stops_as_planned(lab_admin, drift, lambda: crypto_key.ensure(c, spec, marker(spec), "secrets"))


def test_service_account_not_owned_is_blocked(lab_admin, c):
    spec = lab()
    c.iam.create_service_account(
        request=iam_types.CreateServiceAccountRequest(
            name=f"projects/{PROJECT}",
            account_id=spec.node_service_account.name,
            service_account=iam_types.ServiceAccount(display_name="made by hand"),
        )
    )
    decision = planned(c, spec, service_account.KIND, spec.node_sa_email)
    assert decision.action is Action.BLOCKED and decision.blocker is Blocker.NOT_OWNED
    assert_up_stops_as_planned(lab_admin, decision, lambda: service_account.ensure(c, spec, marker(spec)))


def test_cluster_fixed_fields_and_authorized_networks_differ_and_up_stops(lab_admin, c):
    up(c, lab())

    fixed = lab("cluster.master_ipv4_cidr=172.16.0.32/28")
    decision = planned(c, fixed, cluster.KIND, fixed.cluster.name)
    assert decision.action is Action.DIFFERS and not decision.changeable
    assert fields(decision) == ["private_cluster_config.master_ipv4_cidr_block"]
    assert planned(c, fixed, workload.KIND, workload.NAME).action is Action.SKIP
    assert_up_stops_as_planned(lab_admin, decision, lambda: cluster.ensure(c, fixed, marker(fixed), "", []))

    office = apply_overrides(None, ["cluster.master_authorized_networks=[{cidr: 10.0.0.0/8, name: office}]"])
    decision = planned(c, office, cluster.KIND, office.cluster.name)
    assert decision.action is Action.DIFFERS and decision.changeable
    assert fields(decision) == ["authorized_networks_config.cidr_blocks"]
    assert_up_stops_as_planned(lab_admin, decision, lambda: cluster.ensure(c, office, marker(office), "", []))
