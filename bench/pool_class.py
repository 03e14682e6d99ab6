"""`python -m bench.pool_class`: a class of lab pools on a team stack, start to end, on a scaled clock.

The set-up of docs/operations.md on this machine: PostgreSQL, a Prefect server on it, the real deployments
(`prefect deploy --all`), two process workers and the Google API emulator as a process (latency scale 0.01).
A `LabPool` with a class is saved: 30 seats over three emulator projects with the emulator's default
quotas, the start a few minutes ahead (no later than the pool's own provisioning margin, so the first
maintenance pass already fills the seats), a short grace period and the end a few minutes after the start.
Then the benchmark only drives the clock: `maintain-pools` runs one after another through the deployment,
10 seats are claimed at the start through the core (`gke_lab.pools.claim`), and the class's labs are
followed by their cluster labels (the pool's census) until none is left.

Figures: how many seats were ready at the start (of those the default quotas fit, with the quota that blocks
the rest) and when each became ready; whether unclaimed labs were reaped after the grace period, and only
then; labs and resources left after the end (census of every project and the emulator's state, reused KMS
keys apart); wall time, and the peak RSS of the whole process tree (server, workers and their flow runs,
emulator, PostgreSQL).

    python -m bench.pool_class [--seats 30] [--claims 10] [--lead-minutes 6] [--keep-logs]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from bench.measure import PeakRss

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
BIN = Path(sys.executable).parent
POOL = "bench-class"
PROJECTS = ("bench-class-a", "bench-class-b", "bench-class-c")
SEATS = 30
CLAIMS = 10
LATENCY_SCALE = 0.01
WORKERS = 2
# Runs per worker: four provisions at once (provision-lab's own limit), a maintain-pools pass and teardowns.
WORKER_LIMIT = 3
# Labs of one project share its default network: none may delete it from under the others; the workers
# reach the emulated control planes from this machine.
LAB_OVERRIDES = (
    "cluster.master_authorized_networks=[{cidr: 127.0.0.1/32, name: local}]",
    "delete_default_network=false",
)
POLL_SECONDS = 3.0
TERMINAL = {"COMPLETED", "FAILED", "CRASHED", "CANCELLED"}
TARGET = "seats the quotas fit ready before the start; unclaimed reaped after the grace; 0 left after the end"


# ------------------------------------------------------------------------------------------- pure helpers


@dataclass(frozen=True)
class ReadyTimeline:
    """When each lab was first seen ready, against the class's start (unix seconds)."""

    start: float
    first_ready: Mapping[str, float]

    def ready_by_start(self) -> list[str]:
        return sorted(lab for lab, at in self.first_ready.items() if at <= self.start)

    def seconds_before_start(self) -> list[float]:
        """For each lab, how long before the start it became ready (negative: after the start), earliest
        first."""
        return sorted((round(self.start - at, 1) for at in self.first_ready.values()), reverse=True)


@dataclass(frozen=True)
class ClassOutcome:
    """What the class run showed, judged against the issue's three promises."""

    seats: int
    fit: int  # seats the projects' quotas hold
    ready_at_start: int
    placed: int = 0  # labs the pool started (one provision-lab run each)
    reaped_before_grace: tuple[str, ...] = ()  # unclaimed labs that went before the grace period ended
    unclaimed_after_grace: tuple[str, ...] = ()  # unclaimed labs still ready at the end
    labs_left: int = 0  # labs in the pool's census after the end
    leftovers: tuple[str, ...] = ()  # resources and bindings left in the emulator
    failed_runs: tuple[str, ...] = ()

    @property
    def wanted(self) -> int:
        return min(self.seats, self.fit)

    def problems(self) -> list[str]:
        found = []
        if self.placed > self.fit:
            found.append(f"{self.placed} labs placed where the quotas fit {self.fit}")
        if self.ready_at_start < self.wanted:
            found.append(f"{self.ready_at_start} of {self.wanted} seats ready at the start")
        if self.reaped_before_grace:
            found.append(f"reaped before the grace period ended: {', '.join(self.reaped_before_grace)}")
        if self.unclaimed_after_grace:
            found.append(f"unclaimed and never reaped: {', '.join(self.unclaimed_after_grace)}")
        if self.labs_left:
            found.append(f"{self.labs_left} lab(s) of the pool left after the end")
        if self.leftovers:
            found.append(f"{len(self.leftovers)} resource(s) left in the emulator")
        if self.failed_runs:
            found.append(f"{len(self.failed_runs)} run(s) failed")
        return found

    @property
    def ok(self) -> bool:
        return not self.problems()


