"""The `gke-lab` command line: one click group; each command lives in its own module.

Commands are imported when they are used, not at start-up: the cloud clients, Prefect and the
emulator are heavy to import, and `gke-lab emulator` should serve in well under three seconds.
"""

from __future__ import annotations

import importlib
import os

import click

# command name -> the modules that define it.
_COMMANDS: dict[str, tuple[str, ...]] = {
    "plan": ("plan",),
    "up": ("lab",),
    "kubeconfig": ("lab",),
    "down": ("teardown",),
    "list": ("teardown",),
    "extend": ("teardown",),
    "reap": ("teardown",),
    "demo": ("demo",),
    "emulator": ("emulator",),
    "blocks": ("blocks",),
    "chatops": ("chatops",),
    "stack": ("stack",),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(_COMMANDS))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        for module in _COMMANDS.get(cmd_name, ()):
            importlib.import_module(f"gke_lab.cli.{module}")
        return super().get_command(ctx, cmd_name)


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="gke-lab")
def main() -> None:
    """Ephemeral, hardened GKE labs as Prefect 3 workflows."""
    # Any Prefect server a command starts (the temporary one of `up`/`down` without PREFECT_API_URL, the
    # demo's, the stack's) sends no telemetry: offline it would only log an ERROR.
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
