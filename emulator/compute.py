"""Compute Engine: networks, subnetworks, firewalls, routes, routers (Cloud NAT), instances, operations.

Resources are stored as Compute's REST JSON. Inserts and deletes are long-running: the resource is
visible at once but not ready (dependents get `resourceNotReady`) until its operation is DONE.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import json
import re
import time
from collections.abc import Callable
from typing import Any

from google.protobuf import json_format

from emulator.clock import WAIT_DEADLINE_S, compute_time
from emulator.errors import ApiError, already_exists, in_use, invalid, not_found, not_ready
from emulator.routes import Route, ServiceRoutes
from emulator.store import Backend, Project, public

BASE = "https://www.googleapis.com/compute/v1"
NAME_RE = re.compile(r"^[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?$")

# Subnet ranges of an auto-mode network (a subset of Google's regions).
AUTO_SUBNETS = {
    "us-central1": "10.128.0.0/20",
    "europe-west1": "10.132.0.0/20",
    "us-west1": "10.138.0.0/20",
    "asia-east1": "10.140.0.0/20",
    "us-east1": "10.142.0.0/20",
    "asia-northeast1": "10.146.0.0/20",
    "asia-southeast1": "10.148.0.0/20",
    "us-east4": "10.150.0.0/20",
    "europe-west2": "10.154.0.0/20",
    "europe-west3": "10.156.0.0/20",
    "europe-west4": "10.164.0.0/20",
    "us-west2": "10.168.0.0/20",
}
_ZONE_SUFFIXES = {"us-east1": "bcd", "europe-west1": "bcd", "us-central1": "abcf"}


def zones_of(region: str) -> list[str]:
    return [f"{region}-{s}" for s in _ZONE_SUFFIXES.get(region, "abc")]


def region_of_zone(zone: str) -> str:
    return zone.rsplit("-", 1)[0]


def normalize(cls: Any, body: dict[str, Any]) -> dict[str, Any]:
    """Parse a request body with the official message type and re-emit canonical REST JSON."""
    try:
        msg = json_format.ParseDict(body or {}, cls.pb(cls()), ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise invalid(f"Invalid JSON payload received. {exc}") from exc
    return json_format.MessageToDict(msg)


def plain(body: Any) -> dict[str, Any]:
    """A private copy of a Compute request body (the clients already send REST JSON with enum names).

    Compute's message types are not used here on purpose: importing them costs seconds at start-up."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise invalid("Invalid JSON payload received. Expected an object.")
    return json.loads(json.dumps(body))


def check_name(name: Any, field: str = "resource.name") -> str:
    if not isinstance(name, str) or not NAME_RE.match(name):
        raise invalid(
            f"Invalid value for field '{field}': '{name or ''}'. Must be a match of regex "
            "'(?:[a-z](?:[-a-z0-9]{0,61}[a-z0-9])?)'"
        )
    return name


def parse_cidr(value: Any, field: str) -> ipaddress.IPv4Network:
    try:
        net = ipaddress.ip_network(str(value), strict=True)
    except ValueError:
        raise invalid(
            f"Invalid value for field '{field}': '{value}'. Invalid IPCidrRange: {value}."
        ) from None
    if not isinstance(net, ipaddress.IPv4Network):
        raise invalid(f"Invalid value for field '{field}': '{value}'. Only IPv4 ranges are accepted here.")
    return net


def ref_name(ref: str, kind: str) -> str:
    """`name`, `global/networks/name`, `projects/p/.../name` or a full URL -> name."""
    ref = ref.rstrip("/")
    if "/" in ref:
        parts = ref.split("/")
        if kind in parts:
            return parts[parts.index(kind) + 1] if parts.index(kind) + 1 < len(parts) else ""
    return ref.split("/")[-1]


# ---- list filters ----------------------------------------------------------------------------
_FILTER_TERM = re.compile(r'\(?\s*([\w.]+)\s*(=|!=|:)\s*("([^"]*)"|\'([^\']*)\'|([^\s)]+))\s*\)?')
_FILTER_EQ = re.compile(r"^\s*([\w.]+)\s+(eq|ne)\s+(.+?)\s*$")


