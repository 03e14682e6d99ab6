"""IP capacity plan of a VPC-native cluster: how many nodes, Pods and Services the ranges admit."""

from __future__ import annotations

import ipaddress
from dataclasses import asdict, dataclass, field
from typing import Any

# GKE reserves 4 addresses in every subnet's primary range (network, gateway, second-to-last, broadcast).
RESERVED_PER_SUBNET = 4

# max pods per node -> per-node Pod CIDR prefix (GKE allocates twice the pods, rounded to a power of two):
# the table in "Optimize IP address allocation",
# https://cloud.google.com/kubernetes-engine/docs/how-to/flexible-pod-cidr#cidr_settings_for_a_new_node_pool
_POD_PREFIX = ((8, 28), (16, 27), (32, 26), (64, 25), (110, 24), (256, 23))


def pod_cidr_prefix(max_pods_per_node: int) -> int:
    """Prefix of the Pod range GKE gives each node: 8 -> /28, 9-16 -> /27, ... 111-256 -> /23."""
    if not 8 <= max_pods_per_node <= 256:
        raise ValueError(f"max_pods_per_node {max_pods_per_node} outside 8..256")
    for limit, prefix in _POD_PREFIX:
        if max_pods_per_node <= limit:
            return prefix
    raise AssertionError("unreachable")


@dataclass(frozen=True)
class IpPlan:
    subnet_cidr: str
    pods_cidr: str
    services_cidr: str
    max_pods_per_node: int
    pod_cidr_per_node_prefix: int
    max_nodes_by_subnet: int
    max_nodes_by_pod_range: int
    max_nodes: int
    binding_range: str  # "subnet" or "pods_range": which range limits the node count
    max_pods: int
    max_services: int
    zones: int
    autoscaling_max_total: int
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def plan_ranges(
    subnet_cidr: str,
    pods_cidr: str,
    services_cidr: str,
    max_pods_per_node: int,
    zones: int = 1,
    autoscaling_max_per_zone: int = 0,
) -> IpPlan:
    subnet = ipaddress.IPv4Network(subnet_cidr)
    pods = ipaddress.IPv4Network(pods_cidr)
    services = ipaddress.IPv4Network(services_cidr)
    per_node = pod_cidr_prefix(max_pods_per_node)
    by_subnet = max(subnet.num_addresses - RESERVED_PER_SUBNET, 0)
    by_pods = 2 ** (per_node - pods.prefixlen) if pods.prefixlen <= per_node else 0
    max_nodes = min(by_subnet, by_pods)
    binding = "pods_range" if by_pods < by_subnet else "subnet"
    total_max = zones * autoscaling_max_per_zone
    warnings = []
    if total_max > max_nodes:
        warnings.append(
            f"autoscaling allows {total_max} nodes ({autoscaling_max_per_zone} per zone x {zones} zones) "
            f"but the {binding} admits only {max_nodes}"
        )
    return IpPlan(
        subnet_cidr=str(subnet),
        pods_cidr=str(pods),
        services_cidr=str(services),
        max_pods_per_node=max_pods_per_node,
        pod_cidr_per_node_prefix=per_node,
        max_nodes_by_subnet=by_subnet,
        max_nodes_by_pod_range=by_pods,
        max_nodes=max_nodes,
        binding_range=binding,
        max_pods=max_nodes * max_pods_per_node,
        max_services=services.num_addresses,
        zones=zones,
        autoscaling_max_total=total_max,
        warnings=warnings,
    )


def plan(spec: Any) -> IpPlan:
    """The plan of a LabSpec."""
    return plan_ranges(
        spec.network.subnet.cidr,
        spec.network.pods_range.cidr,
        spec.network.services_range.cidr,
        spec.cluster.max_pods_per_node,
        zones=len(spec.cluster.node_locations),
        autoscaling_max_per_zone=spec.cluster.autoscaling.max,
    )
