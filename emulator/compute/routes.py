"""Routes: static ones users insert, and the system's (default, subnet-local, peering) nobody deletes."""

from __future__ import annotations

from typing import Any

from emulator.clock import compute_time
from emulator.compute.common import check_name, parse_cidr, plain
from emulator.compute.operations import OperationsMixin
from emulator.errors import already_exists, invalid, not_found
from emulator.store import Project, public


class RoutesMixin(OperationsMixin):
    """Routes of a ready network (networks.py); `add_route` also serves networks, subnetworks and GKE."""

    # ---- routes -----------------------------------------------------------------------------
    def add_route(
        self,
        project: Project,
        body: dict[str, Any],
        now: float,
        *,
        system: bool = False,
        subnet: str | None = None,
    ) -> dict[str, Any]:
        route = {
            "kind": "compute#route",
            "id": project.new_id(),
            "creationTimestamp": compute_time(now),
            "name": body["name"],
            "description": body.get("description", ""),
            "network": body["network"],
            "destRange": body["destRange"],
            "priority": int(body.get("priority", 1000)),
            "selfLink": self.link(project, "global", "routes", body["name"]),
            "routeType": "SUBNET" if subnet else "STATIC",
        }
        for key in (
            "nextHopGateway",
            "nextHopNetwork",
            "nextHopPeering",
            "nextHopIp",
            "nextHopInstance",
            "tags",
        ):
            if body.get(key):
                route[key] = body[key]
        if system:
            route["_system"] = True
        if subnet:
            route["_subnet"] = subnet
        if body.get("_peering_of"):
            route["_peering_of"] = body["_peering_of"]
        project.routes[route["name"]] = route
        return route

    def get_route(self, project: Project, name: str) -> dict[str, Any]:
        with project.locked():
            route = project.routes.get(name)
            if route is None:
                raise not_found(f"The resource 'projects/{project.id}/global/routes/{name}' was not found")
            return public(route)

    def list_routes(self, project: Project, query: dict[str, str]) -> dict[str, Any]:
        with project.locked():
            items = [public(r) for r in project.routes.values()]
        return self.list_response(project, "compute#routeList", items, query, "global", "routes")

    def insert_route(self, project: Project, body: dict[str, Any]) -> dict[str, Any]:
        body = plain(body)
        name = check_name(body.get("name"))
        parse_cidr(body.get("destRange"), "resource.destRange") if body.get("destRange") else None
        if not body.get("destRange"):
            raise invalid(
                "Invalid value for field 'resource.destRange': ''. The destination range is required."
            )
        with project.locked():
            net = self.network(project, body.get("network") or "default", ready=True)
            if name in project.routes:
                raise already_exists(
                    f"The resource 'projects/{project.id}/global/routes/{name}' already exists"
                )
            body["network"] = net["selfLink"]
            route = self.add_route(project, body, self.backend.clock.now())
            return self.start_operation(
                project,
                op_type="insert",
                target=route,
                duration=self.backend.clock.duration("routes.insert"),
                effect=lambda: None,
            )

    def delete_route(self, project: Project, name: str) -> dict[str, Any]:
        with project.locked():
            route = project.routes.get(name)
            if route is None:
                raise not_found(f"The resource 'projects/{project.id}/global/routes/{name}' was not found")
            if route.get("_system") or route.get("_peering_of"):
                raise invalid(
                    f"Invalid resource usage: 'The route {name} is managed by the system and cannot be "
                    "deleted.'"
                )
            return self.start_operation(
                project,
                op_type="delete",
                target=route,
                duration=self.backend.clock.duration("routes.delete"),
                effect=lambda: project.routes.pop(name, None),
            )
