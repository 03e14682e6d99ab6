"""GKE's names, locations, labels and range picking, shared by the container modules."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re

from emulator.errors import failed_precondition, invalid
from emulator.store import Project

CONTAINER = "https://container.googleapis.com/v1"
CLUSTER_NAME_RE = re.compile(r"^[a-z](?:[-a-z0-9]{0,38}[a-z0-9])?$")
REGION_RE = re.compile(r"^[a-z]+-[a-z]+\d+$")
ZONE_RE = re.compile(r"^([a-z]+-[a-z]+\d+)-[a-z]$")
KEY_RE = re.compile(r"^projects/([^/]+)/locations/([^/]+)/keyRings/[^/]+/cryptoKeys/[^/]+$")
LABEL_KEY_RE = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
LABEL_VALUE_RE = re.compile(r"^[a-z0-9_-]{0,63}$")
ENCRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


def resource_path(project: Project, location: str, *parts: str) -> str:
    return "/".join(["projects", project.id, "locations", location, *parts])


def region_of_location(location: str) -> str:
    """A cluster location (region or zone) -> its region; 400 for anything else."""
    if REGION_RE.match(location):
        return location
    m = ZONE_RE.match(location)
    if not m:
        raise invalid(f'Location "{location}" is not a valid region or zone.')
    return m.group(1)


def label_fingerprint(labels: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


def check_labels(labels: dict[str, str]) -> None:
    for k, v in labels.items():
        if not LABEL_KEY_RE.fullmatch(k) or not LABEL_VALUE_RE.fullmatch(v):
            raise invalid(
                f"Invalid resource label {k}={v!r}: keys start with a lowercase letter; keys and values "
                "use only lowercase letters, digits, '_' and '-' (at most 63 characters)."
            )


def free_range(prefixlen: int, taken: list[ipaddress.IPv4Network], pool: str) -> ipaddress.IPv4Network:
    for cand in ipaddress.IPv4Network(pool).subnets(new_prefix=prefixlen):
        if not any(cand.overlaps(t) for t in taken):
            return cand
    raise failed_precondition(f"No free /{prefixlen} range left in {pool} for the cluster.")


def region_tag(chash: str) -> str:
    return f"{int(chash, 16) % 10_000:04d}"
