"""`python -m bench`: the figures of gke-lab against the emulator, measured side by side in one run.

Every figure is a ratio of two things measured in this run (or a count), so a noisy machine moves both
sides together. Results go to a table on stdout and to bench/results/latest.json.

    python -m bench [--latency-scale 0.25] [--labs 10] [--deep] [--skip fleet,demo]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import inventory, pools, reqlog, startup
from bench.measure import FlowTiming, PeakRss, in_threads, run_flow
from bench.profile import provision_critical_path, teardown_critical_path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
EMULATOR_ENV = "GKE_LAB_EMULATOR_HOST"
LOCAL_NETWORK = "cluster.master_authorized_networks=[{cidr: 127.0.0.1/32, name: local}]"
PHASES = (
    "provision",
    "replay",
    "rerun",
    "teardown",
    "fleet",
    "demo",
    "startup",
    "estimate",
    "pools",
    "pool_class",
)


def lab_spec(project: str, lab: str = "cluster") -> Any:
    from gke_lab.overrides import apply_overrides
    from gke_lab.spec import LabSpec

    return apply_overrides(LabSpec(), [f"project_id={project}", f"lab={lab}", LOCAL_NETWORK])


def _emulator(scale: float, seed: int = 0) -> Any:
    from emulator.server import Emulator

    return Emulator(host="127.0.0.1", port=0, latency_scale=scale, seed=seed).start()


def warm_imports() -> float:
    """Import what every run needs once, before anything is timed: the kubernetes client's API modules
    alone take several seconds to import on a small machine, a per-process cost that is not the flow's."""
    t0 = time.monotonic()
    from kubernetes.client import AppsV1Api, CoreV1Api  # noqa: F401

    import flows.provision  # noqa: F401
    import flows.teardown  # noqa: F401

    return round(time.monotonic() - t0, 3)


def _figure(value: Any, target: str, ok: bool | None, **detail: Any) -> dict:
    return {"value": value, "target": target, "ok": ok, "detail": detail}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a is not None and b else None


