"""The progress rules of gke_lab.progress, driven by a fake clock (no waiting, no threads)."""

from __future__ import annotations

import re

import pytest

from gke_lab import progress
from gke_lab.progress import Cadence, Event, Phase, PlainSink, Tracker

PHASES = (Phase("network", 10.0, ("ensure-vpc",)), Phase("cluster", 60.0, ("ensure-cluster",), "creating"))


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _run(clock: Clock, tracker: Tracker, seconds: int, step: float = 1.0) -> None:
    for _ in range(int(seconds / step)):
        clock.now += step
        tracker.tick()


def test_estimate_is_the_median_with_typical_fallback_and_slow_past_p90():
    first = progress.estimate([], typical=420)
    assert (first.expected, first.runs, first.source) == (420, 0, "typical")
    est = progress.estimate([10, 30, 20, 100, 25, 22, 21, 24, 23, 26], typical=420)
    assert est.expected == 23.5 and est.runs == 10
    assert est.slow_after == 30  # nearest-rank 90th percentile
    assert progress.estimate([-5, float("nan")], typical=7).expected == 7  # nonsense ignored
    one = progress.estimate([40.0], typical=420)
    assert one.expected == 40 and one.slow_after == 50 and one.source == "median of 1 earlier run"


def test_line_never_shows_negative_time_and_says_longer_than_usual_past_p90():
    snap = progress.Snapshot("cluster", "creating", 130, 370, 450, 10, 140, 300, 2, 5)
    assert snap.line() == "cluster: creating, 2m10s elapsed, about 4m left"
    late = progress.Snapshot("cluster", "creating", 400, 370, 450, 10, 140, 0, 2, 5)
    assert late.line() == "cluster: creating, 6m40s elapsed, almost done"
    slow = progress.Snapshot("cluster", "", 500, 370, 450, 10, 140, 0, 2, 5)
    assert slow.line() == "cluster, 8m20s elapsed, longer than usual (usually 6m10s)"
    assert "-" not in late.line() and late.left == 0
    assert progress.duration(-3) == "0s" and progress.duration(3725) == "1h02m"


@pytest.mark.parametrize("heartbeat,min_gap", [(30.0, 10.0), (5.0, 2.0)])
def test_plain_lines_at_each_phase_change_and_within_the_cadence(heartbeat, min_gap):
    clock = Clock()
    cadence = Cadence(heartbeat=heartbeat, min_gap=min_gap, tick=1.0)
    lines: list[tuple[float, str]] = []
    sink = PlainSink(lambda text: lines.append((clock.now, text)), cadence, clock)
    tracker = Tracker(PHASES, sinks=[sink], clock=clock, cadence=cadence)
    tracker.start("network")
    _run(clock, tracker, 12)
    tracker.start("cluster")
    for second in range(95):
        clock.now += 1
        if second % 3 == 0:  # activity changes every 3 s: held back by the gap
            tracker.note(f"step {second}")
        tracker.tick()
    tracker.succeed()

    texts = [t for _, t in lines]
    assert texts[0].startswith("network, 0s elapsed, about 10s left")
    assert any(t.startswith("cluster: creating, 0s elapsed, about 1m left") for t in texts)
    assert texts[-1] == "done in 1m47s"
    cluster_lines = [(at, t) for at, t in lines if t.startswith("cluster")]
    times = [at for at, _ in cluster_lines]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert gaps and max(gaps) <= heartbeat and min(gaps) >= min_gap
    for _, text in cluster_lines:
        assert re.search(r"\d+(m\d+)?s elapsed, (about .+ left|almost done|longer than usual)", text)


def test_percent_moves_by_expected_durations_never_backwards_and_ends_at_100():
    clock = Clock()
    seen: list[float] = []
    tracker = Tracker(PHASES, sinks=[lambda event, snap: seen.append(snap.percent)], clock=clock)
    tracker.start("network")
    _run(clock, tracker, 30)  # network is late: held below its share
    assert seen[-1] == pytest.approx(100 * 0.95 * 10 / 70, abs=0.1)
    tracker.start("cluster")
    _run(clock, tracker, 30)
    tracker.succeed()
    assert seen == sorted(seen) and seen[-1] == 100.0
    assert len(set(seen)) >= 4
    timings = tracker.timings()
    assert [(t.phase, t.took) for t in timings] == [("network", 30.0), ("cluster", 30.0)]
    assert "| cluster | 30s | 1m (typical) |" in progress.timings_markdown(timings)


