"""VPC networks (auto or custom mode), their default route and auto subnetworks, and the default network
with its default-allow rules that every new project starts with."""

from __future__ import annotations

from typing import Any

from emulator.clock import compute_time
from emulator.compute.common import AUTO_SUBNETS, check_name, plain, ref_name
from emulator.compute.operations import OperationsMixin
from emulator.errors import already_exists, in_use, invalid, not_found, not_ready
from emulator.store import Project, public


class NetworksMixin(OperationsMixin):
    """Networks; a ready network gets its default route (routes.py) and, in auto mode, its subnetworks
    (subnetworks.py); the default network gets its rules from firewalls.py."""

    # ---- seeding a new project --------------------------------------------------------------
    def seed_project(self, project: Project) -> None:
        now = self.backend.clock.now()
        net = self._new_network(
            project,
            {
                "name": "default",
                "autoCreateSubnetworks": True,
                "description": "Default network for the project",
            },
            now,
        )
        net.pop("_pending")
        project.networks["default"] = net
        self._network_ready(project, "default")
        for proto, name, ports, sources in (
            ("icmp", "default-allow-icmp", None, ["0.0.0.0/0"]),
            (None, "default-allow-internal", None, ["10.128.0.0/9"]),
            ("tcp", "default-allow-rdp", ["3389"], ["0.0.0.0/0"]),
            ("tcp", "default-allow-ssh", ["22"], ["0.0.0.0/0"]),
        ):
            if proto is None:
                allowed = [
                    {"IPProtocol": "tcp", "ports": ["0-65535"]},
                    {"IPProtocol": "udp", "ports": ["0-65535"]},
                    {"IPProtocol": "icmp"},
                ]
                desc = "Allow internal traffic on the default network"
            else:
                allowed = [{"IPProtocol": proto, **({"ports": ports} if ports else {})}]
                desc = f"Allow {name.split('-')[-1].upper()} from anywhere"
            fw = self.new_firewall(
                project,
                {
                    "name": name,
                    "network": net["selfLink"],
                    "priority": 65534,
                    "sourceRanges": sources,
                    "allowed": allowed,
                    "description": desc,
                },
                now,
            )
            fw.pop("_pending")
            project.firewalls[name] = fw

    # ---- networks ---------------------------------------------------------------------------
    def _new_network(self, project: Project, body: dict[str, Any], now: float) -> dict[str, Any]:
        name = body["name"]
        net_id = project.new_id()
        auto = bool(body.get("autoCreateSubnetworks", False))
        return {
            "kind": "compute#network",
            "id": net_id,
            "creationTimestamp": compute_time(now),
            "name": name,
            "description": body.get("description", ""),
            "selfLink": self.network_link(project, name),
            "selfLinkWithId": self.link(project, "global", "networks", net_id),
            "autoCreateSubnetworks": auto,
            "routingConfig": {"routingMode": body.get("routingConfig", {}).get("routingMode", "REGIONAL")},
            "networkFirewallPolicyEnforcementOrder": "AFTER_CLASSIC_FIREWALL",
            "mtu": body.get("mtu", 1460),
            "_pending": True,
        }

    def _network_ready(self, project: Project, name: str) -> None:
        net = project.networks.get(name)
        if net is None:
            return
        net.pop("_pending", None)
        now = self.backend.clock.now()
        self.add_route(
            project,
            {
                "name": f"default-route-{self.backend.token_hex(16)}",
                "network": net["selfLink"],
                "destRange": "0.0.0.0/0",
                "priority": 1000,
                "nextHopGateway": self.link(project, "global", "gateways", "default-internet-gateway"),
                "description": "Default route to the Internet.",
            },
            now,
            system=True,
        )
        if net["autoCreateSubnetworks"]:
            for region, cidr in AUTO_SUBNETS.items():
                sub = self.new_subnet(
                    project, region, {"name": name, "network": net["selfLink"], "ipCidrRange": cidr}, now
                )
                sub["_auto"] = True
                sub.pop("_pending")
                project.subnetworks[(region, name)] = sub
                self.subnet_ready(project, region, name)

    def get_network(self, project: Project, name: str) -> dict[str, Any]:
        with project.locked():
            return public(self.network(project, name))

    def network(self, project: Project, ref: str, *, ready: bool = False) -> dict[str, Any]:
        name = ref_name(ref, "networks")
        net = project.networks.get(name)
        if net is None:
            raise not_found(f"The resource 'projects/{project.id}/global/networks/{name}' was not found")
        if ready and (net.get("_pending") or net.get("_deleting")):
            raise not_ready(f"projects/{project.id}/global/networks/{name}")
        return net

    def list_networks(self, project: Project, query: dict[str, str]) -> dict[str, Any]:
        with project.locked():
            items = [public(n) for n in project.networks.values()]
        return self.list_response(project, "compute#networkList", items, query, "global", "networks")

    def insert_network(self, project: Project, body: dict[str, Any]) -> dict[str, Any]:
        body = plain(body)
        name = check_name(body.get("name"))
        if "IPv4Range" in body:
            raise invalid(
                "Legacy networks are not supported: set autoCreateSubnetworks instead of IPv4Range."
            )
        mode = body.get("routingConfig", {}).get("routingMode", "REGIONAL")
        if mode not in ("REGIONAL", "GLOBAL"):
            raise invalid(f"Invalid value for field 'resource.routingConfig.routingMode': '{mode}'.")
        with project.locked():
            if name in project.networks:
                raise already_exists(
                    f"The resource 'projects/{project.id}/global/networks/{name}' already exists"
                )
            net = self._new_network(project, body, self.backend.clock.now())
            project.networks[name] = net
            return self.start_operation(
                project,
                op_type="insert",
                target=net,
                duration=self.backend.clock.duration("networks.insert"),
                effect=lambda: self._network_ready(project, name),
            )

    def network_users(self, project: Project, name: str) -> list[str]:
        """What still uses a network (blocks its deletion), as resource paths."""
        link = self.network_link(project, name)
        p = f"projects/{project.id}"
        net = project.networks[name]
        users = [
            f"{p}/global/firewalls/{f['name']}" for f in project.firewalls.values() if f["network"] == link
        ]
        users += [
            f"{p}/regions/{r}/routers/{n}" for (r, n), rt in project.routers.items() if rt["network"] == link
        ]
        users += [
            f"{p}/zones/{z}/instances/{n}"
            for (z, n), inst in project.instances.items()
            if any(
                ref_name(nic.get("network", ""), "networks") == name
                for nic in inst.get("networkInterfaces", [])
            )
        ]
        users += [f"{p}/global/networkPeerings/{pe['name']}" for pe in net.get("peerings", [])]
        users += [
            f"{p}/regions/{r}/subnetworks/{n}"
            for (r, n), s in project.subnetworks.items()
            if s["network"] == link and not s.get("_auto")
        ]
        users += [
            f"{p}/global/routes/{rt['name']}"
            for rt in project.routes.values()
            if rt["network"] == link and not rt.get("_system")
        ]
        # forwarding rules, addresses and VPN gateways in the network also hold it ("Deleting a network":
        # https://cloud.google.com/vpc/docs/create-modify-vpc-networks#deleting_a_network)
        users += self.network_user_paths(project, link)
        return users

    def remove_peering(self, project: Project, name: str, body: Any) -> dict[str, Any]:
        """networks.removePeering: drop a peering (and the routes it imported) from the network."""
        peering = (body or {}).get("name", "") if isinstance(body, dict) else ""
        with project.locked():
            net = self.network(project, name, ready=True)
            if not any(p["name"] == peering for p in net.get("peerings", [])):
                raise invalid(
                    f"Invalid value for field 'name': '{peering}'. There is no peering named '{peering}' "
                    f"in network '{name}'."
                )

            def gone() -> None:
                net["peerings"] = [p for p in net.get("peerings", []) if p["name"] != peering]
                if not net["peerings"]:
                    del net["peerings"]
                for rname in [n for n, r in project.routes.items() if r.get("_peering_of") == peering]:
                    del project.routes[rname]

            return self.start_operation(
                project,
                op_type="removePeering",
                target=net,
                duration=self.backend.clock.duration("networks.removePeering"),
                effect=gone,
            )

    def delete_network(self, project: Project, name: str) -> dict[str, Any]:
        with project.locked():
            net = self.network(project, name, ready=True)
            users = self.network_users(project, name)
            if users:
                raise in_use(f"projects/{project.id}/global/networks/{name}", users[0])
            net["_deleting"] = True

            def gone() -> None:
                project.networks.pop(name, None)
                link = net["selfLink"]
                for key in [k for k, s in project.subnetworks.items() if s["network"] == link]:
                    del project.subnetworks[key]
                for rname in [n for n, r in project.routes.items() if r["network"] == link]:
                    del project.routes[rname]

            return self.start_operation(
                project,
                op_type="delete",
                target=net,
                duration=self.backend.clock.duration("networks.delete"),
                effect=gone,
            )
