"""`gke-lab up` (provision and verify a lab) and `gke-lab kubeconfig`."""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from typing import Any

import click

from gke_lab.cli import main
from gke_lab.cli.checks import DEBUG_OPTION, fail, preflight_or_exit, quiet_prefect
from gke_lab.cli.plan import fail_spec
from gke_lab.spec import LabSpec, SpecError
from gke_lab.spec_file import load_spec

SPEC_OPTION = click.option("--spec", "spec_path", metavar="FILE", help="Lab spec YAML (default: built-in).")
SET_OPTION = click.option(
    "--set", "overrides", multiple=True, metavar="PATH=VALUE", help="Override a field (YAML value)."
)


def _load(spec_path: str | None, overrides: tuple[str, ...]) -> LabSpec:
    try:
        return load_spec(spec_path, list(overrides))
    except SpecError as exc:
        fail_spec(exc)
        raise  # not reached: fail_spec exits


QUIET_OPTION = click.option(
    "--quiet", "-q", is_flag=True, help="Print only the result (or the error): no progress, no run logs."
)
_said_temporary = False
TEMPORARY_SERVER_MESSAGES = ("Starting temporary server", "Stopping temporary server")


class _HideTemporaryServer(logging.Filter):
    """Prefect's three-line notice about its temporary server; the command says it in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(TEMPORARY_SERVER_MESSAGES)


@contextlib.contextmanager
def flow_run_output(quiet: bool) -> Iterator[None]:
    """While a flow runs in this process: analytics off, progress wired to stderr, Prefect's console quiet
    where it would garble the progress line; say in one line when a temporary server is started.
    Everything is put back afterwards (the command may run inside a longer-lived process)."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    # A first start migrates the database; on a busy machine that takes longer than Prefect's 20 s.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "120")
    from gke_lab import progress

    try:
        from gke_lab.progress import cadence_from_env

        cadence = cadence_from_env()
    except ValueError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    stream = sys.stderr  # click.testing swaps it too
    sink = progress.Quiet() if quiet else progress.console_sink(stream, cadence)

    from prefect.logging.handlers import PrefectConsoleHandler
    from prefect.settings import get_current_settings

    on_terminal = isinstance(sink, progress.TerminalSink)
    hide = _HideTemporaryServer()
    handlers = [
        h
        for logger in (logging.getLogger(), logging.getLogger("prefect"))
        for h in logger.handlers
        if isinstance(h, PrefectConsoleHandler)
    ]
    levels = [h.level for h in handlers]
    for handler in handlers:
        if quiet or on_terminal:
            handler.setLevel(logging.CRITICAL + 1 if quiet else logging.WARNING)
        handler.addFilter(hide)
    global _said_temporary
    if not get_current_settings().api.url and not quiet and not _said_temporary:
        _said_temporary = True  # one temporary server per process
        click.echo(
            "no PREFECT_API_URL: starting a temporary Prefect server for this run (analytics off)", err=True
        )
    previous = progress.output()
    progress.set_output(sink)
    try:
        yield
    finally:
        progress.set_output(previous)
        for handler, level in zip(handlers, levels, strict=True):
            handler.setLevel(level)
        # The filter stays: Prefect stops its temporary server at exit, after this block.


def run_provision(spec: LabSpec, credentials_block: str | None = None, quiet: bool = False) -> dict[str, Any]:
    """Run the provisioning flow in this process; returns the flow's result (raises on failure)."""
    with flow_run_output(quiet):
        from flows.provision import provision_lab

        return provision_lab(spec=spec, credentials_block=credentials_block)


@main.command("up")
@SPEC_OPTION
@SET_OPTION
@click.option("--credentials-block", metavar="NAME", help="prefect-gcp GcpCredentials block (default: ADC).")
@DEBUG_OPTION
@QUIET_OPTION
def up_command(
    spec_path: str | None,
    overrides: tuple[str, ...],
    credentials_block: str | None,
    quiet: bool,
    debug: bool = False,
) -> None:
    """Provision the lab (idempotent), verify the echo service, print the lab card."""
    from gke_lab.errors import LabError

    spec = _load(spec_path, overrides)
    quiet_prefect()
    preflight_or_exit(spec, "up", credentials_block, debug)
    if not quiet:
        click.echo(f"provisioning lab {spec.lab} in project {spec.project_id} ({spec.region}) ...", err=True)
    try:
        result = run_provision(spec, credentials_block, quiet)
    except LabError as exc:
        fail(str(exc), exc if debug else None, debug)
    except Exception as exc:  # noqa: BLE001 - e.g. the Prefect server did not start: one line, --debug more
        fail(f"{type(exc).__name__}: {exc}", exc, debug)
    click.echo(result["lab_card"])


@main.command("kubeconfig")
@SPEC_OPTION
@SET_OPTION
@click.option(
    "--output", "output", metavar="PATH", help="Kubeconfig file (default: $KUBECONFIG or ~/.kube/config)."
)
def kubeconfig_command(spec_path: str | None, overrides: tuple[str, ...], output: str | None) -> None:
    """Write a kubeconfig entry for the lab's cluster (like gcloud container clusters get-credentials)."""
    from gke_lab import calls
    from gke_lab.clients import Clients
    from gke_lab.kubeconfig import KubeconfigError, default_path, write_kubeconfig

    spec = _load(spec_path, overrides)
    clients = Clients.from_env()
    try:
        # The read of resources.cluster.read, without that module's Kubernetes and Compute imports.
        cluster = calls.get_or_none(
            lambda: clients.container.get_cluster(name=spec.cluster_name), resource=spec.cluster_name
        )
    except Exception as exc:  # noqa: BLE001 - reported to the user
        click.echo(f"error: cannot read {spec.cluster_name}: {exc}", err=True)
        sys.exit(1)
    if cluster is None:
        click.echo(
            f"error: cannot read {spec.cluster_name}: it does not exist (run gke-lab up first)", err=True
        )
        sys.exit(1)
    path = output or default_path()
    try:
        context = write_kubeconfig(cluster, path, project=spec.project_id)
    except KubeconfigError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    click.echo(f"wrote context {context} to {path}")