def _field(item: dict[str, Any], path: str) -> Any:
    cur: Any = item
    for part in path.split("."):
        if isinstance(cur, dict):
            cur = cur.get(part)
        else:
            return None
    return cur


def _values(item: dict[str, Any], field: str) -> list[str]:
    actual = _field(item, field)
    if isinstance(actual, list):
        return [str(v) for v in actual]
    if isinstance(actual, bool):
        return [str(actual).lower()]
    return ["" if actual is None else str(actual)]


def matches_filter(item: dict[str, Any], expr: str | None) -> bool:
    """Compute's list filters: `field = "glob"` / `!=` terms (ANDed), or one `field eq|ne regex`."""
    if not expr:
        return True
    eq = _FILTER_EQ.match(expr)
    if eq:
        field, op, pattern = eq.groups()
        pattern = pattern.strip("\"'")
        try:
            hit = any(re.fullmatch(pattern, v) for v in _values(item, field))
        except re.error as exc:
            raise invalid(
                f"Invalid value for field 'filter': '{expr}'. Invalid regular expression: {exc}."
            ) from None
        return hit if op == "eq" else not hit
    terms = list(_FILTER_TERM.finditer(expr))
    if not terms:
        raise invalid(f"Invalid value for field 'filter': '{expr}'. Invalid list filter expression.")
    for m in terms:
        field, op = m.group(1), m.group(2)
        value = next(g for g in (m.group(4), m.group(5), m.group(6)) if g is not None)
        hit = any(fnmatch.fnmatchcase(v, value) for v in _values(item, field))
        if hit != (op != "!="):
            return False
    return True


def page(items: list[dict[str, Any]], query: dict[str, str]) -> tuple[list[dict[str, Any]], str | None]:
    items = [i for i in items if matches_filter(i, query.get("filter"))]
    start = int(query.get("pageToken") or 0)
    size = int(query.get("maxResults") or 500)
    chunk = items[start : start + size]
    nxt = str(start + size) if start + size < len(items) else None
    return chunk, nxt


def operation_scope(region: str | None, zone: str | None) -> tuple[str, ...]:
    """Where an operation lives: ("regions", r), ("zones", z) or ("global",)."""
    return ("regions", region) if region else ("zones", zone) if zone else ("global",)


