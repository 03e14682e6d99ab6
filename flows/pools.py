"""The pool flows: maintain-pools (keep every pool full), claim-lab (hand a ready lab to a person) and
release-lab (give it back: it is torn down, never handed to anyone else).

New labs and teardowns are separate provision-lab / teardown-lab runs started through their deployments,
so any number of workers share them; the flows here only read, decide through gke_lab.pools, and start.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext

from flows.common import use_credentials
from flows.hooks import notify_failure
from flows.params import resolve_spec
from flows.progress import history
from gke_lab import cost, pool_card, progress
from gke_lab import pools as lab_pools
from gke_lab.errors import LabError
from gke_lab.pool_card import check_identity, check_lab_name, check_pool_name
from gke_lab.pool_spec import MAX_POOL_SIZE, PoolSpec
from gke_lab.spec import SpecError
from tasks import pools as pool_tasks

POLL_SECONDS = 10.0
DEFAULT_WAIT_MINUTES = 30.0


@dataclass
class PoolPass:
    """What one maintain-pools pass did for one pool."""

    pool: str
    started: list[str] = field(default_factory=list)  # new labs, each a provision-lab run
    reaping: list[str] = field(default_factory=list)  # labs handed to a teardown-lab run
    lost: list[str] = field(default_factory=list)  # reaps another process won first (claimed meanwhile)
    blocked: list[str] = field(default_factory=list)
    error: str | None = None


def provision_seconds() -> float:
    """How long a lab takes to provision: the sum of the phases' medians over earlier runs, else typical."""
    estimates = progress.estimates_for(progress.PROVISION, history(progress.PROVISION, "provision-lab"))
    return sum(estimate.expected for estimate in estimates.values())


def _tag_own_run(tags: list[str]) -> None:
    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return
    with get_client(sync_client=True) as client:
        client.update_flow_run(ctx.flow_run.id, tags=sorted(set(ctx.flow_run.tags or []) | set(tags)))


def _maintain_one(name: str, seconds: float) -> tuple[PoolPass, str]:
    """One pool's pass and its status section (markdown)."""
    log = get_run_logger()
    pool = pool_tasks.load_pool(name)
    done = PoolPass(pool=name)
    spec = resolve_spec(None, pool.blueprint, list(pool.overrides))
    census = pool_tasks.census(pool, pool_tasks.in_flight_runs(pool))
    # Claims waiting in line are demand too: each gets a lab of its own on the way.
    wanted = pool_card.with_waiting_claims(pool, pool_tasks.waiting_claims(name))
    decision = pool_tasks.decide(wanted, census, seconds, pool_tasks.placement(pool, spec, census))
    done.blocked = list(decision.blocked)
    for new in decision.provision:
        pool_tasks.start_provision(pool, new)
        done.started.append(new.lab)
        log.info("pool %s: provisioning %s in %s", name, new.lab, new.project)
    for lab in decision.reap:
        # Ready -> reaping with the label fingerprint: a claim that got there first keeps its lab.
        if pool_tasks.begin_reap(lab):
            pool_tasks.start_teardown(name, lab)
            done.reaping.append(lab.lab)
        else:
            done.lost.append(lab.lab)
    status = lab_pools.status_markdown(pool, census, time.time(), cost.hourly(spec))
    return done, status.rstrip() + "\n\n" + _pass_markdown(done) + "\n"


def _pass_markdown(done: PoolPass) -> str:
    lines = [f"This pass: {len(done.started)} lab(s) started, {len(done.reaping)} reaped."]
    lines += [f"- started `{lab}`" for lab in done.started]
    lines += [f"- reaping `{lab}`" for lab in done.reaping]
    lines += [f"- not reaped `{lab}`: its state changed meanwhile (claimed)" for lab in done.lost]
    lines += [f"- blocked: {reason}" for reason in done.blocked]
    return "\n".join(lines)


@flow(name="maintain-pools", log_prints=True, on_failure=[notify_failure], on_crashed=[notify_failure])
def maintain_pools(pools: list[str] | None = None, credentials_block: str | None = None) -> dict[str, Any]:
    """Keep every lab pool (or the named ones) full: start missing labs, reap idle ones, publish status.

    Args:
        pools: Names of LabPool blocks to maintain (default: every saved LabPool).
        credentials_block: Name of a prefect-gcp GcpCredentials block (default: Application Default
            Credentials).
    """
    log = get_run_logger()
    names = [check_pool_name(name, "pools") for name in pools] if pools else pool_tasks.pool_names()
    if len(names) > MAX_POOL_SIZE:
        raise SpecError([("pools", f"at most {MAX_POOL_SIZE} pools per run")])
    use_credentials(credentials_block)
    seconds = provision_seconds()
    passes: list[PoolPass] = []
    sections: list[str] = []
    for name in names:
        # Each pool on its own: one pool's failure is reported and the others are still kept full.
        try:
            done, section = _maintain_one(name, seconds)
        except Exception as exc:  # noqa: BLE001 - reported in the artifact and the flow's final state
            log.exception("maintaining pool %s failed", name)
            done = PoolPass(pool=name, error=f"{type(exc).__name__}: {exc}")
            section = f"## Pool {name}\n\nfailed: {done.error}\n"
        passes.append(done)
        sections.append(section)
    body = "\n".join(sections) if sections else "No LabPool blocks saved: nothing to maintain.\n"
    create_markdown_artifact(markdown="# Lab pools\n\n" + body, key="pool-status", description="Lab pools")
    failed = [p.pool for p in passes if p.error]
    if failed:
        raise LabError(f"maintaining pool(s) {', '.join(failed)} failed; the next run tries again")
    return {"pools": [asdict(p) for p in passes], "provision_seconds": seconds}