def bench_single(scale: float, skip: set[str], figures: dict) -> FlowTiming | None:
    """Provision (with the article's replay beside it), re-run, teardown of one lab."""
    from flows.provision import provision_lab

    project = "gke-detail"
    spec = lab_spec(project)
    emu = _emulator(scale)
    replay_emu = _emulator(scale) if "replay" not in skip else None
    os.environ[EMULATOR_ENV] = emu.address
    try:
        baseline = reqlog.baseline(emu.url, project)
        seq0 = reqlog.last_seq(emu.url)

        def replay() -> Any:
            from bench.seed_replay import run_replay

            return run_replay(replay_emu.url, project=project)

        calls = [lambda: run_flow(provision_lab, spec=spec)]
        if replay_emu is not None:
            calls.append(replay)
        outcome = in_threads(calls)
        first = outcome[0]
        if isinstance(first, BaseException):
            first = FlowTiming(ok=False, wall_s=0.0, error=repr(first))
        cp, chain = provision_critical_path(scale)
        used = reqlog.summarize(reqlog.requests_since(emu.url, seq0), project)
        flow_s = first.run_s if first.run_s is not None else first.wall_s
        figures["provision_overhead"] = _figure(
            _ratio(flow_s, cp) if first.ok else None,
            "<= 1.05",
            first.ok and (_ratio(flow_s, cp) or 99) <= 1.05,
            flow_run_s=first.run_s,
            call_wall_s=first.wall_s,
            critical_path_s=round(cp, 3),
            critical_path=chain,
            error=first.error,
        )
        figures["api_economy"] = _figure(
            {k: used[k] for k in ("total", "mutating", "operation_polls")},
            "report",
            None,
            **used,
        )
        if replay_emu is not None:
            rep = outcome[1]
            if isinstance(rep, BaseException):
                figures["replay"] = _figure(None, "< 1 (faster)", False, error=repr(rep))
            else:
                wall_ratio = _ratio(first.wall_s, rep.wall_s)
                req_ratio = _ratio(used["total"], rep.requests["total"])
                figures["replay"] = _figure(
                    {"wall": wall_ratio, "requests": req_ratio},
                    "< 1 (faster)",
                    first.ok and wall_ratio is not None and wall_ratio < 1,
                    ours_wall_s=first.wall_s,
                    replay_wall_s=rep.wall_s,
                    ours_requests=used,
                    replay_requests=rep.requests,
                    replay_steps=rep.steps,
                )
        if not first.ok:
            return first

        if "rerun" not in skip:
            seq1 = reqlog.last_seq(emu.url)
            again = run_flow(provision_lab, spec=spec)
            rerun_used = reqlog.summarize(reqlog.requests_since(emu.url, seq1), project)
            figures["idempotent_rerun"] = _figure(
                {"wall": _ratio(again.wall_s, first.wall_s), "mutating": rerun_used["mutating"]},
                "mutating == 0",
                again.ok and rerun_used["mutating"] == 0,
                wall_s=again.wall_s,
                requests=rerun_used,
                error=again.error,
            )

        if "teardown" not in skip:
            from flows.teardown import teardown_lab

            down = run_flow(teardown_lab, spec=spec)
            after = reqlog.state(emu.url)
            left = inventory.left_behind(baseline, after, project)
            tcp, tchain = teardown_critical_path(scale)
            t_s = down.run_s if down.run_s is not None else down.wall_s
            figures["teardown"] = _figure(
                {"ratio": _ratio(t_s, tcp) if down.ok else None, "left_behind": len(left)},
                "left_behind == 0 (reused keys apart); ratio reported",
                down.ok and not left,
                flow_run_s=down.run_s,
                call_wall_s=down.wall_s,
                critical_path_s=round(tcp, 3),
                critical_path=tchain,
                left=left,
                error=down.error,
            )
        return first
    finally:
        os.environ.pop(EMULATOR_ENV, None)
        emu.stop()
        if replay_emu is not None:
            replay_emu.stop()


def bench_fleet(scale: float, labs: int, single: FlowTiming | None, figures: dict) -> None:
    """N labs at once, one flow run each, each lab in its own project of one emulator."""
    from flows.provision import provision_lab

    emu = _emulator(scale)
    os.environ[EMULATOR_ENV] = emu.address
    try:
        specs = [lab_spec(f"bench-fleet-{i:02d}") for i in range(labs)]
        t0 = time.monotonic()
        with PeakRss() as rss:
            runs = in_threads([lambda s=s: run_flow(provision_lab, spec=s) for s in specs])
        wall = time.monotonic() - t0
        ok = [isinstance(r, FlowTiming) and r.ok for r in runs]
        errors = [
            r.error if isinstance(r, FlowTiming) else repr(r)
            for r, good in zip(runs, ok, strict=True)
            if not good
        ]
        state = reqlog.state(emu.url)
        dups = {s.project_id: inventory.duplicates(state, s.project_id) for s in specs}
        figures["fleet"] = _figure(
            {"succeeded": f"{sum(ok)}/{labs}", "wall_ratio": _ratio(wall, single.wall_s if single else None)},
            f"{labs}/{labs} succeed",
            all(ok),
            fleet_wall_s=round(wall, 3),
            single_wall_s=single.wall_s if single else None,
            peak_rss_mib=rss.peak_mib,
            peak_processes=rss.peak_processes,
            errors=errors[:5],
            duplicates={k: v for k, v in dups.items() if v},
        )
    finally:
        os.environ.pop(EMULATOR_ENV, None)
        emu.stop()


