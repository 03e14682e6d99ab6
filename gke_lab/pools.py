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

Decisions are pure functions of a census and a clock (`decide`, `expected_wait_seconds`, `status_rows`);
the calls that move a lab (`mark_ready`, `claim`, `begin_reap`, `release`) change its labels through
`gke_lab.cluster_labels.change_labels`, which re-reads and re-decides whenever the fingerprint is stale.
Access to a claimed lab is `gke_lab.lab_access`; the teardown revokes it before the cluster goes.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING

from gke_lab import naming, requests
from gke_lab.expiry import EXPIRES_LABEL, format_unix, parse_time
from gke_lab.ownership import Marker, owner_reason

if TYPE_CHECKING:
    from gke_lab.clients import Clients
    from gke_lab.cost import Cost
    from gke_lab.inventory import Resource
    from gke_lab.pool_spec import PoolSpec
    from gke_lab.quotas import Placement
    from gke_lab.spec import LabSpec

LABEL_POOL = requests.POOL_LABEL
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
    status: str = ""  # the cluster's status (RUNNING, ...); "" while no cluster exists

    @property
    def cluster_name(self) -> str | None:
        """projects/P/locations/L/clusters/C, or None while the lab has no cluster."""
        if self.location is None or self.cluster is None:
            return None
        return f"projects/{self.project}/locations/{self.location}/clusters/{self.cluster}"


@dataclass(frozen=True)
class Census:
    """Every lab of one pool found in its projects and in-flight provision runs."""

    pool: str
    labs: tuple[PoolLab, ...] = ()
    # Clusters that carry this pool's label but not a pool lab's valid labels (anyone with
    # container.clusters.update can write labels): never counted, never claimed; said why.
    ignored: tuple[str, ...] = ()

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


@dataclass(frozen=True)
class InFlightRun:
    """A provision-lab run of the pool (tagged `gke-lab-pool:<pool>` and `lab:<lab>`) that has no cluster
    yet, or that failed."""

    lab: str
    project: str
    started: float
    failed_reason: str | None = None


# ------------------------------------------------------------------------------------------------ census

_READ_STATES = {s.value: s for s in (PoolState.READY, PoolState.CLAIMED, PoolState.REAPING)}


def _lab_name_rule(pool: str) -> re.Pattern[str]:
    return re.compile(re.escape(pool) + r"-[0-9a-f]{6}")


def read_lab(project: str, cluster: Resource, pool: str) -> PoolLab | str | None:
    """The pool lab a listed cluster is, or why it is not one although it carries `pool`'s label (text), or
    None when it does not carry that label at all. Nothing malformed is ever taken for a pool lab."""
    labels = cluster.labels
    if labels.get(LABEL_POOL) != pool:
        return None
    where = f"{project}/{cluster.ref}"
    marker = Marker.from_labels(labels)
    if marker is None:
        return f"{where}: no valid ownership marker"
    if not _lab_name_rule(pool).fullmatch(marker.lab):
        return f"{where}: lab {marker.lab!r} is not named like a lab of pool {pool} ({pool}-<6 hex>)"
    raw_state = labels.get(LABEL_POOL_STATE)
    state = PoolState.PROVISIONING if raw_state is None else _READ_STATES.get(raw_state)
    if state is None:
        return f"{where}: {LABEL_POOL_STATE}={raw_state!r} is not a pool state"
    claimed_by = labels.get(LABEL_CLAIMED_BY)
    if claimed_by is not None and (not claimed_by or _LABEL_VALUE.fullmatch(claimed_by) is None):
        return f"{where}: {LABEL_CLAIMED_BY} is malformed"
    if state is PoolState.CLAIMED and claimed_by is None:
        return f"{where}: claimed without {LABEL_CLAIMED_BY}"
    if state in (PoolState.READY, PoolState.PROVISIONING) and claimed_by is not None:
        return f"{where}: {state.value} yet carries {LABEL_CLAIMED_BY}"
    raw = cluster.raw
    status = raw.status.name if raw is not None else ""
    reason = ""
    if state is PoolState.PROVISIONING and status == "ERROR":
        state = PoolState.FAILED
        reason = f"cluster is ERROR: {raw.status_message}".strip()
    return PoolLab(
        lab=marker.lab,
        project=project,
        state=state,
        location=cluster.location,
        cluster=cluster.name,
        claimed_by=claimed_by,
        expires=marker.expires or None,
        created=parse_time(cluster.create_time),
        endpoint=(raw.endpoint or None) if raw is not None else None,
        label_fingerprint=raw.label_fingerprint if raw is not None else "",
        reason=reason,
        status=status,
    )


