"""`gke-lab plan`: validate a spec and show the IP plan, what a run creates, and what it would do now.

The plan is built in the core (`gke_lab.plan`); this command only chooses offline or live and renders it.
"""

from __future__ import annotations

import json
import os
import sys

import click

from gke_lab.cli import main
from gke_lab.spec import SpecError, format_errors
from gke_lab.spec_file import load_spec

LIVE_HELP = (
    "Also read the project's live state: what exists, what differs, what would be created. "
    "Default: live when a target is configured (GKE_LAB_EMULATOR_HOST, or Application Default Credentials)."
)


def target_reachable() -> bool:
    """Whether to read live state without being asked: an emulator is named, or ADC are configured.

    Looks at configuration only (no network call, no metadata-server probe); a target that cannot be
    read is reported in the plan and the static plan is still printed."""
    if os.environ.get("GKE_LAB_EMULATOR_HOST") or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return True
    config = os.environ.get("CLOUDSDK_CONFIG") or os.path.join(os.path.expanduser("~"), ".config", "gcloud")
    return os.path.exists(os.path.join(config, "application_default_credentials.json"))


def fail_spec(exc: SpecError) -> None:
    """Field-named errors on stderr, exit code 2 (the CLI's answer to a bad spec)."""
    click.echo("invalid lab spec:", err=True)
    for line in format_errors(exc):
        click.echo(f"  {line}", err=True)
    sys.exit(2)


@main.command("plan")
@click.option("--spec", "spec_path", metavar="FILE", help="Lab spec YAML (default: the built-in spec).")
@click.option(
    "--set", "overrides", multiple=True, metavar="PATH=VALUE", help="Override a field (YAML value)."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
@click.option("--live/--offline", default=None, help=LIVE_HELP)
def plan_command(spec_path: str | None, overrides: tuple[str, ...], as_json: bool, live: bool | None) -> None:
    """Validate the spec; print the IP plan and what a run would create."""
    from gke_lab import plan as planning

    try:
        spec = load_spec(spec_path, list(overrides))
    except SpecError as exc:
        fail_spec(exc)
        return
    plan = planning.build_plan(spec)
    if live if live is not None else target_reachable():
        from gke_lab import preflight
        from gke_lab.clients import Clients

        checked = preflight.run(spec, "plan")
        if not as_json:
            click.echo("\n".join(preflight.render(checked)) + "\n")
        if not checked.passed and live:
            click.echo(f"error: preflight: {checked.problem}", err=True)
            sys.exit(3)
        if not checked.passed:  # live only by default: the static plan is still useful
            plan = plan.with_live(planning.LivePlan(error=f"preflight: {checked.problem}"))
            click.echo(json.dumps(plan.to_dict(), indent=2) if as_json else planning.render_text(plan))
            return
        try:
            plan = plan.with_live(planning.read_live(Clients.from_env(), spec))
        except Exception as exc:  # noqa: BLE001 - the static plan is still useful
            click.echo(f"warning: live state not readable: {exc}", err=True)
            plan = plan.with_live(planning.LivePlan(error=str(exc)))
    click.echo(json.dumps(plan.to_dict(), indent=2) if as_json else planning.render_text(plan))
