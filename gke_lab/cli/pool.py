"""`gke-lab pool list|status|claim|release`: lab pools from the command line.

Pools are LabPool blocks on the Prefect server in PREFECT_API_URL (saved by `gke-lab blocks register` or
in the UI). `claim` runs the claim-lab flow in this process, so it waits in the same line as claims from
chat and the UI; `release` gives the lab back and tears it down here.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING, Any, NoReturn

import click

from gke_lab.cli import main
from gke_lab.cli.checks import DEBUG_OPTION, fail, quiet_prefect
from gke_lab.spec import SpecError, format_errors

if TYPE_CHECKING:
    from gke_lab.pools import ClaimResult

IDENTITY_OPTION = click.option(
    "--identity",
    envvar="GKE_LAB_IDENTITY",
    metavar="EMAIL",
    help="Your Google account (default: $GKE_LAB_IDENTITY).",
)
CREDENTIALS_OPTION = click.option(
    "--credentials-block", metavar="NAME", help="prefect-gcp GcpCredentials block (default: ADC)."
)


def refuse(exc: SpecError) -> NoReturn:
    """Field-named problems on stderr, exit 2 (nothing was changed)."""
    for line in format_errors(exc):
        click.echo(f"error: {line}", err=True)
    sys.exit(2)


def check_input(pool: str, identity: object = None, *, needs_identity: bool = True) -> None:
    """Refuse a bad pool name or identity (exit 2, naming the field) before anything is read or changed."""
    from gke_lab.pool_card import check_identity, check_pool_name

    try:
        check_pool_name(pool)
        if needs_identity:
            check_identity(identity)
    except SpecError as exc:
        refuse(exc)


@main.group("pool")
def pool_group() -> None:
    """Lab pools: list, status, claim a ready lab in seconds, release it."""


@pool_group.command("list")
def list_command() -> None:
    """The saved pools: blueprint, projects, sizes, TTLs, who may claim, class."""
    quiet_prefect()
    from tasks.pools import read_pool, saved_pool_names

    names = saved_pool_names()
    if not names:
        click.echo("no pools saved (gke-lab blocks register saves the example pool `workshop`)")
        return
    click.echo("| pool | blueprint | projects | hot / max | claim TTL | idle TTL | claimers | class |")
    click.echo("|---|---|---|---|---|---|---|---|")
    for name in names:
        try:
            pool = read_pool(name)
        except SpecError as exc:
            click.echo(f"| {name} | invalid: {'; '.join(format_errors(exc))} | | | | | | |")
            continue
        lesson = pool.class_schedule
        when = f"{lesson.seats} seats {lesson.start:%Y-%m-%d %H:%M} to {lesson.end:%H:%M}" if lesson else "-"
        sizes = f"{pool.hot_size} / {pool.max_size}"
        click.echo(
            f"| {pool.name} | {pool.blueprint} | {', '.join(pool.projects)} | {sizes} "
            f"| {pool.ttl_hours:g}h | {pool.idle_ttl_hours:g}h | {', '.join(pool.claimers)} | {when} |"
        )


@pool_group.command("status")
@click.argument("pools", nargs=-1)
@CREDENTIALS_OPTION
@DEBUG_OPTION
def status_command(pools: tuple[str, ...], credentials_block: str | None, debug: bool = False) -> None:
    """A table per pool: ready, provisioning, claimed (owner, expiry), failed (reason), hourly cost."""
    for name in pools:
        check_input(name, needs_identity=False)
    quiet_prefect()
    from flows.params import resolve_spec
    from gke_lab import cost
    from gke_lab import pools as lab_pools
    from gke_lab.cli.checks import block_credentials
    from gke_lab.clients import Clients, set_default_credentials
    from tasks.pools import read_in_flight, read_pool, saved_pool_names

    set_default_credentials(block_credentials(credentials_block))
    clients = Clients.from_env()
    names = list(pools) or saved_pool_names()
    if not names:
        click.echo("no pools saved (gke-lab blocks register saves the example pool `workshop`)")
        return
    for name in names:
        try:
            pool = read_pool(name)
            census = lab_pools.census(clients, pool, read_in_flight(pool))
            hourly = cost.hourly(resolve_spec(None, pool.blueprint, list(pool.overrides)))
        except SpecError as exc:
            refuse(exc)
        except Exception as exc:  # noqa: BLE001 - one line, --debug for the traceback
            fail(f"pool {name}: {type(exc).__name__}: {exc}", exc, debug)
        click.echo(lab_pools.status_markdown(pool, census, time.time(), hourly).rstrip() + "\n")


@pool_group.command("claim")
@click.argument("pool")
@IDENTITY_OPTION
@click.option(
    "--wait-minutes", type=float, default=30.0, show_default=True, help="How long to wait in line when empty."
)
@CREDENTIALS_OPTION
@click.option("--quiet", "-q", is_flag=True, help="Print only the lab card (or the error).")
@DEBUG_OPTION
def claim_command(
    pool: str,
    identity: str | None,
    wait_minutes: float,
    credentials_block: str | None,
    quiet: bool,
    debug: bool = False,
) -> None:
    """Claim a ready lab of POOL: print its card (how to connect, expiry) and how long the claim took."""
    check_input(pool, identity)
    from gke_lab.errors import LabError
    from gke_lab.pool_card import claim_card_markdown

    quiet_prefect()
    started = time.monotonic()
    from flows.pools import claim_lab
    from gke_lab.cli.lab import flow_run_output

    try:
        with flow_run_output(quiet):
            result: dict[str, Any] = claim_lab(
                pool=pool,
                identity=str(identity),
                wait_minutes=wait_minutes,
                credentials_block=credentials_block,
            )
    except SpecError as exc:
        refuse(exc)
    except LabError as exc:
        fail(str(exc), exc if debug else None, debug)
    except Exception as exc:  # noqa: BLE001 - one line, --debug for the traceback
        fail(f"{type(exc).__name__}: {exc}", exc, debug)
    claimed = claim_result_of(result)
    click.echo(claim_card_markdown(claimed).rstrip())
    click.echo(
        f"\nclaimed in {claimed.seconds:.1f} s (the whole command: {time.monotonic() - started:.1f} s)"
    )


def claim_result_of(data: dict[str, Any]) -> ClaimResult:
    """The claim-lab flow's JSON result back as a ClaimResult."""
    from gke_lab.pools import ClaimResult, PoolLab, PoolState

    lab = PoolLab(**{**data["lab"], "state": PoolState(data["lab"]["state"])})
    return ClaimResult(**{**data, "lab": lab, "grants": tuple(data.get("grants") or ())})


