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


def test_a_fresh_record_is_respected_even_when_the_wait_is_long(prefect_harness, monkeypatch):
    monkeypatch.setenv(STALE_ENV, "3")
    spec = _spec("fresh")
    name = lock_name(spec)
    with lab_lock(spec):
        pass
    _hold_slot_like_a_dead_run(name)
    stop = threading.Event()

    def keep_alive() -> None:  # a live holder on another machine keeps beating
        while not stop.is_set():
            try:
                Variable.set(
                    record_name(name),
                    {"flow_run_id": None, "host": "elsewhere", "pid": 2, "heartbeat": time.time()},
                    overwrite=True,
                )
            except Exception:  # noqa: BLE001 - a missed beat is what a loaded holder does too
                pass
            stop.wait(0.3)

    beat = threading.Thread(target=keep_alive)
    beat.start()
    got_in = threading.Event()
    waiter = threading.Thread(target=lambda: _enter_and_flag(spec, got_in))
    waiter.start()
    try:
        assert not got_in.wait(9)  # three stale periods: still not taken from a live holder
    finally:
        stop.set()
        beat.join()
    waiter.join(60)  # once the beats stop, the record goes stale and the slot is reclaimed
    assert got_in.is_set()


def _enter_and_flag(spec: LabSpec, flag: threading.Event) -> None:
    with lab_lock(spec):
        flag.set()


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