def test_failure_leaves_the_percent_where_it_stopped_naming_the_phase():
    clock = Clock()
    events: list[tuple[Event, progress.Snapshot]] = []
    tracker = Tracker(PHASES, sinks=[lambda event, snap: events.append((event, snap))], clock=clock)
    tracker.start("network")
    _run(clock, tracker, 5)
    tracker.start("cluster")
    _run(clock, tracker, 7)
    before = events[-1][1].percent
    tracker.fail()
    tracker.tick()
    tracker.succeed()  # ignored once failed
    event, snap = events[-1]
    assert event is Event.FAILED and snap.phase == "cluster" and snap.percent == before < 100
    assert "cluster" in snap.description()


def test_notes_go_to_the_active_tracker_only():
    clock = Clock()
    events: list[Event] = []
    tracker = Tracker(PHASES, sinks=[lambda event, snap: events.append(event)], clock=clock)
    progress.note("creating")  # nothing active: ignored
    progress.activate(tracker)
    try:
        tracker.start("cluster")
        progress.note("waiting for key permissions")
    finally:
        progress.activate(None)
    progress.note("after")
    assert events == [Event.PHASE, Event.ACTIVITY]
    assert tracker.snapshot().activity == "waiting for key permissions"


def test_a_sink_that_fails_never_fails_the_run():
    def broken(event, snap):
        raise RuntimeError("UI down")

    tracker = Tracker(PHASES, sinks=[broken], clock=Clock())
    tracker.start("network")
    tracker.succeed()


def test_phase_durations_span_concurrent_tasks_per_earlier_run():
    phases = (
        Phase("foundations", 90, ("ensure-vpc", "ensure-key-ring", "ensure-crypto-key")),
        Phase("cluster", 480, ("ensure-cluster",)),
    )
    runs = [
        progress.TaskRunTime("a", "ensure-vpc-1x2", 100, 130),
        progress.TaskRunTime("a", "ensure-key-ring-abc", 101, 103),
        progress.TaskRunTime("a", "ensure-crypto-key-0f3", 103, 104),
        progress.TaskRunTime("a", "ensure-cluster-9zz", 131, 171),
        progress.TaskRunTime("b", "ensure-cluster-123", 10, 52),
        progress.TaskRunTime("b", "ensure-clusterish-1", 0, 999),  # another task: not ours
        progress.TaskRunTime("b", "verify-echo-1", 0, 5),
    ]
    history = progress.phase_durations(phases, runs)
    assert history == {"foundations": [30], "cluster": [40, 42]}
    assert progress.estimates_for(phases, history)["cluster"].expected == 41
    assert progress.estimates_for(phases, {})["foundations"].source == "typical"


def test_teardown_phases_are_the_phases_teardown_walks():
    from gke_lab import teardown

    assert tuple(p.name for p in progress.TEARDOWN) == tuple(p.name for p in teardown.PHASES)
    # each phase's history is read from the task runs the teardown flow names after it
    assert all(p.tasks == (f"teardown-{p.name}",) for p in progress.TEARDOWN)


def test_on_a_terminal_one_line_in_place_and_a_kept_line_per_finished_phase():
    import io

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    sink = progress.console_sink(screen)
    assert isinstance(sink, progress.TerminalSink)
    clock = Clock()
    tracker = Tracker(PHASES, sinks=[sink], clock=clock)
    tracker.start("network")
    clock.now += 12
    tracker.tick()
    tracker.start("cluster")
    clock.now += 30
    tracker.succeed()
    text = screen.getvalue()
    assert "network: done in 12s (estimate 10s)" in text and "cluster: done in 30s (estimate 1m)" in text
    assert "\r" in text or "\x1b[" in text  # rewritten in place, not appended
    assert isinstance(progress.console_sink(io.StringIO()), PlainSink)  # a pipe: plain lines
