"""`gke-lab demo`: the whole story on this machine, against a local emulator of the Google APIs.

Starts the emulator in-process on a free port, provisions the default lab (with 127.0.0.1/32 as the only
authorized network), shows the reports, and stops the emulator.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import click

from gke_lab.cli import main

DEMO_PROJECT = "gke-detail"
DEMO_PROJECT_NUMBER = 415104041262
DEMO_OVERRIDES = ["cluster.master_authorized_networks=[{cidr: 127.0.0.1/32, name: local}]"]
LATENCY_SCALE = 0.05
# Two labs at once and their teardown within two minutes on a small machine.
POOL_LATENCY_SCALE = 0.02


def _say(text: str) -> None:
    click.secho(f"==> {text}", fg="cyan", err=True)


def _section(title: str, body: str) -> None:
    click.echo(f"\n{'-' * 100}\n{title}\n{'-' * 100}\n{body}")


@contextmanager
def _on_emulator(latency_scale: float, project: str) -> Iterator[Callable[[], bool]]:
    """An emulator in this process for the demo's body, which runs with the clients pointed at it; any
    failure of the body is reported in one line and the emulator still stops. Yields `failed()`."""
    from emulator.server import Emulator
    from gke_lab.clients import EMULATOR_ENV

    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    started = time.monotonic()
    _say(f"starting the Google Cloud emulator (latency scale {latency_scale}) ...")
    emu = Emulator(
        host="127.0.0.1", port=0, latency_scale=latency_scale, projects={project: DEMO_PROJECT_NUMBER}
    ).start()
    previous = os.environ.get(EMULATOR_ENV)
    os.environ[EMULATOR_ENV] = emu.address
    outcome: dict[str, Any] = {"failed": False}
    try:
        _say(f"emulator serving at {emu.url} ({EMULATOR_ENV}={emu.address})")
        yield lambda: bool(outcome["failed"])
    except Exception as exc:  # noqa: BLE001 - the demo reports any failure and still stops the emulator
        outcome["failed"] = True
        click.secho(f"demo failed: {type(exc).__name__}: {exc}", fg="red", err=True)
    finally:
        _say("stopping the emulator")
        emu.stop()
        if previous is None:
            os.environ.pop(EMULATOR_ENV, None)
        else:
            os.environ[EMULATOR_ENV] = previous
        _say(f"done in {time.monotonic() - started:.0f} s")


@main.command("demo")
@click.option(
    "--latency-scale",
    type=float,
    default=None,
    help=f"Emulator latency multiplier (default {LATENCY_SCALE}; {POOL_LATENCY_SCALE} with --pool).",
)
@click.option("--set", "overrides", multiple=True, metavar="PATH=VALUE", help="Extra spec override.")
@click.option(
    "--pool",
    "pool",
    is_flag=True,
    help="A lab pool instead: two labs filled at once, one claimed (timed), then all torn down.",
)
def demo_command(latency_scale: float | None, overrides: tuple[str, ...], pool: bool) -> None:
    """Provision, verify and audit the default lab against a local emulator (about a minute)."""
    if pool:
        from gke_lab.cli.pool_demo import pool_demo

        sys.exit(pool_demo(POOL_LATENCY_SCALE if latency_scale is None else latency_scale, overrides))
    latency_scale = LATENCY_SCALE if latency_scale is None else latency_scale
    from gke_lab.audit import summary as audit_summary
    from gke_lab.overrides import apply_overrides
    from gke_lab.reports import audit_markdown, verification_markdown

    spec = apply_overrides(None, DEMO_OVERRIDES + list(overrides))
    with _on_emulator(latency_scale, spec.project_id) as failed:
        _say(
            f"provisioning lab {spec.lab!r} in {spec.project_id}: default network removal, VPC + subnet + "
            "Cloud NAT, KMS keys + agent bindings, node service account + roles (concurrently), then the "
            "private CMEK cluster, the echo service, verification and the CIS audit ..."
        )
        from gke_lab.cli.lab import run_provision

        result = run_provision(spec)
        _section("Lab card", result["lab_card"])
        _section("CIS GKE audit", audit_markdown(result["audit"]))
        _section("Echo verification", verification_markdown(result["verification"]))
        _say(f"audit summary: {audit_summary(result['audit'])}")
        _say(f"verification passed: {result['verification'].get('passed')}")

        # Teardown step: everything the lab created goes, in dependency order; bystanders stay.
        from flows.teardown import teardown_lab
        from gke_lab.teardown import Report

        _say(f"tearing lab {spec.lab!r} down (workload, cluster, rules, NAT, subnet, network, IAM, keys) ...")
        from gke_lab.cli.lab import flow_run_output

        with flow_run_output(quiet=False):
            torn = teardown_lab(spec=spec, destroy_keys=True)
        _section("Teardown", Report.from_dict(torn).markdown())
    if failed():
        sys.exit(1)
