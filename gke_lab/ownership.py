"""The ownership marker stamped on everything a lab creates.

Teardown and the reaper delete only what carries a lab's marker. Resources with labels (cluster, KMS
keys) get three labels; resources without labels (network, subnet, firewall, router, service account)
get a structured description `gke-lab:{"managed-by":"gke-lab","lab":"<lab>","expires":<unix>}`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gke_lab.errors import NotOwnedError

MANAGED_BY = "gke-lab"
LABEL_MANAGED_BY = "managed-by"
LABEL_LAB = "gke-lab"
LABEL_EXPIRES = "gke-lab-expires"
DESCRIPTION_PREFIX = "gke-lab:"

# The reason texts of every ownership decision, written once (plan, provisioning, teardown, reaper).
REASON_OURS = "carries this lab's marker"
REASON_UNMARKED = "no gke-lab ownership marker: not created by a lab"
REASON_OTHER_LAB = "owned by lab {lab!r}"
NEVER_ADOPTS = "gke-lab never adopts a resource it did not create"

# What a marker read back from the cloud must hold to be a lab's. Anyone who can set a label or write a
# description can plant one, so a lab name that no spec could hold (the spec's lab-name rule: RFC 1035,
# at most 63 characters) or an expiry no date can represent makes it no marker at all: foreign.
LAB_NAME = re.compile(r"[a-z]([-a-z0-9]{0,61}[a-z0-9])?")
MAX_EXPIRES = 253402300799  # 9999-12-31T23:59:59Z, the last second a datetime can hold


def valid_lab_name(value: object) -> bool:
    return isinstance(value, str) and LAB_NAME.fullmatch(value) is not None


@dataclass(frozen=True)
class Marker:
    lab: str
    expires: int = 0  # unix seconds; 0 = never expires

    def labels(self) -> dict[str, str]:
        return {LABEL_MANAGED_BY: MANAGED_BY, LABEL_LAB: self.lab, LABEL_EXPIRES: str(int(self.expires))}

    def description(self) -> str:
        body = {"managed-by": MANAGED_BY, "lab": self.lab, "expires": int(self.expires)}
        return DESCRIPTION_PREFIX + json.dumps(body, separators=(",", ":"))

    def expired(self, now: datetime | float) -> bool:
        stamp = now.timestamp() if isinstance(now, datetime) else float(now)
        return self.expires != 0 and stamp >= self.expires

    @property
    def expires_at(self) -> datetime | None:
        if self.expires == 0:
            return None
        return datetime.fromtimestamp(min(max(self.expires, 1), MAX_EXPIRES), tz=UTC)

    @classmethod
    def from_labels(cls, labels: Any) -> Marker | None:
        """The marker in a label map, or None when the resource is not a lab's (or the labels are corrupt)."""
        if not labels:
            return None
        try:
            labels = dict(labels)
        except (TypeError, ValueError):
            return None
        lab, expires = labels.get(LABEL_LAB), labels.get(LABEL_EXPIRES, "0")
        if labels.get(LABEL_MANAGED_BY) != MANAGED_BY or not valid_lab_name(lab):
            return None
        if not isinstance(expires, str) or not re.fullmatch(r"[0-9]{1,12}", expires):
            return None  # not "-1", " 1", "1_000" or a thousand digits: int() would take those
        return cls._checked(lab, int(expires))

    @classmethod
    def from_description(cls, description: str | None) -> Marker | None:
        """The marker in a description, or None when absent or malformed."""
        if not isinstance(description, str) or not description.startswith(DESCRIPTION_PREFIX):
            return None
        try:
            body = json.loads(description[len(DESCRIPTION_PREFIX) :])
        except (ValueError, RecursionError):
            return None
        if not isinstance(body, dict) or body.get("managed-by") != MANAGED_BY:
            return None
        lab, expires = body.get("lab"), body.get("expires", 0)
        if not isinstance(lab, str) or not valid_lab_name(lab):
            return None
        if not isinstance(expires, int) or isinstance(expires, bool):
            return None
        return cls._checked(lab, expires)

    @classmethod
    def _checked(cls, lab: str, expires: int) -> Marker | None:
        if not 0 <= expires <= MAX_EXPIRES:
            return None
        return cls(lab=lab, expires=expires)


def expiry(ttl_hours: float, now: datetime | float) -> int:
    """Unix seconds `ttl_hours` after `now` (rounded up); 0 when the TTL is 0 (never expires)."""
    if ttl_hours <= 0:
        return 0
    stamp = now.timestamp() if isinstance(now, datetime) else float(now)
    return int(math.ceil(stamp + ttl_hours * 3600))


def marker_for(spec: Any, now: datetime | float) -> Marker:
    return Marker(lab=spec.lab, expires=expiry(spec.ttl_hours, now))


def owner_reason(found: Marker | None, lab: str) -> str | None:
    """Why a resource does not belong to `lab` (None when it carries the lab's marker)."""
    if found is None:
        return REASON_UNMARKED
    if found.lab != lab:
        return REASON_OTHER_LAB.format(lab=found.lab)
    return None


def require_owner(resource: str, found: Marker | None, lab: str, fix: str) -> None:
    """The one ownership check of provisioning: raise NotOwnedError unless `found` is the lab's marker.

    `fix` says what the user can change (the spec field that names the resource)."""
    reason = owner_reason(found, lab)
    if reason is not None:
        raise NotOwnedError(
            f"{resource} exists but is not owned by lab {lab!r} ({reason}); {NEVER_ADOPTS}. {fix}",
            resource=resource,
        )
