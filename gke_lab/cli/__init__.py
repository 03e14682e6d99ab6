"""The `gke-lab` command line: one click group; each command lives in its own module.

Commands are imported when they are used, not at start-up: the cloud clients, Prefect and the
emulator are heavy to import, and `gke-lab emulator` should serve in well under three seconds.
"""

from __future__ import annotations

import importlib
import os

import click

# command name -> the module that defines it, and its one-line help (so `--help` imports none of them).
_COMMANDS: dict[str, tuple[str, str]] = {
    "plan": ("plan", "Validate the spec; print the IP plan and what a run would create."),
    "up": ("lab", "Provision the lab (idempotent), verify the echo service, print the lab card."),
    "kubeconfig": (
        "lab",
        "Write a kubeconfig entry for the lab's cluster (like gcloud container clusters get-credentials).",
    ),
    "down": ("teardown", "Tear a lab down: only what carries its ownership marker, in dependency order."),
    "list": ("teardown", "Labs found in the project: owner lab, cluster, age and expiry."),
    "extend": ("teardown", "Move a lab's expiry (gke-lab-expires) N hours later."),
    "reap": (
        "teardown",
        "Tear down every lab whose expiry has passed (and orphans of labs whose cluster is gone).",
    ),
    "demo": (
        "demo",
        "Provision, verify and audit the default lab against a local emulator (about a minute).",
    ),
    "emulator": (
        "emulator",
        "Serve the Google Cloud and GKE APIs that labs use, locally, until SIGINT/SIGTERM.",
    ),
    "blocks": (
        "blocks",
        "Prefect blocks: saved lab blueprints (LabBlueprint), GCP credentials, chat webhooks.",
    ),
    "chatops": (
        "chatops",
        "Receive Slack `/lab` commands and trigger the lab deployments through the Prefect API.",
    ),
    "pool": ("pool", "Lab pools: list, status, claim a ready lab in seconds, release it."),
    "stack": (
        "stack",
        "A local team stack: PostgreSQL, a Prefect server, deployments and workers on this machine.",
    ),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in _COMMANDS:
            importlib.import_module(f"gke_lab.cli.{_COMMANDS[cmd_name][0]}")
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # The group's help lists the commands from the table above instead of importing each module.
        rows = [(name, _COMMANDS[name][1]) for name in sorted(_COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gke-lab")
def main() -> None:
    """Ephemeral, hardened GKE labs as Prefect 3 workflows."""
    # Any Prefect server a command starts (the temporary one of `up`/`down` without PREFECT_API_URL, the
    # demo's, the stack's) sends no telemetry: offline it would only log an ERROR.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
