"""Per-lab resource names, so several labs can live side by side in one project.

The default spec names its resources like the source article (network `gke-network`, cluster `cluster`,
service account `gke-node`, keys `key-gke-node`/`key-gke-secret`...): a second lab in the same project would
collide with the first. So names derive from the lab name, in one place that every entry point goes
through (`LabSpec` validation calls `with_lab_names`): the CLI, the UI form, REST, schedules and chat get
the same names for the same lab. The rule:

- the default lab (`lab: cluster`) keeps the article's names;
- any other lab gets `gke-<lab>-...` names for every name still equal to the article's default;
- a name that differs from the article's default was set by the user and wins.

"Equal to the default" rather than "absent from the input" because the Prefect UI form sends every field
with its default filled in: an untouched form field must not count as a choice. The consequence: a lab
other than `cluster` cannot keep an article name (pick any other name instead). The key ring stays shared
(key rings cannot be deleted). `per_lab_overrides(lab)` gives the same names as `PATH=VALUE` overrides.

Every name fits its resource's rules (RFC 1035; cluster at most 40 characters, service account ID 6-30,
others 63). A lab name too long for a limit is shortened and given a hash of the full lab name, so two
labs still get different names; so is a lab name that had to be cleaned of characters names cannot hold.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from pydantic import BaseModel

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

# The lab that keeps the source article's names, and those names (LabSpec's defaults; a unit test holds
# them equal, since this module cannot import the spec that imports it).
DEFAULT_LAB = "cluster"
ARTICLE_NAMES: dict[str, str] = {
    "cluster.name": "cluster",
    "network.name": "gke-network",
    "network.subnet.name": "gke-subnet",
    "network.pods_range.name": "gke-cluster-pods",
    "network.services_range.name": "gke-cluster-services",
    "network.router": "gke-router",
    "network.nat": "gke-nat",
    "node_service_account.name": "gke-node",
    "kms.node_key": "key-gke-node",
    "kms.secrets_key": "key-gke-secret",
}


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


def with_lab_names(data: Any, model: type[BaseModel]) -> Any:
    """Spec input (a mapping for `model`) with the lab's own names where it has none or the article's.

    Anything that is not a mapping (a LabSpec instance was resolved when it was built) and input whose
    lab is the default lab or not a text are returned as they are; validation judges them. A section the
    input leaves out is filled in from `model`'s defaults, so its other fields keep their defaults.
    """
    if not isinstance(data, dict):
        return data
    lab = data.get("lab", DEFAULT_LAB)
    if not isinstance(lab, str) or lab == DEFAULT_LAB:
        return data
    out = dict(data)
    for path, name in per_lab_names(lab).items():
        *parents, leaf = path.split(".")
        node, node_model = out, model
        for part in parents:
            child = node.get(part)
            field = node_model.model_fields[part]
            if child is None:
                child = field.get_default(call_default_factory=True)
            if isinstance(child, BaseModel):
                child = child.model_dump()
            elif isinstance(child, dict):
                child = dict(child)
            else:
                break  # not a mapping: validation refuses it
            annotation = field.annotation
            if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
                break  # a section is always a model; anything else is left to validation
            node[part] = child
            node, node_model = child, annotation
        else:
            if node.get(leaf, ARTICLE_NAMES[path]) == ARTICLE_NAMES[path]:
                node[leaf] = name
    return out