class ComputeService:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    # ---- links ------------------------------------------------------------------------------
    @staticmethod
    def link(project: Project, *parts: str) -> str:
        return "/".join([BASE, "projects", project.id, *parts])

    def network_link(self, project: Project, name: str) -> str:
        return self.link(project, "global", "networks", name)

    def subnet_link(self, project: Project, region: str, name: str) -> str:
        return self.link(project, "regions", region, "subnetworks", name)

    # ---- operations -------------------------------------------------------------------------
    def _operation(
        self,
        project: Project,
        *,
        op_type: str,
        target: dict[str, Any],
        duration: float,
        effect: Callable[[], None],
        region: str | None = None,
        zone: str | None = None,
    ) -> dict[str, Any]:
        now = self.backend.clock.now()
        name = f"operation-{int(now * 1000)}-{self.backend.token_hex(13)}"
        scope = operation_scope(region, zone)
        op: dict[str, Any] = {
            "kind": "compute#operation",
            "id": project.new_id(),
            "name": name,
            "operationType": op_type,
            "targetLink": target["selfLink"],
            "targetId": target.get("id", ""),
            "status": "RUNNING",
            "user": "user@example.com",
            "progress": 0,
            "insertTime": compute_time(now),
            "startTime": compute_time(now),
            "selfLink": self.link(project, *scope, "operations", name),
            "_done_at": now + duration,
            "_scope": scope,
        }
        if region:
            op["region"] = self.link(project, "regions", region)
        if zone:
            op["zone"] = self.link(project, "zones", zone)
        project.operations[name] = op

        def finish() -> None:
            try:
                effect()
            except ApiError as exc:  # an operation can end DONE with an error
                op["error"] = {"errors": [{"code": exc.reason.upper(), "message": exc.message}]}
                op["httpErrorStatusCode"] = exc.code
                op["httpErrorMessage"] = exc.status.replace("_", " ")
            op["status"] = "DONE"
            op["progress"] = 100
            op["endTime"] = compute_time(project.event_time or self.backend.clock.now())

        project.schedule(op["_done_at"], finish)
        return public(op)

    def _find_op(self, project: Project, scope: tuple[str, ...], name: str) -> dict[str, Any]:
        op = project.operations.get(name)
        if op is None or tuple(op["_scope"]) != scope:
            raise not_found(
                f"The resource 'projects/{project.id}/{'/'.join(scope)}/operations/{name}' was not found"
            )
        return op

    def get_operation(
        self, project: Project, operation: str, region: str | None = None, zone: str | None = None
    ) -> dict[str, Any]:
        with project.locked():
            return public(self._find_op(project, operation_scope(region, zone), operation))

    def wait_operation(
        self, project: Project, operation: str, region: str | None = None, zone: str | None = None
    ) -> dict[str, Any]:
        scope, name = operation_scope(region, zone), operation
        deadline = time.monotonic() + WAIT_DEADLINE_S
        while True:
            with project.locked():
                op = self._find_op(project, scope, name)
                if op["status"] == "DONE":
                    return public(op)
                remaining = op["_done_at"] - self.backend.clock.now()
            left = deadline - time.monotonic()
            if left <= 0:
                with project.locked():
                    return public(self._find_op(project, scope, name))
            time.sleep(max(0.001, min(remaining, left, 0.25)))

    def list_operations(
        self, project: Project, query: dict[str, str], region: str | None = None, zone: str | None = None
    ) -> dict[str, Any]:
        scope = operation_scope(region, zone)
        with project.locked():
            items = [public(o) for o in project.operations.values() if tuple(o["_scope"]) == scope]
        return self._list(project, "compute#operationList", items, query, *scope, "operations")

    def _list(
        self, project: Project, kind: str, items: list[dict[str, Any]], query: dict[str, str], *parts: str
    ):
        chunk, nxt = page(items, query)
        out: dict[str, Any] = {
            "kind": kind,
            "id": "projects/" + project.id + "/" + "/".join(parts),
            "items": chunk,
            "selfLink": self.link(project, *parts),
        }
        if not chunk:
            del out["items"]
        if nxt:
            out["nextPageToken"] = nxt
        return out

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
            fw = self._new_firewall(
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
        self._add_route(
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
                sub = self._new_subnet(
                    project, region, {"name": name, "network": net["selfLink"], "ipCidrRange": cidr}, now
                )
                sub["_auto"] = True
                sub.pop("_pending")
                project.subnetworks[(region, name)] = sub
                self._subnet_ready(project, region, name)

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
        return self._list(project, "compute#networkList", items, query, "global", "networks")

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
            return self._operation(
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
        return users

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

            return self._operation(
                project,
                op_type="delete",
                target=net,
                duration=self.backend.clock.duration("networks.delete"),
                effect=gone,
            )

    # ---- subnetworks ------------------------------------------------------------------------
    def _new_subnet(self, project: Project, region: str, body: dict[str, Any], now: float) -> dict[str, Any]:
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

    def _subnet_ready(self, project: Project, region: str, name: str) -> None:
        sub = project.subnetworks.get((region, name))
        if sub is None:
            return
        sub.pop("_pending", None)
        now = self.backend.clock.now()
        for cidr in [sub["ipCidrRange"], *[r["ipCidrRange"] for r in sub.get("secondaryIpRanges", [])]]:
            self._add_route(
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
        return self._list(project, "compute#subnetworkList", items, query, "regions", region, "subnetworks")

    def _ranges_in_network(self, project: Project, link: str) -> list[tuple[ipaddress.IPv4Network, str, str]]:
        out = []
        for (region, name), s in project.subnetworks.items():
            if s["network"] != link:
                continue
            out.append((ipaddress.ip_network(s["ipCidrRange"]), name, region))
            for r in s.get("secondaryIpRanges", []):
                out.append((ipaddress.ip_network(r["ipCidrRange"]), name, region))
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
                for other, oname, oregion in self._ranges_in_network(project, net["selfLink"]):
                    if cidr.overlaps(other):
                        raise invalid(
                            f"Invalid value for field '{field}': '{cidr}'. Invalid IPCidrRange: {cidr} "
                            f"conflicts with existing subnetwork '{oname}' in region '{oregion}'."
                        )
            body["network"] = net["selfLink"]
            sub = self._new_subnet(project, region, body, self.backend.clock.now())
            project.subnetworks[(region, name)] = sub
            return self._operation(
                project,
                op_type="insert",
                target=sub,
                region=region,
                duration=self.backend.clock.duration("subnetworks.insert"),
                effect=lambda: self._subnet_ready(project, region, name),
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

            return self._operation(
                project,
                op_type="delete",
                target=sub,
                region=region,
                duration=self.backend.clock.duration("subnetworks.delete"),
                effect=gone,
            )

    # ---- firewalls --------------------------------------------------------------------------
    def _new_firewall(self, project: Project, body: dict[str, Any], now: float) -> dict[str, Any]:
        direction = body.get("direction", "INGRESS")
        fw: dict[str, Any] = {
            "kind": "compute#firewall",
            "id": project.new_id(),
            "creationTimestamp": compute_time(now),
            "name": body["name"],
            "description": body.get("description", ""),
            "network": body["network"],
            "priority": int(body.get("priority", 1000)),
            "direction": direction,
            "logConfig": {"enable": False},
            "disabled": bool(body.get("disabled", False)),
            "selfLink": self.link(project, "global", "firewalls", body["name"]),
            "_pending": True,
        }
        for key in (
            "sourceRanges",
            "destinationRanges",
            "sourceTags",
            "targetTags",
            "sourceServiceAccounts",
            "targetServiceAccounts",
            "allowed",
            "denied",
        ):
            if body.get(key):
                fw[key] = body[key]
        if direction == "INGRESS" and not any(
            k in fw for k in ("sourceRanges", "sourceTags", "sourceServiceAccounts")
        ):
            fw["sourceRanges"] = ["0.0.0.0/0"]
        if direction == "EGRESS" and "destinationRanges" not in fw:
            fw["destinationRanges"] = ["0.0.0.0/0"]
        return fw

    def firewall(self, project: Project, name: str) -> dict[str, Any]:
        fw = project.firewalls.get(name)
        if fw is None:
            raise not_found(f"The resource 'projects/{project.id}/global/firewalls/{name}' was not found")
        return fw

    def get_firewall(self, project: Project, name: str) -> dict[str, Any]:
        with project.locked():
            return public(self.firewall(project, name))

    def list_firewalls(self, project: Project, query: dict[str, str]) -> dict[str, Any]:
        with project.locked():
            items = [public(f) for f in project.firewalls.values()]
        return self._list(project, "compute#firewallList", items, query, "global", "firewalls")

    def _validate_firewall(self, body: dict[str, Any]) -> None:
        if not body.get("allowed") and not body.get("denied"):
            raise invalid(
                "Invalid value for field 'resource': ''. A firewall rule needs at least one allowed or "
                "denied entry."
            )
        for i, rule in enumerate(body.get("allowed", []) + body.get("denied", [])):
            if not rule.get("IPProtocol"):
                raise invalid(f"Invalid value for field 'resource.allowed[{i}].IPProtocol': ''.")
        for key in ("sourceRanges", "destinationRanges"):
            for i, cidr in enumerate(body.get(key, [])):
                try:
                    ipaddress.ip_network(cidr, strict=False)
                except ValueError:
                    raise invalid(
                        f"Invalid value for field 'resource.{key}[{i}]': '{cidr}'. "
                        "Must be a valid IPV4 CIDR address range."
                    ) from None
        prio = int(body.get("priority", 1000))
        if not 0 <= prio <= 65535:
            raise invalid(
                f"Invalid value for field 'resource.priority': '{prio}'. Must be between 0 and 65535."
            )

    def insert_firewall(self, project: Project, body: dict[str, Any]) -> dict[str, Any]:
        body = plain(body)
        name = check_name(body.get("name"))
        self._validate_firewall(body)
        with project.locked():
            net = self.network(project, body.get("network") or "default", ready=True)
            if name in project.firewalls:
                raise already_exists(
                    f"The resource 'projects/{project.id}/global/firewalls/{name}' already exists"
                )
            body["network"] = net["selfLink"]
            fw = self._new_firewall(project, body, self.backend.clock.now())
            project.firewalls[name] = fw
            return self._operation(
                project,
                op_type="insert",
                target=fw,
                duration=self.backend.clock.duration("firewalls.insert"),
                effect=lambda: fw.pop("_pending", None),
            )

    def add_firewall_now(self, project: Project, body: dict[str, Any]) -> dict[str, Any]:
        """A rule created by Google itself (GKE, load balancers): present at once, no operation."""
        fw = self._new_firewall(project, body, self.backend.clock.now())
        fw.pop("_pending")
        project.firewalls[fw["name"]] = fw
        return fw

    def patch_firewall(self, project: Project, name: str, body: dict[str, Any]) -> dict[str, Any]:
        body = plain(body)
        with project.locked():
            fw = self.firewall(project, name)
            merged = {
                **public(fw),
                **{k: v for k, v in body.items() if k not in ("name", "network", "selfLink", "id")},
            }
            self._validate_firewall(merged)

            def apply() -> None:
                fw.update({k: v for k, v in merged.items() if not k.startswith("_")})

            return self._operation(
                project,
                op_type="patch",
                target=fw,
                duration=self.backend.clock.duration("firewalls.patch"),
                effect=apply,
            )

    def delete_firewall(self, project: Project, name: str) -> dict[str, Any]:
        with project.locked():
            fw = self.firewall(project, name)
            if fw.get("_deleting"):
                raise not_ready(f"projects/{project.id}/global/firewalls/{name}")
            fw["_deleting"] = True
            return self._operation(
                project,
                op_type="delete",
                target=fw,
                duration=self.backend.clock.duration("firewalls.delete"),
                effect=lambda: project.firewalls.pop(name, None),
            )

    # ---- routes -----------------------------------------------------------------------------
    def _add_route(
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
        return self._list(project, "compute#routeList", items, query, "global", "routes")

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
            route = self._add_route(project, body, self.backend.clock.now())
            return self._operation(
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
            return self._operation(
                project,
                op_type="delete",
                target=route,
                duration=self.backend.clock.duration("routes.delete"),
                effect=lambda: project.routes.pop(name, None),
            )

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
        return self._list(project, "compute#routerList", items, query, "regions", region, "routers")

    def insert_router(self, project: Project, region: str, body: dict[str, Any]) -> dict[str, Any]:
        body = plain(body)
        name = check_name(body.get("name"))
        if not body.get("network"):
            raise invalid("Invalid value for field 'resource.network': ''. The network field is required.")
        self._validate_nats(body.get("nats", []))
        with project.locked():
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
            return self._operation(
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
            return self._operation(
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
            return self._operation(
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

    # ---- instances --------------------------------------------------------------------------
    def add_instance(
        self, project: Project, zone: str, body: dict[str, Any], *, check: bool = True
    ) -> dict[str, Any]:
        body = plain(body)
        name = check_name(body.get("name"))
        now = self.backend.clock.now()
        region = region_of_zone(zone)
        nics = []
        for i, nic in enumerate(body.get("networkInterfaces") or [{"network": "default"}]):
            net = self.network(project, nic.get("network") or "default")
            if nic.get("subnetwork"):
                sub = self.subnet(project, region, nic["subnetwork"])
            else:
                sub = next(
                    (
                        s
                        for (r, _), s in project.subnetworks.items()
                        if r == region and s["network"] == net["selfLink"]
                    ),
                    None,
                )
                if sub is None:
                    raise invalid(
                        f"Invalid value for field 'resource.networkInterfaces[{i}].subnetwork': ''. "
                        f"Network '{net['name']}' has no subnetwork in region '{region}'."
                    )
            cidr = ipaddress.ip_network(sub["ipCidrRange"])
            used = sum(1 for (z, _), inst in project.instances.items() if region_of_zone(z) == region)
            nics.append(
                {
                    "kind": "compute#networkInterface",
                    "name": f"nic{i}",
                    "network": net["selfLink"],
                    "subnetwork": sub["selfLink"],
                    "networkIP": str(cidr.network_address + 2 + used),
                    "stackType": "IPV4_ONLY",
                }
            )
        if check and (zone, name) in project.instances:
            raise already_exists(
                f"The resource 'projects/{project.id}/zones/{zone}/instances/{name}' already exists"
            )
        inst = {
            "kind": "compute#instance",
            "id": project.new_id(),
            "creationTimestamp": compute_time(now),
            "name": name,
            "description": body.get("description", ""),
            "machineType": self.link(
                project,
                "zones",
                zone,
                "machineTypes",
                ref_name(body.get("machineType", "e2-medium"), "machineTypes"),
            ),
            "status": "RUNNING",
            "zone": self.link(project, "zones", zone),
            "networkInterfaces": nics,
            "selfLink": self.link(project, "zones", zone, "instances", name),
        }
        for key in ("tags", "labels", "metadata", "serviceAccounts"):
            if body.get(key):
                inst[key] = body[key]
        project.instances[(zone, name)] = inst
        return inst

    def get_instance(self, project: Project, zone: str, name: str) -> dict[str, Any]:
        with project.locked():
            inst = project.instances.get((zone, name))
            if inst is None:
                raise not_found(
                    f"The resource 'projects/{project.id}/zones/{zone}/instances/{name}' was not found"
                )
            return public(inst)

    def list_instances(self, project: Project, zone: str, query: dict[str, str]) -> dict[str, Any]:
        with project.locked():
            items = [public(i) for (z, _), i in project.instances.items() if z == zone]
        return self._list(project, "compute#instanceList", items, query, "zones", zone, "instances")

    def aggregated(self, project: Project, kind: str, query: dict[str, str]) -> dict[str, Any]:
        """`aggregated/{instances,subnetworks,routers}`: items keyed by scope."""
        with project.locked():
            if kind == "instances":
                source = [(f"zones/{z}", i) for (z, _), i in project.instances.items()]
            elif kind == "subnetworks":
                source = [(f"regions/{r}", s) for (r, _), s in project.subnetworks.items()]
            elif kind == "routers":
                source = [(f"regions/{r}", s) for (r, _), s in project.routers.items()]
            else:
                raise not_found(f"Unknown aggregated collection '{kind}'")
            items: dict[str, dict[str, Any]] = {}
            for scope, res in source:
                if matches_filter(res, query.get("filter")):
                    items.setdefault(scope, {kind: []})[kind].append(public(res))
        return {
            "kind": f"compute#{kind[:-1]}AggregatedList",
            "id": f"projects/{project.id}/aggregated/{kind}",
            "items": items,
            "selfLink": self.link(project, "aggregated", kind),
        }

    # ---- routes -----------------------------------------------------------------------------
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
            prefix="/compute/v1/projects/{project}",
            routes=(
                Route("GET", "/global/networks", self.list_networks),
                Route("POST", "/global/networks", self.insert_network),
                Route("GET", "/global/networks/{name}", self.get_network),
                Route("DELETE", "/global/networks/{name}", self.delete_network),
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
                *operations,
            ),
        )