def seats_text(ready: int, seats: int, fit: int, blocked: Sequence[str]) -> str:
    """`24/30`, with the quota that keeps the other seats out when the quotas do not fit them all."""
    if fit >= seats:
        return f"{ready}/{seats}"
    why = blocked[0] if blocked else "quotas"
    return f"{ready}/{seats} (quotas fit {fit}: {why})"


def placed_per_project(runs: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Labs the pool started per project: its provision-lab runs, one lab each (tags `lab:` and
    `project:`), a lab counted once however often it was tried."""
    labs: dict[str, set[str]] = {}
    for run in runs:
        tags = list(run.get("tags") or [])
        if run.get("flow_name") != "provision-lab" or f"gke-lab-pool:{POOL}" not in tags:
            continue
        lab = next((t.removeprefix("lab:") for t in tags if t.startswith("lab:")), None)
        project = next((t.removeprefix("project:") for t in tags if t.startswith("project:")), None)
        if lab and project:
            labs.setdefault(project, set()).add(lab)
    return {project: len(names) for project, names in sorted(labs.items())}


def reaped_too_early(
    first_reaping: Mapping[str, float], claimed: Iterable[str], grace_end: float
) -> list[str]:
    """Unclaimed labs that began being reaped before the grace period ended."""
    taken = set(claimed)
    return sorted(lab for lab, at in first_reaping.items() if lab not in taken and at < grace_end)


# ------------------------------------------------------------------------------------------- the stack


@dataclass
class Stack:
    """PostgreSQL, a Prefect server, the deployments, workers and the emulator, each a process of its own."""

    workdir: Path
    env: dict[str, str]
    api_url: str = ""
    emulator_url: str = ""
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    postgres: Any = None

    def start(self, name: str, args: list[str]) -> subprocess.Popen[bytes]:
        from gke_lab.cli.stack import start_process

        proc = start_process(name, args, self.env, self.workdir / f"{name}.log", ROOT)
        self.processes.append(proc)
        return proc

    def postgres_pids(self) -> list[int]:
        """The postmaster (started by pg_ctl, so not our descendant): its children are the server's."""
        if self.postgres is None:
            return []
        with contextlib.suppress(OSError, ValueError, IndexError):
            return [int((self.postgres.data / "postmaster.pid").read_text().split()[0])]
        return []

    def stop(self) -> None:
        for proc in reversed(self.processes):
            if proc.poll() is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        if self.postgres is not None:
            self.postgres.stop()

    # REST helpers ---------------------------------------------------------------------------------------

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.api_url + "/", timeout=60)

    def create_run(self, deployment: str, parameters: dict[str, Any]) -> str:
        with self.client() as client:
            found = client.get(f"deployments/name/{deployment}/{deployment}")
            found.raise_for_status()
            made = client.post(
                f"deployments/{found.json()['id']}/create_flow_run", json={"parameters": parameters}
            )
            made.raise_for_status()
            return str(made.json()["id"])

    def run_state(self, run_id: str) -> str:
        with self.client() as client:
            response = client.get(f"flow_runs/{run_id}")
            response.raise_for_status()
            return str(response.json()["state"]["type"])

    def all_runs(self) -> list[dict[str, Any]]:
        runs: list[dict[str, Any]] = []
        with self.client() as client:
            flows = {f["id"]: f["name"] for f in client.post("flows/filter", json={}).json()}
            while True:
                page = client.post("flow_runs/filter", json={"limit": 200, "offset": len(runs)}).json()
                runs += [{**run, "flow_name": flows.get(run["flow_id"], "?")} for run in page]
                if len(page) < 200:
                    return runs

    def in_flight(self, names: Iterable[str] = ("provision-lab", "teardown-lab")) -> int:
        wanted = set(names)
        return sum(
            1 for run in self.all_runs() if run["flow_name"] in wanted and run["state_type"] not in TERMINAL
        )


