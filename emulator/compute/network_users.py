"""What else can live in a network and keep it from being deleted: forwarding rules (regional and global,
Private Service Connect endpoints among them), reserved addresses (regional and global), HA VPN gateways,
Classic VPN target gateways and VPN tunnels.

The product never creates these; tests place them through the admin API (`seed_network_user`) and the
product lists them, as Google serves them:
- forwardingRules: https://cloud.google.com/compute/docs/reference/rest/v1/forwardingRules/list and
  aggregatedList; globalForwardingRules: https://cloud.google.com/compute/docs/reference/rest/v1/globalForwardingRules/list.
  A PSC endpoint is a forwarding rule whose `target` is a service attachment or a Google APIs bundle
  (`all-apis`, `vpc-sc`): https://cloud.google.com/vpc/docs/configure-private-service-connect-services.
- addresses: https://cloud.google.com/compute/docs/reference/rest/v1/addresses/list and aggregatedList;
  globalAddresses (e.g. purpose VPC_PEERING or PRIVATE_SERVICE_CONNECT, with `network`):
  https://cloud.google.com/compute/docs/reference/rest/v1/globalAddresses/list.
- vpnGateways: https://cloud.google.com/compute/docs/reference/rest/v1/vpnGateways/list;
  targetVpnGateways: https://cloud.google.com/compute/docs/reference/rest/v1/targetVpnGateways/list;
  vpnTunnels (no `network` of their own: their gateway's):
  https://cloud.google.com/compute/docs/reference/rest/v1/vpnTunnels/list.
"""

from __future__ import annotations

from typing import Any

from emulator.clock import compute_time
from emulator.compute.common import check_name, plain, ref_name
from emulator.compute.operations import OperationsMixin
from emulator.errors import already_exists, invalid, not_found
from emulator.store import Project, public

GLOBAL = "global"
# collection -> (resource kind, whether it also exists at global scope, whether it is regional)
COLLECTIONS = {
    "forwardingRules": ("compute#forwardingRule", True, True),
    "addresses": ("compute#address", True, True),
    "vpnGateways": ("compute#vpnGateway", False, True),
    "targetVpnGateways": ("compute#targetVpnGateway", False, True),
    "vpnTunnels": ("compute#vpnTunnel", False, True),
}


class NetworkUsersMixin(OperationsMixin):
    """Listing and admin seeding of the resource kinds above, stored in `project.network_resources`
    keyed by (collection, scope, name), scope being a region or "global"."""

    def _collection(self, collection: str, scope: str) -> str:
        if collection not in COLLECTIONS or (scope == GLOBAL and not COLLECTIONS[collection][1]):
            raise not_found(f"Unknown collection '{scope}/{collection}'")
        return COLLECTIONS[collection][0]

    def seed_network_user(
        self, project: Project, scope: str, collection: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        """Admin API: place one resource of `collection` in `scope` as if another tool had created it."""
        kind = self._collection(collection, scope)
        body = plain(body)
        name = check_name(body.get("name"))
        with project.locked():
            key = (collection, scope, name)
            if key in project.network_resources:
                path = f"projects/{project.id}/{self._path(scope)}/{collection}/{name}"
                raise already_exists(f"The resource '{path}' already exists")
            res: dict[str, Any] = {**body, "kind": kind, "id": project.new_id(), "name": name}
            res["creationTimestamp"] = compute_time(self.backend.clock.now())
            if scope != GLOBAL:
                res["region"] = self.link(project, "regions", scope)
            if body.get("network"):
                res["network"] = self.network(project, body["network"])["selfLink"]
            if body.get("subnetwork"):
                sub = self.subnet(project, scope, body["subnetwork"])
                res["subnetwork"] = sub["selfLink"]
                res.setdefault("network", sub["network"])
            for field in ("targetVpnGateway", "vpnGateway"):
                if body.get(field):
                    gateway = project.network_resources.get(
                        (field[0].lower() + field[1:] + "s", scope, ref_name(body[field], field + "s"))
                    )
                    if gateway is None:
                        raise invalid(
                            f"Invalid value for field 'resource.{field}': '{body[field]}'. Not found."
                        )
                    res[field] = gateway["selfLink"]
            if collection in ("vpnGateways", "targetVpnGateways") and not res.get("network"):
                raise invalid(
                    "Invalid value for field 'resource.network': ''. The network field is required."
                )
            res["selfLink"] = self.link(project, *self._path(scope).split("/"), collection, name)
            project.network_resources[key] = res
            return public(res)

    @staticmethod
    def _path(scope: str) -> str:
        return GLOBAL if scope == GLOBAL else f"regions/{scope}"

    def _scoped(self, project: Project, collection: str, scope: str) -> list[dict[str, Any]]:
        return [
            public(r)
            for (col, sc, _), r in project.network_resources.items()
            if col == collection and sc == scope
        ]

    def network_of(self, project: Project, res: dict[str, Any]) -> str:
        """The network link a resource lives in; a VPN tunnel's is its gateway's."""
        if res.get("network"):
            return str(res["network"])
        for field in ("targetVpnGateway", "vpnGateway"):
            if res.get(field):
                for (col, _, _), gateway in project.network_resources.items():
                    if col == field + "s" and gateway["selfLink"] == res[field]:
                        return str(gateway.get("network", ""))
        return ""

    def list_network_users(
        self, project: Project, region: str, collection: str, query: dict[str, str]
    ) -> dict[str, Any]:
        kind = self._collection(collection, region)
        with project.locked():
            items = self._scoped(project, collection, region)
        return self.list_response(project, kind + "List", items, query, "regions", region, collection)

    def list_global_network_users(
        self, project: Project, collection: str, query: dict[str, str]
    ) -> dict[str, Any]:
        kind = self._collection(collection, GLOBAL)
        with project.locked():
            items = self._scoped(project, collection, GLOBAL)
        return self.list_response(project, kind + "List", items, query, GLOBAL, collection)

    def get_network_user(self, project: Project, region: str, collection: str, name: str) -> dict[str, Any]:
        return self._get(project, collection, region, f"regions/{region}/{collection}/{name}", name)

    def get_global_network_user(self, project: Project, collection: str, name: str) -> dict[str, Any]:
        return self._get(project, collection, GLOBAL, f"global/{collection}/{name}", name)

    def _get(self, project: Project, collection: str, scope: str, path: str, name: str) -> dict[str, Any]:
        self._collection(collection, scope)
        with project.locked():
            res = project.network_resources.get((collection, scope, name))
            if res is None:
                raise not_found(f"The resource 'projects/{project.id}/{path}' was not found")
            return public(res)

    def network_user_paths(self, project: Project, link: str) -> list[str]:
        """Paths of the resources above that live in the network `link` (they block its deletion)."""
        return [
            f"projects/{project.id}/{self._path(scope)}/{col}/{name}"
            for (col, scope, name), res in project.network_resources.items()
            if self.network_of(project, res) == link
        ]
