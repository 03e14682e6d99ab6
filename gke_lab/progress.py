"""Progress of a lab run: the phase, how long it has taken, and how long it should still take.

The rules, written once (the terminal, the run log, the Prefect UI artifact and chat all follow them):

- A run is an ordered list of phases. A phase's expected duration is the median of its measured
  durations in earlier runs; with no history, its typical figure on real Google Cloud (`Phase.typical`).
  Past the 90th percentile of that history (with fewer than three runs: 25 % past the longest) the phase
  is "longer than usual". Time left is never negative.
- Plain output (a pipe, a file, the run log): one line at each phase change; while a phase lasts, one
  line at least every `Cadence.heartbeat` seconds (a tick early rather than late), and never more
  than one per `Cadence.min_gap` seconds for the same phase (a change of activity inside a phase
  waits for the gap). Terminal: one line rewritten in place, and a line per finished phase.
- The overall percentage moves by expected phase durations: finished phases count their expected share,
  the current one its elapsed time up to 95 % of its share. It never goes backwards, reaches 100 only on
  success, and stays where it stopped on failure.

The core's waits (ops, echo) call `note(activity)`; it goes to the tracker the face installed with
`activate` (the CLI on a terminal, the flow in a worker), and does nothing when there is none.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from statistics import median
from typing import Protocol


@dataclass(frozen=True)
class Phase:
    """A step of a run as the user sees it; `tasks` are the Prefect task names whose runs measure it."""

    name: str
    typical: float  # seconds on real Google Cloud, used until the project has history
    tasks: tuple[str, ...]
    activity: str = ""


# Typical figures for real Google Cloud, in seconds. They are the product's own figures, not the
# emulator's latency table: GKE documents regional cluster creation as "several minutes" (we observe
# 6-9 min for a private regional cluster with CMEK, plus up to a minute of key-permission propagation),
# deletion 3-5 min; compute network/subnet/router operations 10-30 s each, a default network delete
# 40-60 s with its four firewall rules; Cloud KMS and IAM calls under a second each; a first echo
# rollout on fresh COS nodes ~45 s (image pull through Cloud NAT); verification and audit reads ~15 s.
PROVISION: tuple[Phase, ...] = (
    Phase(
        "preparing", 5.0, ("project-number", "server-config", "default-network-guard"), "reading the project"
    ),
    Phase(
        "network, keys and service account",
        90.0,
        (
            "delete-default-network",
            "ensure-vpc",
            "ensure-subnet",
            "ensure-router-nat",
            "ensure-key-ring",
            "ensure-crypto-key",
            "ensure-key-bindings",
            "ensure-node-service-account",
            "ensure-project-roles",
        ),
        "creating",
    ),
    Phase("cluster", 480.0, ("ensure-cluster",), "creating"),
    Phase("workload", 45.0, ("deploy-echo",), "rolling out the echo service"),
    Phase("verification", 15.0, ("verify-echo", "audit-cluster", "network-impact"), "checking"),
)

# Named as gke_lab.teardown.PHASES, which the teardown flow walks.
TEARDOWN: tuple[Phase, ...] = (
    Phase("in_use", 3.0, ("teardown-in_use",), "checking what still uses the lab"),
    Phase("access", 3.0, ("teardown-access",), "revoking the claimant's access"),
    Phase("workload", 10.0, ("teardown-workload",), "deleting"),
    Phase("cluster", 240.0, ("teardown-cluster",), "deleting"),
    Phase("firewalls", 20.0, ("teardown-firewalls",), "deleting"),
    Phase("router", 20.0, ("teardown-router",), "deleting"),
    Phase("subnetwork", 20.0, ("teardown-subnetwork",), "deleting"),
    Phase("network", 20.0, ("teardown-network",), "deleting"),
    Phase("bindings", 3.0, ("teardown-bindings",), "removing"),
    Phase("service_account", 2.0, ("teardown-service_account",), "deleting"),
    Phase("keys", 2.0, ("teardown-keys",), "scheduling destruction"),
)

SLOW_FEW_RUNS = 1.25  # with fewer than three runs, "longer than usual" starts 25 % past the longest
FEW_RUNS = 3
PHASE_SHARE_CAP = 0.95  # the current phase counts at most 95 % of its share until it finishes


# --- estimates ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Estimate:
    expected: float  # seconds
    slow_after: float  # seconds; past this the phase is "longer than usual"
    runs: int  # how many earlier runs it is based on; 0 = the typical figure

    @property
    def source(self) -> str:
        return f"median of {self.runs} earlier run{'s' if self.runs != 1 else ''}" if self.runs else "typical"


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of non-empty values."""
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[rank - 1]


