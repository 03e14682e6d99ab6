"""The lab lock: one holder at a time, and a slot left by a dead run is reclaimed."""

from __future__ import annotations

import threading
import time

import pytest
from prefect.client.orchestration import get_client
from prefect.variables import Variable

from flows.lab_lock import STALE_ENV, lab_lock, lock_name, record_name
from gke_lab.spec import LabSpec


def _spec(lab: str) -> LabSpec:
    return LabSpec(lab=lab, project_id="lock-tests")


def _active_slots(name: str) -> int:
    with get_client(sync_client=True) as client:
        return client.read_global_concurrency_limit_by_name(name).active_slots


def _hold_slot_like_a_dead_run(name: str) -> None:
    """What SIGKILL leaves: a slot taken with a lease that nobody renews or releases."""
    with get_client(sync_client=True) as client:
        client.increment_concurrency_slots_with_lease(
            names=[name], slots=1, mode="concurrency", lease_duration=3600
        )


def test_a_live_holder_excludes_a_second_run(prefect_harness, monkeypatch):
    monkeypatch.setenv(STALE_ENV, "30")
    spec = _spec("live")
    order: list[str] = []
    first_in = threading.Event()
    release_first = threading.Event()

    def first() -> None:
        with lab_lock(spec):
            order.append("first-in")
            first_in.set()
            release_first.wait(60)
            order.append("first-out")

    def second() -> None:
        first_in.wait(60)
        with lab_lock(spec):
            order.append("second-in")

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    assert first_in.wait(60)
    time.sleep(2)  # give the second run every chance to (wrongly) get in
    assert order == ["first-in"]
    assert Variable.get(record_name(lock_name(spec)))["heartbeat"] > 0
    release_first.set()
    for t in threads:
        t.join(120)
    assert order == ["first-in", "first-out", "second-in"]
    assert _active_slots(lock_name(spec)) == 0
    assert Variable.get(record_name(lock_name(spec)), default=None) is None


def test_slot_of_a_dead_holder_with_a_stale_record_is_reclaimed(prefect_harness, monkeypatch):
    monkeypatch.setenv(STALE_ENV, "2")
    spec = _spec("dead")
    name = lock_name(spec)
    with lab_lock(spec):  # creates the limit
        pass
    _hold_slot_like_a_dead_run(name)
    Variable.set(
        record_name(name),
        {"flow_run_id": None, "host": "gone", "pid": 1, "heartbeat": time.time() - 60},
        overwrite=True,
    )
    assert _active_slots(name) == 1
    with lab_lock(spec):
        assert _active_slots(name) == 1
    assert _active_slots(name) == 0


def test_slot_held_without_any_record_is_reclaimed_after_the_stale_period(prefect_harness, monkeypatch):
    monkeypatch.setenv(STALE_ENV, "2")
    spec = _spec("norecord")
    name = lock_name(spec)
    with lab_lock(spec):
        pass
    _hold_slot_like_a_dead_run(name)
    started = time.monotonic()
    with lab_lock(spec):
        waited = time.monotonic() - started
    # Ordering, not speed: the slot was only taken over after the holder stayed silent a whole period.
    assert waited >= 2
    assert _active_slots(name) == 0


class _Clock:
    """The lock's view of time (`time.time` and `time.monotonic` in flows.lab_lock), moved by the test:
    how old a heartbeat is no longer depends on how fast a loaded machine writes or reads it."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now


class _Checks:
    """Counts the waiter's looks at the holder (each follows a refused request for the slot)."""

    def __init__(self, look, got_in: threading.Event) -> None:
        self._look = look
        self._got_in = got_in
        self._count = 0
        self._changed = threading.Condition()

    def __call__(self, *args, **kwargs):
        result = self._look(*args, **kwargs)
        with self._changed:
            self._count += 1
            self._changed.notify_all()
        return result

    def enter(self, spec: LabSpec) -> None:
        """The waiter: takes the lock, then flags that it got in and wakes the test."""
        with lab_lock(spec):
            self._got_in.set()
        with self._changed:
            self._changed.notify_all()

    def count(self) -> int:
        with self._changed:
            return self._count

    def wait_beyond(self, count: int) -> None:
        with self._changed:
            # The waiter's flag is set inside the lock, after its last look: wake up for it too.
            looked = self._changed.wait_for(lambda: self._count > count or self._got_in.is_set(), timeout=120)
        assert looked, "the waiter stopped looking at the holder"


def test_a_fresh_record_is_respected_even_when_the_wait_is_long(prefect_harness, monkeypatch):
    import flows.lab_lock

    monkeypatch.setenv(STALE_ENV, "3")
    clock = _Clock()
    monkeypatch.setattr(flows.lab_lock, "time", clock)
    got_in = threading.Event()
    checks = _Checks(flows.lab_lock._holder_is_gone, got_in)
    monkeypatch.setattr(flows.lab_lock, "_holder_is_gone", checks)
    spec = _spec("fresh")
    name = lock_name(spec)
    with lab_lock(spec):
        pass
    _hold_slot_like_a_dead_run(name)

    def beat() -> None:  # a live holder on another machine (a failed write fails the test)
        record = {"flow_run_id": None, "host": "elsewhere", "pid": 2, "heartbeat": clock.now}
        Variable.set(record_name(name), record, overwrite=True)

    beat()
    waiter = threading.Thread(target=checks.enter, args=(spec,))
    waiter.start()
    # Four stale periods go by while the holder beats every second of the lock's time; the waiter looks at
    # the holder at least once in each step and finds a record at most 2 s old (one it read just before the
    # latest beat): it keeps waiting.
    for _ in range(12):
        seen = checks.count()
        beat()
        clock.now += 1
        checks.wait_beyond(seen)
        assert not got_in.is_set(), "the slot was taken from a live holder"
    # The beats stop: once the record is older than the stale period, the next look reclaims the slot.
    clock.now += 10
    waiter.join(120)
    assert got_in.is_set()
    assert _active_slots(name) == 0


def test_stale_setting_is_validated(monkeypatch):
    from flows.lab_lock import stale_seconds

    monkeypatch.setenv(STALE_ENV, "soon")
    with pytest.raises(ValueError, match=STALE_ENV):
        stale_seconds()
    monkeypatch.setenv(STALE_ENV, "0")
    with pytest.raises(ValueError, match="> 0"):
        stale_seconds()


def test_labs_whose_names_once_collided_keep_separate_heartbeats(prefect_harness, monkeypatch):
    """team-a-x/demo and team-a/x-demo: releasing one lock must not remove the other holder's record."""
    monkeypatch.setenv(STALE_ENV, "30")
    first = LabSpec(lab="demo", project_id="team-a-x")
    second = LabSpec(lab="x-demo", project_id="team-a")
    with lab_lock(first):
        with lab_lock(second):
            pass
        assert Variable.get(record_name(lock_name(first)), default=None) is not None
