"""Figures of issue 16: how fast the command line starts, and how good the progress estimates are.

Start-up, side by side in one run, each the min and median of 5 fresh processes:

- `gke-lab --help` and `gke-lab plan --offline`: wall time.
- `gke-lab up`, with the running Prefect server (PREFECT_API_URL set) and with the temporary one it starts
  otherwise: from process start to its first Google API request (the preflight's), and to the flow's
  first request (the first one after the command says "provisioning lab ..."), read from the emulator's
  request log. The command is stopped there: what follows is the provisioning, measured elsewhere.

The cluster estimate: |estimate - actual| / actual on the second and third runs of one lab (each on a
fresh emulator, so each run really creates its cluster).

    python -m bench.startup [--latency-scale 0.25] [--repeats 5]   the start-up figures alone
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
EMULATOR_ENV = "GKE_LAB_EMULATOR_HOST"
LOCAL_NETWORK = "cluster.master_authorized_networks=[{cidr: 127.0.0.1/32, name: local}]"
REPEATS = 5
FLOW_STARTS = "provisioning lab "  # what `up` prints once its preflight passed, before the flow runs
UP_TIMEOUT = 600.0


def _exe() -> str:
    return shutil.which("gke-lab") or str(Path(sys.executable).parent / "gke-lab")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in (EMULATOR_ENV, "PREFECT_API_URL")}
    env.update(extra)
    return env


def min_median(values: list[float]) -> dict[str, float]:
    return {"min": round(min(values), 3), "median": round(statistics.median(values), 3)}


def wall_times(args: list[str], repeats: int = REPEATS) -> dict[str, float]:
    times = []
    for _ in range(repeats):
        t0 = time.monotonic()
        subprocess.run([_exe(), *args], cwd=ROOT, env=_clean_env(), capture_output=True, check=True)
        times.append(time.monotonic() - t0)
    return min_median(times)


def _emulator(scale: float) -> Any:
    from emulator.server import Emulator

    return Emulator(host="127.0.0.1", port=0, latency_scale=scale).start()


@dataclass
class UpStart:
    """One `gke-lab up`: seconds from its start to its first request and to the flow's first request."""

    first_request: float | None = None
    flow_first_request: float | None = None
    exit_code: int | None = None  # set when the command ended on its own before the flow's first request
    tail: list[str] = field(default_factory=list)


