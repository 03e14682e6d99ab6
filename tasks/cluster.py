"""The cluster ensure: create after network, keys and IAM; wait; return how to reach the control plane."""

from __future__ import annotations

import time

from google.cloud import container_v1
from prefect import task

from gke_lab import ops, retry
from gke_lab.clients import Clients
from gke_lab.errors import (
    DriftError,
    LabError,
    NotOwnedError,
    is_already_exists,
    is_not_found,
    is_permission_denied,
    is_transient,
)
from gke_lab.livediff import compare_cluster, compare_cluster_settings
from gke_lab.ownership import Marker, marker_for
from gke_lab.requests import build_cluster
from gke_lab.spec import LabSpec
from tasks.common import MUTATING, clients

# How long after our own grant a permission error naming a key is taken for IAM propagation.
PROPAGATION_WINDOW = 900.0
# Retries while waiting for propagation, bounded by the window above. The cap is short because each
# retry is a refused create (cheap), while every second of overshoot past the moment the grant takes
# effect is added to the lab's wait: with a 15 s cap a run lost up to 15 s here.
PROPAGATION_BACKOFF = retry.Backoff(base=0.5, factor=1.5, cap=2.0, attempts=1000)

Status = container_v1.Cluster.Status


def propagation_retryable(spec: LabSpec, grants: list[float | None], now: float | None = None):
    """A classifier: transient errors, plus a 403 naming one of the lab's keys shortly after our grant."""
    keys = (spec.key_name("node"), spec.key_name("secrets"))
    recent = [g for g in grants if g is not None]

    def retryable(exc: BaseException) -> bool:
        if is_transient(exc):
            return True
        if not is_permission_denied(exc) or not recent:
            return False
        message = str(getattr(exc, "message", "") or exc)
        names_key = any(k in message or k.rsplit("/", 1)[-1] in message for k in keys)
        return names_key and (now or time.time()) - max(recent) < PROPAGATION_WINDOW

    return retryable


def _get(c: Clients, name: str) -> container_v1.Cluster | None:
    def attempt() -> container_v1.Cluster | None:
        try:
            return c.container.get_cluster(name=name)
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise

    return retry.call(attempt, resource=name, action="read")


def _wait_running(c: Clients, name: str, timeout: float = 3600.0) -> container_v1.Cluster:
    """For a cluster found mid-provisioning (another attempt created it): wait until it settles."""
    start = time.monotonic()
    while True:
        cluster = _get(c, name)
        if cluster is None:
            raise LabError(f"{name} disappeared while waiting for it to become RUNNING", resource=name)
        if cluster.status not in (Status.PROVISIONING, Status.RECONCILING, Status.STATUS_UNSPECIFIED):
            return cluster
        elapsed = time.monotonic() - start
        if elapsed > timeout:
            raise LabError(f"timed out waiting for {name} (status {cluster.status.name})", resource=name)
        time.sleep(ops.poll_interval(elapsed))


def access_of(cluster: container_v1.Cluster, spec: LabSpec) -> dict:
    marker = Marker.from_labels(cluster.resource_labels)
    return {
        "expires": marker.expires if marker else None,
        "name": cluster.name,
        "location": cluster.location or spec.region,
        "endpoint": cluster.endpoint,
        "ca_certificate": cluster.master_auth.cluster_ca_certificate,
        "status": cluster.status.name,
        "version": cluster.current_master_version,
    }


def ensure_cluster(
    c: Clients, spec: LabSpec, version: str, marker: Marker, grants: list[float | None]
) -> dict:
    name = spec.cluster_name
    cluster = _get(c, name)
    created = False
    if cluster is None:
        body = build_cluster(spec, version, marker)
        classify = propagation_retryable(spec, grants)

        def create() -> container_v1.Operation | None:
            try:
                return c.container.create_cluster(parent=spec.cluster_parent, cluster=body)
            except Exception as exc:
                if is_already_exists(exc):
                    return None
                raise

        op = retry.call(
            create, resource=name, action="create", retryable=classify, backoff=PROPAGATION_BACKOFF
        )
        if op is not None:
            ops.wait_container(c, op, location_path=spec.cluster_parent, resource=name)
            created = True
        cluster = _get(c, name)
        if cluster is None:
            raise LabError(f"{name} was created but cannot be read back", resource=name)
    found = Marker.from_labels(cluster.resource_labels)
    if found is None or found.lab != spec.lab:
        raise NotOwnedError(
            f"{name} exists but is not labelled for lab {spec.lab!r}; gke-lab never adopts it. "
            "Choose another cluster.name or lab.",
            resource=name,
        )
    if cluster.status in (Status.PROVISIONING, Status.RECONCILING):
        cluster = _wait_running(c, name)
    if cluster.status != Status.RUNNING:
        conditions = "; ".join(f"{k.code.name}: {k.message}" for k in cluster.conditions)
        raise LabError(
            f"{name} is {cluster.status.name}: {conditions or cluster.status_message}", resource=name
        )
    drift = compare_cluster(spec, cluster)
    if drift:
        raise DriftError(name, drift)
    settings = compare_cluster_settings(spec, cluster)
    if settings:
        lines = "; ".join(f"{f}: live={live!r}, spec={want!r}" for f, live, want in settings)
        raise LabError(
            f"{name} exists but differs from the spec: {lines}. gke-lab does not change a running lab's "
            "settings; align the spec (or update the cluster yourself), "
            "or tear the lab down and provision again.",
            resource=name,
        )
    return {**access_of(cluster, spec), "created": created}


@task(name="ensure-cluster", **MUTATING)
def cluster(spec: LabSpec, stamp: float, version: str, network: dict, keys: list[dict], roles: dict) -> dict:
    grants = [b.get("granted_at") for b in keys] + [roles.get("granted_at")]
    return ensure_cluster(clients(), spec, version, marker_for(spec, stamp), grants)


@task(name="read-cluster")
def read_cluster(spec: LabSpec) -> dict:
    """The live cluster object as JSON (for the lab card). Read-only."""
    c = clients()
    live = _get(c, spec.cluster_name)
    if live is None:
        raise LabError(f"{spec.cluster_name} does not exist", resource=spec.cluster_name)
    return access_of(live, spec)
