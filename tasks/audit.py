"""Prefect task: the CIS GKE audit of the live cluster object (read-only, never cached)."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from gke_lab import audit, kube, retry
from gke_lab.errors import LabError, is_not_found
from gke_lab.ownership import Marker
from gke_lab.spec import LabSpec
from tasks.common import READ_ONLY, clients

LIVE: dict[str, Any] = {
    **{k: v for k, v in READ_ONLY.items() if k not in ("cache_policy", "cache_expiration")},
    "cache_policy": NO_CACHE,
}


def live_cluster(spec: LabSpec):
    c = clients()
    name = spec.cluster_name

    def get():
        try:
            return c.container.get_cluster(name=name)
        except Exception as exc:
            if is_not_found(exc):
                raise LabError(f"{name} does not exist (provision the lab first)", resource=name) from exc
            raise

    return retry.call(get, resource=name, action="read")


@task(name="audit-cluster", **LIVE)
def audit_cluster(spec: LabSpec) -> list[dict]:
    """CIS GKE checks read from the live Cluster: id, title, cis, passed, field, value."""
    return audit.audit(live_cluster(spec))


@task(name="cluster-access", **LIVE)
def cluster_access(spec: LabSpec) -> dict:
    """Endpoint, base64 CA, status and expiry of the live cluster (plain values, no credential)."""
    cluster = live_cluster(spec)
    marker = Marker.from_labels(cluster.resource_labels)
    return {
        **kube.access_from_cluster(cluster),
        "name": cluster.name,
        "location": cluster.location,
        "status": cluster.status.name,
        "expires": marker.expires if marker else None,
        "lab": marker.lab if marker else None,
    }