def bench_demo(figures: dict) -> None:
    """Wall time of `gke-lab demo` with the environment already installed."""
    import click

    from gke_lab.cli import main as cli

    exe = shutil.which("gke-lab") or str(Path(sys.executable).parent / "gke-lab")
    if cli.get_command(click.Context(cli), "demo") is None or not Path(exe).exists():
        figures["demo"] = _figure(None, "< 120 s", False, error="`gke-lab demo` is not available")
        return
    env = {k: v for k, v in os.environ.items() if k not in (EMULATOR_ENV, "PREFECT_API_URL")}
    t0 = time.monotonic()
    proc = subprocess.run([exe, "demo"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    wall = round(time.monotonic() - t0, 3)
    figures["demo"] = _figure(
        wall if proc.returncode == 0 else None,
        "< 120 s (issue: under two minutes)",
        proc.returncode == 0 and wall < 120,
        exit_code=proc.returncode,
        tail=(proc.stdout + proc.stderr)[-2000:] if proc.returncode else "",
    )


def bench_deep(figures: dict) -> None:
    """The reliability suite with its larger counts."""
    env = dict(os.environ, GKE_LAB_RELIABILITY_DEEP="1")
    env.pop(EMULATOR_ENV, None)
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "tests/reliability"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    figures["reliability_deep"] = _figure(
        "passed" if proc.returncode == 0 else "failed",
        "passed",
        proc.returncode == 0,
        seconds=round(time.monotonic() - t0, 1),
        tail=proc.stdout[-3000:],
    )


def _fmt(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k}={_fmt(v)}" for k, v in value.items())
    if isinstance(value, float):
        return f"{value:.3f}"
    return "n/a" if value is None else str(value)


def print_table(figures: dict) -> None:
    rows = [("figure", "measured", "target", "")]
    for name, fig in figures.items():
        mark = {True: "ok", False: "MISS", None: "-"}[fig["ok"]]
        rows.append((name, _fmt(fig["value"]), fig["target"], mark))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    for i, row in enumerate(rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
        if i == 0:
            print("  ".join("-" * w for w in widths))
    for name, fig in figures.items():
        err = fig["detail"].get("error")
        if err:
            print(f"{name}: {err}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m bench", description="gke-lab benchmarks against the emulator"
    )
    ap.add_argument("--latency-scale", type=float, default=0.25)
    ap.add_argument("--labs", type=int, default=10, help="labs provisioned at once in the fleet figure")
    ap.add_argument("--claims", type=int, default=20, help="claims timed from a ready pool (pools phase)")
    ap.add_argument("--deep", action="store_true", help="also run the reliability suite with larger counts")
    ap.add_argument("--skip", default="", help=f"comma-separated phases to skip: {','.join(PHASES)}")
    ap.add_argument("--out", type=Path, default=RESULTS / "latest.json")
    args = ap.parse_args(argv)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

    from prefect.testing.utilities import prefect_test_harness

    figures: dict[str, dict] = {}
    started = time.monotonic()
    import_s = warm_imports()
    with prefect_test_harness(server_startup_timeout=120):
        single = None
        if "provision" not in skip:
            single = bench_single(args.latency_scale, skip, figures)
        if "fleet" not in skip:
            bench_fleet(args.latency_scale, args.labs, single, figures)
        if "startup" not in skip:
            startup.bench_startup(args.latency_scale, figures, _figure)
        if "estimate" not in skip:
            startup.bench_estimate(args.latency_scale, figures, _figure)
        if "pools" not in skip:
            pools.bench_pools(args.claims, figures, _figure)
    if "demo" not in skip:
        bench_demo(figures)
    if "pool_class" not in skip:
        # A stack of its own (PostgreSQL, server, workers, emulator): outside the test harness.
        from bench.pool_class import run_class

        figures["pool_class"] = run_class()
    if args.deep:
        bench_deep(figures)

    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "settings": {
            "latency_scale": args.latency_scale,
            "labs": args.labs,
            "deep": args.deep,
            "skip": sorted(skip),
        },
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "seconds": round(time.monotonic() - started, 1),
        "import_seconds": import_s,
        "figures": figures,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str) + "\n")
    print_table(figures)
    if "up_first_request_seconds" in figures:
        print()
        startup.print_startup(figures)
    print(f"\nwritten to {args.out} ({result['seconds']} s)")
    return 0 if all(f["ok"] is not False for f in figures.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
