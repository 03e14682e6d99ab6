"""The lab VPC: custom subnet mode, the spec's routing mode, carrying the lab's marker."""

from __future__ import annotations

from typing import Any

from google.cloud import compute_v1
from pydantic import BaseModel, ConfigDict

from gke_lab import calls, retry
from gke_lab.clients import Clients
from gke_lab.ownership import Marker
from gke_lab.requests import build_network
from gke_lab.resources.compute import insert_and_wait, uses_network
from gke_lab.resources.converge import converge
from gke_lab.resources.decision import Decision, Difference, create, differs_or_exists, not_owned
from gke_lab.spec import LabSpec

KIND = "compute.network"
FIX = "Choose other names in the spec or remove the resource yourself."


class NetworkResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    self_link: str
    created: bool


def read(c: Clients, spec: LabSpec) -> compute_v1.Network | None:
    return calls.get_or_none(
        lambda: c.networks.get(project=spec.project_id, network=spec.network.name), resource=spec.network_path
    )


def assess(spec: LabSpec, live: compute_v1.Network | None) -> Decision:
    name, resource = spec.network.name, spec.network_path
    if live is None:
        return create(KIND, name, resource, f"custom mode, {spec.network.routing_mode}")
    blocked = not_owned(KIND, name, resource, Marker.from_description(live.description), spec.lab, FIX)
    if blocked:
        return blocked
    differences = []
    if live.auto_create_subnetworks:
        differences.append(Difference("auto_create_subnetworks", True, False))
    mode = live.routing_config.routing_mode if live.routing_config else ""
    if mode and mode != spec.network.routing_mode:
        differences.append(Difference("routing_config.routing_mode", mode, spec.network.routing_mode))
    return differs_or_exists(KIND, name, resource, differences)


def ensure(c: Clients, spec: LabSpec, marker: Marker) -> NetworkResult:
    body = build_network(spec, marker)
    live, created = converge(
        lambda: read(c, spec),
        lambda live: assess(spec, live),
        lambda: insert_and_wait(
            c,
            lambda: c.networks.insert_unary(project=spec.project_id, network_resource=body),
            project=spec.project_id,
            resource=spec.network_path,
        ),
    )
    return NetworkResult(name=spec.network.name, self_link=live.self_link, created=created)


class NetworkImpact(BaseModel):
    """The firewall rules and routes in the lab network (the article's VPC impact listing)."""

    model_config = ConfigDict(frozen=True)

    firewalls: list[dict[str, Any]]
    routes: list[dict[str, Any]]


def impact(c: Clients, spec: LabSpec) -> NetworkImpact:
    project, name = spec.project_id, spec.network.name
    rules = retry.call(lambda: list(c.firewalls.list(project=project)), resource=project, action="list")
    routes = retry.call(lambda: list(c.routes.list(project=project)), resource=project, action="list")
    return NetworkImpact(
        firewalls=[compute_v1.Firewall.to_dict(r) for r in rules if uses_network(r.network, name)],
        routes=[compute_v1.Route.to_dict(r) for r in routes if uses_network(r.network, name)],
    )