def estimate(durations: Iterable[float], typical: float) -> Estimate:
    measured = [d for d in durations if d >= 0 and math.isfinite(d)]
    if not measured:
        return Estimate(typical, typical * SLOW_FEW_RUNS, 0)
    expected = float(median(measured))
    if len(measured) < FEW_RUNS:
        slow = max(measured) * SLOW_FEW_RUNS
    else:
        slow = max(expected, percentile(measured, 0.9))
    return Estimate(expected, slow, len(measured))


@dataclass(frozen=True)
class TaskRunTime:
    """One completed task run of an earlier run, as the Prefect API reports it."""

    flow_run: str
    task_run_name: str  # `<task name>-<3 characters>` (Prefect's default run name)
    start: float  # unix seconds
    end: float


def task_of(task_run_name: str, phases: Sequence[Phase]) -> Phase | None:
    """The phase a task run belongs to, by the longest task name its run name starts with."""
    best: tuple[int, Phase] | None = None
    for phase in phases:
        for task in phase.tasks:
            if task_run_name == task or task_run_name.startswith(task + "-"):
                if best is None or len(task) > best[0]:
                    best = (len(task), phase)
    return best[1] if best else None


def phase_durations(phases: Sequence[Phase], runs: Iterable[TaskRunTime]) -> dict[str, list[float]]:
    """Each phase's duration in each earlier flow run: from its first task's start to its last task's end
    (tasks of a phase run concurrently, so their durations do not add up)."""
    spans: dict[tuple[str, str], tuple[float, float]] = {}
    for run in runs:
        phase = task_of(run.task_run_name, phases)
        if phase is None or run.end < run.start:
            continue
        key = (phase.name, run.flow_run)
        first, last = spans.get(key, (run.start, run.end))
        spans[key] = (min(first, run.start), max(last, run.end))
    history: dict[str, list[float]] = {p.name: [] for p in phases}
    for (phase_name, _), (first, last) in spans.items():
        history[phase_name].append(last - first)
    return history


def estimates_for(phases: Sequence[Phase], history: Mapping[str, Sequence[float]]) -> dict[str, Estimate]:
    return {p.name: estimate(history.get(p.name, ()), p.typical) for p in phases}


