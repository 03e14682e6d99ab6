"""Per-lab resource names, so several labs can live side by side in one project.

The default spec names its resources like the source article (network `gke-network`, cluster `cluster`,
service account `gke-node`, keys `key-gke-node`/`key-gke-secret`...): a second lab in the same project would
collide with the first. `per_lab_overrides(lab)` derives names from the lab name instead, as `PATH=VALUE`
overrides for `gke_lab.overrides.apply_overrides`. The key ring stays shared (key rings cannot be deleted).

Every name fits its resource's rules (RFC 1035; cluster at most 40 characters, service account ID 6-30,
others 63). A lab name too long for a limit is shortened and given a hash of the full lab name, so two
labs still get different names; so is a lab name that had to be cleaned of characters names cannot hold.
"""

from __future__ import annotations

import hashlib
import re

_HASH_LEN = 6

# (override path, prefix, suffix, max length): the name is prefix + lab + suffix.
_NAMES: tuple[tuple[str, str, str, int], ...] = (
    ("cluster.name", "gke-", "", 40),
    ("network.name", "gke-", "-network", 63),
    ("network.subnet.name", "gke-", "-subnet", 63),
    ("network.pods_range.name", "gke-", "-pods", 63),
    ("network.services_range.name", "gke-", "-services", 63),
    ("network.router", "gke-", "-router", 63),
    ("network.nat", "gke-", "-nat", 63),
    ("node_service_account.name", "gke-", "-node", 30),
    ("kms.node_key", "gke-", "-node-key", 63),
    ("kms.secrets_key", "gke-", "-secrets-key", 63),
)

# The spec paths per_lab_overrides sets.
PATHS: tuple[str, ...] = tuple(path for path, *_ in _NAMES)


def _digest(lab: str) -> str:
    return hashlib.sha256(lab.encode()).hexdigest()[:_HASH_LEN]


def _clean(lab: str) -> tuple[str, bool]:
    """The lab name reduced to [-a-z0-9] without leading/trailing/doubled '-'; and whether it changed."""
    cleaned = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", lab.lower())).strip("-")
    return cleaned, cleaned != lab


def derived_name(lab: str, prefix: str, suffix: str, max_len: int) -> str:
    """prefix + lab + suffix, shortened (with a hash of the lab name) to fit `max_len`."""
    core, changed = _clean(lab)
    name = f"{prefix}{core}{suffix}"
    if core and not changed and len(name) <= max_len:
        return name
    room = max_len - len(prefix) - len(suffix) - _HASH_LEN - 1
    head = core[: max(room, 0)].rstrip("-")
    core = f"{head}-{_digest(lab)}" if head else _digest(lab)
    return f"{prefix}{core}{suffix}"


def per_lab_names(lab: str) -> dict[str, str]:
    """{spec path: name} for the lab's own resources."""
    return {path: derived_name(lab, prefix, suffix, max_len) for path, prefix, suffix, max_len in _NAMES}


def per_lab_overrides(lab: str) -> list[str]:
    """`PATH=VALUE` overrides that give the lab's resources names of their own (key ring shared)."""
    return [f"{path}={name}" for path, name in per_lab_names(lab).items()]


def without_explicit(derived: list[str], explicit: list[str]) -> list[str]:
    """`derived` minus the overrides whose path (or a parent of it) the user set in `explicit`."""
    given = {o.partition("=")[0].strip() for o in explicit}

    def overridden(path: str) -> bool:
        return any(path == g or path.startswith(g + ".") for g in given)

    return [o for o in derived if not overridden(o.partition("=")[0])]
