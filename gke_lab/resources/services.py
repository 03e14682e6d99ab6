"""The Google APIs the lab calls, enabled through the Service Usage API before anything else.

A project created today has compute, container, cloudkms, iam and cloudresourcemanager disabled, and
the Compute Engine and GKE service agents (granted on the CMEK keys) exist only once their API is enabled
or their identity generated. So: batchGet the states -> batchEnable what is disabled (one long-running
operation) -> generateServiceIdentity (v1beta1, what Terraform's google_project_service_identity calls)
for the agents of the services this run enabled. Already enabled: no mutating call.
"""

from __future__ import annotations

from dataclasses import dataclass

from google.api_core import exceptions as gexc
from google.cloud import service_usage_v1

from gke_lab import calls, retry
from gke_lab.clients import Clients
from gke_lab.errors import LabError
from gke_lab.requests import REQUIRED_SERVICES
from gke_lab.resources.decision import Decision, create, exists, skip
from gke_lab.spec import LabSpec

KIND = "serviceusage.service"
REQUIRED = REQUIRED_SERVICES
# The services whose agent is granted on a key (requests.compute_agent / gke_agent).
AGENT_SERVICES = ("compute.googleapis.com", "container.googleapis.com")
ENABLE_TIMEOUT = 600.0

State = service_usage_v1.State


@dataclass(frozen=True)
class ServiceStates:
    """Each required service's state; `served` is False when the endpoint has no Service Usage API."""

    enabled: tuple[str, ...] = ()
    disabled: tuple[str, ...] = ()
    served: bool = True


@dataclass(frozen=True)
class Enabled:
    """What one ensure did: the services it enabled and the agents it generated (empty: nothing)."""

    enabled: tuple[str, ...] = ()
    agents: tuple[str, ...] = ()


def project_parent(spec: LabSpec) -> str:
    return f"projects/{spec.project_id}"


def read(c: Clients, spec: LabSpec) -> ServiceStates:
    """The states of the required services (batchGet: read-only)."""
    parent = project_parent(spec)
    response = calls.get_or_none(
        lambda: c.service_usage.batch_get_services(
            request={"parent": parent, "names": [f"{parent}/services/{s}" for s in REQUIRED]}
        ),
        resource=parent,
    )
    if response is None:
        # Google always serves Service Usage; only a stand-in endpoint without it answers 404 here.
        return ServiceStates(served=False)
    states = {s.config.name or s.name.rsplit("/", 1)[-1]: s.state for s in response.services}
    enabled = tuple(s for s in REQUIRED if states.get(s) == State.ENABLED)
    return ServiceStates(enabled=enabled, disabled=tuple(s for s in REQUIRED if s not in enabled))


def assess(spec: LabSpec, live: ServiceStates) -> list[Decision]:
    parent = project_parent(spec)
    if not live.served:
        return [skip(KIND, s, f"{parent}/services/{s}", "Service Usage not served here") for s in REQUIRED]
    return [
        exists(KIND, s, f"{parent}/services/{s}")
        if s in live.enabled
        else create(KIND, s, f"{parent}/services/{s}", "enable")
        for s in REQUIRED
    ]


def ensure(c: Clients, spec: LabSpec) -> Enabled:
    """Enable what is disabled and wait for it; then make sure the enabled services' agents exist."""
    live = read(c, spec)
    if not live.served or not live.disabled:
        return Enabled()
    parent = project_parent(spec)
    operation = retry.call(
        lambda: c.service_usage.batch_enable_services(
            request={"parent": parent, "service_ids": list(live.disabled)}
        ),
        resource=parent,
        action="enable services of",
    )
    try:
        operation.result(timeout=ENABLE_TIMEOUT)  # type: ignore[no-untyped-call]  # google api_core operation is untyped
    except gexc.GoogleAPICallError as exc:
        raise LabError(
            f"enabling {', '.join(live.disabled)} in {spec.project_id} failed: {exc.message}",
            resource=parent,
        ) from exc
    agents = tuple(
        c.generate_service_identity(parent, service) for service in AGENT_SERVICES if service in live.disabled
    )
    return Enabled(enabled=live.disabled, agents=tuple(a for a in agents if a))
