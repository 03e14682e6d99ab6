"""Pool labs: their wire format on the cluster, the census of a pool, and the decisions made on it.

Wire format. A pool lab is an ordinary lab (every ownership rule applies) whose cluster carries, beside
the ownership marker's labels, the pool's labels:

    gke-lab-pool        = <pool name>
    gke-lab-pool-state  = ready | claimed | reaping     (absent: the lab is still being made)
    gke-lab-claimed-by  = <claimant label>              (only when claimed; see `claimant_label`)

The state moves only forward (absent -> ready -> claimed, or ready -> reaping) and only with a
setResourceLabels call that carries the label fingerprint read with the state: GKE refuses a call whose
fingerprint is stale, so two claimers (or a claimer and the pool's reaper) never both win the same lab,
whatever process or worker they run in. Labels are anyone's with `container.clusters.update`: a value
that is not one of the above makes the lab no pool lab of ours (never claimed, never counted as ready).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from enum import StrEnum

LABEL_POOL = "gke-lab-pool"
LABEL_POOL_STATE = "gke-lab-pool-state"
LABEL_CLAIMED_BY = "gke-lab-claimed-by"


class PoolState(StrEnum):
    PROVISIONING = "provisioning"  # a provision run in flight, or a cluster without a state label yet
    READY = "ready"
    CLAIMED = "claimed"
    REAPING = "reaping"
    FAILED = "failed"  # its provision run failed; the reason is in PoolLab.reason


_LABEL_VALUE = re.compile(r"[a-z0-9_-]{0,63}")


def claimant_label(identity: str) -> str:
    """A label value for a claimant's identity (an e-mail): a readable part and a hash of the whole.

    Label values hold at most 63 lowercase letters, digits, `_` and `-`, so an e-mail cannot be stored as
    is; the readable part alone would let `a.b@x` and `a_b@x` collide, so 8 hex digits of the SHA-256 of
    the identity (lowercased) follow it. Not reversible: `is_claimant` compares by recomputing.
    """
    normalized = identity.strip().lower()
    readable = re.sub(r"[^a-z0-9]+", "-", normalized).strip("-")[:50].rstrip("-")
    digest = hashlib.sha256(normalized.encode()).hexdigest()[:8]
    return f"{readable}-{digest}" if readable else digest


def is_claimant(label: object, identity: str) -> bool:
    return (
        isinstance(label, str)
        and _LABEL_VALUE.fullmatch(label) is not None
        and label == claimant_label(identity)
    )


def pool_lab_name(pool: str, token: str) -> str:
    """`<pool>-<token>`; the token is 6 lowercase hex digits (random per new lab)."""
    return f"{pool}-{token}"


@dataclass(frozen=True)
class PoolLab:
    """One lab of a pool, as read back from its cluster (or from its provision run while in flight)."""

    lab: str
    project: str
    state: PoolState
    location: str | None = None  # the cluster's location; None while no cluster exists yet
    cluster: str | None = None  # the cluster's short name
    claimed_by: str | None = None  # the claimant label (see claimant_label)
    expires: int | None = None  # unix seconds from gke-lab-expires
    created: float | None = None  # unix seconds: the cluster's createTime, or the run's start
    endpoint: str | None = None
    label_fingerprint: str = ""
    reason: str = ""  # why FAILED, or why this lab is not counted


@dataclass(frozen=True)
class Census:
    """Every lab of one pool found in its projects and in-flight provision runs."""

    pool: str
    labs: tuple[PoolLab, ...] = ()

    def in_state(self, state: PoolState) -> list[PoolLab]:
        return [lab for lab in self.labs if lab.state is state]


@dataclass(frozen=True)
class NewLab:
    lab: str
    project: str


@dataclass(frozen=True)
class PoolDecision:
    """What one maintenance pass does for one pool."""

    pool: str
    target_ready: int  # ready + in-flight labs the pool should have now
    provision: tuple[NewLab, ...] = ()
    reap: tuple[PoolLab, ...] = ()  # ready labs idle past their TTL, or unclaimed after a class's grace
    blocked: tuple[str, ...] = ()  # why fewer labs than wanted are provisioned (max size, quota...)


@dataclass(frozen=True)
class ClaimResult:
    lab: PoolLab
    claimant: str  # the identity (e-mail) the lab was handed to
    expires: int
    kubeconfig_command: str
    seconds: float  # how long the claim took
    grants: tuple[str, ...] = field(default=())  # what access was granted, for the card
