"""A dry run against the live project: what a provisioning run would create, what exists, what differs.

Read-only by construction: only get/list calls are made.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.api_core import exceptions as gexc

from gke_lab.clients import Clients
from gke_lab.errors import is_not_found
from gke_lab.ownership import Marker
from gke_lab.spec import LabSpec

Diff = list[tuple[str, Any, Any]]


def compare_cluster(spec: LabSpec, cluster: Any) -> Diff:
    """Cluster fields fixed at creation that differ from the spec (they cannot be changed in place)."""
    drift: Diff = []

    def check(field: str, live: Any, want: Any) -> None:
        if live != want:
            drift.append((field, live, want))

    check("network", cluster.network.rsplit("/", 1)[-1], spec.network.name)
    check("subnetwork", cluster.subnetwork.rsplit("/", 1)[-1], spec.network.subnet.name)
    check(
        "private_cluster_config.master_ipv4_cidr_block",
        cluster.private_cluster_config.master_ipv4_cidr_block,
        spec.cluster.master_ipv4_cidr,
    )
    check("database_encryption.key_name", cluster.database_encryption.key_name, spec.key_name("secrets"))
    check(
        "ip_allocation_policy.cluster_secondary_range_name",
        cluster.ip_allocation_policy.cluster_secondary_range_name,
        spec.network.pods_range.name,
    )
    check(
        "ip_allocation_policy.services_secondary_range_name",
        cluster.ip_allocation_policy.services_secondary_range_name,
        spec.network.services_range.name,
    )
    check("locations", sorted(cluster.locations), sorted(spec.cluster.node_locations))
    return drift


def compare_cluster_settings(spec: LabSpec, cluster: Any) -> Diff:
    """Cluster settings GKE can change in place that differ from the spec (gke-lab reports, never ignores)."""
    drift: Diff = []
    ip = cluster.control_plane_endpoints_config.ip_endpoints_config
    anc = ip.authorized_networks_config if ip.authorized_networks_config else None
    if anc is None or not anc.enabled:
        anc = cluster.master_authorized_networks_config
    live = sorted(b.cidr_block for b in anc.cidr_blocks) if anc.enabled else None
    want = sorted(n.cidr for n in spec.cluster.master_authorized_networks)
    if live != want:
        drift.append(("authorized_networks_config.cidr_blocks", live, want))
    return drift


def compare_subnet(spec: LabSpec, sub: Any) -> Diff:
    drift: Diff = []
    if sub.ip_cidr_range != spec.network.subnet.cidr:
        drift.append(("ip_cidr_range", sub.ip_cidr_range, spec.network.subnet.cidr))
    live = {r.range_name: r.ip_cidr_range for r in sub.secondary_ip_ranges}
    for rng in (spec.network.pods_range, spec.network.services_range):
        if live.get(rng.name) != rng.cidr:
            drift.append((f"secondary_ip_ranges[{rng.name}]", live.get(rng.name), rng.cidr))
    return drift


def _read(fn: Callable[[], Any]) -> Any | None:
    try:
        return fn()
    except Exception as exc:
        if is_not_found(exc):
            return None
        raise


def _owner(marker: Marker | None, lab: str) -> str | None:
    if marker is None:
        return "no gke-lab marker"
    if marker.lab != lab:
        return f"owned by lab {marker.lab!r}"
    return None


def live_diff(spec: LabSpec, clients: Clients | None = None) -> dict[str, Any]:
    """{"create": [...], "exists": [...], "differs": [...], "blocked": [...], "delete": [...]}."""
    c = clients or Clients.from_env()
    p, r = spec.project_id, spec.region
    out: dict[str, list[dict[str, Any]]] = {
        "create": [],
        "exists": [],
        "differs": [],
        "blocked": [],
        "delete": [],
    }

    def record(kind: str, name: str, live: Any, owner: str | None = None, drift: Diff | None = None) -> None:
        entry: dict[str, Any] = {"kind": kind, "name": name}
        if live is None:
            out["create"].append(entry)
        elif owner:
            out["blocked"].append({**entry, "reason": f"exists but {owner}; a run would stop here"})
        elif drift:
            diffs = [{"field": f, "live": str(a), "spec": str(b)} for f, a, b in drift]
            out["differs"].append({**entry, "differences": diffs})
        else:
            out["exists"].append(entry)

    if (
        spec.delete_default_network
        and _read(lambda: c.networks.get(project=p, network="default")) is not None
    ):
        out["delete"].append({"kind": "compute.network", "name": "default"})

    net = _read(lambda: c.networks.get(project=p, network=spec.network.name))
    net_drift: Diff = []
    if net is not None and net.auto_create_subnetworks:
        net_drift.append(("auto_create_subnetworks", True, False))
    record(
        "compute.network",
        spec.network.name,
        net,
        net and _owner(Marker.from_description(net.description), spec.lab),
        net_drift,
    )

    sub = _read(lambda: c.subnetworks.get(project=p, region=r, subnetwork=spec.network.subnet.name))
    record(
        "compute.subnetwork",
        spec.network.subnet.name,
        sub,
        sub and _owner(Marker.from_description(sub.description), spec.lab),
        sub and compare_subnet(spec, sub),
    )

    if spec.network.cloud_nat:
        router = _read(lambda: c.routers.get(project=p, region=r, router=spec.network.router))
        drift: Diff = []
        if router is not None and spec.network.nat not in [n.name for n in router.nats]:
            drift.append(("nats", [n.name for n in router.nats], [spec.network.nat]))
        record(
            "compute.router",
            spec.network.router,
            router,
            router and _owner(Marker.from_description(router.description), spec.lab),
            drift,
        )

    ring = _read(lambda: c.kms.get_key_ring(name=spec.keyring_name))
    record("kms.keyRing", spec.kms.keyring, ring)
    for which in ("node", "secrets"):
        key = _read(lambda which=which: c.kms.get_crypto_key(name=spec.key_name(which))) if ring else None
        record(
            "kms.cryptoKey",
            spec.key_id(which),
            key,
            key and _owner(Marker.from_labels(key.labels), spec.lab),
        )

    try:
        account = _read(lambda: c.iam.get_service_account(name=spec.node_sa_resource))
    except gexc.GoogleAPICallError:
        account = None
    record(
        "iam.serviceAccount",
        spec.node_sa_email,
        account,
        account and _owner(Marker.from_description(account.description), spec.lab),
    )

    cluster = _read(lambda: c.container.get_cluster(name=spec.cluster_name))
    record(
        "container.cluster",
        spec.cluster.name,
        cluster,
        cluster and _owner(Marker.from_labels(cluster.resource_labels), spec.lab),
        cluster and compare_cluster(spec, cluster) + compare_cluster_settings(spec, cluster),
    )
    return out
