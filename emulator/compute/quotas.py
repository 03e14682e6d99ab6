"""Regional quotas: each project's limits, the usage of what exists, `regions.get`, and GKE's refusal.

Google does not publish one table of a new project's regional quotas (they depend on the account and the
region: https://cloud.google.com/compute/resource-usage). The defaults below are the values
`gcloud compute regions describe REGION` shows for a new project with billing enabled (a public example with
the same DISKS_TOTAL_GB, STATIC_ADDRESSES and IN_USE_ADDRESSES: https://pastebin.com/9MY1rdpX); tests set
their own through `POST /_emulator/projects/{p}/quotas`.

Usage counts what exists in the region: every cluster's nodes from its create on (GKE reserves them when it
accepts the create) -- vCPUs by machine type, boot disks by disk type (pd-standard in DISKS_TOTAL_GB,
pd-balanced and pd-ssd in SSD_TOTAL_GB: https://cloud.google.com/compute/resource-usage), an external address
per node of a cluster without private nodes -- plus the admin API's VMs and external addresses and forwarding
rules, and the address each Cloud NAT gateway with automatic allocation reserves once a VM or node in its
network uses it (a static regional external address: one serves 1008 VMs at the default 64 ports each,
https://cloud.google.com/nat/docs/ports-and-addresses)."""

from __future__ import annotations

import hashlib
import re
from typing import Any

from emulator.compute.common import zones_of
from emulator.errors import ApiError, invalid
from emulator.store import Project

# metric -> limit of a new project, per region
DEFAULT_LIMITS: dict[str, float] = {
    "CPUS": 24.0,
    "DISKS_TOTAL_GB": 4096.0,
    "SSD_TOTAL_GB": 500.0,
    "STATIC_ADDRESSES": 8.0,
    "IN_USE_ADDRESSES": 8.0,
}
# vCPUs of the shared-core machine types (https://cloud.google.com/compute/docs/general-purpose-machines);
# the others end with their vCPU count (e2-standard-4, n2-highmem-8)
_SHARED_CORE = {"e2-micro": 2, "e2-small": 2, "e2-medium": 2, "f1-micro": 1, "g1-small": 1}
_SSD_TYPES = {"pd-balanced", "pd-ssd", "pd-extreme", "hyperdisk-balanced"}


def vcpus(machine_type: str) -> int:
    name = machine_type.rsplit("/", 1)[-1]
    if name in _SHARED_CORE:
        return _SHARED_CORE[name]
    m = re.search(r"-(\d+)$", name)
    return int(m.group(1)) if m else 2


def disk_metric(disk_type: str) -> str:
    return "SSD_TOTAL_GB" if disk_type.rsplit("/", 1)[-1] in _SSD_TYPES else "DISKS_TOTAL_GB"


def node_pool_needs(
    pools: list[dict[str, Any]] | tuple[dict[str, Any], ...], zones: int, private: bool
) -> dict[str, float]:
    """What a cluster's node pools take from the region's quotas (initial nodes in every zone)."""
    needs: dict[str, float] = {}
    for pool in pools:
        config = pool.get("config") or {}
        count = int(pool.get("initialNodeCount", 0) or (pool.get("autoscaling") or {}).get("minNodeCount", 0))
        nodes = count * zones
        disk = disk_metric(str(config.get("diskType") or "pd-balanced"))
        for metric, amount in (
            ("CPUS", nodes * vcpus(str(config.get("machineType") or "e2-medium"))),
            (disk, nodes * float(config.get("diskSizeGb") or 100)),
            ("IN_USE_ADDRESSES", 0 if private else nodes),
        ):
            needs[metric] = needs.get(metric, 0.0) + amount
    return needs


