"""Network ensures: the default network's removal (guarded), the lab VPC, its subnet, router and Cloud NAT."""

from __future__ import annotations

from typing import Any

from google.cloud import compute_v1
from prefect import task

from gke_lab import ops, retry
from gke_lab.clients import Clients
from gke_lab.errors import DriftError, NotOwnedError, RefusedError, is_not_found
from gke_lab.livediff import compare_subnet
from gke_lab.ownership import Marker, marker_for
from gke_lab.requests import build_network, build_router, build_subnetwork
from gke_lab.spec import LabSpec
from tasks.common import MUTATING, clients

DEFAULT_NETWORK = "default"
# The firewall rules Google's project bootstrap creates in the default network.
BOOTSTRAP_RULES = ("default-allow-internal", "default-allow-ssh", "default-allow-rdp", "default-allow-icmp")


def _get(fn: Any, resource: str) -> Any | None:
    """A get that answers None on 404 and retries transient errors."""

    def attempt() -> Any | None:
        try:
            return fn()
        except Exception as exc:
            if is_not_found(exc):
                return None
            raise

    return retry.call(attempt, resource=resource, action="read")


def _uses(link: str, network: str) -> bool:
    return bool(link) and link.rstrip("/").endswith(f"/global/networks/{network}")


def check_owner(resource: str, description: str, lab: str) -> None:
    marker = Marker.from_description(description or "")
    if marker is None or marker.lab != lab:
        owner = f"lab {marker.lab!r}" if marker else "no gke-lab marker"
        raise NotOwnedError(
            f"{resource} exists but is not owned by lab {lab!r} ({owner}); gke-lab never adopts it. "
            "Choose other names in the spec or remove the resource yourself.",
            resource=resource,
        )


# ---------------------------------------------------------------------------------------------------------
# Branch A: the default network


def default_network_users(c: Clients, project: str) -> list[str]:
    """Everything that uses the default network besides what Google's project bootstrap put there."""
    users: list[str] = []
    for zone, scoped in retry.call(
        lambda: list(c.instances.aggregated_list(project=project)),
        resource=project,
        action="list instances in",
    ):
        for vm in scoped.instances:
            if any(_uses(nic.network, DEFAULT_NETWORK) for nic in vm.network_interfaces):
                users.append(f"VM {zone.split('/')[-1]}/{vm.name}")
    for rule in retry.call(lambda: list(c.firewalls.list(project=project)), resource=project, action="list"):
        if _uses(rule.network, DEFAULT_NETWORK) and rule.name not in BOOTSTRAP_RULES:
            users.append(f"firewall rule {rule.name}")
    for route in retry.call(lambda: list(c.routes.list(project=project)), resource=project, action="list"):
        # Bootstrap routes: the default internet route and the auto-mode subnet routes (default-route-*).
        if _uses(route.network, DEFAULT_NETWORK) and not route.name.startswith("default-route-"):
            users.append(f"route {route.name}")
    for region, scoped in retry.call(
        lambda: list(c.subnetworks.aggregated_list(project=project)), resource=project, action="list"
    ):
        for sub in scoped.subnetworks:
            if _uses(sub.network, DEFAULT_NETWORK) and sub.name != DEFAULT_NETWORK:
                users.append(f"subnetwork {region.split('/')[-1]}/{sub.name}")
    for region, scoped in retry.call(
        lambda: list(c.routers.aggregated_list(project=project)), resource=project, action="list"
    ):
        for router in scoped.routers:
            if _uses(router.network, DEFAULT_NETWORK):
                users.append(f"router {region.split('/')[-1]}/{router.name}")
    return users


def remove_default_network(c: Clients, project: str) -> dict:
    resource = f"projects/{project}/global/networks/{DEFAULT_NETWORK}"
    network = _get(lambda: c.networks.get(project=project, network=DEFAULT_NETWORK), resource)
    if network is None:
        return {"deleted": False, "reason": "absent", "rules_deleted": []}
    users = default_network_users(c, project)
    if users:
        raise RefusedError(
            f"refusing to delete {resource}: it is used by {', '.join(users)}. Nothing was deleted. "
            "Move or delete those resources, or set delete_default_network: false.",
            resource=resource,
        )
    deleted: list[str] = []
    for rule in retry.call(lambda: list(c.firewalls.list(project=project)), resource=project, action="list"):
        if _uses(rule.network, DEFAULT_NETWORK) and rule.name in BOOTSTRAP_RULES:
            _delete(
                c,
                project,
                lambda r=rule.name: c.firewalls.delete_unary(project=project, firewall=r),
                f"projects/{project}/global/firewalls/{rule.name}",
            )
            deleted.append(rule.name)
    _delete(c, project, lambda: c.networks.delete_unary(project=project, network=DEFAULT_NETWORK), resource)
    return {"deleted": True, "reason": "deleted", "rules_deleted": deleted}


def _delete(c: Clients, project: str, call: Any, resource: str) -> None:
    def attempt() -> compute_v1.Operation | None:
        try:
            return call()
        except Exception as exc:
            if is_not_found(exc):  # already gone: success
                return None
            raise

    op = retry.call(attempt, resource=resource, action="delete")
    if op is not None:
        ops.wait_compute(c, op, project=project, resource=resource)


# ---------------------------------------------------------------------------------------------------------
# Branch B: VPC -> subnet -> router with Cloud NAT


def _create(c: Clients, call: Any, wait: Any, resource: str) -> None:
    """Insert and wait; an "already exists" after a retried insert is fine (the caller re-reads)."""
    from gke_lab.errors import is_already_exists

    def attempt() -> compute_v1.Operation | None:
        try:
            return call()
        except Exception as exc:
            if is_already_exists(exc):
                return None
            raise

    op = retry.call(attempt, resource=resource, action="create")
    if op is not None:
        wait(op)


