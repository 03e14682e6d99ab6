"""Prefect tasks for the cluster: the ensure (after network, keys and IAM) and a read for the lab card."""

from __future__ import annotations

from prefect import task

from gke_lab.ownership import marker_for
from gke_lab.resources import cluster as cluster_resource
from gke_lab.resources.cluster import ClusterAccess
from gke_lab.resources.iam_policy import Grants
from gke_lab.resources.router import RouterResult
from gke_lab.spec import LabSpec
from tasks.common import MUTATING, clients


@task(name="ensure-cluster", **MUTATING)
def cluster(
    spec: LabSpec, stamp: float, version: str, network: RouterResult, keys: list[Grants], roles: Grants
) -> ClusterAccess:
    grants = [k.granted_at for k in keys] + [roles.granted_at]
    return cluster_resource.ensure(clients(), spec, marker_for(spec, stamp), version, grants)


@task(name="read-cluster")
def read_cluster(spec: LabSpec) -> ClusterAccess:
    """How to reach the live cluster (for the lab card). Read-only."""
    return cluster_resource.access_of(cluster_resource.read_existing(clients(), spec), spec)
