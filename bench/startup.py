"""Figures of issue 16: how fast the command line starts, and how good the progress estimates are.

- `gke-lab --help` and `gke-lab plan --offline`: wall time of a fresh process, min and median of 5.
- `gke-lab up`: from process start to the first Google API request in the emulator's request log, with
  the running Prefect server (PREFECT_API_URL set) and with the temporary one it starts otherwise.
- The cluster estimate: |estimate - actual| / actual on the second and third runs of one lab (each on a
  fresh emulator, so each run really creates its cluster).
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
EMULATOR_ENV = "GKE_LAB_EMULATOR_HOST"
LOCAL_NETWORK = "cluster.master_authorized_networks=[{cidr: 127.0.0.1/32, name: local}]"
REPEATS = 5


def _exe() -> str:
    return shutil.which("gke-lab") or str(Path(sys.executable).parent / "gke-lab")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (EMULATOR_ENV, "PREFECT_API_URL")}
    env.update(extra)
    return env


def wall_times(args: list[str], repeats: int = REPEATS) -> dict[str, float]:
    times = []
    for _ in range(repeats):
        t0 = time.monotonic()
        subprocess.run([_exe(), *args], cwd=ROOT, env=_clean_env(), capture_output=True, check=True)
        times.append(time.monotonic() - t0)
    return {"min": round(min(times), 3), "median": round(statistics.median(times), 3)}


def _emulator(scale: float) -> Any:
    from emulator.server import Emulator

    return Emulator(host="127.0.0.1", port=0, latency_scale=scale).start()


def first_request_seconds(
    scale: float, api_url: str | None, prefect_home: str | None = None
) -> dict[str, Any]:
    """Run `gke-lab up --quiet` in a new process; seconds from its start to the emulator's first request."""
    emu = _emulator(scale)
    try:
        extra = {EMULATOR_ENV: emu.address, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        if api_url:
            extra["PREFECT_API_URL"] = api_url
        if prefect_home:
            extra["PREFECT_HOME"] = prefect_home
        t0 = time.time()
        proc = subprocess.run(
            [_exe(), "up", "--quiet", "--set", LOCAL_NETWORK, "--set", "lab=bench-startup"],
            cwd=ROOT,
            env=_clean_env(**extra),
            capture_output=True,
            text=True,
            timeout=900,
        )
        entries = httpx.get(f"{emu.url}/_emulator/requests", timeout=60).json()
        starts = [float(e["start"]) for e in entries if e.get("start")]
        first = round(min(starts) - t0, 3) if starts else None
        return {"seconds": first, "exit_code": proc.returncode, "stderr": proc.stderr[-1000:]}
    finally:
        emu.stop()


def _cluster_seconds(flow_run_id: Any) -> float:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        TaskRunFilter,
        TaskRunFilterName,
    )

    with get_client(sync_client=True) as client:
        [run] = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
            task_run_filter=TaskRunFilter(name=TaskRunFilterName(like_="ensure-cluster")),
        )
    return (run.end_time - run.start_time).total_seconds()


def estimate_errors(scale: float, runs: int = 3) -> dict[str, Any]:
    """Provision one lab `runs` times on fresh emulators; the estimate's error on runs 2.. for the cluster."""
    from flows.progress import history
    from flows.provision import provision_lab
    from gke_lab import progress
    from gke_lab.overrides import apply_overrides

    spec = apply_overrides(None, [LOCAL_NETWORK, f"lab=bench-estimate-{int(time.time())}"])
    errors, rows = [], []
    for n in range(1, runs + 1):
        estimate = progress.estimates_for(
            progress.PROVISION, history(progress.PROVISION, "provision-lab", spec)
        )
        emu = _emulator(scale)
        os.environ[EMULATOR_ENV] = emu.address
        try:
            state = provision_lab(spec=spec, return_state=True)
        finally:
            os.environ.pop(EMULATOR_ENV, None)
            emu.stop()
        if not state.is_completed():
            return {"error": f"run {n} ended {state.name}: {state.message}"}
        actual = _cluster_seconds(state.state_details.flow_run_id)
        expected = estimate["cluster"].expected
        rows.append({"run": n, "estimate": round(expected, 2), "actual": round(actual, 2)})
        if n > 1:
            errors.append(abs(expected - actual) / actual)
    return {"errors": [round(e, 3) for e in errors], "runs": rows}


def bench_startup(scale: float, figures: dict, figure) -> None:
    """The start-up figures (inside the benchmark's Prefect harness, whose server is 'the running one')."""
    from prefect.settings import PREFECT_API_URL

    help_times = wall_times(["--help"])
    figures["cli_help_seconds"] = figure(help_times, "< 0.5 s", help_times["median"] < 0.5)
    plan_times = wall_times(["plan", "--offline"])
    figures["cli_plan_seconds"] = figure(plan_times, "< 1 s", plan_times["median"] < 1.0)

    with_server = first_request_seconds(scale, PREFECT_API_URL.value())
    with tempfile.TemporaryDirectory(prefix="gke-lab-bench-home-") as home:
        temporary = first_request_seconds(scale, None, prefect_home=home)
    a, b = with_server["seconds"], temporary["seconds"]
    figures["up_first_request_seconds"] = figure(
        {
            "running_server": a,
            "temporary_server": b,
            "temporary_over_running": round(b / a, 2) if a and b else None,
        },
        "< 3 s with a server",
        a is not None and a < 3.0,
        **{k: v for k, v in {"running": with_server, "temporary": temporary}.items() if v["exit_code"]},
    )


def bench_estimate(scale: float, figures: dict, figure) -> None:
    found = estimate_errors(scale)
    worst = max(found["errors"]) if found.get("errors") else None
    figures["cluster_estimate_error"] = figure(
        {"worst": worst, "each": found.get("errors")},
        "< 0.10 on the 2nd+ run",
        worst is not None and worst < 0.10,
        **found,
    )
