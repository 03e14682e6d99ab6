"""Prefect tasks for the echo workload: deploy (idempotent apply + rollout) and verify.

They receive only plain values (`ClusterAccess`: endpoint and base64 CA); the bearer token is fetched
inside the task from the client factory and never leaves it.
"""

from __future__ import annotations

from typing import Any

from prefect import task

from gke_lab.resources import workload
from gke_lab.resources.cluster import ClusterAccess
from gke_lab.spec import LabSpec
from tasks.common import LIVE, MUTATING, clients


@task(name="deploy-echo", **MUTATING)
def deploy_echo(spec: LabSpec, access: ClusterAccess) -> workload.WorkloadResult:
    """The article's echo Deployment and Service, applied idempotently; waits for the rollout."""
    return workload.deploy(clients(), spec, access)


@task(name="verify-echo", **LIVE)
def verify_echo(spec: LabSpec, access: ClusterAccess) -> dict[str, Any]:
    """Echo report through the service proxy, nodes Ready per zone, pods spread: pass/fail per check."""
    return workload.verify(clients(), spec, access)
