"""Cloud Routers and their Cloud NAT configurations (whether a network's region has egress)."""

from __future__ import annotations

from typing import Any

from emulator.clock import compute_time
from emulator.compute.common import check_name, plain
from emulator.compute.operations import OperationsMixin
from emulator.errors import already_exists, invalid, not_found
from emulator.store import Project, public


class RoutersMixin(OperationsMixin):
    """Routers of a ready network (networks.py), with their NAT configurations."""

    # ---- routers (Cloud NAT) ----------------------------------------------------------------
    def _validate_nats(self, nats: list[dict[str, Any]]) -> None:
        seen = set()
        for i, nat in enumerate(nats):
            check_name(nat.get("name"), f"resource.nats[{i}].name")
            if nat["name"] in seen:
                raise invalid(
                    f"Invalid value for field 'resource.nats[{i}].name': '{nat['name']}'. Duplicate name."
                )
            seen.add(nat["name"])
            if nat.get("natIpAllocateOption") not in ("AUTO_ONLY", "MANUAL_ONLY"):
                raise invalid(
                    f"Invalid value for field 'resource.nats[{i}].natIpAllocateOption': "
                    f"'{nat.get('natIpAllocateOption', '')}'. Must be AUTO_ONLY or MANUAL_ONLY."
                )
            if not nat.get("sourceSubnetworkIpRangesToNat"):
                raise invalid(
                    f"Invalid value for field 'resource.nats[{i}].sourceSubnetworkIpRangesToNat': ''."
                )

    def router(self, project: Project, region: str, name: str) -> dict[str, Any]:
        rt = project.routers.get((region, name))
        if rt is None:
            raise not_found(
                f"The resource 'projects/{project.id}/regions/{region}/routers/{name}' was not found"
            )
        return rt

    def get_router(self, project: Project, region: str, name: str) -> dict[str, Any]:
        with project.locked():
            return public(self.router(project, region, name))

    def list_routers(self, project: Project, region: str, query: dict[str, str]) -> dict[str, Any]:
        with project.locked():
            items = [public(r) for (rg, _), r in project.routers.items() if rg == region]
        return self.list_response(project, "compute#routerList", items, query, "regions", region, "routers")

    def insert_router(self, project: Project, region: str, body: dict[str, Any]) -> dict[str, Any]:
        body = plain(body)
        name = check_name(body.get("name"))
        if not body.get("network"):
            raise invalid("Invalid value for field 'resource.network': ''. The network field is required.")
        self._validate_nats(body.get("nats", []))
        with project.locked():
            # Router.region is "[Output Only] URI of the region where the router resides. You must specify
            # this field as part of the HTTP request URL. It is not settable as a field in the request body."
            # (compute v1 discovery document, Router.region)
            if body.get("region") and not project.legacy:
                raise invalid(
                    f"Invalid value for field 'resource.region': '{body['region']}'. The region is output "
                    "only; it is set from the request URL and is not settable in the request body."
                )
            net = self.network(project, body["network"], ready=True)
            if (region, name) in project.routers:
                raise already_exists(
                    f"The resource 'projects/{project.id}/regions/{region}/routers/{name}' already exists"
                )
            now = self.backend.clock.now()
            rt = {
                "kind": "compute#router",
                "id": project.new_id(),
                "creationTimestamp": compute_time(now),
                "name": name,
                "description": body.get("description", ""),
                "region": self.link(project, "regions", region),
                "network": net["selfLink"],
                "selfLink": self.link(project, "regions", region, "routers", name),
                "encryptedInterconnectRouter": False,
                "_pending": True,
            }
            for key in ("nats", "bgp", "bgpPeers", "interfaces"):
                if body.get(key):
                    rt[key] = body[key]
            project.routers[(region, name)] = rt
            return self.start_operation(
                project,
                op_type="insert",
                target=rt,
                region=region,
                duration=self.backend.clock.duration("routers.insert"),
                effect=lambda: rt.pop("_pending", None),
            )

    def patch_router(self, project: Project, region: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        body = plain(body)
        with project.locked():
            rt = self.router(project, region, name)
            if "nats" in body:
                self._validate_nats(body["nats"])
            changes = {
                k: v for k, v in body.items() if k in ("nats", "bgp", "bgpPeers", "interfaces", "description")
            }
            return self.start_operation(
                project,
                op_type="patch",
                target=rt,
                region=region,
                duration=self.backend.clock.duration("routers.patch"),
                effect=lambda: rt.update(changes),
            )

    def delete_router(self, project: Project, region: str, name: str) -> dict[str, Any]:
        with project.locked():
            rt = self.router(project, region, name)
            rt["_deleting"] = True
            return self.start_operation(
                project,
                op_type="delete",
                target=rt,
                region=region,
                duration=self.backend.clock.duration("routers.delete"),
                effect=lambda: project.routers.pop((region, name), None),
            )

    def has_nat(self, project: Project, network_link: str, region: str) -> bool:
        with project.locked():
            return any(
                rg == region and rt["network"] == network_link and rt.get("nats") and not rt.get("_pending")
                for (rg, _), rt in project.routers.items()
            )
