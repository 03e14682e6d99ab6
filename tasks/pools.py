"""Pool tasks: one-line wrappers over gke_lab.pools, plus the Prefect API reads and run starts pools need.

A pool's in-flight labs are its provision-lab runs (tagged `gke-lab-pool:<pool>`, the lab's name in
`lab:<lab>`); its claim queue is its running claim-lab runs, in the order they started. Nothing here is
cached: every answer depends on the moment it is asked.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from uuid import UUID

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments import run_deployment
from prefect.exceptions import PrefectHTTPStatusError

from gke_lab import pools, quotas
from gke_lab.inventory import region_of
from gke_lab.pool_spec import PoolSpec
from gke_lab.pools import Census, ClaimResult, NewLab, PoolLab
from gke_lab.spec import LabSpec, SpecError
from tasks.common import clients

POOL_TAG = "gke-lab-pool:"
LAB_TAG = "lab:"
PROJECT_TAG = "project:"
# `<flow name>/<deployment name>` of the deployments in prefect.yaml.
PROVISION_DEPLOYMENT = "provision-lab/provision-lab"
TEARDOWN_DEPLOYMENT = "teardown-lab/teardown-lab"
MAINTAIN_DEPLOYMENT = "maintain-pools/maintain-pools"
CLAIM_FLOW = "claim-lab"
IN_FLIGHT = [
    StateType.SCHEDULED,
    StateType.PENDING,
    StateType.RUNNING,
    StateType.PAUSED,
    StateType.CANCELLING,
]
FAILED = [StateType.FAILED, StateType.CRASHED]
RUNS_READ = 200
# A claim-lab run waits at most this long; one still RUNNING after it (a crashed worker's run that nobody
# marked) no longer holds up the claims behind it.
MAX_WAIT_MINUTES = 120

LIVE: dict[str, Any] = {"cache_policy": NO_CACHE, "persist_result": False}


def start_run(name: str, **options: Any) -> FlowRun:
    """A run of deployment `name`, created and left to the workers (the caller does not wait for it)."""
    # Called from synchronous flows and tasks, run_deployment answers the run itself, not a coroutine.
    return cast(FlowRun, run_deployment(name, timeout=0, as_subflow=False, **options))


def pool_tag(pool: str) -> str:
    return f"{POOL_TAG}{pool}"


def tag_value(tags: Iterable[str], prefix: str) -> str | None:
    return next((tag[len(prefix) :] for tag in tags if tag.startswith(prefix)), None)


def read_pool(name: str) -> PoolSpec:
    """The PoolSpec saved in the LabPool block `name`; refused naming `pool` when missing or misnamed."""
    from blocks.pool import LabPool

    try:
        block = LabPool.load(name)
    except ValueError as exc:
        raise SpecError([("pool", f"no LabPool block named {name!r} ({exc})")]) from exc
    if not isinstance(block, LabPool):
        raise RuntimeError("read_pool loads blocks synchronously: call it outside an event loop")
    if block.pool.name != name:
        raise SpecError([("pool.name", f"{block.pool.name!r} differs from its block's name {name!r}")])
    return block.pool


def saved_pool_names() -> list[str]:
    """Every saved LabPool block's name."""
    from blocks.pool import LabPool

    with get_client(sync_client=True) as client:
        try:
            documents = client.read_block_documents_by_type(LabPool.get_block_type_slug())
        except PrefectHTTPStatusError as exc:
            if exc.response.status_code == 404:  # the block type is not registered: no pool saved
                return []
            raise
    return sorted(d.name for d in documents if d.name)


@task(name="load-pool", **LIVE)
def load_pool(name: str) -> PoolSpec:
    return read_pool(name)


@task(name="pool-names", **LIVE)
def pool_names() -> list[str]:
    return saved_pool_names()


def in_flight_of(run: FlowRun, now: float) -> pools.InFlightRun | None:
    """The provision run as the census sees it (None: it does not name its lab and project in tags)."""
    lab, project = tag_value(run.tags, LAB_TAG), tag_value(run.tags, PROJECT_TAG)
    if not lab or not project:
        return None
    moment = run.start_time or run.expected_start_time or run.created
    started = moment.timestamp() if moment is not None else now
    failed = None
    if run.state is not None and run.state.type in FAILED:
        failed = (run.state.message or run.state.name or "failed").strip()[:300]
    return pools.InFlightRun(lab=lab, project=project, started=started, failed_reason=failed)


def read_in_flight(pool: PoolSpec) -> list[pools.InFlightRun]:
    """The pool's provision-lab runs still in flight, and those that failed within its idle TTL."""
    now = time.time()
    since = datetime.now(UTC) - timedelta(hours=pool.idle_ttl_hours)
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=[pool_tag(pool.name)]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=IN_FLIGHT + FAILED)),
                expected_start_time=FlowRunFilterExpectedStartTime(after_=since),
            ),
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=["provision-lab"])),
            limit=RUNS_READ,
        )
    found = (in_flight_of(run, now) for run in runs)
    return [run for run in found if run is not None]


@task(name="in-flight-runs", **LIVE)
def in_flight_runs(pool: PoolSpec) -> list[pools.InFlightRun]:
    return read_in_flight(pool)


@task(name="pool-census", **LIVE)
def census(pool: PoolSpec, in_flight: list[pools.InFlightRun]) -> Census:
    return pools.census(clients(), pool, in_flight)