def start_stack(workdir: Path, latency_scale: float, workers: int, worker_limit: int) -> Stack:
    from gke_lab.cli.stack import Postgres, find_initdb, free_port, run_checked, wait_http, wait_line

    initdb = find_initdb()
    if initdb is None:
        raise RuntimeError("PostgreSQL is not installed (no initdb): the class runs on PostgreSQL")
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") and k != "GKE_LAB_EMULATOR_HOST"
    }
    port = free_port()
    stack = Stack(workdir, env, api_url=f"http://127.0.0.1:{port}/api")
    env.update(
        PREFECT_HOME=str(workdir / "home"),
        PREFECT_API_URL=stack.api_url,
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        PREFECT_WORKER_QUERY_SECONDS="2",
        PREFECT_WORKER_PREFETCH_SECONDS="5",
        # The benchmark drives maintain-pools itself; the deployments' crons would only interleave.
        PREFECT_SERVER_SERVICES_SCHEDULER_ENABLED="false",
        PYTHONUNBUFFERED="1",
    )
    try:
        stack.postgres = Postgres(initdb.parent, workdir / "postgres")
        env["PREFECT_API_DATABASE_CONNECTION_URL"] = stack.postgres.start(free_port())
        emulator = stack.start(
            "emulator",
            [sys.executable, "-m", "emulator", "--port", "0", "--latency-scale", str(latency_scale)],
        )
        host = wait_line(r"GKE_LAB_EMULATOR_HOST=(\S+)", emulator.pid, workdir / "emulator.log").group(1)
        stack.emulator_url = f"http://{host}"
        env["GKE_LAB_EMULATOR_HOST"] = host
        server = stack.start(
            "server", [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)]
        )
        wait_http(f"{stack.api_url}/health", server.pid, workdir / "server.log")
        prefect = str(BIN / "prefect")
        run_checked([prefect, "work-pool", "create", "gke-labs", "--type", "process"], env, ROOT, "pool")
        run_checked([str(BIN / "gke-lab"), "blocks", "register"], env, ROOT, "gke-lab blocks register")
        run_checked([prefect, "--no-prompt", "deploy", "--all"], env, ROOT, "prefect deploy")
        for number in range(1, workers + 1):
            worker = stack.start(
                f"worker-{number}",
                [prefect, "worker", "start", "--pool", "gke-labs", "--type", "process"]
                + ["--limit", str(worker_limit)],
            )
            wait_line(r"Worker '.*' started", worker.pid, workdir / f"worker-{number}.log")
    except BaseException:
        stack.stop()
        raise
    return stack


# ------------------------------------------------------------------------------------------- the class


def class_pool(seats: int, start: datetime, grace_minutes: int, end: datetime) -> Any:
    from gke_lab.pool_spec import ClassSchedule, PoolSpec

    return PoolSpec(
        name=POOL,
        blueprint="small-zonal",
        overrides=list(LAB_OVERRIDES),
        projects=list(PROJECTS),
        hot_size=0,
        max_size=seats,
        ttl_hours=1,
        idle_ttl_hours=1,
        claimers=["domain:example.com"],
        class_schedule=ClassSchedule(seats=seats, start=start, end=end, grace_minutes=grace_minutes),
    )


def quota_fit(clients: Any, pool: Any, seats: int) -> tuple[int, list[str], dict[str, Any]]:
    """How many seats of the pool's blueprint the projects' quotas hold (the product's own placement over
    `regions.get`), which quota blocks the rest, and the quotas read."""
    from blocks.variants import variant_spec
    from gke_lab import quotas
    from gke_lab.overrides import apply_overrides

    spec = apply_overrides(variant_spec(pool.blueprint), list(pool.overrides))
    read = {project: quotas.read(clients, project, spec.region) for project in pool.projects}
    placement = quotas.place(quotas.needs(spec), read, seats)
    limits = {p: {m: q.limit for m, q in r.quotas.items()} for p, r in read.items()}
    return len(placement.projects), list(placement.blocked), limits