def _stop(proc: subprocess.Popen[str]) -> None:
    """Stop the command and whatever it started (a temporary server): SIGINT first, as a user would."""
    for sig, wait in ((signal.SIGINT, 15.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
        if proc.poll() is not None:
            break
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
    try:  # the temporary server may outlive the command by a moment
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def up_start(scale: float, api_url: str | None, prefect_home: str | None, lab: str) -> UpStart:
    """Start `gke-lab up` on a fresh emulator; stop it at the flow's first request."""
    emu = _emulator(scale)
    try:
        extra = {EMULATOR_ENV: emu.address, "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}
        if api_url:
            extra["PREFECT_API_URL"] = api_url
        if prefect_home:
            extra["PREFECT_HOME"] = prefect_home
        flow_started: list[float] = []
        tail: deque[str] = deque(maxlen=20)
        t0 = time.time()
        proc = subprocess.Popen(
            [_exe(), "up", "--set", LOCAL_NETWORK, "--set", f"lab={lab}"],
            cwd=ROOT,
            env=_clean_env(**extra),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            start_new_session=True,  # its own process group: the temporary server is stopped with it
        )

        def read_stderr() -> None:
            assert proc.stderr is not None
            for line in proc.stderr:
                if not flow_started and line.startswith(FLOW_STARTS):
                    flow_started.append(time.time())
                tail.append(line.rstrip())

        reader = threading.Thread(target=read_stderr, daemon=True)
        reader.start()
        found = UpStart()
        try:
            while time.time() - t0 < UP_TIMEOUT:
                starts = [float(e["start"]) for e in httpx.get(f"{emu.url}/_emulator/requests").json()]
                if starts and found.first_request is None:
                    found.first_request = round(min(starts) - t0, 3)
                later = [s for s in starts if flow_started and s >= flow_started[0]]
                if later:
                    found.flow_first_request = round(min(later) - t0, 3)
                    break
                if proc.poll() is not None:
                    found.exit_code = proc.returncode
                    break
                time.sleep(0.1)
        finally:
            _stop(proc)
            reader.join(timeout=10)
        found.tail = list(tail)
        return found
    finally:
        emu.stop()


def up_starts(scale: float, api_url: str | None, repeats: int = REPEATS) -> dict[str, Any]:
    """`repeats` runs of `up_start`, each lab its own (a stopped run may hold its lab's concurrency slot).

    Without a server, the runs share one PREFECT_HOME as a user's runs share ~/.prefect: the first one
    creates the temporary server's database."""
    runs: list[UpStart] = []
    with tempfile.TemporaryDirectory(prefix="gke-lab-bench-home-") as home:
        for n in range(repeats):
            lab = f"bench-startup-{'s' if api_url else 't'}{n}-{int(time.time()) % 100000}"
            runs.append(up_start(scale, api_url, None if api_url else home, lab))
    first = [r.first_request for r in runs if r.first_request is not None]
    flow = [r.flow_first_request for r in runs if r.flow_first_request is not None]
    failed = [r for r in runs if r.flow_first_request is None]
    return {
        "first_request": min_median(first) if first else None,
        "flow_first_request": min_median(flow) if flow else None,
        "failed": [{"exit_code": r.exit_code, "tail": r.tail[-8:]} for r in failed],
    }


Figure = Callable[..., dict[str, Any]]


def bench_startup(scale: float, figures: dict[str, Any], figure: Figure, repeats: int = REPEATS) -> None:
    """The start-up figures (inside the benchmark's Prefect harness, whose server is 'the running one')."""
    from prefect.settings import PREFECT_API_URL

    help_times = wall_times(["--help"], repeats)
    figures["cli_help_seconds"] = figure(help_times, "< 0.5 s", help_times["median"] < 0.5)
    plan_times = wall_times(["plan", "--offline"], repeats)
    figures["cli_plan_seconds"] = figure(plan_times, "< 1 s", plan_times["median"] < 1.0)

    running = up_starts(scale, PREFECT_API_URL.value(), repeats)
    temporary = up_starts(scale, None, repeats)
    first = running["first_request"]
    figures["up_first_request_seconds"] = figure(
        {"running_server": first, "temporary_server": temporary["first_request"]},
        "< 3 s with a server",
        first is not None and first["median"] < 3.0 and not running["failed"],
        **{k: v["failed"] for k, v in {"running": running, "temporary": temporary}.items() if v["failed"]},
    )
    figures["up_flow_first_request_seconds"] = figure(
        {
            "running_server": running["flow_first_request"],
            "temporary_server": temporary["flow_first_request"],
        },
        "reported",
        None,
    )


def print_startup(figures: dict[str, Any]) -> None:
    """The start-up figures side by side: one row per command, min and median."""
    rows = [("command", "min s", "median s", "target")]

    def add(name: str, value: dict[str, float] | None, target: str) -> None:
        value = value or {}
        rows.append((name, str(value.get("min", "n/a")), str(value.get("median", "n/a")), target))

    add("gke-lab --help", figures["cli_help_seconds"]["value"], "< 0.5")
    add("gke-lab plan --offline", figures["cli_plan_seconds"]["value"], "< 1")
    up = figures["up_first_request_seconds"]["value"]
    flow = figures["up_flow_first_request_seconds"]["value"]
    add("up, running server: first request", up["running_server"], "< 3")
    add("up, running server: flow's first request", flow["running_server"], "")
    add("up, temporary server: first request", up["temporary_server"], "")
    add("up, temporary server: flow's first request", flow["temporary_server"], "")
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))


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


def bench_estimate(scale: float, figures: dict, figure) -> None:
    found = estimate_errors(scale)
    worst = max(found["errors"]) if found.get("errors") else None
    figures["cluster_estimate_error"] = figure(
        {"worst": worst, "each": found.get("errors")},
        "< 0.10 on the 2nd+ run",
        worst is not None and worst < 0.10,
        **found,
    )


def main(argv: list[str] | None = None) -> int:
    from bench.__main__ import _figure

    ap = argparse.ArgumentParser(prog="python -m bench.startup", description="gke-lab start-up figures")
    ap.add_argument("--latency-scale", type=float, default=0.25)
    ap.add_argument("--repeats", type=int, default=REPEATS)
    args = ap.parse_args(argv)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    from prefect.testing.utilities import prefect_test_harness

    figures: dict[str, Any] = {}
    with prefect_test_harness(server_startup_timeout=120):
        bench_startup(args.latency_scale, figures, _figure, args.repeats)
    print_startup(figures)
    for name, fig in figures.items():
        for key, value in fig["detail"].items():
            print(f"{name} {key}: {value}")
    return 0 if all(f["ok"] is not False for f in figures.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
