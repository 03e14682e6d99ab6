"""`gke-lab emulator`: run the local Google Cloud / GKE emulator until interrupted."""

from __future__ import annotations

import sys

import click

from gke_lab.cli import main


def _parse_projects(values: tuple[str, ...]) -> dict[str, int]:
    projects: dict[str, int] = {}
    for value in values:
        pid, sep, number = value.partition("=")
        if not sep or not pid or not number.isdigit():
            raise click.BadParameter(
                f"{value!r}: expected ID=NUMBER, e.g. gke-detail=415104041262", param_hint="--project"
            )
        projects[pid] = int(number)
    return projects


@main.command("emulator")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    default=8900,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="REST port (0 picks a free one).",
)
@click.option(
    "--latency-scale",
    default=1.0,
    show_default=True,
    type=click.FloatRange(min=0.0),
    help="Multiplies every duration of the latency profile.",
)
@click.option("--seed", default=0, show_default=True, type=int, help="Seed for faults and generated ids.")
@click.option(
    "--project",
    "projects",
    multiple=True,
    metavar="ID=NUMBER",
    help="A project with a fixed number (repeatable); others are created on first use.",
)
@click.option(
    "--fault-rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(0.0, 1.0),
    help="Share of API requests answered with 429 or 503.",
)
@click.option(
    "--quota-per-minute",
    default=None,
    type=click.IntRange(min=1),
    help="Per-project request quota; requests over it get 429 RESOURCE_EXHAUSTED.",
)
@click.option(
    "--project-defaults",
    type=click.Choice(["today", "legacy"]),
    default="today",
    show_default=True,
    help="How a new project starts: 'today' as Google creates one now (APIs disabled, no-channel clusters "
    "refused, containerd 2 nodes); 'legacy' with APIs enabled and the older GKE behaviour.",
)
def emulator_command(
    host: str,
    port: int,
    latency_scale: float,
    seed: int,
    projects: tuple[str, ...],
    fault_rate: float,
    quota_per_minute: int | None,
    project_defaults: str,
) -> None:
    """Serve the Google Cloud and GKE APIs that labs use, locally, until SIGINT/SIGTERM."""
    from emulator.server import Emulator, serve_until_signalled

    emu = Emulator(
        host=host,
        port=port,
        latency_scale=latency_scale,
        seed=seed,
        projects=_parse_projects(projects),
        fault_rate=fault_rate,
        new_projects=project_defaults,
        quota_per_minute=quota_per_minute,
    )
    try:
        serve_until_signalled(emu)
    except OSError as exc:
        click.echo(f"error: cannot listen on {host}:{port}: {exc.strerror or exc}", err=True)
        sys.exit(1)