# --- words --------------------------------------------------------------------------------------------------
def duration(seconds: float) -> str:
    """45s, 2m10s, 1h02m (never negative)."""
    s = max(0, int(round(seconds)))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s" if s % 60 else f"{s // 60}m"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"


def about(seconds: float) -> str:
    """A rounded time left: 5 s steps under 90 s, whole minutes above."""
    s = max(0.0, seconds)
    if s < 90:
        return duration(5 * round(s / 5))
    return duration(60 * round(s / 60))


@dataclass(frozen=True)
class Snapshot:
    """Where a run is now: what every face renders."""

    phase: str
    activity: str
    elapsed: float  # in this phase
    expected: float
    slow_after: float
    percent: float  # of the whole run, 0-100
    run_elapsed: float
    run_left: float  # this phase's time left plus the later phases' expected durations
    index: int  # 1-based phase number
    phases: int

    @property
    def left(self) -> float:
        return max(0.0, self.expected - self.elapsed)

    @property
    def slow(self) -> bool:
        return self.elapsed > self.slow_after

    def outlook(self) -> str:
        if self.slow:
            return f"longer than usual (usually {duration(self.expected)})"
        if self.left < 5:
            return "almost done"
        return f"about {about(self.left)} left"

    def line(self) -> str:
        """`cluster: creating, 2m10s elapsed, about 4m left` (Terraform's spirit)."""
        head = f"{self.phase}: {self.activity}" if self.activity else self.phase
        return f"{head}, {duration(self.elapsed)} elapsed, {self.outlook()}"

    def description(self) -> str:
        """One sentence for the Prefect UI artifact and chat."""
        return (
            f"phase {self.index}/{self.phases}: {self.line()}; run {duration(self.run_elapsed)} elapsed, "
            f"about {about(self.run_left)} left"
        )


@dataclass(frozen=True)
class Timing:
    phase: str
    took: float
    expected: float
    source: str


def timings_markdown(timings: Sequence[Timing]) -> str:
    if not timings:
        return ""
    rows = [f"| {t.phase} | {duration(t.took)} | {duration(t.expected)} ({t.source}) |" for t in timings]
    total = sum(t.took for t in timings)
    return "\n".join(
        [
            f"## Phases ({duration(total)} in total)",
            "",
            "| phase | took | estimate |",
            "|---|---|---|",
            *rows,
        ]
    )


# --- events and sinks ---------------------------------------------------------------------------------------
class Event(Enum):
    PHASE = "phase"  # a phase started
    ACTIVITY = "activity"  # what the current phase waits for changed
    TICK = "tick"  # time passed
    DONE = "done"  # a phase finished (snapshot of the finished phase)
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Sink(Protocol):
    def __call__(self, event: Event, snapshot: Snapshot) -> None: ...


@dataclass(frozen=True)
class Cadence:
    heartbeat: float = 30.0  # plain output: at least one line this often while a phase lasts
    min_gap: float = 10.0  # ... and never more than one line this often for the same phase
    tick: float = 1.0  # how often the tracker looks at the clock


HEARTBEAT_ENV = "GKE_LAB_PROGRESS_HEARTBEAT"
MIN_GAP_ENV = "GKE_LAB_PROGRESS_MIN_GAP"


def cadence_from_env() -> Cadence:
    """The cadence, with the two rules overridable for tests and chatty CI logs (bad values are refused)."""
    values: dict[str, float] = {}
    for env, name in ((HEARTBEAT_ENV, "heartbeat"), (MIN_GAP_ENV, "min_gap")):
        raw = os.environ.get(env, "").strip()
        if not raw:
            continue
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"{env}: {raw!r} is not a number of seconds") from None
        if not 0.5 <= value <= 3600:
            raise ValueError(f"{env}: {raw} is out of range (accepted: 0.5 to 3600 seconds)")
        values[name] = value
    cadence = Cadence(**values)
    if cadence.min_gap > cadence.heartbeat:
        raise ValueError(f"{MIN_GAP_ENV}: {cadence.min_gap} exceeds {HEARTBEAT_ENV} ({cadence.heartbeat})")
    return cadence


class PlainSink:
    """Lines for a pipe, a file or a log, following `Cadence`."""

    def __init__(self, write: Callable[[str], None], cadence: Cadence, clock: Callable[[], float]):
        self.write, self.cadence, self.clock = write, cadence, clock
        self._last: float | None = None
        self._lock = threading.Lock()

    def __call__(self, event: Event, snapshot: Snapshot) -> None:
        now = self.clock()
        with self._lock:
            if event is Event.PHASE:
                text = snapshot.line()
            elif event in (Event.ACTIVITY, Event.TICK):
                gap = now - (self._last if self._last is not None else -math.inf)
                # A tick may come up to one tick late: ask for the line one tick early, so lines are
                # never further apart than the heartbeat.
                due = self.cadence.heartbeat - self.cadence.tick if event is Event.TICK else 0.0
                if gap < max(due, self.cadence.min_gap):
                    return
                text = snapshot.line()
            elif event is Event.DONE:
                return  # the next PHASE line (or the end line) says it
            elif event is Event.SUCCEEDED:
                text = f"done in {duration(snapshot.run_elapsed)}"
            else:
                text = f"failed during {snapshot.phase} after {duration(snapshot.run_elapsed)}"
            self._last = now
        self.write(text)


