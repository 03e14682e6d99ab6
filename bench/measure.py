"""Measuring helpers: peak memory of the process tree, flow runs with their Prefect timings."""

from __future__ import annotations

import contextvars
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import psutil


class PeakRss:
    """Samples the resident memory of this process and all its descendants until stopped, plus the trees of
    `extra_roots` (processes that daemonised away from us, e.g. a PostgreSQL started by pg_ctl)."""

    def __init__(
        self, interval_s: float = 0.2, extra_roots: Callable[[], Iterable[int]] | None = None
    ) -> None:
        self.interval_s = interval_s
        self.extra_roots = extra_roots
        self.peak_bytes = 0
        self.peak_processes = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="peak-rss", daemon=True)

    def _sample(self) -> None:
        pids = [os.getpid(), *(self.extra_roots() if self.extra_roots else ())]
        tree: dict[int, psutil.Process] = {}
        for pid in pids:
            try:
                root = psutil.Process(pid)
                tree.update({p.pid: p for p in [root, *root.children(recursive=True)]})
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        total, count = 0, 0
        for proc in tree.values():
            try:
                total += proc.memory_info().rss
                count += 1
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
        if total > self.peak_bytes:
            self.peak_bytes, self.peak_processes = total, count

    def _run(self) -> None:
        while not self._stop.is_set():
            self._sample()
            self._stop.wait(self.interval_s)

    def __enter__(self) -> PeakRss:
        self._sample()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    @property
    def peak_mib(self) -> float:
        return round(self.peak_bytes / 2**20, 1)


@dataclass
class FlowTiming:
    """One flow call: wall time around the call, and the run's own start/end from Prefect."""

    ok: bool
    wall_s: float
    run_s: float | None = None
    flow_run_id: str | None = None
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def run_flow(flow: Callable[..., Any], **params: Any) -> FlowTiming:
    """Call a Prefect flow synchronously with `return_state=True` and time it."""
    t0 = time.monotonic()
    try:
        state = flow(**params, return_state=True)
    except Exception as exc:  # parameter validation and engine errors raise before a state exists
        return FlowTiming(
            ok=False, wall_s=round(time.monotonic() - t0, 3), error=f"{type(exc).__name__}: {exc}"
        )
    wall = time.monotonic() - t0
    run_id = getattr(state.state_details, "flow_run_id", None)
    timing = FlowTiming(
        ok=state.is_completed(), wall_s=round(wall, 3), flow_run_id=str(run_id) if run_id else None
    )
    if not timing.ok:
        timing.error = f"{state.type.value}: {state.message}"
    if run_id is not None:
        timing.run_s = _run_seconds(run_id)
    return timing


def _run_seconds(flow_run_id: Any) -> float | None:
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        run = client.read_flow_run(flow_run_id)
    if run.start_time and run.end_time:
        return round((run.end_time - run.start_time).total_seconds(), 3)
    return None


def in_threads(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run each call in its own thread, each with a copy of the caller's context (Prefect settings
    are context variables; a bare thread would not see the test server) and return results in order."""
    results: list[Any] = [None] * len(calls)

    def runner(i: int, fn: Callable[[], Any]) -> None:
        try:
            results[i] = fn()
        except BaseException as exc:  # reported, never swallowed silently
            results[i] = exc

    threads = []
    for i, fn in enumerate(calls):
        ctx = contextvars.copy_context()
        t = threading.Thread(target=ctx.run, args=(runner, i, fn), name=f"bench-{i}")
        threads.append(t)
        t.start()
    for t in threads:
        t.join()
    return results
