"""The private, CMEK-encrypted regional cluster: created after network, keys and IAM; never adopted."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from google.api_core import exceptions as gexc
from google.cloud import container_v1
from pydantic import BaseModel, ConfigDict

from gke_lab import calls, kube, ops, retry
from gke_lab.clients import Clients
from gke_lab.errors import LabError, is_permission_denied, is_transient
from gke_lab.ownership import Marker
from gke_lab.requests import POOL_LABEL, build_cluster
from gke_lab.resources.decision import (
    Action,
    Blocker,
    Decision,
    Difference,
    create,
    differs_or_exists,
    not_owned,
)
from gke_lab.spec import LabSpec

log = logging.getLogger(__name__)

KIND = "container.cluster"
FIX = "Choose another cluster.name or lab."
# How long after our own grant a permission error naming a key is taken for IAM propagation.
PROPAGATION_WINDOW = 900.0
# Retries while waiting for propagation, bounded by the window above. The cap is short because each
# retry is a refused create (cheap), while every second of overshoot past the moment the grant takes
# effect is added to the lab's wait: with a 15 s cap a run lost up to 15 s here.
PROPAGATION_BACKOFF = retry.Backoff(base=0.5, factor=1.5, cap=2.0, attempts=1000)

Status = container_v1.Cluster.Status
SETTLING = (Status.PROVISIONING, Status.RECONCILING, Status.STATUS_UNSPECIFIED)


class ClusterAccess(BaseModel):
    """How to reach the control plane: plain, token-free values handed from task to task."""

    model_config = ConfigDict(frozen=True)

    name: str
    location: str
    endpoint: str
    ca_certificate: str
    status: str
    version: str = ""
    expires: int | None = None
    lab: str | None = None
    authorized_networks: list[str] = []
    created: bool = False
    recreated: bool = False  # deleted and created again after a key error during grant propagation


def access_of(cluster: container_v1.Cluster, spec: LabSpec, created: bool = False) -> ClusterAccess:
    marker = Marker.from_labels(cluster.resource_labels)
    return ClusterAccess(
        name=cluster.name,
        location=cluster.location or spec.region,
        endpoint=cluster.endpoint,
        ca_certificate=cluster.master_auth.cluster_ca_certificate,
        status=cluster.status.name,
        version=cluster.current_master_version,
        expires=marker.expires if marker else None,
        lab=marker.lab if marker else None,
        authorized_networks=kube.authorized_cidrs(cluster),
        created=created,
    )


def read(c: Clients, spec: LabSpec) -> container_v1.Cluster | None:
    return calls.get_or_none(
        lambda: c.container.get_cluster(name=spec.cluster_name), resource=spec.cluster_name
    )


def read_existing(c: Clients, spec: LabSpec) -> container_v1.Cluster:
    """The live cluster, or a LabError saying to provision first (verification, audit, lab card)."""
    cluster = read(c, spec)
    if cluster is None:
        raise LabError(
            f"{spec.cluster_name} does not exist (provision the lab first)", resource=spec.cluster_name
        )
    return cluster


def fixed_differences(spec: LabSpec, cluster: container_v1.Cluster) -> list[Difference]:
    """Fields fixed at creation that differ from the spec (they cannot be changed in place)."""
    pairs = [
        ("network", cluster.network.rsplit("/", 1)[-1], spec.network.name),
        ("subnetwork", cluster.subnetwork.rsplit("/", 1)[-1], spec.network.subnet.name),
        (
            "private_cluster_config.master_ipv4_cidr_block",
            cluster.private_cluster_config.master_ipv4_cidr_block,
            spec.cluster.master_ipv4_cidr,
        ),
        ("database_encryption.key_name", cluster.database_encryption.key_name, spec.key_name("secrets")),
        (
            "ip_allocation_policy.cluster_secondary_range_name",
            cluster.ip_allocation_policy.cluster_secondary_range_name,
            spec.network.pods_range.name,
        ),
        (
            "ip_allocation_policy.services_secondary_range_name",
            cluster.ip_allocation_policy.services_secondary_range_name,
            spec.network.services_range.name,
        ),
        ("locations", sorted(cluster.locations), sorted(spec.cluster.node_locations)),
    ]
    return [Difference(field, live, want) for field, live, want in pairs if live != want]


def setting_differences(spec: LabSpec, cluster: container_v1.Cluster) -> list[Difference]:
    """Settings GKE can change in place that differ from the spec (gke-lab reports, never ignores)."""
    ip = cluster.control_plane_endpoints_config.ip_endpoints_config
    config = ip.authorized_networks_config if ip.authorized_networks_config else None
    if config is None or not config.enabled:
        config = cluster.master_authorized_networks_config
    live = sorted(b.cidr_block for b in config.cidr_blocks) if config.enabled else None
    want = sorted(n.cidr for n in spec.cluster.master_authorized_networks)
    out = [] if live == want else [Difference("authorized_networks_config.cidr_blocks", live, want)]
    # The pool a lab belongs to is a label GKE can change in place; a lab made for one pool (or none) is
    # not silently taken into another by a run with a different `pool`.
    live_pool = cluster.resource_labels.get(POOL_LABEL)
    if live_pool != spec.pool:
        out.append(Difference(f"resource_labels.{POOL_LABEL}", live_pool, spec.pool))
    return out


def assess(spec: LabSpec, live: container_v1.Cluster | None) -> Decision:
    name, resource = spec.cluster.name, spec.cluster_name
    if live is None:
        c = spec.cluster
        zones = len(c.node_locations)
        return create(
            KIND,
            name,
            resource,
            f"private, {zones} zones, {c.num_nodes * zones} nodes, {c.machine_type}, "
            f"version {c.version or 'default'}",
        )
    blocked = not_owned(KIND, name, resource, Marker.from_labels(live.resource_labels), spec.lab, FIX)
    if blocked:
        return blocked
    if live.status not in (Status.RUNNING, *SETTLING):
        conditions = "; ".join(f"{k.code.name}: {k.message}" for k in live.conditions)
        return Decision(
            Action.BLOCKED,
            KIND,
            name,
            resource,
            blocker=Blocker.UNUSABLE,
            message=f"{resource} is {live.status.name}: {conditions or live.status_message}",
        )
    fixed = fixed_differences(spec, live)
    if fixed:
        return differs_or_exists(KIND, name, resource, fixed)
    return differs_or_exists(KIND, name, resource, setting_differences(spec, live), changeable=True)


def propagation_retryable(
    spec: LabSpec, grants: list[float | None], now: float | None = None
) -> Callable[[BaseException], bool]:
    """A classifier: transient errors, plus, shortly after our grants, a 403 naming one of the lab's keys
    or a 400 saying the new node service account does not exist."""
    keys = (spec.key_name("node"), spec.key_name("secrets"))
    recent = [g for g in grants if g is not None]

    def retryable(exc: BaseException) -> bool:
        if is_transient(exc):
            return True
        if not recent or (now or time.time()) - max(recent) >= PROPAGATION_WINDOW:
            return False
        message = str(getattr(exc, "message", "") or exc)
        if isinstance(exc, gexc.BadRequest):
            # The node service account created moments ago, not yet known to GKE (IAM propagation).
            return spec.node_sa_email in message and "does not exist" in message
        if not is_permission_denied(exc):
            return False
        return any(k in message or k.rsplit("/", 1)[-1] in message for k in keys)

    return retryable


def _wait_running(c: Clients, spec: LabSpec, timeout: float = 3600.0) -> container_v1.Cluster:
    """For a cluster found mid-provisioning (another attempt created it): wait until it settles."""
    name = spec.cluster_name
    start = time.monotonic()
    while True:
        cluster = read(c, spec)
        if cluster is None:
            raise LabError(f"{name} disappeared while waiting for it to become RUNNING", resource=name)
        if cluster.status not in SETTLING:
            return cluster
        elapsed = time.monotonic() - start
        if elapsed > timeout:
            raise LabError(f"timed out waiting for {name} (status {cluster.status.name})", resource=name)
        time.sleep(ops.poll_interval(elapsed))


KMS_ERROR_CODE = "CLOUD_KMS_KEY_ERROR"


def kms_propagation_failure(
    spec: LabSpec, live: container_v1.Cluster, grants: list[float | None], now: float | None = None
) -> bool:
    """An ERROR cluster whose cause is a key of the lab refused inside the window after our grant.

    GKE accepts the create, then a node's boot disk (or etcd) cannot use the key yet: the cluster ends in
    ERROR with a Cloud KMS key error although the grant is in place. Deleting and creating again works.
    """
    recent = [g for g in grants if g is not None]
    if live.status != Status.ERROR or not recent or (now or time.time()) - max(recent) >= PROPAGATION_WINDOW:
        return False
    texts = [live.status_message, *(k.message for k in live.conditions)]
    coded = any(k.code.name == KMS_ERROR_CODE for k in live.conditions)
    keys = (spec.key_name("node"), spec.key_name("secrets"))
    names_key = any(k in t or k.rsplit("/", 1)[-1] in t for t in texts for k in keys)
    return names_key and (coded or any("Cloud KMS" in t for t in texts))


def _create(c: Clients, spec: LabSpec, body: container_v1.Cluster, grants: list[float | None]) -> bool:
    """Create and wait; True when this call created it. A failed operation is left to the caller."""
    name = spec.cluster_name
    op = calls.create_or_existing(
        lambda: c.container.create_cluster(parent=spec.cluster_parent, cluster=body),
        resource=name,
        retryable=propagation_retryable(spec, grants),
        backoff=PROPAGATION_BACKOFF,
    )
    if op is None:
        return False
    try:
        ops.wait_container(c, op, location_path=spec.cluster_parent, resource=name)
    except LabError:
        live = read(c, spec)
        if live is None or not kms_propagation_failure(spec, live, grants):
            raise
    return True


def _delete_failed(c: Clients, spec: LabSpec) -> None:
    name = spec.cluster_name
    op = calls.delete_or_gone(lambda: c.container.delete_cluster(name=name), resource=name)
    if op is not None:
        ops.wait_container(c, op, location_path=spec.cluster_parent, resource=name)


def ensure(
    c: Clients, spec: LabSpec, marker: Marker, version: str, grants: list[float | None]
) -> ClusterAccess:
    """get -> create if missing (waiting out key-grant propagation) -> wait -> read back -> assess again.

    A create that ends in ERROR with a key error inside the propagation window is deleted and created
    once more (reported in the log and as `recreated`).
    """
    name = spec.cluster_name
    live = read(c, spec)
    decision = assess(spec, live)
    created = recreated = False
    if decision.action is Action.CREATE:
        body = build_cluster(spec, version, marker)
        created = _create(c, spec, body, grants)
        live = read(c, spec)
        if created and live is not None and kms_propagation_failure(spec, live, grants):
            log.warning(
                "%s ended in ERROR on a key still propagating (%s); recreating it once",
                name,
                live.status_message,
            )
            _delete_failed(c, spec)
            created = _create(c, spec, body, grants)
            recreated = True
            live = read(c, spec)
        if live is None:
            raise LabError(f"{name} was created but cannot be read back", resource=name)
        decision = assess(spec, live)
    decision.stop()  # not owned, or still ERROR: refuse before waiting on someone else's cluster
    assert live is not None
    if live.status in SETTLING:
        live = _wait_running(c, spec)
        assess(spec, live).stop()
    return access_of(live, spec, created).model_copy(update={"recreated": recreated})
