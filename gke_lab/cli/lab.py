"""`gke-lab up` (provision and verify a lab) and `gke-lab kubeconfig`."""

from __future__ import annotations

import sys
from typing import Any

import click

from gke_lab.cli import main
from gke_lab.cli.checks import DEBUG_OPTION, fail, preflight_or_exit, quiet_prefect
from gke_lab.cli.plan import fail_spec
from gke_lab.errors import LabError
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


def run_provision(spec: LabSpec, credentials_block: str | None = None) -> dict[str, Any]:
    """Run the provisioning flow in this process; returns the flow's result (raises on failure)."""
    from flows.provision import provision_lab

    return provision_lab(spec=spec, credentials_block=credentials_block)


@main.command("up")
@SPEC_OPTION
@SET_OPTION
@click.option("--credentials-block", metavar="NAME", help="prefect-gcp GcpCredentials block (default: ADC).")
@DEBUG_OPTION
def up_command(
    spec_path: str | None, overrides: tuple[str, ...], credentials_block: str | None, debug: bool = False
) -> None:
    """Provision the lab (idempotent), verify the echo service, print the lab card."""
    spec = _load(spec_path, overrides)
    quiet_prefect()
    preflight_or_exit(spec, "up", credentials_block, debug)
    click.echo(f"provisioning lab {spec.lab} in project {spec.project_id} ({spec.region}) ...", err=True)
    try:
        result = run_provision(spec, credentials_block)
    except LabError as exc:
        fail(str(exc), exc if debug else None, debug)
    except Exception as exc:  # noqa: BLE001 - unexpected: one line, the traceback with --debug
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
    from gke_lab.clients import Clients
    from gke_lab.kubeconfig import KubeconfigError, default_path, write_kubeconfig
    from gke_lab.resources import cluster as cluster_resource

    spec = _load(spec_path, overrides)
    try:
        cluster = cluster_resource.read(Clients.from_env(), spec)
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
