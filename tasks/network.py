"""Prefect tasks for the network: the default network's guarded removal, the VPC, subnet, router/NAT."""

from __future__ import annotations

from prefect import task

from gke_lab.ownership import marker_for
from gke_lab.resources import default_network, network, router, subnetwork
from gke_lab.resources.decision import Decision
from gke_lab.spec import LabSpec
from tasks.common import MUTATING, clients


@task(name="default-network-guard")
def default_network_guard(spec: LabSpec) -> Decision:
    """Read-only: refuse before anything is created when the default network is in use."""
    return default_network.guard(clients(), spec)


@task(name="delete-default-network", **MUTATING)
def delete_default_network(spec: LabSpec) -> default_network.DefaultNetworkResult:
    return default_network.ensure(clients(), spec)


@task(name="ensure-vpc", **MUTATING)
def vpc(spec: LabSpec, stamp: float) -> network.NetworkResult:
    return network.ensure(clients(), spec, marker_for(spec, stamp))


@task(name="ensure-subnet", **MUTATING)
def subnet(spec: LabSpec, stamp: float, vpc: network.NetworkResult) -> subnetwork.SubnetworkResult:
    return subnetwork.ensure(clients(), spec, marker_for(spec, stamp))


@task(name="ensure-router-nat", **MUTATING)
def router_nat(spec: LabSpec, stamp: float, subnet: subnetwork.SubnetworkResult) -> router.RouterResult:
    return router.ensure(clients(), spec, marker_for(spec, stamp))


@task(name="network-impact")
def network_impact(spec: LabSpec) -> network.NetworkImpact:
    """Firewall rules and routes of the lab network (the article's VPC impact listing). Read-only."""
    return network.impact(clients(), spec)
