"""Compute Engine's naming rules, resource references, zones and request bodies, shared by every kind."""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

from emulator.errors import invalid

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


def plain(body: Any) -> dict[str, Any]:
    """A private copy of a Compute request body (the clients already send REST JSON with enum names).

    Compute's message types are not used here on purpose: importing them costs seconds at start-up."""
    if body is None:
        return {}
    if not isinstance(body, dict):
        raise invalid("Invalid JSON payload received. Expected an object.")
    return json.loads(json.dumps(body))


def check_name(name: Any, field: str = "resource.name") -> str:
    if not isinstance(name, str) or not NAME_RE.fullmatch(name):
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
