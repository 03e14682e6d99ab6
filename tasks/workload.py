"""Prefect tasks for the echo workload: deploy (idempotent apply + rollout) and verify.

They receive only plain values (`access` = endpoint and base64 CA); the bearer token is fetched inside the
task from the client factory and never leaves it.
"""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from gke_lab import echo, kube, verify
from gke_lab.spec import LabSpec
from tasks.common import MUTATING, READ_ONLY, clients

# Verification is a live observation: never cached, retried only on transient failures.
LIVE: dict[str, Any] = {
    **{k: v for k, v in READ_ONLY.items() if k not in ("cache_policy", "cache_expiration")},
    "cache_policy": NO_CACHE,
}


def _api(spec: LabSpec, access: dict):
    return kube.api_client(
        access["endpoint"],
        access["ca_certificate"],
        clients().access_token(),
        authorized_networks=[n.cidr for n in spec.cluster.master_authorized_networks],
    )


def deploy(spec: LabSpec, access: dict) -> dict:
    api = _api(spec, access)
    try:
        applied = echo.apply_echo(api, spec.echo)
        rollout = echo.wait_rollout(api, spec.echo)
    finally:
        api.close()
    return {**applied, "rollout": rollout, "image": spec.echo.image}


def check(spec: LabSpec, access: dict) -> dict:
    api = _api(spec, access)
    try:
        return verify.verify_echo(api, spec.echo, spec.cluster.node_locations)
    finally:
        api.close()


@task(name="deploy-echo", **MUTATING)
def deploy_echo(spec: LabSpec, access: dict) -> dict:
    """The article's echo Deployment and Service, applied idempotently; waits for the rollout."""
    return deploy(spec, access)


@task(name="verify-echo", **LIVE)
def verify_echo(spec: LabSpec, access: dict) -> dict:
    """Echo report through the service proxy, nodes Ready per zone, pods spread: pass/fail per check."""
    return check(spec, access)
