"""The ownership marker stamped on everything a lab creates.

Teardown and the reaper delete only what carries a lab's marker. Resources with labels (cluster, KMS
keys) get three labels; resources without labels (network, subnet, firewall, router, service account)
get a structured description `gke-lab:{"managed-by":"gke-lab","lab":"<lab>","expires":<unix>}`.
"""

from __future__ import annotations

import json
import math
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
        return None if self.expires == 0 else datetime.fromtimestamp(self.expires, tz=UTC)

    @classmethod
    def from_labels(cls, labels: Any) -> Marker | None:
        """The marker in a label map, or None when the resource is not a lab's (or the labels are corrupt)."""
        if not labels:
            return None
        labels = dict(labels)
        if labels.get(LABEL_MANAGED_BY) != MANAGED_BY or not labels.get(LABEL_LAB):
            return None
        try:
            expires = int(labels.get(LABEL_EXPIRES, "0"))
        except (TypeError, ValueError):
            return None
        return cls(lab=str(labels[LABEL_LAB]), expires=max(expires, 0))

    @classmethod
    def from_description(cls, description: str | None) -> Marker | None:
        """The marker in a description, or None when absent or malformed."""
        if not description or not description.startswith(DESCRIPTION_PREFIX):
            return None
        try:
            body = json.loads(description[len(DESCRIPTION_PREFIX) :])
        except ValueError:
            return None
        if not isinstance(body, dict) or body.get("managed-by") != MANAGED_BY:
            return None
        lab, expires = body.get("lab"), body.get("expires", 0)
        if not isinstance(lab, str) or not lab or not isinstance(expires, int) or isinstance(expires, bool):
            return None
        return cls(lab=lab, expires=max(expires, 0))


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
