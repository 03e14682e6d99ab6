"""The article's echo application: Deployment `echo-deployment` and ClusterIP Service `echo-service`.

Applied idempotently (create; patch only when the live object differs; nothing when equal), then the
rollout is awaited with backoff. Pods that cannot pull their image on private nodes are diagnosed at once:
without Cloud NAT, private nodes reach only Google's registries.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from kubernetes import client as k8s

from gke_lab import calls, kube, progress
from gke_lab.errors import DiagnosticError, LabError
from gke_lab.retry import Backoff

DEPLOYMENT = "echo-deployment"
SERVICE = "echo-service"
APP_LABEL = {"app": "echo-server"}
CONTAINER = "echo-server"
CONTAINER_PORT = 8080
SERVICE_PORT = 80
OWNER_LABEL = {"managed-by": "gke-lab"}
PULL_FAILURES = {"ErrImagePull", "ImagePullBackOff", "InvalidImageName"}

# Capped at 2 s: a rollout is short, and overshooting its end is added to the lab's wait.
ROLLOUT_POLL = Backoff(base=0.1, factor=1.5, cap=2.0, jitter=0.2, attempts=10_000)


class EchoLike(Protocol):
    namespace: str
    image: str
    replicas: int


class ImagePullError(DiagnosticError):
    """Pods cannot pull the echo image (on private nodes: no route to a registry outside Google)."""


class RolloutTimeout(LabError):
    """The Deployment did not become ready in time."""


# --- manifests ---------------------------------------------------------------------------------------------
def deployment_manifest(echo: EchoLike) -> k8s.V1Deployment:
    return k8s.V1Deployment(
        api_version="apps/v1",
        kind="Deployment",
        metadata=k8s.V1ObjectMeta(
            name=DEPLOYMENT, namespace=echo.namespace, labels={**APP_LABEL, **OWNER_LABEL}
        ),
        spec=k8s.V1DeploymentSpec(
            replicas=echo.replicas,
            selector=k8s.V1LabelSelector(match_labels=dict(APP_LABEL)),
            template=k8s.V1PodTemplateSpec(
                metadata=k8s.V1ObjectMeta(labels=dict(APP_LABEL)),
                spec=k8s.V1PodSpec(
                    containers=[
                        k8s.V1Container(
                            name=CONTAINER,
                            image=echo.image,
                            ports=[k8s.V1ContainerPort(container_port=CONTAINER_PORT, name="http-port")],
                        )
                    ]
                ),
            ),
        ),
    )


def service_manifest(echo: EchoLike) -> k8s.V1Service:
    return k8s.V1Service(
        api_version="v1",
        kind="Service",
        metadata=k8s.V1ObjectMeta(
            name=SERVICE, namespace=echo.namespace, labels={**APP_LABEL, **OWNER_LABEL}
        ),
        spec=k8s.V1ServiceSpec(
            type="ClusterIP",
            selector=dict(APP_LABEL),
            ports=[k8s.V1ServicePort(port=SERVICE_PORT, target_port=CONTAINER_PORT, protocol="TCP")],
        ),
    )


# --- idempotent apply --------------------------------------------------------------------------------------
def _plain(api: k8s.ApiClient, obj: Any) -> Any:
    return api.sanitize_for_serialization(obj)  # type: ignore[no-untyped-call]  # kubernetes client is untyped


def contains(live: Any, want: Any) -> bool:
    """Whether every field we set is present with the same value (the server adds defaults of its own)."""
    if isinstance(want, dict):
        return isinstance(live, dict) and all(contains(live.get(k), v) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(live, list) and len(live) == len(want) and all(map(contains, live, want))
    return bool(live == want)


def matches(live: dict[str, Any] | None, want: dict[str, Any]) -> bool:
    """Whether a live object (plain JSON) carries our labels and every spec field we set."""
    if live is None:
        return False
    return contains(live.get("metadata", {}), {"labels": want["metadata"]["labels"]}) and contains(
        live.get("spec"), want["spec"]
    )


def _ensure(
    api: k8s.ApiClient,
    desired: Any,
    read: Callable[[str, str], object],
    create: Callable[[str, Any], object],
    patch: Callable[[str, str, Any], object],
) -> str:
    name, ns = desired.metadata.name, desired.metadata.namespace
    resource = f"{desired.kind} {ns}/{name}"
    live = calls.get_or_none(lambda: read(name, ns), resource=resource, retryable=kube.is_transient)
    created = False
    if live is None:
        answer = calls.create_or_existing(
            lambda: create(ns, desired), resource=resource, retryable=kube.is_transient
        )
        if answer is not None:
            return "created"
        # 409: a retried create whose first answer was lost, or a concurrent creator: compare what is there.
        created = True
        live = calls.get_or_none(lambda: read(name, ns), resource=resource, retryable=kube.is_transient)
        if live is None:
            raise LabError(f"{resource} was created but cannot be read back", resource=resource)
    if matches(_plain(api, live), _plain(api, desired)):
        return "created" if created else "unchanged"
    kube.call(lambda: patch(name, ns, desired), resource=resource, action="patch")
    return "updated"


def _ensure_namespace(api: k8s.ApiClient, namespace: str) -> None:
    core = k8s.CoreV1Api(api)
    resource = f"Namespace {namespace}"
    if calls.get_or_none(
        lambda: core.read_namespace(namespace), resource=resource, retryable=kube.is_transient
    ):
        return
    body = k8s.V1Namespace(metadata=k8s.V1ObjectMeta(name=namespace, labels=dict(OWNER_LABEL)))
    calls.create_or_existing(
        lambda: core.create_namespace(body), resource=resource, retryable=kube.is_transient
    )


def apply_echo(api: k8s.ApiClient, echo: EchoLike) -> dict[str, str]:
    """Create or align the Deployment and the Service; returns what happened to each."""
    apps, core = k8s.AppsV1Api(api), k8s.CoreV1Api(api)
    if echo.namespace != "default":
        _ensure_namespace(api, echo.namespace)
    deployment = _ensure(
        api,
        deployment_manifest(echo),
        apps.read_namespaced_deployment,
        lambda ns, body: apps.create_namespaced_deployment(ns, body),
        lambda name, ns, body: apps.patch_namespaced_deployment(name, ns, body),
    )
    service = _ensure(
        api,
        service_manifest(echo),
        core.read_namespaced_service,
        lambda ns, body: core.create_namespaced_service(ns, body),
        lambda name, ns, body: core.patch_namespaced_service(name, ns, body),
    )
    return {"namespace": echo.namespace, "deployment": deployment, "service": service}


# --- rollout -----------------------------------------------------------------------------------------------
def _pods(core: k8s.CoreV1Api, namespace: str) -> list[k8s.V1Pod]:
    selector = ",".join(f"{k}={v}" for k, v in APP_LABEL.items())
    return kube.call(
        lambda: core.list_namespaced_pod(namespace, label_selector=selector).items,
        resource=f"pods {namespace}/{selector}",
        action="list",
    )


def _pull_failures(pods: list[k8s.V1Pod]) -> list[tuple[str, str, str]]:
    """(pod, reason, message) for containers waiting on an image pull failure."""
    found: list[tuple[str, str, str]] = []
    for pod in pods:
        # A failing pod without a name (never seen from a server) is still a failure: report it unnamed.
        name = (pod.metadata and pod.metadata.name) or ""
        for status in (pod.status and pod.status.container_statuses) or []:
            waiting = status.state and status.state.waiting
            if waiting and waiting.reason in PULL_FAILURES:
                found.append((name, waiting.reason, waiting.message or ""))
    return found


def _pod_event(core: k8s.CoreV1Api, namespace: str, pod: str) -> str:
    """The most telling event of a pod: the latest pull failure, else the latest warning."""
    try:
        events = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={pod}").items
    except k8s.ApiException:
        return ""
    events = [e for e in events if e.involved_object is None or e.involved_object.name == pod]

    def when(e: k8s.CoreV1Event) -> str:
        stamp = e.last_timestamp or e.event_time or e.first_timestamp
        return stamp.isoformat() if stamp else ""

    events.sort(key=when)
    warnings = [e for e in events if e.type == "Warning"]
    # The kubelet's "Failed to pull image ...: <cause>" says why; "Error: ImagePullBackOff" only that it did.
    pulls = [e for e in warnings if "failed to pull" in (e.message or "").lower()]
    candidates = pulls or warnings
    if not candidates:
        return ""
    chosen = candidates[-1]
    return f"{chosen.reason}: {chosen.message}"


SCHEMA_1_FIX = (
    "It is a Docker schema 1 image, which containerd 2.0 (GKE 1.33+ nodes) refuses to pull: set "
    "echo.image to a schema 2 / OCI image such as registry.k8s.io/echoserver:1.10."
)
EGRESS_FIX = (
    "Private nodes have no public IP addresses, so images outside Google's registries (gcr.io, "
    "*-docker.pkg.dev) need Cloud NAT for egress: set network.cloud_nat: true (a Cloud Router with NAT "
    "in the cluster's region), or mirror the image into Artifact Registry and set echo.image."
)


def _image_pull_error(image: str, pod: str, reason: str, event: str, status: str = "") -> ImagePullError:
    quoted = event or reason
    # containerd's own words from the pod status, when the event does not already carry them.
    said = f' Container status: "{status}".' if status and status not in quoted else ""
    schema_1 = "schema 1" in f"{quoted} {status}".lower()
    return ImagePullError(
        f'Pods of {DEPLOYMENT} cannot pull {image} (pod {pod}: {reason}). Event: "{quoted}".{said} '
        + (SCHEMA_1_FIX if schema_1 else EGRESS_FIX),
        resource=f"Deployment {DEPLOYMENT}",
    )


@dataclass(frozen=True)
class RolloutState:
    replicas: int  # wanted
    updated: int
    ready: int
    available: int
    total: int
    observed: bool  # the controller has seen the latest generation

    @property
    def done(self) -> bool:
        n = self.replicas
        return self.observed and self.updated == n and self.available == n and self.total == n

    def to_dict(self) -> dict[str, int | bool]:
        return asdict(self)


def _rollout_state(dep: k8s.V1Deployment, replicas: int) -> RolloutState:
    status = dep.status or k8s.V1DeploymentStatus()
    generation = dep.metadata.generation if dep.metadata is not None else None
    observed = status.observed_generation
    return RolloutState(
        replicas=replicas,
        updated=status.updated_replicas or 0,
        ready=status.ready_replicas or 0,
        available=status.available_replicas or 0,
        total=status.replicas or 0,
        observed=generation is None or (observed is not None and observed >= generation),
    )


def wait_rollout(
    api: k8s.ApiClient,
    echo: EchoLike,
    *,
    timeout: float = 900.0,
    poll: Backoff = ROLLOUT_POLL,
    pull_failure_polls: int = 3,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, int | bool]:
    """Wait until every replica is updated and available. Image pull failures raise ImagePullError.

    `ImagePullBackOff` is final (kubelet already failed and is backing off); `ErrImagePull` must persist
    for `pull_failure_polls` consecutive polls, as a first pull may fail transiently.
    """
    apps, core = k8s.AppsV1Api(api), k8s.CoreV1Api(api)
    resource = f"Deployment {echo.namespace}/{DEPLOYMENT}"
    deadline = clock() + timeout
    delays = poll.delays()
    seen_pull_errors = 0
    while True:
        dep = kube.call(
            lambda: apps.read_namespaced_deployment(DEPLOYMENT, echo.namespace),
            resource=resource,
            action="read",
        )
        state = _rollout_state(dep, echo.replicas)
        if state.done:
            return state.to_dict()
        progress.note(f"rolling out, {state.available}/{echo.replicas} replicas available")
        failures = _pull_failures(_pods(core, echo.namespace))
        seen_pull_errors = seen_pull_errors + 1 if failures else 0
        backoff = [f for f in failures if f[1] != "ErrImagePull"]
        if backoff or (failures and seen_pull_errors >= pull_failure_polls):
            pod, reason, message = (backoff or failures)[0]
            event = _pod_event(core, echo.namespace, pod) or message
            raise _image_pull_error(echo.image, pod, reason, event, message)
        if clock() >= deadline:
            raise RolloutTimeout(
                f"{resource} not ready after {timeout:.0f}s: {state.available}/{echo.replicas} available, "
                f"{state.updated} updated",
                resource=resource,
            )
        sleep(min(next(delays, poll.cap), max(0.0, deadline - clock())))


# --- the echoserver report ---------------------------------------------------------------------------------
# Section headers of echoserver 1.4 (upper case) and 1.10 (title case; 1.4 is schema 1, see EchoSpec.image).
_SECTIONS = {
    "CLIENT VALUES:": "client",
    "SERVER VALUES:": "server",
    "HEADERS RECEIVED:": "headers",
    "BODY:": "body",
    "Request Information:": "client",
    "Server values:": "server",
    "Request Headers:": "headers",
    "Request Body:": "body",
    "Pod Information:": "pod",
}
_KV = re.compile(r"^([^=]+)=(.*)$")
_HOSTNAME = "Hostname:"


def parse_echo_report(text: str) -> dict[str, Any]:
    """Parse echoserver's plain-text report (1.4 or 1.10) into {"client", "server", "headers", "body", ..}.

    Header names are lower-cased (as echoserver prints them); 1.10 adds "hostname" (the answering pod) and
    "pod" (free text). Raises ValueError when `text` is not a report.
    """
    result: dict[str, Any] = {
        "client": {},
        "server": {},
        "headers": {},
        "body": "",
        "hostname": "",
        "pod": "",
    }
    section: str | None = None
    body: list[str] = []
    pod: list[str] = []
    seen: set[str] = set()
    for raw in text.splitlines():
        line = raw.rstrip("\r")
        header = line.strip()
        if section != "body" and header in _SECTIONS:
            section = _SECTIONS[header]
            seen.add(section)
            continue
        if section == "body":
            body.append(line)
            continue
        if not header:
            continue
        if section is None and header.startswith(_HOSTNAME):
            result["hostname"] = header.removeprefix(_HOSTNAME).strip()
            continue
        if section == "pod":
            pod.append(header)
            continue
        match = _KV.match(header)
        if section is None or match is None:
            raise ValueError(f"not an echoserver report: unexpected line {line!r}")
        key, value = match.group(1).strip(), match.group(2).strip()
        if section == "headers":
            key = key.lower()
        result[section][key] = value
    if "client" not in seen or "headers" not in seen:
        raise ValueError(
            "not an echoserver report: missing CLIENT VALUES / Request Information "
            "or HEADERS RECEIVED / Request Headers section"
        )
    result["body"] = "\n".join(body).strip()
    result["pod"] = "\n".join(pod)
    return result