@pool_group.command("release")
@click.argument("pool")
@click.argument("lab")
@IDENTITY_OPTION
@click.option("--admin", is_flag=True, help="Release a lab claimed by someone else.")
@click.option("--destroy-keys", is_flag=True, help="Also schedule destruction of the lab's key versions.")
@CREDENTIALS_OPTION
@click.option("--quiet", "-q", is_flag=True, help="Print only the teardown report (or the error).")
@DEBUG_OPTION
def release_command(
    pool: str,
    lab: str,
    identity: str | None,
    admin: bool,
    destroy_keys: bool,
    credentials_block: str | None,
    quiet: bool,
    debug: bool = False,
) -> None:
    """Give a claimed lab back: access is revoked and the lab torn down (it is never handed out again)."""
    from gke_lab.pool_card import check_lab_name

    check_input(pool, identity)
    try:
        check_lab_name(lab)
    except SpecError as exc:
        refuse(exc)
    quiet_prefect()
    from gke_lab import pools as lab_pools
    from gke_lab.cli.checks import block_credentials
    from gke_lab.clients import Clients, set_default_credentials
    from gke_lab.errors import LabError
    from gke_lab.identity import LabIdentity
    from gke_lab.inventory import region_of
    from tasks.pools import read_pool

    try:
        spec = read_pool(pool)
        set_default_credentials(block_credentials(credentials_block))
        released = lab_pools.release(Clients.from_env(), spec, lab, str(identity), admin=admin)
    except SpecError as exc:
        refuse(exc)
    except LabError as exc:
        fail(str(exc), exc if debug else None, debug)
    except Exception as exc:  # noqa: BLE001 - one line, --debug for the traceback
        fail(f"{type(exc).__name__}: {exc}", exc, debug)
    if not quiet:
        click.echo(f"released {released.lab}: access revoked; tearing it down ...", err=True)
    from flows.teardown import teardown_lab
    from gke_lab.cli.lab import flow_run_output
    from gke_lab.teardown import Report

    regions = (region_of(released.location),) if released.location else ()
    with flow_run_output(quiet):
        state = teardown_lab(
            identity=LabIdentity(project_id=released.project, lab=released.lab, regions=regions),
            credentials_block=credentials_block,
            destroy_keys=destroy_keys,
            return_state=True,
        )
    if not state.is_completed():
        click.echo(f"teardown of lab {released.lab} failed: {state.message}", err=True)
        sys.exit(1)
    click.echo(Report.from_dict(state.result()).markdown().rstrip())
