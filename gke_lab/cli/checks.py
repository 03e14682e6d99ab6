"""What `up`, `down` and `plan --live` do before any flow starts: preflight, and one line per failure.

A failure the user can act on is one line on stderr and a non-zero exit, never a Python traceback;
`--debug` shows the traceback of an unexpected one.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any, NoReturn

import click

from gke_lab.spec import LabSpec

DEBUG_OPTION = click.option("--debug", is_flag=True, help="Show the Python traceback of a failure.")
PREFLIGHT_EXIT = 3


def quiet_prefect() -> None:
    """The temporary Prefect server a CLI run starts sends no usage telemetry."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")


def block_credentials(credentials_block: str | None) -> Any:
    if not credentials_block:
        return None
    from prefect_gcp import GcpCredentials

    return GcpCredentials.load(credentials_block).get_credentials_from_service_account()


def fail(message: str, exc: BaseException | None = None, debug: bool = False, code: int = 1) -> NoReturn:
    if debug and exc is not None:
        traceback.print_exception(exc, file=sys.stderr)
    first = " ".join(message.split())
    click.echo(
        f"error: {first}" + ("" if debug or exc is None else " (--debug shows the traceback)"), err=True
    )
    sys.exit(code)


def settings_or_exit() -> None:
    """Refuse bad settings from the environment (exit 2) before the preflight calls anything."""
    from gke_lab.progress import cadence_from_env

    try:
        cadence_from_env()
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def preflight_or_exit(spec: LabSpec, run: str, credentials_block: str | None, debug: bool) -> Any:
    """Run the preflight; on the first problem print its one line and exit. Returns the result."""
    from gke_lab import preflight

    settings_or_exit()
    try:
        credentials = block_credentials(credentials_block)
    except Exception as exc:  # noqa: BLE001 - a missing or broken block is the user's to fix
        fail(f"credentials block {credentials_block!r} cannot be loaded: {exc}", exc, debug, PREFLIGHT_EXIT)
    try:
        result = preflight.run(spec, run, credentials)  # type: ignore[arg-type]
    except Exception as exc:  # noqa: BLE001 - any failure here stops before a change
        fail(f"preflight failed: {exc}", exc, debug, PREFLIGHT_EXIT)
    if not result.passed:
        fail(f"preflight: {result.problem}", None, debug, PREFLIGHT_EXIT)
    return result
