"""The default-network guard checks every kind of user before deleting anything (issue 13, case 8).

For each kind that can live in the default network, plan reports the network BLOCKED naming that user,
`up`'s guard and the delete refuse with the same message, no mutating request is made, and the
network keeps its bootstrap firewall rules.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from google.cloud import compute_v1

from gke_lab.clients import Clients
from gke_lab.errors import LabError, RefusedError
from gke_lab.ops import wait_compute
from gke_lab.overrides import apply_overrides
from gke_lab.plan import live_decisions
from gke_lab.resources import default_network
from gke_lab.resources.decision import Action
from tests.fixtures_emulator import LOCAL_NETWORK, PROJECT, REGION, EmulatorAdmin

pytestmark = [pytest.mark.e2e]

DEFAULT = f"projects/{PROJECT}/global/networks/default"
DEFAULT_SUBNET = f"projects/{PROJECT}/regions/{REGION}/subnetworks/default"


@pytest.fixture
def c(lab_emulator):
    return Clients.from_env()


def seed(admin: EmulatorAdmin, scope: str, collection: str, body: dict) -> None:
    admin.call("POST", f"projects/{PROJECT}/{scope}/{collection}", json=body)


def regional(collection: str, body: dict) -> Callable:
    return lambda admin, c: seed(admin, f"regions/{REGION}", collection, body)


def global_(collection: str, body: dict) -> Callable:
    return lambda admin, c: seed(admin, "global", collection, body)


def vm(admin: EmulatorAdmin, c) -> None:
    body = {"name": "precious-vm", "networkInterfaces": [{"network": DEFAULT}]}
    admin.call("POST", f"projects/{PROJECT}/zones/{REGION}-a/instances", json=body)


def route(admin: EmulatorAdmin, c) -> None:
    body = compute_v1.Route(
        name="to-on-prem", network=DEFAULT, dest_range="192.168.50.0/24", next_hop_ip="10.138.0.9"
    )
    wait_compute(
        c, c.routes.insert_unary(project=PROJECT, route_resource=body), project=PROJECT, resource="x"
    )


def subnetwork(admin: EmulatorAdmin, c) -> None:
    body = compute_v1.Subnetwork(name="extra-subnet", network=DEFAULT, ip_cidr_range="192.168.60.0/24")
    op = c.subnetworks.insert_unary(project=PROJECT, region=REGION, subnetwork_resource=body)
    wait_compute(c, op, project=PROJECT, region=REGION, resource="x")


def router(admin: EmulatorAdmin, c) -> None:
    body = compute_v1.Router(name="edge-router", network=DEFAULT)
    op = c.routers.insert_unary(project=PROJECT, region=REGION, router_resource=body)
    wait_compute(c, op, project=PROJECT, region=REGION, resource="x")


def peering(admin: EmulatorAdmin, c) -> None:
    peer = {"name": "to-shared-vpc", "network": "projects/other/global/networks/shared", "state": "ACTIVE"}
    admin.patch(PROJECT, "networks", "default", {"peerings": [peer]})


def vpn_tunnel(admin: EmulatorAdmin, c) -> None:
    seed(admin, f"regions/{REGION}", "vpnGateways", {"name": "ha-gateway", "network": DEFAULT})
    seed(admin, f"regions/{REGION}", "vpnTunnels", {"name": "tunnel-to-dc", "vpnGateway": "ha-gateway"})


USERS = {
    "VM": (vm, "VM us-west1-a/precious-vm"),
    "route": (route, "route to-on-prem"),
    "subnetwork": (subnetwork, "subnetwork us-west1/extra-subnet"),
    "router": (router, "router us-west1/edge-router"),
    "peering": (peering, "VPC peering to-shared-vpc"),
    "regional forwarding rule": (
        regional("forwardingRules", {"name": "ilb-rule", "subnetwork": "default", "IPProtocol": "TCP"}),
        "forwarding rule us-west1/ilb-rule",
    ),
    "global forwarding rule": (
        global_(
            "forwardingRules",
            {"name": "global-ilb", "network": DEFAULT, "loadBalancingScheme": "INTERNAL_MANAGED"},
        ),
        "forwarding rule global/global-ilb",
    ),
    "PSC endpoint to Google APIs": (
        global_("forwardingRules", {"name": "googleapis", "network": DEFAULT, "target": "all-apis"}),
        "Private Service Connect endpoint global/googleapis",
    ),
    "PSC endpoint to a service attachment": (
        regional(
            "forwardingRules",
            {
                "name": "psc-db",
                "network": DEFAULT,
                "target": f"projects/producer/regions/{REGION}/serviceAttachments/db",
            },
        ),
        "Private Service Connect endpoint us-west1/psc-db (to db)",
    ),
    "regional address": (
        regional("addresses", {"name": "reserved-ip", "subnetwork": "default", "addressType": "INTERNAL"}),
        "reserved address us-west1/reserved-ip",
    ),
    "global address": (
        global_(
            "addresses",
            {"name": "peering-range", "network": DEFAULT, "purpose": "VPC_PEERING", "prefixLength": 16},
        ),
        "reserved address global/peering-range",
    ),
    "HA VPN gateway": (
        regional("vpnGateways", {"name": "ha-gateway", "network": DEFAULT}),
        "VPN gateway us-west1/ha-gateway",
    ),
    "Classic VPN gateway": (
        regional("targetVpnGateways", {"name": "classic-gateway", "network": DEFAULT}),
        "Classic VPN gateway us-west1/classic-gateway",
    ),
    "VPN tunnel": (vpn_tunnel, "VPN tunnel us-west1/tunnel-to-dc"),
}


def bootstrap_rules(admin: EmulatorAdmin) -> set[str]:
    return {
        f["name"] for f in admin.project_state()["firewalls"] if f["network"].endswith("/networks/default")
    }


@pytest.mark.parametrize("kind", list(USERS))
def test_each_user_keeps_the_default_network_and_nothing_is_deleted(lab_admin, c, kind):
    place, named = USERS[kind]
    place(lab_admin, c)
    spec = apply_overrides(None, ["delete_default_network=true"])
    rules = bootstrap_rules(lab_admin)
    assert rules == set(default_network.BOOTSTRAP_RULES)
    seq = lab_admin.last_seq()

    (decision,) = [
        d for d in live_decisions(c, spec) if (d.kind, d.name) == (default_network.KIND, default_network.NAME)
    ]
    assert decision.action is Action.BLOCKED and named in decision.message, decision.message
    for run in (lambda: default_network.guard(c, spec), lambda: default_network.ensure(c, spec)):
        with pytest.raises(RefusedError) as refused:
            run()
        assert str(refused.value) == decision.message
    assert lab_admin.mutations_since(seq) == []
    assert any(n["name"] == "default" for n in lab_admin.project_state()["networks"])
    assert bootstrap_rules(lab_admin) == rules


def test_nothing_but_the_bootstrap_deletes_the_rules_then_the_network(lab_admin, c):
    spec = apply_overrides(None, ["delete_default_network=true"])
    result = default_network.ensure(c, spec)
    assert result.deleted and sorted(result.rules_deleted) == sorted(default_network.BOOTSTRAP_RULES)
    assert not any(n["name"] == "default" for n in lab_admin.project_state()["networks"])


@pytest.mark.parametrize(
    "kind", ["regional forwarding rule", "global address", "HA VPN gateway", "VPN tunnel"]
)
def test_emulator_refuses_to_delete_a_network_they_use(lab_admin, c, kind):
    # As Google does: a network with resources in it cannot be deleted (resourceInUseByAnotherResource).
    place, _ = USERS[kind]
    place(lab_admin, c)
    for rule in default_network.BOOTSTRAP_RULES:
        wait_compute(
            c, c.firewalls.delete_unary(project=PROJECT, firewall=rule), project=PROJECT, resource="x"
        )
    with pytest.raises(Exception) as refused:
        c.networks.delete_unary(project=PROJECT, network="default")
    assert "resourceInUseByAnotherResource" in str(refused.value) or "being used" in str(refused.value)


def test_failed_network_delete_puts_the_bootstrap_rules_back(lab_admin, c):
    spec = apply_overrides(None, ["delete_default_network=true"])
    before = {
        f["name"]: f
        for f in lab_admin.project_state()["firewalls"]
        if f["network"].endswith("/networks/default")
    }
    fault = {"api": "compute", "method": "DELETE", "path_regex": "global/networks/default$", "status": 400}
    lab_admin.configure_faults({"rules": [fault]})
    with pytest.raises(LabError):
        default_network.ensure(c, spec)
    assert any(n["name"] == "default" for n in lab_admin.project_state()["networks"])
    after = {
        f["name"]: f
        for f in lab_admin.project_state()["firewalls"]
        if f["network"].endswith("/networks/default")
    }
    assert set(after) == set(before) == set(default_network.BOOTSTRAP_RULES)
    for name, rule in before.items():
        for field in ("sourceRanges", "allowed", "priority", "direction"):
            assert after[name][field] == rule[field], (name, field)


@pytest.mark.parametrize("kind", ["PSC endpoint to Google APIs", "VPN tunnel", "peering"])
def test_provision_flow_refuses_and_deletes_nothing(prefect_harness, lab_admin, c, kind):
    from flows.provision import provision_lab

    place, named = USERS[kind]
    place(lab_admin, c)
    before = lab_admin.project_state()
    seq = lab_admin.last_seq()
    with pytest.raises(LabError, match=r"Nothing was deleted") as refused:
        provision_lab(spec=apply_overrides(None, [LOCAL_NETWORK, "delete_default_network=true"]))
    assert named in str(refused.value)
    after = lab_admin.project_state()
    assert [n["name"] for n in after["networks"]] == [n["name"] for n in before["networks"]]
    assert sorted(f["name"] for f in after["firewalls"]) == sorted(f["name"] for f in before["firewalls"])
    assert [e for e in lab_admin.mutations_since(seq) if e["method"] == "DELETE"] == []