def address_usage(clients: Any, pool: Any) -> dict[str, dict[str, str]]:
    """usage/limit of the quotas a lab takes, per project, as regions.get reports them now."""
    from gke_lab import quotas

    out = {}
    for project in pool.projects:
        read = quotas.read(clients, project, "us-west1")
        out[project] = {
            m: f"{quotas.number(q.usage)}/{quotas.number(q.limit)}" for m, q in read.quotas.items()
        }
    return out


@dataclass
class Watch:
    """What the census showed over time: first time each lab was seen in each state, and when it went."""

    first_seen: dict[str, dict[str, float]] = field(default_factory=dict)  # state -> lab -> unix time
    gone: dict[str, float] = field(default_factory=dict)
    seen: set[str] = field(default_factory=set)

    def record(self, census: Any, now: float) -> None:
        present = set()
        for lab in census.labs:
            present.add(lab.lab)
            self.first_seen.setdefault(lab.state.value, {}).setdefault(lab.lab, now)
        for lab in self.seen - present:
            self.gone.setdefault(lab, now)
        self.seen |= present

    def of(self, state: str) -> dict[str, float]:
        return self.first_seen.get(state, {})


def _say(text: str) -> None:
    print(f"[pool_class {datetime.now(UTC):%H:%M:%S}] {text}", flush=True)