class TerminalSink:
    """One line rewritten in place (rich), and one kept line per finished phase."""

    def __init__(self, stream: object | None = None):
        from rich.console import Console
        from rich.live import Live
        from rich.text import Text

        self._text = Text
        self.console = Console(file=stream, stderr=stream is None)  # type: ignore[arg-type]
        self.live = Live(Text(""), console=self.console, refresh_per_second=4, transient=True)
        self._started = False
        self._lock = threading.Lock()

    def __call__(self, event: Event, snapshot: Snapshot) -> None:
        with self._lock:
            if not self._started:
                self.live.start()
                self._started = True
            if event is Event.DONE:
                took = f"done in {duration(snapshot.elapsed)} (estimate {duration(snapshot.expected)})"
                self.live.console.print(f"[green]✓[/green] {snapshot.phase}: {took}", highlight=False)
                return
            if event in (Event.SUCCEEDED, Event.FAILED):
                self.live.stop()
                self._started = False
                if event is Event.FAILED:
                    self.console.print(
                        f"[red]✗[/red] {snapshot.phase}: failed after {duration(snapshot.elapsed)}",
                        highlight=False,
                    )
                return
            self.live.update(self._text(f"{snapshot.line()}  [{snapshot.percent:.0f} %]"))


# --- the tracker --------------------------------------------------------------------------------------------
@dataclass
class _State:
    index: int = -1
    phase_start: float = 0.0
    activity: str = ""
    percent: float = 0.0
    finished: list[Timing] = field(default_factory=list)
    ended: bool = False


