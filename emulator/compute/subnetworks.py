"""Subnetworks: primary and secondary ranges (CIDR, prefix and overlap rules), their local routes, and what
blocks their deletion."""

from __future__ import annotations

import ipaddress
from typing import Any

from emulator.clock import compute_time
from emulator.compute.common import check_name, parse_cidr, plain, ref_name, region_of_zone
from emulator.compute.operations import OperationsMixin
from emulator.errors import already_exists, in_use, invalid, not_found, not_ready
from emulator.store import Project, public


class SubnetworksMixin(OperationsMixin):
    """Subnetworks in a ready network (networks.py); a ready subnetwork gets local routes (routes.py)."""

    # ---- subnetworks ------------------------------------------------------------------------
    def new_subnet(self, project: Project, region: str, body: dict[str, Any], now: float) -> dict[str, Any]:
        net = ipaddress.ip_network(body["ipCidrRange"])
        return {
            "kind": "compute#subnetwork",
            "id": project.new_id(),
            "creationTimestamp": compute_time(now),
            "name": body["name"],
            "description": body.get("description", ""),
            "network": self.network_link(project, ref_name(body["network"], "networks")),
            "ipCidrRange": str(net),
            "gatewayAddress": str(net.network_address + 1),
            "region": self.link(project, "regions", region),
            "selfLink": self.subnet_link(project, region, body["name"]),
            "privateIpGoogleAccess": bool(body.get("privateIpGoogleAccess", False)),
            "secondaryIpRanges": list(body.get("secondaryIpRanges", [])),
            "fingerprint": "e1f2a3b4c5d6=",
            "stackType": "IPV4_ONLY",
            "purpose": "PRIVATE",
            "_pending": True,
        }

    def _subnet_routes(self, project: Project, sub: dict[str, Any]) -> list[str]:
        return [n for n, r in project.routes.items() if r.get("_subnet") == sub["selfLink"]]

    def subnet_ready(self, project: Project, region: str, name: str) -> None:
        sub = project.subnetworks.get((region, name))
        if sub is None:
            return
        sub.pop("_pending", None)
        now = self.backend.clock.now()
        for cidr in [sub["ipCidrRange"], *[r["ipCidrRange"] for r in sub.get("secondaryIpRanges", [])]]:
            self.add_route(
                project,
                {
                    "name": f"default-route-{self.backend.token_hex(16)}",
                    "network": sub["network"],
                    "destRange": cidr,
                    "priority": 0,
                    "nextHopNetwork": sub["network"],
                    "description": f"Default local route to the subnetwork {cidr}.",
                },
                now,
                system=True,
                subnet=sub["selfLink"],
            )
        net = project.networks.get(ref_name(sub["network"], "networks"))
        if net is not None:
            net.setdefault("subnetworks", []).append(sub["selfLink"])

    def subnet(self, project: Project, region: str, ref: str, *, ready: bool = False) -> dict[str, Any]:
        name = ref_name(ref, "subnetworks")
        sub = project.subnetworks.get((region, name))
        if sub is None:
            raise not_found(
                f"The resource 'projects/{project.id}/regions/{region}/subnetworks/{name}' was not found"
            )
        if ready and (sub.get("_pending") or sub.get("_deleting")):
            raise not_ready(f"projects/{project.id}/regions/{region}/subnetworks/{name}")
        return sub

    def get_subnet(self, project: Project, region: str, name: str) -> dict[str, Any]:
        with project.locked():
            return public(self.subnet(project, region, name))

    def list_subnets(self, project: Project, region: str, query: dict[str, str]) -> dict[str, Any]:
        with project.locked():
            items = [public(s) for (r, _), s in project.subnetworks.items() if r == region]
        return self.list_response(
            project, "compute#subnetworkList", items, query, "regions", region, "subnetworks"
        )

    def ranges_in_network(self, project: Project, link: str) -> list[tuple[ipaddress.IPv4Network, str, str]]:
        out = []
        for (region, name), s in project.subnetworks.items():
            if s["network"] != link:
                continue
            out.append((ipaddress.IPv4Network(s["ipCidrRange"]), name, region))
            for r in s.get("secondaryIpRanges", []):
                out.append((ipaddress.IPv4Network(r["ipCidrRange"]), name, region))
        return out

    def insert_subnet(self, project: Project, region: str, body: dict[str, Any]) -> dict[str, Any]:
        body = plain(body)
        name = check_name(body.get("name"))
        if not body.get("network"):
            raise invalid("Invalid value for field 'resource.network': ''. The network field is required.")
        primary = parse_cidr(body.get("ipCidrRange"), "resource.ipCidrRange")
        if not 8 <= primary.prefixlen <= 29:
            raise invalid(
                f"Invalid value for field 'resource.ipCidrRange': '{primary}'. "
                "The prefix length must be between /8 and /29."
            )
        ranges: list[tuple[ipaddress.IPv4Network, str]] = [(primary, "resource.ipCidrRange")]
        names: set[str] = set()
        for i, sr in enumerate(body.get("secondaryIpRanges", [])):
            field = f"resource.secondaryIpRanges[{i}]"
            rname = sr.get("rangeName", "")
            check_name(rname, f"{field}.rangeName")
            if rname in names:
                raise invalid(
                    f"Invalid value for field '{field}.rangeName': '{rname}'. "
                    "Secondary range names must be unique within a subnetwork."
                )
            names.add(rname)
            ranges.append((parse_cidr(sr.get("ipCidrRange"), f"{field}.ipCidrRange"), f"{field}.ipCidrRange"))
        for i, (a, fa) in enumerate(ranges):
            for b, _ in ranges[:i]:
                if a.overlaps(b):
                    raise invalid(
                        f"Invalid value for field '{fa}': '{a}'. Invalid IPCidrRange: {a} conflicts "
                        f"with {b} in the same subnetwork."
                    )
        with project.locked():
            net = self.network(project, body["network"], ready=True)
            if (region, name) in project.subnetworks:
                raise already_exists(
                    f"The resource 'projects/{project.id}/regions/{region}/subnetworks/{name}' already exists"
                )
            for cidr, field in ranges:
                for other, oname, oregion in self.ranges_in_network(project, net["selfLink"]):
                    if cidr.overlaps(other):
                        raise invalid(
                            f"Invalid value for field '{field}': '{cidr}'. Invalid IPCidrRange: {cidr} "
                            f"conflicts with existing subnetwork '{oname}' in region '{oregion}'."
                        )
            body["network"] = net["selfLink"]
            sub = self.new_subnet(project, region, body, self.backend.clock.now())
            project.subnetworks[(region, name)] = sub
            return self.start_operation(
                project,
                op_type="insert",
                target=sub,
                region=region,
                duration=self.backend.clock.duration("subnetworks.insert"),
                effect=lambda: self.subnet_ready(project, region, name),
            )

    def subnet_users(self, project: Project, region: str, name: str) -> list[str]:
        link = self.subnet_link(project, region, name)
        p = f"projects/{project.id}"
        users = [
            f"{p}/zones/{z}/instances/{n}"
            for (z, n), inst in project.instances.items()
            if any(
                nic.get("subnetwork")
                and ref_name(nic["subnetwork"], "subnetworks") == name
                and region_of_zone(z) == region
                for nic in inst.get("networkInterfaces", [])
            )
        ]
        users += [
            f"{p}/locations/{loc}/clusters/{cn}"
            for (loc, cn), c in project.clusters.items()
            if c.get("_subnet_link") == link
        ]
        if link in project.lingering:  # a deleted cluster's leftovers (GKE still releasing it)
            users.append(project.lingering[link])
        return users

    def delete_subnet(self, project: Project, region: str, name: str) -> dict[str, Any]:
        with project.locked():
            sub = self.subnet(project, region, name, ready=True)
            users = self.subnet_users(project, region, name)
            if users:
                raise in_use(f"projects/{project.id}/regions/{region}/subnetworks/{name}", users[0])
            if sub.get("_auto"):
                raise invalid(
                    f"Invalid resource usage: 'Cannot delete auto subnetwork from an auto subnet mode "
                    f"network.'. projects/{project.id}/regions/{region}/subnetworks/{name}"
                )
            sub["_deleting"] = True

            def gone() -> None:
                project.subnetworks.pop((region, name), None)
                for rname in self._subnet_routes(project, sub):
                    del project.routes[rname]
                net = project.networks.get(ref_name(sub["network"], "networks"))
                if net is not None and sub["selfLink"] in net.get("subnetworks", []):
                    net["subnetworks"].remove(sub["selfLink"])

            return self.start_operation(
                project,
                op_type="delete",
                target=sub,
                region=region,
                duration=self.backend.clock.duration("subnetworks.delete"),
                effect=gone,
            )
