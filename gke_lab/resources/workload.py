"""The article's echo workload (Deployment + Service): applied in place, then its rollout awaited.

The Kubernetes side (manifests, apply, rollout, diagnostics) lives in `gke_lab.echo`; this module holds the
decision, so `plan` and `up` agree on it like on every other resource.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kubernetes import client as k8s
from pydantic import BaseModel, ConfigDict

from gke_lab import calls, echo, kube
from gke_lab.clients import Clients
from gke_lab.resources.cluster import ClusterAccess
from gke_lab.resources.decision import Action, Decision, create, exists
from gke_lab.spec import LabSpec
from gke_lab.verify import verify_echo

KIND = "kubernetes.echo"
NAME = f"{echo.DEPLOYMENT}+{echo.SERVICE}"


@dataclass(frozen=True)
class EchoLive:
    """The live objects as plain JSON (None when absent)."""

    deployment: dict[str, Any] | None
    service: dict[str, Any] | None


class WorkloadResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    namespace: str
    deployment: str  # created / updated / unchanged
    service: str
    rollout: dict[str, Any]
    image: str


def resource_name(spec: LabSpec) -> str:
    return f"{spec.cluster_name}/namespaces/{spec.echo.namespace}"


def read(api: k8s.ApiClient, spec: LabSpec) -> EchoLive | None:
    apps, core = k8s.AppsV1Api(api), k8s.CoreV1Api(api)
    ns = spec.echo.namespace
    deployment = calls.get_or_none(
        lambda: apps.read_namespaced_deployment(echo.DEPLOYMENT, ns),
        resource=f"Deployment {ns}/{echo.DEPLOYMENT}",
        retryable=kube.is_transient,
    )
    service = calls.get_or_none(
        lambda: core.read_namespaced_service(echo.SERVICE, ns),
        resource=f"Service {ns}/{echo.SERVICE}",
        retryable=kube.is_transient,
    )
    if deployment is None and service is None:
        return None
    plain = api.sanitize_for_serialization
    return EchoLive(
        deployment=None if deployment is None else plain(deployment),  # type: ignore[no-untyped-call]  # kubernetes client is untyped
        service=None if service is None else plain(service),  # type: ignore[no-untyped-call]  # kubernetes client is untyped
    )


def assess(spec: LabSpec, live: EchoLive | None) -> Decision:
    resource = resource_name(spec)
    if live is None:
        return create(KIND, NAME, resource, f"{spec.echo.replicas} x {spec.echo.image}")
    plain = k8s.ApiClient().sanitize_for_serialization
    changed = [
        label
        for label, have, want in (
            (echo.DEPLOYMENT, live.deployment, plain(echo.deployment_manifest(spec.echo))),  # type: ignore[no-untyped-call]  # kubernetes client is untyped
            (echo.SERVICE, live.service, plain(echo.service_manifest(spec.echo))),  # type: ignore[no-untyped-call]  # kubernetes client is untyped
        )
        if not echo.matches(have, want)
    ]
    if changed:
        return Decision(Action.UPDATE, KIND, NAME, resource, detail="applied in place: " + ", ".join(changed))
    return exists(KIND, NAME, resource)


def ensure(api: k8s.ApiClient, spec: LabSpec) -> WorkloadResult:
    """Apply when the decision says so (an equal workload gets no mutating call), then await the rollout."""
    decision = assess(spec, read(api, spec))
    if decision.action is Action.EXISTS:
        applied = {"namespace": spec.echo.namespace, "deployment": "unchanged", "service": "unchanged"}
    else:
        applied = echo.apply_echo(api, spec.echo)
    rollout = echo.wait_rollout(api, spec.echo)
    return WorkloadResult(**applied, rollout=rollout, image=spec.echo.image)


def api_client(c: Clients, spec: LabSpec, access: ClusterAccess) -> k8s.ApiClient:
    """A Kubernetes client for the lab's cluster; the bearer token never leaves this process."""
    return kube.api_client(
        access.endpoint,
        access.ca_certificate,
        c.access_token,  # asked at every request: refreshed before it expires
        authorized_networks=[n.cidr for n in spec.cluster.master_authorized_networks],
    )


def deploy(c: Clients, spec: LabSpec, access: ClusterAccess) -> WorkloadResult:
    api = api_client(c, spec, access)
    try:
        return ensure(api, spec)
    finally:
        api.close()  # type: ignore[no-untyped-call]  # kubernetes client is untyped


def verify(c: Clients, spec: LabSpec, access: ClusterAccess) -> dict[str, Any]:
    """Echo report through the service proxy, nodes Ready per zone, pods spread: pass/fail per check."""
    api = api_client(c, spec, access)
    try:
        return verify_echo(api, spec.echo, spec.cluster.node_locations)
    finally:
        api.close()  # type: ignore[no-untyped-call]  # kubernetes client is untyped
