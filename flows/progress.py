"""The Prefect side of gke_lab.progress: estimates from earlier task runs, the progress artifact, the run log.

`tracked(spec, phases, flow_name)` wraps a flow body: it reads the history through the Prefect API, keeps
one progress artifact per run (key `<lab>-<project>-progress`), writes progress lines to the face's
sink (the CLI's terminal) or, in a worker, to the run log at the same cadence, and lets the core's waits
report to it. The rules themselves are in gke_lab.progress.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING
from uuid import UUID

from prefect import get_run_logger
from prefect.artifacts import create_progress_artifact, update_progress_artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    ArtifactFilter,
    ArtifactFilterFlowRunId,
    ArtifactFilterType,
    FlowFilter,
    FlowFilterName,
    FlowRunFilter,
    FlowRunFilterTags,
    TaskRunFilter,
    TaskRunFilterState,
    TaskRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.client.schemas.sorting import ArtifactSort, TaskRunSort
from prefect.context import FlowRunContext

from gke_lab import progress
from gke_lab.identity import LabIdentity
from gke_lab.progress import HEARTBEAT_ENV as HEARTBEAT_ENV  # read by the command line before Prefect loads
from gke_lab.progress import MIN_GAP_ENV as MIN_GAP_ENV
from gke_lab.progress import Cadence, Event, Phase, PlainSink, Snapshot, Tracker, cadence_from_env
from gke_lab.spec import LabSpec

if TYPE_CHECKING:
    from prefect.client.orchestration import SyncPrefectClient

HISTORY_LIMIT = 200  # task runs read (newest first): the last ten or so runs


def _task_run_times(
    client: SyncPrefectClient, flow_name: str, tags: list[str] | None, exclude: UUID | None
) -> list[progress.TaskRunTime]:
    task_runs = client.read_task_runs(
        flow_filter=FlowFilter(name=FlowFilterName(any_=[flow_name])),
        flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=tags)) if tags else None,
        task_run_filter=TaskRunFilter(
            state=TaskRunFilterState(type=TaskRunFilterStateType(any_=[StateType.COMPLETED]))
        ),
        sort=TaskRunSort.END_TIME_DESC,
        limit=HISTORY_LIMIT,
    )
    return [
        progress.TaskRunTime(str(t.flow_run_id), t.name, t.start_time.timestamp(), t.end_time.timestamp())
        for t in task_runs
        # Cached task runs did no work (no start time); the current run is not history.
        if t.start_time and t.end_time and t.flow_run_id and t.flow_run_id != exclude
    ]


def history(
    phases: Sequence[Phase],
    flow_name: str,
    spec: LabIdentity | LabSpec | None = None,
    exclude: UUID | None = None,
) -> dict[str, list[float]]:
    """Each phase's durations in earlier runs of `flow_name`, from their COMPLETED task runs: this lab's
    runs when it has any (same spec, same sizes), else every lab's."""
    with get_client(sync_client=True) as client:
        if spec is not None:
            tags = [f"lab:{spec.lab}", f"project:{spec.project_id}"]
            own = progress.phase_durations(phases, _task_run_times(client, flow_name, tags, exclude))
            if any(own.values()):
                return own
        return progress.phase_durations(phases, _task_run_times(client, flow_name, None, exclude))


def existing_artifact(run_id: UUID | None) -> tuple[UUID | None, float]:
    """The progress artifact this flow run already has (a flow-level retry), and where it stands."""
    if run_id is None:
        return None, 0.0
    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]), type=ArtifactFilterType(any_=["progress"])
            ),
            sort=ArtifactSort.UPDATED_DESC,
            limit=1,
        )
    if not found:
        return None, 0.0
    data = found[0].data or 0.0
    if not isinstance(data, (int, float, str)):  # not a percentage (JSON: an object or a list)
        return found[0].id, 0.0
    try:
        return found[0].id, float(data)
    except ValueError:
        return found[0].id, 0.0


class ArtifactSink:
    """One progress artifact per run: created at the first event, updated at phase changes and at most
    once per `interval` seconds in between, never backwards, 100 on success, left as it is on failure."""

    def __init__(
        self,
        key: str,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
        artifact_id: UUID | None = None,
        floor: float = 0.0,
    ):
        self.key, self.interval, self.clock = key, interval, clock
        self.artifact_id = artifact_id  # a flow-level retry keeps the run's artifact, and its percent
        self._last = (floor, "", -float("inf"))  # percent, description, when
        self._lock = threading.Lock()

    def __call__(self, event: Event, snapshot: Snapshot) -> None:
        if event is Event.SUCCEEDED:
            percent, description = 100.0, f"done in {progress.duration(snapshot.run_elapsed)}"
        elif event is Event.FAILED:
            percent = snapshot.percent
            description = (
                f"failed during phase {snapshot.index}/{snapshot.phases} ({snapshot.phase}) after "
                f"{progress.duration(snapshot.elapsed)} in it; run {progress.duration(snapshot.run_elapsed)}"
            )
        else:
            percent, description = snapshot.percent, snapshot.description()
        with self._lock:
            last_percent, _, last_when = self._last
            percent = max(percent, last_percent)
            now = self.clock()
            final = event in (Event.PHASE, Event.SUCCEEDED, Event.FAILED)
            if not final and (now - last_when < self.interval or event is Event.DONE):
                return
            if self.artifact_id is None:
                created = create_progress_artifact(percent, key=self.key, description=description)
                # Prefect answers a coroutine inside an event loop; the lab flows are synchronous.
                if not isinstance(created, UUID):
                    raise RuntimeError("progress artifacts are created synchronously: outside an event loop")
                self.artifact_id = created
            else:
                update_progress_artifact(self.artifact_id, percent, description=description)
            self._last = (percent, description, now)


def run_log_sink(cadence: Cadence) -> progress.Sink:
    logger = get_run_logger()
    return PlainSink(lambda text: logger.info("progress: %s", text), cadence, time.monotonic)


@contextlib.contextmanager
def tracked(spec: LabIdentity | LabSpec, phases: Sequence[Phase], flow_name: str) -> Iterator[Tracker]:
    """Follow the flow body through `phases`; succeed when it returns, fail (where it stopped) on raise."""
    from flows.common import artifact_key

    cadence = cadence_from_env()
    ctx = FlowRunContext.get()
    run_id = ctx.flow_run.id if ctx and ctx.flow_run else None
    try:
        past = history(phases, flow_name, spec, exclude=run_id)
        artifact_id, floor = existing_artifact(run_id)
    except Exception as exc:  # noqa: BLE001 - no history is a first run, not a failure
        get_run_logger().warning("no run history for estimates (%s); using typical figures", exc)
        past, artifact_id, floor = {}, None, 0.0
    sinks: list[progress.Sink] = [progress.output() or run_log_sink(cadence)]
    key = artifact_key(spec, "progress")
    sinks.append(ArtifactSink(key, interval=cadence.min_gap, artifact_id=artifact_id, floor=floor))
    tracker = Tracker(phases, progress.estimates_for(phases, past), sinks, cadence=cadence)
    previous = progress.active()
    progress.activate(tracker)
    tracker.start_ticking()
    try:
        yield tracker
    except BaseException:
        tracker.fail()
        raise
    else:
        tracker.succeed()
    finally:
        tracker.stop_ticking()
        progress.activate(previous)