@task(name="pool-placement", **LIVE)
def placement(pool: PoolSpec, spec: LabSpec, census: Census) -> quotas.Placement:
    """Where the pool's new labs fit by its projects' regional quotas (compute regions.get)."""
    load = pools.project_load(census)
    room = max(pool.max_size - sum(load.values()), 0)
    read = {project: quotas.read(clients(), project, spec.region) for project in pool.projects}
    in_flight: dict[str, int] = {}
    for lab in census.in_state(pools.PoolState.PROVISIONING):
        in_flight[lab.project] = in_flight.get(lab.project, 0) + 1
    return quotas.place(quotas.needs(spec), read, room, load=load, reserved=in_flight)


@task(name="pool-decide", **LIVE)
def decide(
    pool: PoolSpec, census: Census, provision_seconds: float, placement: quotas.Placement | None = None
) -> pools.PoolDecision:
    return pools.decide(pool, census, time.time(), provision_seconds=provision_seconds, placement=placement)


@task(name="start-provision", **LIVE)
def start_provision(pool: PoolSpec, new: NewLab) -> str:
    """Start one new lab as its own provision-lab run (any worker takes it); its run id."""
    run = start_run(
        PROVISION_DEPLOYMENT,
        parameters={"blueprint": pool.blueprint, "overrides": pools.lab_overrides(pool, new, [])},
        tags=["gke-lab", pool_tag(pool.name), f"{LAB_TAG}{new.lab}", f"{PROJECT_TAG}{new.project}"],
        flow_run_name=f"provision {new.lab}@{new.project}",
    )
    return str(run.id)


@task(name="begin-reap", **LIVE)
def begin_reap(lab: PoolLab) -> bool:
    return pools.begin_reap(clients(), lab)


@task(name="start-teardown", **LIVE)
def start_teardown(pool: str, lab: PoolLab) -> str:
    """Start the teardown of a pool lab (already moved to reaping) as a teardown-lab run; its run id.

    The server lays these parameters over the deployment's (prefect.yaml gives teardown-lab a default
    blueprint), and the flow refuses an identity beside a blueprint: so blueprint and overrides are cleared
    here, explicitly."""
    regions = [region_of(lab.location)] if lab.location else []
    identity = {"project_id": lab.project, "lab": lab.lab, "regions": regions}
    run = start_run(
        TEARDOWN_DEPLOYMENT,
        parameters={"identity": identity, "blueprint": None, "overrides": None},
        tags=["gke-lab", pool_tag(pool), f"{LAB_TAG}{lab.lab}", f"{PROJECT_TAG}{lab.project}"],
        flow_run_name=f"teardown {lab.lab}@{lab.project}",
    )
    return str(run.id)


@task(name="start-maintain-pools", **LIVE)
def start_maintain(pool: str) -> str:
    """Start a maintain-pools run for one pool (a refill after a claim); its run id."""
    run = start_run(
        MAINTAIN_DEPLOYMENT,
        parameters={"pools": [pool]},
        tags=["gke-lab", pool_tag(pool)],
    )
    return str(run.id)


def runs_ahead(runs: Iterable[FlowRun], me: FlowRun, now: datetime) -> int:
    """Claim runs that started before `me` and still wait: `me` takes a lab only when this is 0.

    Order: start time, then run id (two runs started in the same instant). A run older than the longest
    wait is ignored: it can only be a run whose worker died without anyone marking it.
    """
    if me.start_time is None:
        return 0
    mine = (me.start_time, str(me.id))
    oldest = now - timedelta(minutes=MAX_WAIT_MINUTES)
    return sum(
        1
        for run in runs
        if run.id != me.id
        and run.state_type is StateType.RUNNING
        and run.start_time is not None
        and run.start_time >= oldest
        and (run.start_time, str(run.id)) < mine
    )


@task(name="claims-ahead", **LIVE)
def claims_ahead(pool: str, run_id: UUID) -> int:
    """How many claim-lab runs of the pool wait ahead of this one."""
    with get_client(sync_client=True) as client:
        me = client.read_flow_run(run_id)
        runs = _running_claims(client, pool)
    return runs_ahead(runs, me, datetime.now(UTC))


def _running_claims(client: Any, pool: str) -> list[Any]:
    """The claim-lab runs of `pool` that are RUNNING: waiting in line, or being served."""
    return list(
        client.read_flow_runs(
            flow_filter=FlowFilter(name=FlowFilterName(any_=[CLAIM_FLOW])),
            flow_run_filter=FlowRunFilter(
                tags=FlowRunFilterTags(all_=[pool_tag(pool)]),
                state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.RUNNING])),
            ),
            limit=RUNS_READ,
        )
    )


@task(name="waiting-claims", **LIVE)
def waiting_claims(pool: str) -> int:
    """How many claim-lab runs of the pool are waiting in line now (started, not finished, not stale)."""
    now = datetime.now(UTC)
    with get_client(sync_client=True) as client:
        runs = _running_claims(client, pool)
    oldest = now - timedelta(minutes=MAX_WAIT_MINUTES)
    return sum(1 for run in runs if run.start_time is not None and run.start_time >= oldest)


@task(name="claim-pool-lab", **LIVE)
def claim(pool: PoolSpec, identity: str) -> ClaimResult | None:
    # Not retried: a lost answer would otherwise claim a second lab for the same person.
    return pools.claim(clients(), pool, identity)


@task(name="release-pool-lab", **LIVE)
def release(pool: PoolSpec, lab: str, requester: str, admin: bool) -> PoolLab:
    return pools.release(clients(), pool, lab, requester, admin=admin)


@task(name="mark-pool-lab-ready", **LIVE)
def mark_ready(spec: LabSpec) -> bool:
    return pools.mark_ready(clients(), spec)


@task(name="expected-wait", **LIVE)
def expected_wait(census: Census, provision_seconds: float, position: int) -> float:
    return pools.expected_wait_seconds(census, provision_seconds, position, now=time.time())