def run_class(
    *,
    seats: int = SEATS,
    claims: int = CLAIMS,
    lead_minutes: float = 6.0,
    grace_minutes: int = 1,
    class_minutes: float = 3.0,
    latency_scale: float = LATENCY_SCALE,
    drain_minutes: float = 20.0,
    keep_logs: bool = False,
) -> dict[str, Any]:
    """Run the class on a fresh stack; the figure (value, target, ok, detail)."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    from gke_lab import pools
    from gke_lab.clients import EMULATOR_ENV, Clients

    began = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="gke-lab-bench-class-"))
    detail: dict[str, Any] = {
        "latency_scale": latency_scale,
        "workers": WORKERS,
        "worker_limit": WORKER_LIMIT,
    }
    stack: Stack | None = None
    failed = True
    previous_host = os.environ.get(EMULATOR_ENV)
    rss = PeakRss(interval_s=0.5, extra_roots=lambda: stack.postgres_pids() if stack else [])
    try:
        with rss:
            _say(f"starting the stack in {workdir} ...")
            stack = start_stack(workdir, latency_scale, WORKERS, WORKER_LIMIT)
            detail["stack_start_s"] = round(time.monotonic() - began, 1)
            _say(
                f"stack ready in {detail['stack_start_s']} s: {stack.api_url}, emulator {stack.emulator_url}"
            )
            os.environ[EMULATOR_ENV] = stack.emulator_url.removeprefix("http://")
            from bench import inventory, reqlog

            for project in PROJECTS:
                # As in the deployment tests: the class's projects have the lab's APIs on already.
                httpx.post(
                    f"{stack.emulator_url}/_emulator/projects/{project}/settings",
                    json={"servicesEnabled": True},
                    timeout=60,
                ).raise_for_status()
            state0 = reqlog.state(stack.emulator_url)
            baselines = {project: state0 for project in PROJECTS}
            clients = Clients.from_env()
            now = datetime.now(UTC).replace(microsecond=0)
            start = now + timedelta(minutes=lead_minutes)
            end = start + timedelta(minutes=class_minutes)
            pool = class_pool(seats, start, grace_minutes, end)
            fit, blocked, limits = quota_fit(clients, pool, seats)
            detail.update(quota_fit=fit, quota_blocked=blocked, quota_limits=limits)
            detail.update(start=start.isoformat(), end=end.isoformat(), grace_minutes=grace_minutes)
            with temporary_settings(updates={PREFECT_API_URL: stack.api_url}):
                from blocks.pool import LabPool

                LabPool(pool=pool, description="bench: a class").save(POOL, overwrite=True)
            _say(
                f"class {POOL}: {seats} seats over {', '.join(PROJECTS)}; quotas fit {fit}; "
                f"start {start:%H:%M:%S}"
            )

            watch = Watch()
            maintain: str | None = None
            passes = 0
            claimed: list[Any] = []
            ready_at_start: list[str] | None = None
            grace_end = start.timestamp() + grace_minutes * 60
            deadline = end.timestamp() + drain_minutes * 60
            cleared_at = None
            quotas_at_start = None
            while True:
                now_s = time.time()
                if maintain is None or stack.run_state(maintain) in TERMINAL:
                    maintain = stack.create_run("maintain-pools", {"pools": [POOL]})
                    passes += 1
                census = pools.census(clients, pool)
                watch.record(census, now_s)
                if ready_at_start is None and now_s >= start.timestamp():
                    ready_at_start = [lab.lab for lab in census.in_state(pools.PoolState.READY)]
                    quotas_at_start = address_usage(clients, pool)
                    _say(f"class starts: {len(ready_at_start)} seat(s) ready; {claims} claims ...")
                    claimed = _claim(clients, pool, claims)
                    _say(f"claimed {sum(1 for c in claimed if c['lab'])} lab(s)")
                if now_s >= end.timestamp() and not census.labs and stack.in_flight() == 0:
                    cleared_at = now_s
                    break
                if now_s >= deadline:
                    _say("the labs were not all gone in time")
                    break
                time.sleep(POLL_SECONDS)
            census = pools.census(clients, pool)
            after = reqlog.state(stack.emulator_url)
            leftovers = [
                f"{project}: {item}"
                for project in PROJECTS
                for item in inventory.left_behind(baselines[project], after, project)
            ]
            runs = stack.all_runs()
            counts = Counter(f"{run['flow_name']} {run['state_type']}" for run in runs)
            failed_runs = tuple(
                f"{run['flow_name']} {run['name']}: {(run.get('state') or {}).get('message', '')[:200]}"
                for run in runs
                if run["state_type"] in ("FAILED", "CRASHED")
            )
            claimed_labs = [c["lab"] for c in claimed if c["lab"]]
            placed = placed_per_project(runs)
            unclaimed_ready_late = sorted(
                lab
                for lab in watch.of("ready")
                if lab not in claimed_labs and lab not in watch.of("reaping") and lab in census_names(census)
            )
            outcome = ClassOutcome(
                seats=seats,
                fit=fit,
                ready_at_start=len(ready_at_start or []),
                placed=sum(placed.values()),
                reaped_before_grace=tuple(reaped_too_early(watch.of("reaping"), claimed_labs, grace_end)),
                unclaimed_after_grace=tuple(unclaimed_ready_late),
                labs_left=len(census.labs),
                leftovers=tuple(leftovers),
                failed_runs=failed_runs,
            )
            timeline = ReadyTimeline(start.timestamp(), watch.of("ready"))
            unclaimed_reaping = {
                lab: at for lab, at in watch.of("reaping").items() if lab not in claimed_labs
            }
            detail.update(
                ready_at_start=ready_at_start,
                ready_seconds_before_start=timeline.seconds_before_start(),
                first_ready_s_after_fill_began=_after(watch.of("ready"), now.timestamp()),
                claims=claimed,
                unclaimed_reaping_s_after_start=_after(unclaimed_reaping, start.timestamp()),
                gone_s_after_end=_after(watch.gone, end.timestamp()),
                cleared_s_after_end=round(cleared_at - end.timestamp(), 1) if cleared_at else None,
                quotas_at_start=quotas_at_start,
                placed_per_project=placed,
                fill_s=round(max(watch.of("ready").values()) - now.timestamp(), 1)
                if watch.of("ready")
                else None,
                maintain_passes=passes,
                runs=dict(sorted(counts.items())),
                failed_runs=list(failed_runs[:10]),
                leftovers=leftovers[:50],
                problems=outcome.problems(),
            )
            failed = not outcome.ok
    except Exception as exc:  # noqa: BLE001 - reported in the figure; the stack is stopped below
        detail["error"] = f"{type(exc).__name__}: {exc}"
        outcome = None
    finally:
        if previous_host is None:
            os.environ.pop(EMULATOR_ENV, None)
        else:
            os.environ[EMULATOR_ENV] = previous_host
        if stack is not None:
            stack.stop()
        if failed or keep_logs:
            detail["logs"] = str(workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    wall = round(time.monotonic() - began, 1)
    detail.update(wall_s=wall, peak_rss_mib=rss.peak_mib, peak_processes=rss.peak_processes)
    if outcome is None:
        return {"value": None, "target": TARGET, "ok": False, "detail": detail}
    value = {
        "ready_at_start": seats_text(outcome.ready_at_start, seats, fit, blocked),
        "placed": outcome.placed,
        "claimed": len([c for c in detail["claims"] if c["lab"]]),
        "unclaimed_reaped": len(detail["unclaimed_reaping_s_after_start"]),
        "labs_left": outcome.labs_left,
        "resources_left": len(outcome.leftovers),
        "wall_s": wall,
        "peak_rss_mib": rss.peak_mib,
    }
    return {"value": value, "target": TARGET, "ok": outcome.ok, "detail": detail}


def census_names(census: Any) -> set[str]:
    return {lab.lab for lab in census.labs}


def _after(times: Mapping[str, float], origin: float) -> dict[str, float]:
    return {lab: round(at - origin, 1) for lab, at in sorted(times.items(), key=lambda item: item[1])}


def _claim(clients: Any, pool: Any, count: int) -> list[dict[str, Any]]:
    """`count` students claim at once through the core, as claim-lab does; each claim timed."""
    from gke_lab import pools

    def one(number: int) -> dict[str, Any]:
        identity = f"student{number:02d}@example.com"
        began = time.monotonic()
        try:
            result = pools.claim(clients, pool, identity)
        except Exception as exc:  # noqa: BLE001 - counted as a failed claim
            return {"identity": identity, "lab": None, "error": f"{type(exc).__name__}: {exc}"}
        seconds = round(time.monotonic() - began, 2)
        return {"identity": identity, "lab": result.lab.lab if result else None, "seconds": seconds}

    with ThreadPoolExecutor(max_workers=count or 1) as threads:
        return list(threads.map(one, range(1, count + 1)))


# ------------------------------------------------------------------------------------------- command


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.pool_class", description=__doc__.split("\n\n")[0])
    ap.add_argument("--seats", type=int, default=SEATS)
    ap.add_argument("--claims", type=int, default=CLAIMS)
    ap.add_argument("--lead-minutes", type=float, default=6.0, help="from saving the class to its start")
    ap.add_argument("--class-minutes", type=float, default=3.0, help="from the start to the end")
    ap.add_argument("--grace-minutes", type=int, default=1)
    ap.add_argument("--latency-scale", type=float, default=LATENCY_SCALE)
    ap.add_argument("--keep-logs", action="store_true", help="keep the stack's directory (logs)")
    ap.add_argument("--out", type=Path, default=RESULTS / "latest.json", help="merged into this file")
    args = ap.parse_args(argv)
    figure = run_class(
        seats=args.seats,
        claims=args.claims,
        lead_minutes=args.lead_minutes,
        grace_minutes=args.grace_minutes,
        class_minutes=args.class_minutes,
        latency_scale=args.latency_scale,
        keep_logs=args.keep_logs,
    )
    merge_result(args.out, figure)
    from bench.__main__ import print_table

    print_table({"pool_class": figure})
    print(json.dumps(figure["detail"], indent=2, default=str))
    print(f"\nmerged into {args.out}")
    return 0 if figure["ok"] else 1


def merge_result(path: Path, figure: dict[str, Any]) -> None:
    """Put the figure into an existing results file (the other figures kept), or start one."""
    try:
        result = json.loads(path.read_text())
    except (OSError, ValueError):
        result = {"figures": {}}
    result.setdefault("figures", {})["pool_class"] = figure
    result["pool_class_when"] = datetime.now(UTC).isoformat(timespec="seconds")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2, default=str) + "\n")


if __name__ == "__main__":
    sys.exit(main())
