"""Prefect task for the cluster: the ensure, after network, keys and IAM."""

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