def _ensure(c: Clients, get: Any, insert: Any, wait: Any, resource: str, lab: str) -> tuple[Any, bool]:
    """(the resource, whether this call created it): read it, creating it first when missing. It must
    carry the lab's marker, whoever created it: gke-lab never adopts a same-named resource."""
    found = _get(get, resource)
    created = found is None
    if created:
        _create(c, insert, wait, resource)
        found = _get(get, resource)
    check_owner(resource, found.description, lab)
    return found, created


def ensure_vpc(c: Clients, spec: LabSpec, marker: Marker) -> dict:
    project, name = spec.project_id, spec.network.name
    resource = spec.network_path
    body = build_network(spec, marker)
    net, created = _ensure(
        c,
        lambda: c.networks.get(project=project, network=name),
        lambda: c.networks.insert_unary(project=project, network_resource=body),
        lambda op: ops.wait_compute(c, op, project=project, resource=resource),
        resource,
        spec.lab,
    )
    drift = []
    if net.auto_create_subnetworks:
        drift.append(("auto_create_subnetworks", True, False))
    mode = net.routing_config.routing_mode if net.routing_config else ""
    if mode and mode != spec.network.routing_mode:
        drift.append(("routing_config.routing_mode", mode, spec.network.routing_mode))
    if drift:
        raise DriftError(resource, drift)
    return {"name": name, "self_link": net.self_link, "created": created}


def ensure_subnet(c: Clients, spec: LabSpec, marker: Marker) -> dict:
    project, region, name = spec.project_id, spec.region, spec.network.subnet.name
    resource = spec.subnet_path
    body = build_subnetwork(spec, marker)
    sub, created = _ensure(
        c,
        lambda: c.subnetworks.get(project=project, region=region, subnetwork=name),
        lambda: c.subnetworks.insert_unary(project=project, region=region, subnetwork_resource=body),
        lambda op: ops.wait_compute(c, op, project=project, region=region, resource=resource),
        resource,
        spec.lab,
    )
    drift = compare_subnet(spec, sub)
    if not _uses(sub.network, spec.network.name):
        drift.append(("network", sub.network, spec.network.name))
    if drift:
        raise DriftError(resource, drift)
    return {"name": name, "self_link": sub.self_link, "created": created}


def ensure_router(c: Clients, spec: LabSpec, marker: Marker) -> dict:
    project, region, name = spec.project_id, spec.region, spec.network.router
    resource = f"projects/{project}/regions/{region}/routers/{name}"
    body = build_router(spec, marker)
    router, created = _ensure(
        c,
        lambda: c.routers.get(project=project, region=region, router=name),
        lambda: c.routers.insert_unary(project=project, region=region, router_resource=body),
        lambda op: ops.wait_compute(c, op, project=project, region=region, resource=resource),
        resource,
        spec.lab,
    )
    drift = []
    if not _uses(router.network, spec.network.name):
        drift.append(("network", router.network, spec.network.name))
    if spec.network.nat not in [n.name for n in router.nats]:
        drift.append(("nats", [n.name for n in router.nats], [spec.network.nat]))
    if drift:
        raise DriftError(resource, drift)
    return {"name": name, "nat": spec.network.nat, "created": created}


# ---------------------------------------------------------------------------------------------------------
# Prefect tasks


@task(name="default-network-guard")
def default_network_guard(spec: LabSpec) -> list[str]:
    """Read-only: refuse before anything is created when the default network is in use."""
    c = clients()
    resource = f"projects/{spec.project_id}/global/networks/{DEFAULT_NETWORK}"
    if _get(lambda: c.networks.get(project=spec.project_id, network=DEFAULT_NETWORK), resource) is None:
        return []
    users = default_network_users(c, spec.project_id)
    if users:
        raise RefusedError(
            f"refusing to delete {resource}: it is used by {', '.join(users)}. Nothing was deleted. "
            "Move or delete those resources, or set delete_default_network: false.",
            resource=resource,
        )
    return users


@task(name="delete-default-network", **MUTATING)
def delete_default_network(spec: LabSpec) -> dict:
    if not spec.delete_default_network:
        return {"deleted": False, "reason": "not requested", "rules_deleted": []}
    return remove_default_network(clients(), spec.project_id)


@task(name="ensure-vpc", **MUTATING)
def vpc(spec: LabSpec, stamp: float) -> dict:
    return ensure_vpc(clients(), spec, marker_for(spec, stamp))


@task(name="ensure-subnet", **MUTATING)
def subnet(spec: LabSpec, stamp: float, network: dict) -> dict:
    return ensure_subnet(clients(), spec, marker_for(spec, stamp))


@task(name="ensure-router-nat", **MUTATING)
def router_nat(spec: LabSpec, stamp: float, subnet: dict) -> dict:
    if not spec.network.cloud_nat:
        return {"name": None, "nat": None, "created": False, "reason": "cloud_nat is false"}
    return ensure_router(clients(), spec, marker_for(spec, stamp))


@task(name="network-impact")
def network_impact(spec: LabSpec) -> dict:
    """Firewall rules and routes of the lab network (the article's VPC impact listing). Read-only."""
    c = clients()
    project = spec.project_id
    rules = retry.call(lambda: list(c.firewalls.list(project=project)), resource=project, action="list")
    routes = retry.call(lambda: list(c.routes.list(project=project)), resource=project, action="list")
    name = spec.network.name
    return {
        "firewalls": [compute_v1.Firewall.to_dict(r) for r in rules if _uses(r.network, name)],
        "routes": [compute_v1.Route.to_dict(r) for r in routes if _uses(r.network, name)],
    }
