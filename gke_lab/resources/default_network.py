"""The project's default network: deleted only when the spec asks and nothing but its bootstrap uses it."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from google.cloud import compute_v1
from pydantic import BaseModel, ConfigDict

from gke_lab import calls, retry
from gke_lab.clients import Clients
from gke_lab.resources.compute import delete_and_wait, insert_and_wait, uses_network
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
    # the bootstrap rules as read, to put them back if the network cannot go after all
    bootstrap_bodies: tuple[compute_v1.Firewall, ...] = ()


class DefaultNetworkResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    deleted: bool
    reason: str
    rules_deleted: list[str] = []


def resource_name(spec: LabSpec) -> str:
    return f"projects/{spec.project_id}/global/networks/{NAME}"


def _list(fn: Callable[[], Iterable[Any]], project: str) -> list[Any]:
    return retry.call(lambda: list(fn()), resource=f"projects/{project}", action="list")


def _path(link: str) -> str:
    """A resource link as `projects/...` whatever its form (full URL or path)."""
    return link[link.find("projects/") :] if "projects/" in link else link


def _scope(scope: str) -> str:
    return scope.split("/")[-1]


def _aggregated(fn: Callable[[], Iterable[Any]], project: str, field: str) -> list[tuple[str, Any]]:
    """(scope, resource) pairs of an aggregated list, every scope included."""
    return [(_scope(scope), item) for scope, scoped in _list(fn, project) for item in getattr(scoped, field)]


def _forwarding_rule_user(scope: str, rule: Any) -> str:
    # A Private Service Connect endpoint is a forwarding rule whose target is a service attachment or a
    # Google APIs bundle (https://cloud.google.com/vpc/docs/configure-private-service-connect-services).
    target = rule.target or ""
    if "/serviceAttachments/" in target or target in ("all-apis", "vpc-sc"):
        return f"Private Service Connect endpoint {scope}/{rule.name} (to {target.split('/')[-1]})"
    return f"forwarding rule {scope}/{rule.name}"


def _users(c: Clients, project: str, network: compute_v1.Network) -> tuple[list[str], list[Any]]:
    """Everything in the default network besides its bootstrap (each named with its kind), and the
    network's firewall rules. Every kind that keeps a network from being deleted is read
    (https://cloud.google.com/vpc/docs/create-modify-vpc-networks#deleting_a_network)."""
    users: list[str] = []
    for zone, vm in _aggregated(lambda: c.instances.aggregated_list(project=project), project, "instances"):
        if any(uses_network(nic.network, NAME) for nic in vm.network_interfaces):
            users.append(f"VM {zone}/{vm.name}")
    rules = [
        r for r in _list(lambda: c.firewalls.list(project=project), project) if uses_network(r.network, NAME)
    ]
    users += [f"firewall rule {r.name}" for r in rules if r.name not in BOOTSTRAP_RULES]
    for route in _list(lambda: c.routes.list(project=project), project):
        # Bootstrap routes: the default internet route and the auto-mode subnet routes (default-route-*).
        if uses_network(route.network, NAME) and not route.name.startswith("default-route-"):
            users.append(f"route {route.name}")
    own_subnets: set[str] = set()
    for region, sub in _aggregated(
        lambda: c.subnetworks.aggregated_list(project=project), project, "subnetworks"
    ):
        if uses_network(sub.network, NAME):
            own_subnets.add(_path(sub.self_link))
            if sub.name != NAME:
                users.append(f"subnetwork {region}/{sub.name}")

    def in_network(item: Any) -> bool:
        return uses_network(item.network, NAME) or _path(item.subnetwork) in own_subnets

    for region, router in _aggregated(lambda: c.routers.aggregated_list(project=project), project, "routers"):
        if uses_network(router.network, NAME):
            users.append(f"router {region}/{router.name}")
    users += [f"VPC peering {peering.name}" for peering in network.peerings]
    seen: set[str] = set()
    regional = _aggregated(
        lambda: c.forwarding_rules.aggregated_list(project=project), project, "forwarding_rules"
    )
    global_rules = _list(lambda: c.global_forwarding_rules.list(project=project), project)
    for scope, rule in [*regional, *(("global", r) for r in global_rules)]:
        if in_network(rule) and _path(rule.self_link) not in seen:
            seen.add(_path(rule.self_link))
            users.append(_forwarding_rule_user(scope, rule))
    regional = _aggregated(lambda: c.addresses.aggregated_list(project=project), project, "addresses")
    global_addresses = _list(lambda: c.global_addresses.list(project=project), project)
    for scope, address in [*regional, *(("global", a) for a in global_addresses)]:
        if in_network(address) and _path(address.self_link) not in seen:
            seen.add(_path(address.self_link))
            users.append(f"reserved address {scope}/{address.name}")
    gateways: set[str] = set()
    ha_gateways = _aggregated(
        lambda: c.vpn_gateways.aggregated_list(project=project), project, "vpn_gateways"
    )
    classic_gateways = _aggregated(
        lambda: c.target_vpn_gateways.aggregated_list(project=project), project, "target_vpn_gateways"
    )
    for label, found in (("VPN gateway", ha_gateways), ("Classic VPN gateway", classic_gateways)):
        for region, gateway in found:
            if uses_network(gateway.network, NAME):
                gateways.add(_path(gateway.self_link))
                users.append(f"{label} {region}/{gateway.name}")
    for region, tunnel in _aggregated(
        lambda: c.vpn_tunnels.aggregated_list(project=project), project, "vpn_tunnels"
    ):
        # A tunnel has no network of its own: it is in its gateway's.
        if {_path(tunnel.vpn_gateway), _path(tunnel.target_vpn_gateway)} & gateways:
            users.append(f"VPN tunnel {region}/{tunnel.name}")
    return users, rules


def read(c: Clients, spec: LabSpec) -> DefaultNetwork | None:
    project = spec.project_id
    network = calls.get_or_none(
        lambda: c.networks.get(project=project, network=NAME), resource=resource_name(spec)
    )
    if network is None:
        return None
    users, rules = _users(c, project, network)
    bootstrap = tuple(r for r in rules if r.name in BOOTSTRAP_RULES)
    return DefaultNetwork(
        users=tuple(users), bootstrap_rules=tuple(r.name for r in bootstrap), bootstrap_bodies=bootstrap
    )


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


def _insert_rule(c: Clients, project: str, body: compute_v1.Firewall) -> None:
    insert_and_wait(
        c,
        lambda: c.firewalls.insert_unary(project=project, firewall_resource=body),
        project=project,
        resource=f"projects/{project}/global/firewalls/{body.name}",
    )


def _restore_rules(c: Clients, project: str, rules: tuple[compute_v1.Firewall, ...]) -> None:
    for rule in rules:
        body = compute_v1.Firewall(
            name=rule.name,
            network=rule.network,
            description=rule.description,
            priority=rule.priority,
            direction=rule.direction,
            source_ranges=list(rule.source_ranges),
            allowed=list(rule.allowed),
        )
        _insert_rule(c, project, body)


def ensure(c: Clients, spec: LabSpec) -> DefaultNetworkResult:
    """Delete the default network (its bootstrap rules first) when the decision says so. The rules go only
    once every kind of user has been checked; if something appears meanwhile, or the network delete fails,
    the rules are put back as they were, so a failed attempt leaves the network as it found it."""
    live = read(c, spec)
    decision = assess(spec, live)
    decision.stop()
    if decision.action is not Action.DELETE or live is None:
        return DefaultNetworkResult(deleted=False, reason=decision.detail)
    project = spec.project_id
    deleted: list[compute_v1.Firewall] = []
    try:
        for rule in live.bootstrap_bodies:
            _delete_rule(c, project, rule.name)
            deleted.append(rule)
        # Something may have started using the network while the rules went: check again before it goes.
        again = assess(spec, read(c, spec))
        again.stop()
        delete_and_wait(
            c,
            lambda: c.networks.delete_unary(project=project, network=NAME),
            project=project,
            resource=decision.resource,
        )
    except Exception:
        _restore_rules(c, project, tuple(deleted))
        raise
    return DefaultNetworkResult(deleted=True, reason="deleted", rules_deleted=list(live.bootstrap_rules))
