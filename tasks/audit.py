"""Prefect tasks: the CIS GKE audit of the live cluster and how to reach it (read-only, never cached)."""

from __future__ import annotations

from typing import Any

from prefect import task

from gke_lab import audit
from gke_lab.resources import cluster
from gke_lab.resources.cluster import ClusterAccess
from gke_lab.spec import LabSpec
from tasks.common import LIVE, clients


@task(name="audit-cluster", **LIVE)
def audit_cluster(spec: LabSpec) -> list[dict[str, Any]]:
    """CIS GKE checks read from the live Cluster: id, title, cis, passed, field, value."""
    return audit.audit(cluster.read_existing(clients(), spec))


@task(name="cluster-access", **LIVE)
def cluster_access(spec: LabSpec) -> ClusterAccess:
    """Endpoint, base64 CA, status and expiry of the live cluster (plain values, no credential)."""
    return cluster.access_of(cluster.read_existing(clients(), spec), spec)