@flow(name="claim-lab", log_prints=True)
def claim_lab(
    pool: str,
    identity: str,
    wait_minutes: float = DEFAULT_WAIT_MINUTES,
    poll_seconds: float = POLL_SECONDS,
    credentials_block: str | None = None,
) -> dict[str, Any]:
    """Hand one ready lab of `pool` to `identity`; on an empty pool, wait in line (first come, first served).

    Args:
        pool: The LabPool block to claim from.
        identity: The claimer's Google account (e-mail): it gets access to that lab only.
        wait_minutes: How long to wait for a lab when none is ready (at most 120).
        poll_seconds: How often a waiting claim looks again (1 to 300).
        credentials_block: Name of a prefect-gcp GcpCredentials block (default: Application Default
            Credentials).
    """
    log = get_run_logger()
    check_pool_name(pool)
    check_identity(identity)
    if not 0 <= wait_minutes <= pool_tasks.MAX_WAIT_MINUTES:
        raise SpecError(
            [("wait_minutes", f"{wait_minutes:g} (accepted: 0 to {pool_tasks.MAX_WAIT_MINUTES})")]
        )
    if not 1 <= poll_seconds <= 300:
        raise SpecError([("poll_seconds", f"{poll_seconds:g} (accepted: 1 to 300)")])
    spec = pool_tasks.load_pool(pool)
    if not lab_pools.may_claim(spec, identity):
        raise SpecError(
            [("identity", f"{identity} may not claim from pool {pool} (see the pool's claimers)")]
        )
    use_credentials(credentials_block)
    # In line from here on: later claim runs of this pool see this one ahead of them.
    _tag_own_run(["gke-lab", pool_tasks.pool_tag(pool)])
    ctx = FlowRunContext.get()
    run_id = ctx.flow_run.id if ctx and ctx.flow_run else None
    deadline = time.monotonic() + wait_minutes * 60
    asked_refill = False
    told: int | None = None
    while True:
        ahead = pool_tasks.claims_ahead(pool, run_id) if run_id is not None else 0
        result = pool_tasks.claim(spec, identity) if ahead == 0 else None
        if result is not None:
            break
        if not asked_refill:
            _refill(pool)
            asked_refill = True
        if told != ahead:
            told = ahead
            census = pool_tasks.census(spec, pool_tasks.in_flight_runs(spec))
            wait = pool_tasks.expected_wait(census, provision_seconds(), ahead + 1)
            text = pool_card.waiting_text(pool, ahead + 1, wait)
            log.info(text)
            create_markdown_artifact(markdown=text, key=f"{pool}-claim-queue", description="Place in line")
        if time.monotonic() >= deadline:
            raise LabError(f"no lab of pool {pool} became ready within {wait_minutes:g} minutes; claim again")
        time.sleep(poll_seconds)
    card = pool_card.claim_card_markdown(result)
    create_markdown_artifact(
        markdown=card, key=f"{result.lab.lab}-{result.lab.project}-claim-card", description="Your lab"
    )
    log.info("claimed %s for %s in %.1f s", result.lab.lab, identity, result.seconds)
    _refill(pool)  # the pool is one lab short now
    return pool_card.claim_result_json(result)


def _refill(pool: str) -> None:
    """Start a maintain-pools run for the pool; without that deployment the schedule refills it later."""
    try:
        pool_tasks.start_maintain(pool)
    except Exception as exc:  # noqa: BLE001 - the claim stands; the refill is the schedule's then
        get_run_logger().warning(
            "could not start maintain-pools for %s (%s): the schedule refills it", pool, exc
        )


@flow(name="release-lab", log_prints=True, on_failure=[notify_failure], on_crashed=[notify_failure])
def release_lab(
    pool: str, lab: str, requester: str, admin: bool = False, credentials_block: str | None = None
) -> dict[str, Any]:
    """Give a claimed lab back: its access is revoked and it is torn down (never handed out again).

    Args:
        pool: The LabPool block the lab was claimed from.
        lab: The lab's name.
        requester: Who asks (e-mail): only the claimant may release, unless `admin`.
        admin: Release a lab claimed by someone else.
        credentials_block: Name of a prefect-gcp GcpCredentials block (default: Application Default
            Credentials).
    """
    check_pool_name(pool)
    check_lab_name(lab)
    check_identity(requester, "requester")
    spec: PoolSpec = pool_tasks.load_pool(pool)
    use_credentials(credentials_block)
    released = pool_tasks.release(spec, lab, requester, admin)
    teardown = pool_tasks.start_teardown(pool, released)
    text = (
        f"Lab {released.lab} of pool {pool} released by {requester}: access revoked, teardown run {teardown}."
    )
    create_markdown_artifact(
        markdown=text, key=f"{released.lab}-{released.project}-release", description="Release"
    )
    return {"lab": released.lab, "project": released.project, "teardown_run": teardown}