def census(clients: Clients, pool: PoolSpec, in_flight: Iterable[InFlightRun] = ()) -> Census:
    """Every lab of `pool`: its clusters in the pool's projects (state from their labels), and its in-flight
    or failed provision runs that have no cluster yet."""
    from gke_lab import inventory
    from gke_lab.errors import is_service_disabled

    labs: dict[tuple[str, str], PoolLab] = {}
    ignored: list[str] = []
    for project in pool.projects:
        try:
            clusters = inventory.clusters(clients, project)
        except Exception as exc:
            if not is_service_disabled(exc):
                raise
            # A project that never had a lab has the Kubernetes Engine API off: no cluster can exist there.
            clusters = []
        for cluster in clusters:
            found = read_lab(project, cluster, pool.name)
            if isinstance(found, str):
                ignored.append(found)
            elif found is not None:
                labs[(project, found.lab)] = found
    return Census(
        pool.name, tuple(sorted(_with_runs(pool, labs, in_flight), key=_order)), tuple(sorted(ignored))
    )


def _with_runs(
    pool: PoolSpec, labs: dict[tuple[str, str], PoolLab], in_flight: Iterable[InFlightRun]
) -> list[PoolLab]:
    runs: dict[tuple[str, str], list[InFlightRun]] = {}
    rule = _lab_name_rule(pool.name)
    for run in in_flight:
        if run.project in pool.projects and rule.fullmatch(run.lab):
            runs.setdefault((run.project, run.lab), []).append(run)
    out = dict(labs)
    for key, of_lab in runs.items():
        live = [r for r in of_lab if r.failed_reason is None]
        failed = sorted((r for r in of_lab if r.failed_reason is not None), key=lambda r: r.started)
        existing = out.get(key)
        if existing is not None:
            # A cluster not yet ready whose only runs failed will never become ready: say why.
            if existing.state is PoolState.PROVISIONING and failed and not live:
                out[key] = replace(existing, state=PoolState.FAILED, reason=failed[-1].failed_reason or "")
            continue
        project, lab = key
        if live:
            started = min(r.started for r in live)
            out[key] = PoolLab(lab, project, PoolState.PROVISIONING, created=started)
        else:
            last = failed[-1]
            out[key] = PoolLab(
                lab, project, PoolState.FAILED, created=last.started, reason=last.failed_reason or ""
            )
    return list(out.values())


def _order(lab: PoolLab) -> tuple[float, str, str]:
    return (lab.created if lab.created is not None else math.inf, lab.project, lab.lab)


# ------------------------------------------------------------------------------------------------ decide


def new_lab_name(pool: PoolSpec) -> str:
    """`<pool>-<6 random hex>`."""
    return pool_lab_name(pool.name, secrets.token_hex(3))


# Provisions that run at once (prefect.yaml: provision-lab's concurrency limit; a unit test holds them equal).
PROVISIONS_AT_ONCE = 4


