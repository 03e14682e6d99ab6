"""`gke-lab down`, `reap`, `list` and `extend`: ending labs, and seeing and moving their expiry."""

from __future__ import annotations

import datetime as _dt
import sys
import time

import click

from gke_lab.cli import main
from gke_lab.cli.checks import DEBUG_OPTION, preflight_or_exit, quiet_prefect
from gke_lab.spec import LabSpec, SpecError
from gke_lab.spec_file import load_spec

_DEFAULT_PROJECT = LabSpec.model_fields["project_id"].default


def _fail_spec(exc: SpecError) -> None:
    from gke_lab.cli.plan import fail_spec

    fail_spec(exc)


def _print_report(markdown: str) -> None:
    click.echo(markdown.rstrip())


@main.command("down")
@click.option("--spec", "spec_path", metavar="FILE", help="Lab spec YAML (default: the built-in spec).")
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", help="Override a spec field.")
@click.option("--destroy-keys", is_flag=True, help="Also schedule destruction of the lab's key versions.")
@click.option("--dry-run", is_flag=True, help="List what would be deleted; delete nothing.")
@click.option("--credentials-block", metavar="NAME", help="prefect-gcp GcpCredentials block (default: ADC).")
@click.option(
    "--quiet", "-q", is_flag=True, help="Print only the report (or the error): no progress, no run logs."
)
@DEBUG_OPTION
def down_command(
    spec_path: str | None,
    overrides: tuple[str, ...],
    destroy_keys: bool,
    dry_run: bool,
    credentials_block: str | None,
    quiet: bool,
    debug: bool = False,
) -> None:
    """Tear a lab down: only what carries its ownership marker, in dependency order."""
    try:
        spec = load_spec(spec_path, list(overrides))
    except SpecError as exc:
        _fail_spec(exc)
        return
    quiet_prefect()
    preflight_or_exit(spec, "down", credentials_block, debug)
    from gke_lab.cli.lab import flow_run_output

    with flow_run_output(quiet):
        from flows.teardown import teardown_lab
        from gke_lab.teardown import Report

        state = teardown_lab(
            spec=spec,
            destroy_keys=destroy_keys,
            dry_run=dry_run,
            credentials_block=credentials_block,
            return_state=True,
        )
    if not state.is_completed():
        click.echo(f"teardown of lab {spec.lab} failed: {state.message}", err=True)
        sys.exit(1)
    _print_report(Report.from_dict(state.result()).markdown())


@main.command("reap")
@click.option("--project", "projects", multiple=True, metavar="P", help="Project to reap (repeatable).")
@click.option("--location", "locations", multiple=True, metavar="L", help="Cluster location (default: all).")
@click.option("--exclude", multiple=True, metavar="LAB", help="Lab never to reap (repeatable).")
@click.option("--dry-run", is_flag=True, help="Report what would be reaped; delete nothing.")
@click.option("--destroy-keys", is_flag=True, help="Also schedule destruction of reaped labs' key versions.")
@click.option("--credentials-block", metavar="NAME", help="prefect-gcp GcpCredentials block (default: ADC).")
def reap_command(
    projects: tuple[str, ...],
    locations: tuple[str, ...],
    exclude: tuple[str, ...],
    dry_run: bool,
    destroy_keys: bool,
    credentials_block: str | None,
) -> None:
    """Tear down every lab whose expiry has passed (and orphans of labs whose cluster is gone)."""
    from flows.reaper import reap_expired_labs
    from gke_lab import reaping

    state = reap_expired_labs(
        projects=list(projects) or [_DEFAULT_PROJECT],
        locations=list(locations) or ["-"],
        exclude=list(exclude),
        dry_run=dry_run,
        destroy_keys=destroy_keys,
        credentials_block=credentials_block,
        return_state=True,
    )
    if not state.is_completed():
        click.echo(f"reaper failed: {state.message}", err=True)
        sys.exit(1)
    result = state.result()
    _print_report(reaping.markdown(reaping.Plan.from_dict(result), result["outcomes"], dry_run=dry_run))


def _age(create_time: object, now: float) -> str:
    from gke_lab.expiry import parse_time

    created = parse_time(create_time)
    if created is None:
        return "?"
    minutes = int(max(0, now - created) // 60)
    return f"{minutes // 60}h{minutes % 60:02d}m"


@main.command("list")
@click.option("--project", "projects", multiple=True, metavar="P", help="Project to list (repeatable).")
@click.option("--location", "locations", multiple=True, metavar="L", help="Cluster location (default: all).")
@click.option("--default-ttl-hours", type=float, default=None, help="TTL assumed when a label is missing.")
def list_command(
    projects: tuple[str, ...], locations: tuple[str, ...], default_ttl_hours: float | None
) -> None:
    """Labs found in the project: owner lab, cluster, age and expiry."""
    from gke_lab import expiry, inventory
    from gke_lab.clients import Clients
    from gke_lab.errors import LabError

    clients = Clients.from_env()
    ttl = expiry.DEFAULT_TTL_HOURS if default_ttl_hours is None else default_ttl_hours
    now = time.time()
    rows = [("PROJECT", "LAB", "CLUSTER", "AGE", "EXPIRES", "STATE")]
    for project in list(projects) or [_DEFAULT_PROJECT]:
        try:
            labs = inventory.find_labs(clients, project, list(locations) or ["-"])
        except LabError as exc:  # e.g. a project that cannot be read: one line, no traceback
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        for lab in labs:
            for c in lab.clusters:
                e = expiry.expiry_from(c.labels, c.create_time, ttl)
                state = "expired" if e.passed(now) else c.raw.status.name
                rows.append((project, lab.lab, c.ref, _age(c.create_time, now), e.describe(), state))
            if not lab.clusters:
                at = lab.marker_expires
                when = expiry.Expiry(at or None, "label").describe()
                kinds = ",".join(sorted({r.kind for r in lab.others}))
                ages = [r.create_time for r in lab.others if r.create_time]
                age = _age(min(ages), now) if ages else "?"
                rows.append((project, lab.lab, f"(none; {kinds})", age, when, "no cluster"))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())
    if len(rows) == 1:
        click.echo("(no labs found)")


@main.command("extend")
@click.argument("lab")
@click.option("--hours", type=float, required=True, help="Hours to add (from now or the current expiry).")
@click.option("--project", default=_DEFAULT_PROJECT, show_default=True, help="Project of the lab.")
@click.option("--location", "locations", multiple=True, metavar="L", help="Cluster location (default: all).")
def extend_command(lab: str, hours: float, project: str, locations: tuple[str, ...]) -> None:
    """Move a lab's expiry (gke-lab-expires) N hours later."""
    from gke_lab import reaping
    from gke_lab.clients import Clients
    from gke_lab.errors import LabError

    if hours <= 0:
        click.echo(f"--hours: must be a positive number of hours, got {hours}", err=True)
        sys.exit(2)
    try:
        done = reaping.extend_lab(Clients.from_env(), project, lab, hours, locations=list(locations) or ["-"])
    except (LabError, ValueError) as exc:
        click.echo(f"extend {lab}: {exc}", err=True)
        sys.exit(1)
    for e in done:
        new = _dt.datetime.fromtimestamp(int(e.new), _dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        click.echo(f"{e.resource}: gke-lab-expires {e.old or '(none)'} -> {e.new} ({new})")