class Tracker:
    """Follows one run through its phases and tells its sinks (thread-safe; sinks must not block long)."""

    def __init__(
        self,
        phases: Sequence[Phase],
        estimates: Mapping[str, Estimate] | None = None,
        sinks: Sequence[Sink] = (),
        *,
        clock: Callable[[], float] = time.monotonic,
        cadence: Cadence = Cadence(),
    ):
        self.phases = tuple(phases)
        self.estimates = dict(estimates or estimates_for(self.phases, {}))
        self.sinks = list(sinks)
        self.clock, self.cadence = clock, cadence
        self.started = clock()
        self._state = _State(phase_start=self.started)
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    # expected shares
    def _expected(self, index: int) -> float:
        return max(0.0, self.estimates[self.phases[index].name].expected)

    def _total(self) -> float:
        return sum(self._expected(i) for i in range(len(self.phases))) or 1.0

    def snapshot(self) -> Snapshot:
        with self._lock:
            now = self.clock()
            st = self._state
            index = max(0, st.index)
            phase = self.phases[index]
            est = self.estimates[phase.name]
            elapsed = max(0.0, now - st.phase_start) if st.index >= 0 else 0.0
            if not st.ended and st.index >= 0:
                done = sum(self._expected(i) for i in range(index))
                share = min(elapsed, PHASE_SHARE_CAP * self._expected(index))
                st.percent = max(st.percent, min(99.9, 100.0 * (done + share) / self._total()))
            later = sum(self._expected(i) for i in range(index + 1, len(self.phases)))
            return Snapshot(
                phase=phase.name,
                activity=st.activity,
                elapsed=elapsed,
                expected=est.expected,
                slow_after=est.slow_after,
                percent=round(st.percent, 1),
                run_elapsed=max(0.0, now - self.started),
                run_left=max(0.0, est.expected - elapsed) + later,
                index=index + 1,
                phases=len(self.phases),
            )

    def _emit(self, event: Event, snapshot: Snapshot | None = None) -> None:
        snap = snapshot or self.snapshot()
        for sink in self.sinks:
            try:
                sink(event, snap)
            except Exception:  # noqa: BLE001 - progress never fails the run it reports on
                pass

    def _finish_current(self) -> None:
        st = self._state
        if st.index < 0:
            return
        snap = self.snapshot()
        est = self.estimates[snap.phase]
        st.finished.append(Timing(snap.phase, snap.elapsed, est.expected, est.source))
        self._emit(Event.DONE, snap)

    def start(self, name: str, activity: str | None = None) -> None:
        """Enter phase `name` (phases may be skipped, never revisited)."""
        with self._lock:
            index = next(i for i, p in enumerate(self.phases) if p.name == name)
            if index <= self._state.index or self._state.ended:
                return
            self._finish_current()
            self._state.index = index
            self._state.phase_start = self.clock()
            self._state.activity = self.phases[index].activity if activity is None else activity
            self._emit(Event.PHASE)

    def note(self, activity: str) -> None:
        with self._lock:
            if self._state.ended or self._state.index < 0 or activity == self._state.activity:
                return
            self._state.activity = activity
            self._emit(Event.ACTIVITY)

    def tick(self) -> None:
        with self._lock:
            if not self._state.ended and self._state.index >= 0:
                self._emit(Event.TICK)

    def succeed(self) -> None:
        with self._lock:
            if self._state.ended:
                return
            self._finish_current()
            self._state.ended = True
            self._state.percent = 100.0
            self._emit(Event.SUCCEEDED, replace(self.snapshot(), percent=100.0))
        self.stop_ticking()

    def fail(self) -> None:
        with self._lock:
            if self._state.ended:
                return
            snap = self.snapshot()
            self._state.ended = True
            self._emit(Event.FAILED, snap)
        self.stop_ticking()

    def timings(self, include_current: bool = False) -> list[Timing]:
        """Finished phases (and, when asked, the current one so far): how long each took, against what."""
        with self._lock:
            done = list(self._state.finished)
            if include_current and not self._state.ended and self._state.index >= 0:
                snap = self.snapshot()
                est = self.estimates[snap.phase]
                done.append(Timing(snap.phase, snap.elapsed, est.expected, est.source))
            return done

    # a background ticker, so a wait that blocks for minutes (a long poll) still reports
    def start_ticking(self, wait: Callable[[float], bool] | None = None) -> None:
        pause = wait or self._stop.wait

        def run() -> None:
            while not pause(self.cadence.tick):
                self.tick()

        self._ticker = threading.Thread(target=run, name="gke-lab-progress", daemon=True)
        self._ticker.start()

    def stop_ticking(self) -> None:
        self._stop.set()
        if self._ticker is not None and self._ticker is not threading.current_thread():
            self._ticker.join(timeout=5)
        self._ticker = None


# --- where the core's notes go ------------------------------------------------------------------------------
_active: Tracker | None = None
_output: Sink | None = None
_active_lock = threading.Lock()


def activate(tracker: Tracker | None) -> None:
    """Install the tracker the core's waits report to (None: none)."""
    global _active
    with _active_lock:
        _active = tracker


def active() -> Tracker | None:
    return _active


def note(activity: str) -> None:
    """What the current phase is waiting for, e.g. `creating`; a no-op when nothing is tracked."""
    tracker = _active
    if tracker is not None:
        tracker.note(activity)


def set_output(sink: Sink | None) -> None:
    """The face's sink for progress lines (the CLI's terminal or pipe); None = the run log."""
    global _output
    _output = sink


def output() -> Sink | None:
    return _output


class Quiet:
    """The sink of `--quiet`: nothing."""

    def __call__(self, event: Event, snapshot: Snapshot) -> None:
        return None


def console_sink(
    stream: object, cadence: Cadence = Cadence(), clock: Callable[[], float] = time.monotonic
) -> Sink:
    """In place on a terminal, plain lines elsewhere."""
    isatty = getattr(stream, "isatty", None)
    if callable(isatty) and isatty():
        return TerminalSink(stream)

    def write(text: str) -> None:
        # Not print(): a flow with log_prints=True would turn the line into a run log record.
        stream.write(text + "\n")  # type: ignore[attr-defined]
        stream.flush()  # type: ignore[attr-defined]

    return PlainSink(write, cadence, clock)
