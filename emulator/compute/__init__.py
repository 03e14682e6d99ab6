"""Compute Engine: one module per resource kind, combined into the service (moto's shape).

| module | resource kind |
|---|---|
| `networks.py` | networks, the default network of a new project |
| `subnetworks.py` | subnetworks and their ranges |
| `firewalls.py` | firewall rules |
| `routes.py` | routes |
| `routers.py` | Cloud Routers and Cloud NAT |
| `instances.py` | VM instances |
| `network_users.py` | forwarding rules, addresses, VPN gateways and tunnels (seeded by the admin API) |
| `quotas.py` | regional quotas: limits, usage of what exists, `regions.get`, GKE's quota refusal |
| `operations.py` | global, regional and zonal operations with `wait` |
| `common.py`, `filters.py`, `base.py` | names and references, list filters, links and list responses |

Resources are stored as Compute's REST JSON. Inserts and deletes are long-running: the resource is
visible at once but not ready (dependents get `resourceNotReady`) until its operation is DONE.
"""

from __future__ import annotations

from typing import Any

from emulator.compute.filters import matches_filter
from emulator.compute.firewalls import FirewallsMixin
from emulator.compute.instances import InstancesMixin
from emulator.compute.network_users import COLLECTIONS, NetworkUsersMixin
from emulator.compute.networks import NetworksMixin
from emulator.compute.quotas import QuotasMixin
from emulator.compute.routers import RoutersMixin
from emulator.compute.routes import RoutesMixin
from emulator.compute.subnetworks import SubnetworksMixin
from emulator.errors import not_found
from emulator.routing import Route, ServiceRoutes
from emulator.store import Project, public

__all__ = ["ComputeService"]


class ComputeService(
    NetworksMixin,
    SubnetworksMixin,
    FirewallsMixin,
    RoutesMixin,
    RoutersMixin,
    InstancesMixin,
    NetworkUsersMixin,
    QuotasMixin,
):
    """The Compute Engine backend: every resource kind's methods on one object, as the routes call them."""

    def aggregated(self, project: Project, kind: str, query: dict[str, str]) -> dict[str, Any]:
        """`aggregated/{instances,subnetworks,routers,forwardingRules,addresses,vpn...}`: items keyed by
        scope (regional resources only, as the product reads global ones from their own collection)."""
        with project.locked():
            if kind == "instances":
                source = [(f"zones/{z}", i) for (z, _), i in project.instances.items()]
            elif kind == "subnetworks":
                source = [(f"regions/{r}", s) for (r, _), s in project.subnetworks.items()]
            elif kind == "routers":
                source = [(f"regions/{r}", s) for (r, _), s in project.routers.items()]
            elif kind in COLLECTIONS:
                source = [
                    (f"regions/{scope}", res)
                    for (collection, scope, _), res in project.network_resources.items()
                    if collection == kind and scope != "global"
                ]
            else:
                raise not_found(f"Unknown aggregated collection '{kind}'")
            items: dict[str, dict[str, Any]] = {}
            for scope, res in source:
                if matches_filter(res, query.get("filter")):
                    items.setdefault(scope, {kind: []})[kind].append(public(res))
        return {
            "kind": (COLLECTIONS[kind][0] if kind in COLLECTIONS else f"compute#{kind[:-1]}")
            + "AggregatedList",
            "id": f"projects/{project.id}/aggregated/{kind}",
            "items": items,
            "selfLink": self.link(project, "aggregated", kind),
        }

    # ---- routes -----------------------------------------------------------------------------
    def _network_user_routes(self) -> list[Route]:
        """List and get for each collection of network_users.py, regional and (where it exists) global."""
        out: list[Route] = []
        for collection, (_, has_global, _) in COLLECTIONS.items():
            out += [
                Route(
                    "GET",
                    f"/regions/{{region}}/{collection}",
                    lambda project, region, query, c=collection: self.list_network_users(
                        project, region, c, query
                    ),
                ),
                Route(
                    "GET",
                    f"/regions/{{region}}/{collection}/{{name}}",
                    lambda project, region, name, c=collection: self.get_network_user(
                        project, region, c, name
                    ),
                ),
            ]
            if has_global:
                out += [
                    Route(
                        "GET",
                        f"/global/{collection}",
                        lambda project, query, c=collection: self.list_global_network_users(
                            project, c, query
                        ),
                    ),
                    Route(
                        "GET",
                        f"/global/{collection}/{{name}}",
                        lambda project, name, c=collection: self.get_global_network_user(project, c, name),
                    ),
                ]
        return out

    def routes(self) -> ServiceRoutes:
        operations: list[Route] = []
        for scope in ("/global", "/regions/{region}", "/zones/{zone}"):
            operations += [
                Route("GET", scope + "/operations", self.list_operations),
                Route("GET", scope + "/operations/{operation}", self.get_operation),
                Route("POST", scope + "/operations/{operation}/wait", self.wait_operation),
            ]
        return ServiceRoutes(
            api="compute",
            service="compute.googleapis.com",
            prefix="/compute/v1/projects/{project}",
            routes=(
                Route("GET", "/regions/{region}", self.get_region),
                Route("GET", "/global/networks", self.list_networks),
                Route("POST", "/global/networks", self.insert_network),
                Route("GET", "/global/networks/{name}", self.get_network),
                Route("DELETE", "/global/networks/{name}", self.delete_network),
                Route("POST", "/global/networks/{name}/removePeering", self.remove_peering),
                Route("GET", "/regions/{region}/subnetworks", self.list_subnets),
                Route("POST", "/regions/{region}/subnetworks", self.insert_subnet),
                Route("GET", "/regions/{region}/subnetworks/{name}", self.get_subnet),
                Route("DELETE", "/regions/{region}/subnetworks/{name}", self.delete_subnet),
                Route("GET", "/global/firewalls", self.list_firewalls),
                Route("POST", "/global/firewalls", self.insert_firewall),
                Route("GET", "/global/firewalls/{name}", self.get_firewall),
                Route("PATCH", "/global/firewalls/{name}", self.patch_firewall),
                Route("DELETE", "/global/firewalls/{name}", self.delete_firewall),
                Route("GET", "/global/routes", self.list_routes),
                Route("POST", "/global/routes", self.insert_route),
                Route("GET", "/global/routes/{name}", self.get_route),
                Route("DELETE", "/global/routes/{name}", self.delete_route),
                Route("GET", "/regions/{region}/routers", self.list_routers),
                Route("POST", "/regions/{region}/routers", self.insert_router),
                Route("GET", "/regions/{region}/routers/{name}", self.get_router),
                Route("PATCH", "/regions/{region}/routers/{name}", self.patch_router),
                Route("DELETE", "/regions/{region}/routers/{name}", self.delete_router),
                Route("GET", "/zones/{zone}/instances", self.list_instances),
                Route("GET", "/zones/{zone}/instances/{name}", self.get_instance),
                Route("GET", "/aggregated/{kind}", self.aggregated),
                *self._network_user_routes(),
                *operations,
            ),
        )
