"""Cross-field rules of a lab spec, evaluated on the plain (JSON-like) document.

They run on a dict, not on the model, so they can also run when some fields failed their own checks:
every rule whose inputs are readable reports, and all problems come back together. A rule whose inputs
are malformed is skipped (the field check already names them).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterator
from typing import Any

from gke_lab import ipplan, regions
from gke_lab.ipplan import pod_cidr_prefix
from gke_lab.maintenance import availability_problem

Loc = tuple[Any, ...]
Problem = tuple[Loc, str, str, Any]  # (location, problem, accepted, offending value)
Rule = Callable[[dict[str, Any]], Iterator[Problem]]

RFC1918 = tuple(ipaddress.IPv4Network(n) for n in ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"))
MAX_AUTHORIZED_NETWORKS = 50

_RULES: list[Rule] = []


def rule(fn: Rule) -> Rule:
    _RULES.append(fn)
    return fn


def _net(value: Any) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(value, strict=True)


@rule
def _autoscaling(d: dict[str, Any]) -> Iterator[Problem]:
    c = d["cluster"]
    lo, hi = int(c["autoscaling"]["min"]), int(c["autoscaling"]["max"])
    if lo > hi:
        yield ("cluster", "autoscaling", "min"), f"minimum {lo} exceeds maximum {hi}", f"0 to {hi}", lo
    elif not lo <= int(c["num_nodes"]) <= hi:
        n = c["num_nodes"]
        yield (
            ("cluster", "num_nodes"),
            f"{n} nodes per zone is outside the autoscaling bounds",
            f"{lo} to {hi}",
            n,
        )


@rule
def _release_channel(d: dict[str, Any]) -> Iterator[Problem]:
    c = d["cluster"]
    if c["release_channel"] is None and c.get("legacy_no_channel") is not True:
        # New projects cannot create no-channel clusters; existing customers opt in explicitly.
        yield (
            ("cluster", "release_channel"),
            "no release channel is refused for new projects (deprecated, removed on 2027-06-14)",
            "RAPID, REGULAR, STABLE or EXTENDED; null only with cluster.legacy_no_channel: true",
            None,
        )
    if c["release_channel"] is not None and c["auto_upgrade"] is False:
        yield (
            ("cluster", "auto_upgrade"),
            f"auto_upgrade false cannot be combined with release channel {c['release_channel']}",
            "auto_upgrade: true, or release_channel: null",
            False,
        )


@rule
def _upgrade_settings(d: dict[str, Any]) -> Iterator[Problem]:
    c = d["cluster"]
    if int(c["max_surge"]) + int(c["max_unavailable"]) < 1:
        yield ("cluster", "max_surge"), "max_surge and max_unavailable are both 0", "a sum of at least 1", 0


@rule
def _shielded(d: dict[str, Any]) -> Iterator[Problem]:
    c = d["cluster"]
    if bool(c["secure_boot"]) != bool(c["integrity_monitoring"]):
        yield (
            ("cluster", "integrity_monitoring"),
            "secure boot and integrity monitoring must be set together",
            "both true or both false",
            c["integrity_monitoring"],
        )


@rule
def _master_cidr(d: dict[str, Any]) -> Iterator[Problem]:
    value = d["cluster"]["master_ipv4_cidr"]
    master = _net(value)
    if master.prefixlen != 28:
        yield ("cluster", "master_ipv4_cidr"), f"{value} is a /{master.prefixlen}", "exactly a /28", value
    if not any(master.subnet_of(p) for p in RFC1918):
        yield (
            ("cluster", "master_ipv4_cidr"),
            f"{value} is not a private range",
            "a /28 inside 10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16",
            value,
        )


@rule
def _authorized_networks(d: dict[str, Any]) -> Iterator[Problem]:
    # Judged by the union of the ranges, not one by one: 0.0.0.0/1 + 128.0.0.0/1 is 0.0.0.0/0 by another
    # name. More public space than one /8 (in one range or in all of them) counts as a public endpoint.
    c = d["cluster"]
    nets = c["master_authorized_networks"]
    where = ("cluster", "master_authorized_networks")
    if not nets:
        yield (
            where,
            "no authorized networks: the control plane's public endpoint would accept no client",
            "at least one client range, e.g. [{cidr: 203.0.113.7/32, name: me}]",
            [],
        )
        return
    if len(nets) > MAX_AUTHORIZED_NETWORKS:
        yield where, f"{len(nets)} authorized networks", f"at most {MAX_AUTHORIZED_NETWORKS}", len(nets)
    if c.get("allow_public_control_plane") is True:
        return
    parsed: list[tuple[int, ipaddress.IPv4Network]] = []
    for i, item in enumerate(nets):
        try:
            parsed.append((i, _net(item["cidr"])))
        except (KeyError, TypeError, ValueError):
            continue
    accepted = f"ranges covering at most a /{PUBLIC_PREFIX_LIMIT} of public addresses in all, or "
    accepted += "cluster.allow_public_control_plane: true"
    for i, net in parsed:
        if _public_addresses([net]) > PUBLIC_ADDRESS_LIMIT:
            yield (
                (*where, i, "cidr"),
                f"{net} opens the control plane to "
                + ("the whole internet" if net.prefixlen == 0 else f"{net.num_addresses:,} public addresses"),
                accepted,
                str(net),
            )
            return
    total = _public_addresses([net for _, net in parsed])
    if total > PUBLIC_ADDRESS_LIMIT:
        yield (
            where,
            f"together the ranges open the control plane to {total:,} public addresses",
            accepted,
            [str(net) for _, net in parsed],
        )


# Not the public internet: private (RFC 1918), shared (RFC 6598) and special-purpose space.
NOT_PUBLIC = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/3",
    )
)
PUBLIC_PREFIX_LIMIT = 8
PUBLIC_ADDRESS_LIMIT = 2 ** (32 - PUBLIC_PREFIX_LIMIT)


def _public_addresses(nets: list[ipaddress.IPv4Network]) -> int:
    """How many public addresses the union of `nets` holds (overlaps counted once)."""
    total = 0
    for net in ipaddress.collapse_addresses(nets):
        total += net.num_addresses
        for reserved in NOT_PUBLIC:
            if net.overlaps(reserved):
                inner = reserved if reserved.subnet_of(net) else net
                total -= inner.num_addresses
    return total


@rule
def _node_locations(d: dict[str, Any]) -> Iterator[Problem]:
    locations = d["cluster"]["node_locations"]
    region = d["region"]
    zones = regions.zones_of(region)
    if not locations:
        yield ("cluster", "node_locations"), "no zones given", f"one or more of {', '.join(zones)}", []
    seen: set[str] = set()
    for i, zone in enumerate(locations):
        if zone in seen:
            yield ("cluster", "node_locations", i), f"zone {zone} is listed twice", "each zone once", zone
        elif zones and zone not in zones:
            yield (
                ("cluster", "node_locations", i),
                f"{zone} is not a zone of {region}",
                ", ".join(zones),
                zone,
            )
        seen.add(zone)


@rule
def _duplicates(d: dict[str, Any]) -> Iterator[Problem]:
    for name in ("addons", "tags"):
        values = d["cluster"][name]
        if len(set(values)) != len(values):
            yield ("cluster", name), "duplicate entries", "each value once", values


@rule
def _maintenance(d: dict[str, Any]) -> Iterator[Problem]:
    w = d["cluster"]["maintenance_window"]
    found = availability_problem(w["start"], w["end"], w["recurrence"])
    if found:
        field, problem, accepted = found
        yield ("cluster", "maintenance_window", *field), problem, accepted, w[field[0]]


@rule
def _kms_location(d: dict[str, Any]) -> Iterator[Problem]:
    location = d["kms"].get("location")
    if location is not None and location != d["region"]:
        yield (
            ("kms", "location"),
            f"keys in {location} cannot encrypt a cluster in {d['region']}",
            f"null or {d['region']} (the cluster's region)",
            location,
        )


@rule
def _distinct_keys(d: dict[str, Any]) -> Iterator[Problem]:
    if d["kms"]["node_key"] == d["kms"]["secrets_key"]:
        key = d["kms"]["secrets_key"]
        yield (
            ("kms", "secrets_key"),
            "the same key for disks and Secrets",
            "a name different from kms.node_key",
            key,
        )


@rule
def _range_names(d: dict[str, Any]) -> Iterator[Problem]:
    pods, services = d["network"]["pods_range"]["name"], d["network"]["services_range"]["name"]
    if pods == services:
        yield (
            ("network", "services_range", "name"),
            f"secondary range name {services} is used twice",
            "a name different from network.pods_range.name",
            services,
        )


@rule
def _subnet_prefix(d: dict[str, Any]) -> Iterator[Problem]:
    value = d["network"]["subnet"]["cidr"]
    subnet = _net(value)
    if not 8 <= subnet.prefixlen <= 29:
        yield ("network", "subnet", "cidr"), f"/{subnet.prefixlen} subnet", "a prefix from /8 to /29", value


@rule
def _pods_prefix(d: dict[str, Any]) -> Iterator[Problem]:
    value = d["network"]["pods_range"]["cidr"]
    pods = _net(value)
    per_node = pod_cidr_prefix(int(d["cluster"]["max_pods_per_node"]))
    if pods.prefixlen > per_node:
        yield (
            ("network", "pods_range", "cidr"),
            f"/{pods.prefixlen} cannot hold one node's /{per_node} Pod range",
            f"a prefix from /8 to /{per_node}",
            value,
        )


@rule
def _services_prefix(d: dict[str, Any]) -> Iterator[Problem]:
    value = d["network"]["services_range"]["cidr"]
    services = _net(value)
    if not 16 <= services.prefixlen <= 27:
        yield (
            ("network", "services_range", "cidr"),
            f"/{services.prefixlen} range",
            "a prefix from /16 to /27",
            value,
        )


def _ranges(d: dict[str, Any]) -> list[tuple[Loc, Any]]:
    n = d["network"]
    return [
        (("network", "subnet", "cidr"), n["subnet"]["cidr"]),
        (("network", "pods_range", "cidr"), n["pods_range"]["cidr"]),
        (("network", "services_range", "cidr"), n["services_range"]["cidr"]),
        (("cluster", "master_ipv4_cidr"), d["cluster"]["master_ipv4_cidr"]),
    ]


# Where a subnet and its secondary ranges may lie: private RFC 1918 space, shared address space
# (RFC 6598, 100.64.0.0/10) and the special-purpose ranges Google documents as valid subnet ranges
# ("Valid IPv4 ranges", https://cloud.google.com/vpc/docs/subnets#valid-ranges; GKE uses them for Pods
# and Services, https://cloud.google.com/kubernetes-engine/docs/concepts/alias-ips). Class E
# (240.0.0.0/4) is left out: not every node OS routes it. Never loopback, link-local, multicast,
# 0.0.0.0/8 or public space.
SUBNET_SPACE = tuple(
    ipaddress.IPv4Network(n)
    for n in (
        "10.0.0.0/8",
        "172.16.0.0/12",
        "192.168.0.0/16",
        "100.64.0.0/10",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
    )
)


@rule
def _private_ranges(d: dict[str, Any]) -> Iterator[Problem]:
    for loc, value in _ranges(d)[:3]:
        try:
            net = _net(value)
        except (TypeError, ValueError):
            continue
        if net.prefixlen < 8:
            continue  # wider than any range GKE takes: the prefix rule names it
        if not any(net.subnet_of(space) for space in SUBNET_SPACE):
            yield (
                loc,
                f"{net} is not inside private or shared address space",
                "a range inside " + ", ".join(str(n) for n in SUBNET_SPACE),
                value,
            )


@rule
def _capacity(d: dict[str, Any]) -> Iterator[Problem]:
    # Every node takes one address of the subnet's primary range and one per-node Pod range from the
    # Pod range, sized from max pods per node (GKE doubles the pods and rounds to a power of two: 110 ->
    # /24, "Optimize IP address allocation",
    # https://cloud.google.com/kubernetes-engine/docs/how-to/flexible-pod-cidr#cidr_settings_for_a_new_node_pool;
    # "Node limiting ranges", https://cloud.google.com/kubernetes-engine/docs/concepts/alias-ips#node_limiting_ranges).
    # A node that finds no address or no Pod range is never created, so the autoscaler's maximum
    # (per zone x zones) must fit both ranges, and so must the initial node count.
    c, n = d["cluster"], d["network"]
    zones = len(c["node_locations"])
    found = ipplan.plan_ranges(
        n["subnet"]["cidr"],
        n["pods_range"]["cidr"],
        n["services_range"]["cidr"],
        int(c["max_pods_per_node"]),
        zones=zones,
        autoscaling_max_per_zone=int(c["autoscaling"]["max"]),
    )
    initial = int(c["num_nodes"]) * zones
    if initial > found.max_nodes:
        yield (
            ("cluster", "num_nodes"),
            f"{initial} initial nodes ({c['num_nodes']} per zone x {zones} zones) but "
            f"network.{found.binding_range}.cidr admits only {found.max_nodes}",
            f"at most {found.max_nodes // max(zones, 1)} per zone, or larger ranges",
            c["num_nodes"],
        )
    elif found.autoscaling_max_total > found.max_nodes:
        if found.binding_range == "subnet":
            holds = f"network.subnet.cidr admits only {found.max_nodes} nodes"
            larger = "a larger subnet"
        else:
            holds = (
                f"network.pods_range.cidr ({found.pods_cidr}) holds only {found.max_nodes} per-node "
                f"/{found.pod_cidr_per_node_prefix} Pod ranges ({c['max_pods_per_node']} max pods per node)"
            )
            larger = "a larger Pod range, or fewer max pods per node"
        yield (
            ("cluster", "autoscaling", "max"),
            f"autoscaling to {found.autoscaling_max_total} nodes ({c['autoscaling']['max']} per zone x "
            f"{zones} zones) but {holds}",
            f"at most {found.max_nodes // max(zones, 1)} per zone, or {larger}",
            c["autoscaling"]["max"],
        )


@rule
def _default_network(d: dict[str, Any]) -> Iterator[Problem]:
    if d["network"]["name"] == "default" and d["delete_default_network"] is True:
        yield (
            ("network", "name"),
            "the lab's network cannot be named default while delete_default_network is true",
            "another name, or delete_default_network: false",
            "default",
        )


# Roles a node service account needs, and nothing more: GKE's documented least-privilege node roles
# (https://cloud.google.com/kubernetes-engine/docs/how-to/hardening-your-cluster#use_least_privilege_sa)
# and read access to images. Anything else (owner, editor, IAM or token-creator roles...) would hand
# every Pod that reaches the metadata server the power of that role.
NODE_ROLE_ALLOWLIST = frozenset(
    {
        "roles/container.defaultNodeServiceAccount",
        "roles/logging.logWriter",
        "roles/monitoring.metricWriter",
        "roles/monitoring.viewer",
        "roles/stackdriver.resourceMetadata.writer",
        "roles/autoscaling.metricsWriter",
        "roles/artifactregistry.reader",
        "roles/storage.objectViewer",
    }
)


@rule
def _node_roles(d: dict[str, Any]) -> Iterator[Problem]:
    account = d["node_service_account"]
    if account.get("allow_privileged_roles") is True:
        return
    for i, role in enumerate(account["roles"]):
        if isinstance(role, str) and role not in NODE_ROLE_ALLOWLIST:
            yield (
                ("node_service_account", "roles", i),
                f"{role} is not a least-privilege node role",
                ", ".join(sorted(NODE_ROLE_ALLOWLIST))
                + "; or node_service_account.allow_privileged_roles: true",
                role,
            )


@rule
def _overlaps(d: dict[str, Any]) -> Iterator[Problem]:
    parsed: list[tuple[Loc, ipaddress.IPv4Network]] = []
    for loc, value in _ranges(d):
        try:
            parsed.append((loc, _net(value)))
        except (TypeError, ValueError):
            continue
    for i, (loc_a, a) in enumerate(parsed):
        for loc_b, b in parsed[i + 1 :]:
            if a.overlaps(b):
                where = ".".join(str(p) for p in loc_a)
                yield loc_b, f"{b} overlaps {where} ({a})", "a range disjoint from the others", str(b)


def cross_problems(document: dict[str, Any]) -> list[Problem]:
    """All cross-field problems of a spec document whose inputs are readable."""
    found: list[Problem] = []
    for fn in _RULES:
        try:
            found.extend(fn(document))
        except (KeyError, TypeError, ValueError, AttributeError, IndexError, OverflowError):
            continue  # inputs malformed: the field's own check reports it
    return found
