"""The Cloud Router with Cloud NAT (private nodes need egress to pull public images)."""

from __future__ import annotations

from google.cloud import compute_v1
from pydantic import BaseModel, ConfigDict

from gke_lab import calls
from gke_lab.clients import Clients
from gke_lab.ownership import Marker
from gke_lab.requests import build_router
from gke_lab.resources.compute import insert_and_wait, network_name, uses_network
from gke_lab.resources.converge import converge
from gke_lab.resources.decision import Decision, Difference, create, differs_or_exists, not_owned, skip
from gke_lab.resources.network import FIX
from gke_lab.spec import LabSpec

KIND = "compute.router"


class RouterResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str | None
    nat: str | None
    created: bool
    reason: str = ""


def resource_name(spec: LabSpec) -> str:
    return f"projects/{spec.project_id}/regions/{spec.region}/routers/{spec.network.router}"


def read(c: Clients, spec: LabSpec) -> compute_v1.Router | None:
    if not spec.network.cloud_nat:
        return None  # not part of this lab: nothing to read
    return calls.get_or_none(
        lambda: c.routers.get(project=spec.project_id, region=spec.region, router=spec.network.router),
        resource=resource_name(spec),
    )


def assess(spec: LabSpec, live: compute_v1.Router | None) -> Decision:
    name, resource = spec.network.router, resource_name(spec)
    if not spec.network.cloud_nat:
        return skip(KIND, name, resource, "cloud_nat is false")
    if live is None:
        return create(KIND, name, resource, f"Cloud NAT {spec.network.nat}, auto-allocated IPs")
    blocked = not_owned(KIND, name, resource, Marker.from_description(live.description), spec.lab, FIX)
    if blocked:
        return blocked
    found: list[Difference] = []
    if not uses_network(live.network, spec.network.name):
        found.append(Difference("network", network_name(live.network), spec.network.name))
    nats = [n.name for n in live.nats]
    if spec.network.nat not in nats:
        found.append(Difference("nats", nats, [spec.network.nat]))
    return differs_or_exists(KIND, name, resource, found)


def ensure(c: Clients, spec: LabSpec, marker: Marker) -> RouterResult:
    if not spec.network.cloud_nat:
        return RouterResult(name=None, nat=None, created=False, reason="cloud_nat is false")
    body = build_router(spec, marker)
    _, created = converge(
        lambda: read(c, spec),
        lambda live: assess(spec, live),
        lambda: insert_and_wait(
            c,
            lambda: c.routers.insert_unary(project=spec.project_id, region=spec.region, router_resource=body),
            project=spec.project_id,
            region=spec.region,
            resource=resource_name(spec),
        ),
    )
    return RouterResult(name=spec.network.router, nat=spec.network.nat, created=created)
