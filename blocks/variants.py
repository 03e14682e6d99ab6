"""The saved blueprints that `gke-lab blocks register` creates: named LabSpec variants.

Each variant is the article's environment (LabSpec's defaults) plus overrides, validated like any
other spec, so a variant can never be saved in a state the flows would refuse.
"""

from __future__ import annotations

from gke_lab.overrides import apply_overrides
from gke_lab.spec import LabSpec

VARIANTS: dict[str, tuple[str, list[str]]] = {
    "article-default": (
        "The source article's environment: private regional cluster over two zones, CMEK, Cloud NAT.",
        [],
    ),
    "small-zonal": (
        "A cheaper lab: one zone, at most one node, smaller disks, one echo replica, 4-hour TTL.",
        [
            "cluster.node_locations=[us-west1-a]",
            "cluster.num_nodes=1",
            "cluster.autoscaling.min=0",
            "cluster.autoscaling.max=1",
            "cluster.disk_size_gb=50",
            "echo.replicas=1",
            "ttl_hours=4",
        ],
    ),
}


def variant_spec(name: str) -> LabSpec:
    if name not in VARIANTS:
        raise KeyError(f"unknown blueprint variant {name!r}; accepted: {', '.join(VARIANTS)}")
    return apply_overrides(LabSpec(), VARIANTS[name][1])
