"""Compute Engine rules: duplicates, missing resources, CIDR checks, in-use deletes, operations."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc
from google.cloud import compute_v1

from tests.emulator.helpers import (
    NETWORK,
    SUBNET,
    build_network,
    build_router,
    build_subnet,
    make_clients,
    network_link,
    wait_global,
    wait_region,
)
from tests.fixtures_emulator import PROJECT, REGION, EmulatorAdmin


@pytest.fixture
def c(emulator):
    clients = make_clients(emulator)
    yield clients
    clients.close()


def _vpc(c) -> None:
    wait_global(c, c.networks.insert_unary(project=PROJECT, network_resource=build_network()))
    wait_region(c, c.subnets.insert_unary(project=PROJECT, region=REGION, subnetwork_resource=build_subnet()))


def test_operations_run_for_the_profile_then_done(emulator, c):
    op = c.networks.insert_unary(project=PROJECT, network_resource=build_network())
    assert op.status == compute_v1.Operation.Status.RUNNING and op.operation_type == "insert"
    assert op.self_link.endswith(f"/projects/{PROJECT}/global/operations/{op.name}")
    # the network is visible but not ready: a subnet cannot use it yet
    assert c.networks.get(project=PROJECT, network=NETWORK).name == NETWORK
    with pytest.raises(gexc.BadRequest) as err:
        c.subnets.insert_unary(project=PROJECT, region=REGION, subnetwork_resource=build_subnet())
    assert err.value.errors[0]["reason"] == "resourceNotReady"
    done = c.global_ops.wait(project=PROJECT, operation=op.name)
    assert done.status == compute_v1.Operation.Status.DONE and done.progress == 100 and done.end_time
    assert c.global_ops.get(project=PROJECT, operation=op.name).status == compute_v1.Operation.Status.DONE
    with pytest.raises(gexc.NotFound):
        c.global_ops.get(project=PROJECT, operation="operation-missing")
    with pytest.raises(gexc.NotFound):
        c.region_ops.get(project=PROJECT, region=REGION, operation=op.name)  # a global op is not regional
    sub = c.subnets.insert_unary(project=PROJECT, region=REGION, subnetwork_resource=build_subnet())
    assert sub.region.endswith(f"/regions/{REGION}")
    assert wait_region(c, sub).status == compute_v1.Operation.Status.DONE


def test_duplicates_and_missing(emulator, c):
    _vpc(c)
    with pytest.raises(gexc.Conflict) as err:
        c.networks.insert_unary(project=PROJECT, network_resource=build_network())
    assert err.value.errors[0]["reason"] == "alreadyExists"
    with pytest.raises(gexc.Conflict):
        c.subnets.insert_unary(
            project=PROJECT, region=REGION, subnetwork_resource=build_subnet(cidr="10.1.0.0/20")
        )
    with pytest.raises(gexc.NotFound) as err:
        c.networks.get(project=PROJECT, network="nope")
    assert err.value.errors[0]["reason"] == "notFound"
    with pytest.raises(gexc.NotFound):
        c.networks.delete_unary(project=PROJECT, network="nope")
    with pytest.raises(gexc.NotFound):
        c.subnets.get(project=PROJECT, region=REGION, subnetwork="nope")
    with pytest.raises(gexc.NotFound):
        c.firewalls.delete_unary(project=PROJECT, firewall="nope")
    with pytest.raises(gexc.NotFound):
        c.routers.get(project=PROJECT, region=REGION, router="nope")
    missing_net = compute_v1.Subnetwork(
        name="s2", network=network_link(name="missing"), ip_cidr_range="10.9.0.0/24"
    )
    with pytest.raises(gexc.NotFound):
        c.subnets.insert_unary(project=PROJECT, region=REGION, subnetwork_resource=missing_net)
    wait_global(
        c,
        c.firewalls.insert_unary(
            project=PROJECT,
            firewall_resource=compute_v1.Firewall(
                name="allow-ssh",
                network=network_link(),
                allowed=[compute_v1.Allowed(I_p_protocol="tcp", ports=["22"])],
            ),
        ),
    )
    with pytest.raises(gexc.Conflict):
        c.firewalls.insert_unary(
            project=PROJECT,
            firewall_resource=compute_v1.Firewall(
                name="allow-ssh", network=network_link(), allowed=[compute_v1.Allowed(I_p_protocol="tcp")]
            ),
        )
    rule = c.firewalls.get(project=PROJECT, firewall="allow-ssh")
    assert rule.direction == "INGRESS" and rule.priority == 1000 and list(rule.source_ranges) == ["0.0.0.0/0"]


@pytest.mark.parametrize(
    ("subnet", "fragment"),
    [
        (dict(cidr="10.128.0.1/20"), "resource.ipCidrRange"),
        (dict(cidr="10.128.0.0/30"), "/8 and /29"),
        (dict(pods="10.128.0.0/14"), "conflicts with"),
        (dict(services="100.64.0.0/20"), "conflicts with"),
        (dict(pods="not-a-cidr"), "secondaryIpRanges[0].ipCidrRange"),
    ],
)
def test_subnet_cidr_rules(emulator, c, subnet, fragment):
    wait_global(c, c.networks.insert_unary(project=PROJECT, network_resource=build_network()))
    with pytest.raises(gexc.BadRequest) as err:
        c.subnets.insert_unary(project=PROJECT, region=REGION, subnetwork_resource=build_subnet(**subnet))
    assert fragment in err.value.message


def test_subnet_overlap_and_range_names(emulator, c):
    _vpc(c)
    # overlaps another subnet of the same network, even in another region
    other = compute_v1.Subnetwork(name="other", network=network_link(), ip_cidr_range="10.128.8.0/24")
    with pytest.raises(gexc.BadRequest) as err:
        c.subnets.insert_unary(project=PROJECT, region="us-east1", subnetwork_resource=other)
    assert f"conflicts with existing subnetwork '{SUBNET}' in region '{REGION}'" in err.value.message
    other = compute_v1.Subnetwork(name="other", network=network_link(), ip_cidr_range="100.66.0.0/24")
    with pytest.raises(gexc.BadRequest):  # inside the pods secondary range
        c.subnets.insert_unary(project=PROJECT, region=REGION, subnetwork_resource=other)
    dup = build_subnet(name="dup", cidr="10.200.0.0/20", pods="10.201.0.0/20", services="10.202.0.0/20")
    dup.secondary_ip_ranges[1].range_name = dup.secondary_ip_ranges[0].range_name
    with pytest.raises(gexc.BadRequest) as err:
        c.subnets.insert_unary(project=PROJECT, region=REGION, subnetwork_resource=dup)
    assert "unique" in err.value.message and "secondaryIpRanges[1].rangeName" in err.value.message
    # the same range in a different network is fine
    wait_global(c, c.networks.insert_unary(project=PROJECT, network_resource=build_network("other-net")))
    ok = compute_v1.Subnetwork(
        name="other", network=network_link(name="other-net"), ip_cidr_range="10.128.0.0/20"
    )
    assert wait_region(
        c, c.subnets.insert_unary(project=PROJECT, region=REGION, subnetwork_resource=ok)
    ).status


def test_deletes_blocked_while_in_use(emulator, c):
    _vpc(c)
    wait_region(c, c.routers.insert_unary(project=PROJECT, region=REGION, router_resource=build_router()))
    # an instance in the subnet (added through the admin API) blocks the subnet and the network
    vm = EmulatorAdmin(emulator.url).call(
        "POST",
        f"projects/{PROJECT}/zones/{REGION}-a/instances",
        json={"name": "vm-1", "networkInterfaces": [{"network": network_link(), "subnetwork": SUBNET}]},
    )
    assert vm["networkInterfaces"][0]["networkIP"].startswith("10.128.0.")
    assert [i.name for i in c.instances.list(project=PROJECT, zone=f"{REGION}-a")] == ["vm-1"]
    with pytest.raises(gexc.BadRequest) as err:
        c.subnets.delete_unary(project=PROJECT, region=REGION, subnetwork=SUBNET)
    assert err.value.errors[0]["reason"] == "resourceInUseByAnotherResource"
    assert f"projects/{PROJECT}/zones/{REGION}-a/instances/vm-1" in err.value.message
    with pytest.raises(gexc.BadRequest) as err:
        c.networks.delete_unary(project=PROJECT, network=NETWORK)
    assert err.value.errors[0]["reason"] == "resourceInUseByAnotherResource"
    assert "/routers/gke-router" in err.value.message


def test_default_network_vm_blocks_its_deletion(emulator, c):
    for rule in [f.name for f in c.firewalls.list(project=PROJECT)]:
        wait_global(c, c.firewalls.delete_unary(project=PROJECT, firewall=rule))
    EmulatorAdmin(emulator.url).call(
        "POST", f"projects/{PROJECT}/zones/us-west1-b/instances", json={"name": "someone-elses-vm"}
    )
    with pytest.raises(gexc.BadRequest) as err:
        c.networks.delete_unary(project=PROJECT, network="default")
    assert "instances/someone-elses-vm" in err.value.message
    agg = c.instances.aggregated_list(project=PROJECT)
    assert [i.name for _, scoped in agg for i in scoped.instances] == ["someone-elses-vm"]


def test_list_filter_and_paging(emulator, c):
    _vpc(c)
    by_network = c.firewalls.list(request={"project": PROJECT, "filter": f'network="{network_link()}"'})
    assert list(by_network) == []
    names = [f.name for f in c.firewalls.list(request={"project": PROJECT, "max_results": 1})]
    assert names == ["default-allow-icmp", "default-allow-internal", "default-allow-rdp", "default-allow-ssh"]
    regex = c.firewalls.list(request={"project": PROJECT, "filter": "name eq default-allow-(ssh|rdp)"})
    assert sorted(f.name for f in regex) == ["default-allow-rdp", "default-allow-ssh"]
    routes = c.routes.list(request={"project": PROJECT, "filter": f'network="{network_link()}"'})
    assert {r.dest_range for r in routes} == {"0.0.0.0/0", "10.128.0.0/20", "100.64.0.0/14", "100.68.0.0/20"}


def test_router_nat_validation_and_patch(emulator, c):
    _vpc(c)
    bad = build_router()
    bad.nats[0].nat_ip_allocate_option = None
    with pytest.raises(gexc.BadRequest) as err:
        c.routers.insert_unary(project=PROJECT, region=REGION, router_resource=bad)
    assert "natIpAllocateOption" in err.value.message
    plain = compute_v1.Router(name="gke-router", network=network_link())
    wait_region(c, c.routers.insert_unary(project=PROJECT, region=REGION, router_resource=plain))
    assert not c.routers.get(project=PROJECT, region=REGION, router="gke-router").nats
    patch = compute_v1.Router(nats=build_router().nats)
    wait_region(
        c, c.routers.patch_unary(project=PROJECT, region=REGION, router="gke-router", router_resource=patch)
    )
    assert c.routers.get(project=PROJECT, region=REGION, router="gke-router").nats[0].name == "gke-nat"


def test_wait_returns_at_its_deadline_while_the_operation_runs(emulator_factory, monkeypatch):
    import emulator.compute.operations

    monkeypatch.setattr(emulator.compute.operations, "WAIT_DEADLINE_S", 0.2)
    emu = emulator_factory(latency_scale=1.0)  # networks.insert runs for 12 s
    c = make_clients(emu)
    try:
        op = c.networks.insert_unary(project=PROJECT, network_resource=build_network())
        waited = c.global_ops.wait(project=PROJECT, operation=op.name)
        assert waited.status == compute_v1.Operation.Status.RUNNING and not waited.end_time
    finally:
        c.close()
