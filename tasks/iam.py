"""Prefect tasks for IAM: the node service account and its project roles (one etag read-modify-write)."""

from __future__ import annotations

from prefect import task

from gke_lab.ownership import marker_for
from gke_lab.resources import project_bindings, service_account
from gke_lab.resources.iam_policy import Grants
from gke_lab.spec import LabSpec
from tasks.common import MUTATING, clients


@task(name="ensure-node-service-account", **MUTATING)
def account(spec: LabSpec, stamp: float) -> service_account.ServiceAccountResult:
    return service_account.ensure(clients(), spec, marker_for(spec, stamp))


@task(name="ensure-project-roles", **MUTATING)
def roles(spec: LabSpec, account: service_account.ServiceAccountResult) -> Grants:
    return project_bindings.ensure(clients(), spec, account.created_at)