def provision_margin(provision_seconds: float, seats: int = 1) -> float:
    """How long before a class starts its seats are begun: the rounds the seats take at PROVISIONS_AT_ONCE
    provisions at a time, half a provision more, and five minutes."""
    rounds = -(-max(seats, 1) // PROVISIONS_AT_ONCE)
    return provision_seconds * (rounds + 0.5) + 300


def project_load(census: Census) -> dict[str, int]:
    """Labs per project that hold resources (every state but FAILED)."""
    load: dict[str, int] = {}
    for lab in census.labs:
        if lab.state is not PoolState.FAILED:
            load[lab.project] = load.get(lab.project, 0) + 1
    return load


def decide(
    pool: PoolSpec,
    census: Census,
    now: float,
    *,
    provision_seconds: float,
    placement: Placement | None = None,
    name: Callable[[PoolSpec], str] = new_lab_name,
) -> PoolDecision:
    """What one maintenance pass does for `pool` at `now`: which labs to provision where, which to reap,
    and why fewer labs than wanted are provisioned. No I/O; `name` makes the new labs' names."""
    if census.pool != pool.name:
        raise ValueError(f"census of pool {census.pool!r} given for pool {pool.name!r}")
    ready = census.in_state(PoolState.READY)
    provisioning = census.in_state(PoolState.PROVISIONING)
    claimed = census.in_state(PoolState.CLAIMED)
    schedule = pool.class_schedule
    if schedule is not None and now >= schedule.end.timestamp():
        # The class is over: nothing new, and every lab goes (claimed ones too: their expiry is the end).
        reap = sorted(ready + claimed, key=_order)
        return PoolDecision(pool.name, 0, reap=tuple(reap))
    idle = pool.idle_ttl_hours * 3600
    reap = [lab for lab in ready if lab.created is not None and now >= lab.created + idle]
    if schedule is None:
        target = pool.hot_size
    else:
        start = schedule.start.timestamp()
        if now >= start + schedule.grace_minutes * 60:
            reap = list(ready)  # unclaimed seats after the grace period
        if now >= start:
            target = 0  # no new labs once the class has started
        elif now >= start - provision_margin(provision_seconds, schedule.seats):
            target = schedule.seats
        else:
            target = pool.hot_size
    kept_ready = len(ready) - len(reap)
    holding = kept_ready + len(provisioning) + len(claimed)
    wanted = max(0, target - (kept_ready + len(provisioning)))
    count = min(wanted, max(0, pool.max_size - holding))
    blocked: list[str] = []
    if count < wanted:
        blocked.append(
            f"max_size {pool.max_size} reached: {kept_ready} ready, {len(provisioning)} provisioning, "
            f"{len(claimed)} claimed"
        )
    projects, refused = _spread(pool, census, count, placement)
    blocked += refused
    taken = {lab.lab for lab in census.labs}
    new: list[NewLab] = []
    for project in projects:
        lab = name(pool)
        while lab in taken:
            lab = name(pool)
        taken.add(lab)
        new.append(NewLab(lab, project))
    return PoolDecision(pool.name, target, tuple(new), tuple(sorted(reap, key=_order)), tuple(blocked))


def _spread(
    pool: PoolSpec, census: Census, count: int, placement: Placement | None
) -> tuple[list[str], list[str]]:
    """The project of each new lab: where the quotas say it fits (in the placement's order), else the
    least-loaded of the pool's projects (ties: the pool's order)."""
    if count == 0:
        return [], []
    if placement is not None:
        chosen = [p for p in placement.projects if p in pool.projects][:count]
        if len(chosen) == count:
            return chosen, []
        why = list(placement.blocked) or [
            f"quotas: only {len(chosen)} of {count} new labs fit in {', '.join(pool.projects)}"
        ]
        return chosen, why
    load = project_load(census)
    chosen = []
    for _ in range(count):
        project = min(pool.projects, key=lambda p: (load.get(p, 0), pool.projects.index(p)))
        load[project] = load.get(project, 0) + 1
        chosen.append(project)
    return chosen, []


def lab_overrides(pool: PoolSpec, new: NewLab, base_overrides: Sequence[str] = ()) -> list[str]:
    """The provision-lab overrides of one new lab: the given ones, the pool's, the lab's own resource names
    (unless set above), then what the pool decides (last, so nothing above can change it): lab,
    project_id, pool, and the idle TTL as the lab's expiry, so the reaper removes a lab never claimed even
    when no pool maintenance runs."""
    given = [*base_overrides, *pool.overrides]
    names = naming.without_explicit(naming.per_lab_overrides(new.lab), given)
    return [
        *given,
        *names,
        f"lab={new.lab}",
        f"project_id={new.project}",
        f"pool={pool.name}",
        f"ttl_hours={float(pool.idle_ttl_hours)!r}",
    ]


def expected_wait_seconds(
    census: Census, provision_seconds: float, queue_position: int, *, now: float | None = None
) -> float:
    """How long the claimer at `queue_position` (1 = next) waits: nothing while a ready lab is there for
    them; else until the lab provisioning for them is ready (from its start when `now` is given, else a
    whole provision); beyond the labs in flight, a provision that starts now."""
    if queue_position < 1:
        raise ValueError(f"queue_position: {queue_position} (accepted: 1 or more)")
    ahead = queue_position - len(census.in_state(PoolState.READY))
    if ahead <= 0:
        return 0.0
    provisioning = sorted(census.in_state(PoolState.PROVISIONING), key=_order)
    if ahead > len(provisioning):
        return float(provision_seconds)
    started = provisioning[ahead - 1].created
    if now is None or started is None:
        return float(provision_seconds)
    return max(0.0, started + provision_seconds - now)


# ------------------------------------------------------------------------------------------------ claims


def may_claim(pool: PoolSpec, identity: str) -> bool:
    """Whether `identity` (an e-mail) is among the pool's claimers: itself, its domain, or `*`."""
    if not isinstance(identity, str) or not identity.isascii():
        return False  # str.lower() would map some non-ASCII letters onto an allowed address
    who = identity.strip().lower()
    if "@" not in who:
        return False
    domain = who.rsplit("@", 1)[1]
    for claimer in pool.claimers:
        rule = claimer.lower()
        if rule == "*" or rule == who or rule == f"domain:{domain}":
            return True
    return False


def mark_ready(clients: Clients, spec: LabSpec) -> bool:
    """After a pool lab's verification: its state goes from absent to ready (fingerprinted). False when
    the lab belongs to no pool, its cluster is gone, or its state is already set."""
    from gke_lab.cluster_labels import change_labels

    if spec.pool is None:
        return False

    def to_ready(labels: dict[str, str]) -> dict[str, str] | None:
        if labels.get(LABEL_POOL) != spec.pool or LABEL_POOL_STATE in labels:
            return None
        if owner_reason(Marker.from_labels(labels), spec.lab) is not None:
            return None
        return {**labels, LABEL_POOL_STATE: PoolState.READY.value}

    return change_labels(clients, spec.cluster_name, to_ready) is not None


def claimable(census: Census, now: float) -> list[PoolLab]:
    """Ready, RUNNING, unexpired labs, the oldest first."""
    return sorted(
        (
            lab
            for lab in census.in_state(PoolState.READY)
            if lab.status == "RUNNING"
            and lab.cluster_name is not None
            and not (lab.expires and lab.expires <= now)
        ),
        key=_order,
    )


def claim_expiry(pool: PoolSpec, now: float) -> int:
    """A claimed lab's expiry: `ttl_hours` from now, never past the class's end."""
    expires = int(math.ceil(now + pool.ttl_hours * 3600))
    if pool.class_schedule is not None:
        expires = min(expires, int(pool.class_schedule.end.timestamp()))
    return expires


def claim(clients: Clients, pool: PoolSpec, identity: str, *, now: float | None = None) -> ClaimResult | None:
    """Hand one ready lab to `identity`: the oldest ready lab whose labels this call moves to claimed with
    the fingerprint read with its state (a lab someone else took meanwhile is skipped), then access to it
    alone. None when no lab is ready."""
    from gke_lab import lab_access, reaping
    from gke_lab.cluster_labels import change_labels
    from gke_lab.errors import LabError

    began = time.monotonic()
    identity = lab_access.checked_identity(identity)
    if not may_claim(pool, identity):
        raise LabError(
            f"claimers: {identity} may not claim from pool {pool.name} "
            f"(claimers: {', '.join(pool.claimers)})",
            resource=f"pool {pool.name}",
        )
    now = time.time() if now is None else now
    if pool.class_schedule is not None and now >= pool.class_schedule.end.timestamp():
        raise LabError(
            f"class_schedule.end: the class of pool {pool.name} ended at "
            f"{pool.class_schedule.end.isoformat()}; no more claims",
            resource=f"pool {pool.name}",
        )
    expires = claim_expiry(pool, now)
    label = claimant_label(identity)
    for candidate in claimable(census(clients, pool), now):

        def to_claimed(labels: dict[str, str], lab: PoolLab = candidate) -> dict[str, str] | None:
            if not _still(labels, pool.name, lab, PoolState.READY):
                return None  # claimed or reaped by someone else since the census: the next lab
            return {
                **labels,
                LABEL_POOL_STATE: PoolState.CLAIMED.value,
                LABEL_CLAIMED_BY: label,
                EXPIRES_LABEL: str(expires),
            }

        assert candidate.cluster_name is not None  # claimable labs have a cluster
        if change_labels(clients, candidate.cluster_name, to_claimed) is None:
            continue
        won = replace(
            candidate, state=PoolState.CLAIMED, claimed_by=label, expires=expires, label_fingerprint=""
        )
        try:
            grants = lab_access.grant(clients, won, identity)
        except LabError as exc:
            # The lab is theirs now (its labels say so) and is never handed to anyone else: say how to
            # give it back rather than leave it unusable until it expires.
            raise LabError(
                f"lab {won.lab} was claimed for {identity} but access could not be granted ({exc}); "
                f"release it (gke-lab pool release {pool.name} {won.lab} --identity {identity}) "
                "and claim again",
                resource=exc.resource,
            ) from exc
        assert won.location is not None
        reaping.stamp_key_expiry(clients, won.project, won.lab, {_region(won.location)}, expires)
        return ClaimResult(
            lab=won,
            claimant=identity,
            expires=expires,
            kubeconfig_command=kubeconfig_command(won),
            seconds=time.monotonic() - began,
            grants=grants,
        )
    return None


def _still(labels: dict[str, str], pool: str, lab: PoolLab, state: PoolState) -> bool:
    """The labels read now still say what the census said: this pool's lab `lab.lab`, in `state`, claimed
    by the same claimant (or by none)."""
    marker = Marker.from_labels(labels)
    return (
        labels.get(LABEL_POOL) == pool
        and labels.get(LABEL_POOL_STATE) == state.value
        and labels.get(LABEL_CLAIMED_BY) == lab.claimed_by
        and owner_reason(marker, lab.lab) is None
    )


def _region(location: str) -> str:
    from gke_lab.inventory import region_of

    return region_of(location)


def kubeconfig_command(lab: PoolLab) -> str:
    return (
        f"gcloud container clusters get-credentials {lab.cluster} --location {lab.location} "
        f"--project {lab.project}"
    )


def begin_reap(clients: Clients, lab: PoolLab) -> bool:
    """A ready lab (or, at a class's end, a claimed one) moves to reaping with the fingerprint read with its
    state: False when it is no longer in the state the census saw (a claimer won the race)."""
    from gke_lab.cluster_labels import change_labels

    if lab.state not in (PoolState.READY, PoolState.CLAIMED) or lab.cluster_name is None:
        return False

    def to_reaping(labels: dict[str, str]) -> dict[str, str] | None:
        if not _still(labels, labels.get(LABEL_POOL, ""), lab, lab.state):
            return None
        return {**labels, LABEL_POOL_STATE: PoolState.REAPING.value}

    return change_labels(clients, lab.cluster_name, to_reaping) is not None


def release(clients: Clients, pool: PoolSpec, lab: str, requester: str, *, admin: bool = False) -> PoolLab:
    """The claimant (or an admin) gives a claimed lab back: claimed -> reaping (fingerprinted), access
    revoked. The caller then tears the lab down; a used lab is never handed out again."""
    from gke_lab import lab_access
    from gke_lab.cluster_labels import change_labels
    from gke_lab.errors import LabError

    requester = lab_access.checked_identity(requester, field="requester")
    where = f"pool {pool.name}"
    found = next((item for item in census(clients, pool).labs if item.lab == lab), None)
    if found is None:
        raise LabError(f"lab: no lab {lab!r} in pool {pool.name}", resource=where)
    if found.state is not PoolState.CLAIMED or found.cluster_name is None:
        raise LabError(f"lab: {lab} is {found.state.value}, not claimed", resource=where)
    if not admin and not is_claimant(found.claimed_by, requester):
        raise LabError(
            f"requester: {requester} did not claim lab {lab}; only its claimant (or an admin) may release it",
            resource=where,
        )

    def to_reaping(labels: dict[str, str]) -> dict[str, str] | None:
        if not _still(labels, pool.name, found, PoolState.CLAIMED):
            return None
        return {**labels, LABEL_POOL_STATE: PoolState.REAPING.value}

    if change_labels(clients, found.cluster_name, to_reaping) is None:
        raise LabError(f"lab: {lab} changed while being released; look at the pool's status", resource=where)
    reaping = replace(found, state=PoolState.REAPING, label_fingerprint="")
    identity = (
        requester if is_claimant(found.claimed_by, requester) else lab_access.claimant_of(clients, reaping)
    )
    if identity is not None:
        lab_access.revoke(clients, reaping, identity)
    return reaping


# ------------------------------------------------------------------------------------------------ status


@dataclass(frozen=True)
class StatusRow:
    lab: str
    project: str
    state: PoolState
    owner: str  # the claimant label ("-" when unclaimed): the label is all a cluster keeps of them
    expires: str  # "-" when not claimed
    since: str  # how long ago the lab was created (or its run started)
    reason: str = ""


_STATE_ORDER = (
    PoolState.READY,
    PoolState.PROVISIONING,
    PoolState.CLAIMED,
    PoolState.REAPING,
    PoolState.FAILED,
)


def _ago(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


def status_rows(census: Census, now: float) -> list[StatusRow]:
    """One row per lab: ready, provisioning, claimed (owner and expiry), reaping, failed (reason)."""
    rows = []
    for lab in sorted(census.labs, key=lambda item: (_STATE_ORDER.index(item.state), _order(item))):
        claimed = lab.state in (PoolState.CLAIMED, PoolState.REAPING) and lab.claimed_by
        rows.append(
            StatusRow(
                lab=lab.lab,
                project=lab.project,
                state=lab.state,
                owner=lab.claimed_by if claimed and lab.claimed_by else "-",
                expires=format_unix(lab.expires) if claimed and lab.expires else "-",
                since=_ago(now - lab.created) if lab.created is not None else "-",
                reason=lab.reason,
            )
        )
    return rows


def status_markdown(pool: PoolSpec, census: Census, now: float, hourly_cost: Cost | None) -> str:
    """The pool's status table (the CLI, the maintain-pools artifact and chat show this). The cost keeps
    its caveat when the price table lacks a price ("at least ..."): a lower bound is never shown as the
    price."""
    from gke_lab.reaping import escape_cell

    counts = {state: len(census.in_state(state)) for state in _STATE_ORDER}
    summary = ", ".join(f"{counts[state]} {state.value}" for state in _STATE_ORDER)
    lines = [
        f"# Pool `{escape_cell(pool.name)}`",
        "",
        f"{summary} (hot size {pool.hot_size}, max {pool.max_size})",
    ]
    if hourly_cost is not None:
        idle = counts[PoolState.READY] + counts[PoolState.PROVISIONING]
        lines.append(f"Cost: {hourly_cost.summary()} per lab; the idle pool: {hourly_cost.summary(idle)}")
    lines += [
        "",
        "| lab | project | state | owner | expires | age | reason |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in status_rows(census, now):
        cells = (row.lab, row.project, row.state.value, row.owner, row.expires, row.since, row.reason or "-")
        lines.append("| " + " | ".join(escape_cell(c) for c in cells) + " |")
    if not census.labs:
        lines.append("| - | - | empty | - | - | - | no lab of this pool exists or is in flight |")
    for reason in census.ignored:
        lines.append(f"\nIgnored: {escape_cell(reason)}")
    return "\n".join(lines) + "\n"
