"""The project's default network: deleted only when the spec asks and nothing but its bootstrap uses it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ConfigDict

from gke_lab import calls, retry
from gke_lab.clients import Clients
from gke_lab.resources.compute import delete_and_wait, uses_network
from gke_lab.resources.decision import Action, Blocker, Decision, skip
from gke_lab.spec import LabSpec

NAME = "default"
KIND = "compute.network"
# The firewall rules Google's project bootstrap creates in the default network.
BOOTSTRAP_RULES = ("default-allow-internal", "default-allow-ssh", "default-allow-rdp", "default-allow-icmp")


@dataclass(frozen=True)
class DefaultNetwork:
    """The live default network: what uses it besides the bootstrap, and its bootstrap rules."""

    users: tuple[str, ...]
    bootstrap_rules: tuple[str, ...]


class DefaultNetworkResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    deleted: bool
    reason: str
    rules_deleted: list[str] = []


def resource_name(spec: LabSpec) -> str:
    return f"projects/{spec.project_id}/global/networks/{NAME}"


def _list(fn: Callable[[], Iterable[Any]], project: str) -> list[Any]:
    return retry.call(lambda: list(fn()), resource=f"projects/{project}", action="list")


def read(c: Clients, spec: LabSpec) -> DefaultNetwork | None:
    project = spec.project_id
    network = calls.get_or_none(
        lambda: c.networks.get(project=project, network=NAME), resource=resource_name(spec)
    )
    if network is None:
        return None
    users: list[str] = []
    for zone, scoped in _list(lambda: c.instances.aggregated_list(project=project), project):
        for vm in scoped.instances:
            if any(uses_network(nic.network, NAME) for nic in vm.network_interfaces):
                users.append(f"VM {zone.split('/')[-1]}/{vm.name}")
    rules = [
        r for r in _list(lambda: c.firewalls.list(project=project), project) if uses_network(r.network, NAME)
    ]
    users += [f"firewall rule {r.name}" for r in rules if r.name not in BOOTSTRAP_RULES]
    for route in _list(lambda: c.routes.list(project=project), project):
        # Bootstrap routes: the default internet route and the auto-mode subnet routes (default-route-*).
        if uses_network(route.network, NAME) and not route.name.startswith("default-route-"):
            users.append(f"route {route.name}")
    for region, scoped in _list(lambda: c.subnetworks.aggregated_list(project=project), project):
        for sub in scoped.subnetworks:
            if uses_network(sub.network, NAME) and sub.name != NAME:
                users.append(f"subnetwork {region.split('/')[-1]}/{sub.name}")
    for region, scoped in _list(lambda: c.routers.aggregated_list(project=project), project):
        for router in scoped.routers:
            if uses_network(router.network, NAME):
                users.append(f"router {region.split('/')[-1]}/{router.name}")
    bootstrap = tuple(r.name for r in rules if r.name in BOOTSTRAP_RULES)
    return DefaultNetwork(users=tuple(users), bootstrap_rules=bootstrap)


def assess(spec: LabSpec, live: DefaultNetwork | None) -> Decision:
    resource = resource_name(spec)
    if not spec.delete_default_network:
        return skip(KIND, NAME, resource, "not requested")
    if live is None:
        return skip(KIND, NAME, resource, "absent")
    if live.users:
        return Decision(
            Action.BLOCKED,
            KIND,
            NAME,
            resource,
            blocker=Blocker.REFUSED,
            message=f"refusing to delete {resource}: it is used by {', '.join(live.users)}. "
            "Nothing was deleted. Move or delete those resources, or set delete_default_network: false.",
        )
    return Decision(Action.DELETE, KIND, NAME, resource, detail="nothing but its own rules use it")


def guard(c: Clients, spec: LabSpec) -> Decision:
    """Read-only: the decision, raising the refusal before anything is created."""
    decision = assess(spec, read(c, spec))
    decision.stop()
    return decision


def _delete_rule(c: Clients, project: str, rule: str) -> None:
    delete_and_wait(
        c,
        lambda: c.firewalls.delete_unary(project=project, firewall=rule),
        project=project,
        resource=f"projects/{project}/global/firewalls/{rule}",
    )


def ensure(c: Clients, spec: LabSpec) -> DefaultNetworkResult:
    """Delete the default network (its bootstrap rules first) when the decision says so."""
    live = read(c, spec)
    decision = assess(spec, live)
    decision.stop()
    if decision.action is not Action.DELETE or live is None:
        return DefaultNetworkResult(deleted=False, reason=decision.detail)
    project = spec.project_id
    for rule in live.bootstrap_rules:
        _delete_rule(c, project, rule)
    delete_and_wait(
        c,
        lambda: c.networks.delete_unary(project=project, network=NAME),
        project=project,
        resource=decision.resource,
    )
    return DefaultNetworkResult(deleted=True, reason="deleted", rules_deleted=list(live.bootstrap_rules))