class QuotasMixin:
    """regions.get with quotas; the check GKE makes before it accepts a create."""

    def quota_limits(self, project: Project, region: str) -> dict[str, float]:
        return {**DEFAULT_LIMITS, **project.quota_limits.get("", {}), **project.quota_limits.get(region, {})}

    def set_quota_limits(self, project: Project, body: dict[str, Any]) -> None:
        """The admin route: `{"limits": {"CPUS": 8, ...}, "region": "us-west1"}` (no region: every region)."""
        limits = body.get("limits") if isinstance(body, dict) else None
        region = body.get("region", "") if isinstance(body, dict) else ""
        if not isinstance(limits, dict) or not limits:
            raise invalid(f"limits must map quota metrics ({', '.join(DEFAULT_LIMITS)}) to numbers")
        for metric, limit in limits.items():
            if metric not in DEFAULT_LIMITS:
                raise invalid(f"Unknown quota metric {metric!r}: one of {', '.join(DEFAULT_LIMITS)}")
            if isinstance(limit, bool) or not isinstance(limit, int | float) or limit < 0:
                raise invalid(f"The limit of {metric} must be a number of at least 0, not {limit!r}")
        if not isinstance(region, str) or (region and not re.fullmatch(r"[a-z]+-[a-z]+\d+", region)):
            raise invalid(f"region must be a region name such as us-west1, not {region!r}")
        current = project.quota_limits.setdefault(region, {})
        current.update({m: float(v) for m, v in limits.items()})

    def quota_usage(self, project: Project, region: str) -> dict[str, float]:
        usage = dict.fromkeys(DEFAULT_LIMITS, 0.0)

        def add(metric: str, amount: float) -> None:
            usage[metric] += amount

        for (location, _), cluster in project.clusters.items():
            if location != region and location.rsplit("-", 1)[0] != region:
                continue
            pools = {p["name"]: p for p in cluster.get("nodePools") or []}
            private = bool((cluster.get("privateClusterConfig") or {}).get("enablePrivateNodes"))
            for node in cluster.get("_nodes") or []:
                config = (pools.get(node.get("pool")) or {}).get("config") or {}
                add("CPUS", vcpus(str(config.get("machineType") or "e2-medium")))
                add(
                    disk_metric(str(config.get("diskType") or "pd-balanced")),
                    float(config.get("diskSizeGb") or 100),
                )
                if not private:
                    add("IN_USE_ADDRESSES", 1)
        networks_in_use: set[str] = set()
        for (zone, _), instance in project.instances.items():
            if zone.rsplit("-", 1)[0] != region:
                continue
            networks_in_use.update(nic.get("network", "") for nic in instance.get("networkInterfaces") or [])
            if not instance.get("_cluster"):
                add("CPUS", vcpus(str(instance.get("machineType") or "e2-medium")))
        for (router_region, _), router in project.routers.items():
            if router_region != region or router.get("network") not in networks_in_use:
                continue
            for nat in router.get("nats") or []:
                if nat.get("natIpAllocateOption") == "AUTO_ONLY":
                    add("STATIC_ADDRESSES", 1)
                    add("IN_USE_ADDRESSES", 1)
        for (collection, scope, _), resource in project.network_resources.items():
            external = resource.get("addressType", "EXTERNAL") == "EXTERNAL"
            scheme = resource.get("loadBalancingScheme", "EXTERNAL")
            if scope != region:
                continue
            if collection == "addresses" and external:
                add("STATIC_ADDRESSES", 1)
            elif collection == "forwardingRules" and scheme == "EXTERNAL":
                add("IN_USE_ADDRESSES", 1)
        return usage

    def get_region(self, project: Project, region: str) -> dict[str, Any]:
        """regions.get (https://cloud.google.com/compute/docs/reference/rest/v1/regions/get): the region and
        its quotas (metric, limit, usage)."""
        if not re.fullmatch(r"[a-z]+-[a-z]+\d+", region):
            raise ApiError(
                404,
                f"The resource 'projects/{project.id}/regions/{region}' was not found",
                status="NOT_FOUND",
                reason="notFound",
            )
        with project.locked():
            limits, usage = self.quota_limits(project, region), self.quota_usage(project, region)
        base = f"https://www.googleapis.com/compute/v1/projects/{project.id}"
        return {
            "kind": "compute#region",
            "id": str(int(hashlib.sha256(region.encode()).hexdigest()[:12], 16)),
            "name": region,
            "description": region,
            "status": "UP",
            "zones": [f"{base}/zones/{z}" for z in zones_of(region)],
            "quotas": [{"metric": m, "limit": limits[m], "usage": usage[m]} for m in DEFAULT_LIMITS],
            "selfLink": f"{base}/regions/{region}",
        }

    def check_quota(self, project: Project, region: str, needs: dict[str, float]) -> None:
        """GKE's synchronous 403 when a request would exceed a regional quota (called with the project
        locked). The message is GKE's (a create answered 403 PERMISSION_DENIED:
        https://github.com/google/caliban/issues/66; "Insufficient regional quota to satisfy request":
        https://cloud.google.com/kubernetes-engine/docs/concepts/regional-clusters)."""
        limits, usage = self.quota_limits(project, region), self.quota_usage(project, region)
        for metric in DEFAULT_LIMITS:
            need = needs.get(metric, 0.0)
            available = max(0.0, limits[metric] - usage[metric])
            if need > available:
                raise ApiError(
                    403,
                    f'Insufficient regional quota to satisfy request: resource "{metric}": request requires '
                    f"'{need:.1f}' and is short '{need - available:.1f}'. project has a quota of "
                    f"'{limits[metric]:.1f}' with '{available:.1f}' available. View and manage quotas at "
                    f"https://console.cloud.google.com/iam-admin/quotas?usage=USED&project={project.id}.",
                    status="PERMISSION_DENIED",
                    reason="forbidden",
                )
