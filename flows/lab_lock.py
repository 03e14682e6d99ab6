"""One mutating run per lab at a time, recoverable when a holder dies.

The lock is a one-slot Prefect global concurrency limit named by `LabIdentity.lock_name`. A run killed
with SIGKILL never releases its slot, and the server only revokes an expired lease when its
repossessor service runs (not in an ephemeral or test server, and only after the lease duration),
so the holder also keeps a heartbeat record in a Prefect Variable. A waiter reclaims the slot when the
holder's record has not been renewed for `GKE_LAB_LOCK_STALE_SECONDS` (default 120 s: keep it above the
60 s lease plus the server's 15 s repossessor interval on a real server, so both never free the same
slot; tests lower it), or when the holder's flow run has already ended.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from prefect import get_run_logger
from prefect.client.orchestration import get_client
from prefect.client.schemas.actions import GlobalConcurrencyLimitCreate, GlobalConcurrencyLimitUpdate
from prefect.concurrency.sync import concurrency
from prefect.context import FlowRunContext
from prefect.exceptions import MissingContextError, ObjectAlreadyExists, ObjectNotFound
from prefect.variables import Variable

from gke_lab.identity import LabIdentity, heartbeat_name_of_lock, identity_of
from gke_lab.spec import LabSpec

STALE_ENV = "GKE_LAB_LOCK_STALE_SECONDS"
DEFAULT_STALE_SECONDS = 120.0


def lock_name(lab: LabSpec | LabIdentity) -> str:
    return identity_of(lab).lock_name


def stale_seconds() -> float:
    raw = os.environ.get(STALE_ENV, "")
    try:
        value = float(raw) if raw else DEFAULT_STALE_SECONDS
    except ValueError as exc:
        raise ValueError(f"{STALE_ENV}={raw!r} is not a number of seconds (accepted: a number > 0)") from exc
    if value <= 0:
        raise ValueError(f"{STALE_ENV}={raw!r} must be > 0")
    return value


def record_name(name: str) -> str:
    """The Variable holding the heartbeat of the holder of lock `name` (one per lab, never shared)."""
    return heartbeat_name_of_lock(name)


def _ensure_limit(name: str) -> None:
    # prefect 3.9.1 silently skips acquisition for a limit that does not exist: create it first.
    with get_client(sync_client=True) as client:
        try:
            client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            try:
                client.create_global_concurrency_limit(GlobalConcurrencyLimitCreate(name=name, limit=1))
            except ObjectAlreadyExists:  # another run created it first
                pass


def _own_flow_run_id() -> str | None:
    ctx = FlowRunContext.get()
    return str(ctx.flow_run.id) if ctx and ctx.flow_run else None


def _holder_record() -> dict[str, Any]:
    return {
        "flow_run_id": _own_flow_run_id(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "heartbeat": time.time(),
    }


def _holder_ended(record: dict[str, Any]) -> bool:
    run_id = record.get("flow_run_id")
    if not run_id:
        return False
    with get_client(sync_client=True) as client:
        try:
            state = client.read_flow_run(run_id).state
        except ObjectNotFound:
            return True
    return bool(state and state.is_final())


def _holder_is_gone(name: str, stale: float, silent_since: float) -> tuple[dict[str, Any] | None, bool]:
    """(the stale record, or {} when there is none, if the slot's holder is gone else None; whether a
    record was seen). A holder writes its record right after acquiring, so no record during a whole stale
    period means it died in between (or predates records)."""
    record = Variable.get(record_name(name), default=None)
    if not isinstance(record, dict):
        return ({} if time.monotonic() - silent_since > stale else None), False
    if time.time() - float(record.get("heartbeat", 0)) > stale or _holder_ended(record):
        return record, True
    return None, True


def _reclaim(name: str, seen: dict[str, Any]) -> bool:
    # Re-read right before freeing: a holder that took the slot meanwhile has written a fresh record.
    current = Variable.get(record_name(name), default=None)
    if (current or {}) != seen:
        return False
    with get_client(sync_client=True) as client:
        client.update_global_concurrency_limit(name, GlobalConcurrencyLimitUpdate(active_slots=0))
    Variable.unset(record_name(name))
    return True


def _logger() -> logging.Logger | logging.LoggerAdapter:
    try:
        return get_run_logger()
    except MissingContextError:
        return logging.getLogger(__name__)


class _Heartbeat:
    """Keeps the holder's record fresh while the body runs; removes it on release."""

    def __init__(self, name: str, interval: float) -> None:
        self._name = record_name(name)
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"lock-heartbeat {name}", daemon=True)

    def __enter__(self) -> _Heartbeat:
        Variable.set(self._name, _holder_record(), overwrite=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                Variable.set(self._name, _holder_record(), overwrite=True)
            except Exception:  # noqa: BLE001 - a missed beat only shortens the margin; the next one retries
                pass

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        Variable.unset(self._name)


@contextmanager
def lab_lock(lab: LabSpec | LabIdentity) -> Iterator[None]:
    """Hold the lab's one slot for the body; wait while a live run holds it, reclaim it from a dead one."""
    name = lock_name(lab)
    stale = stale_seconds()
    _ensure_limit(name)
    silent_since = time.monotonic()  # when the holder last showed a live record (or we started waiting)
    with ExitStack() as stack:
        while True:
            try:
                # The lease renews itself while held; its duration only matters once the holder is dead.
                stack.enter_context(
                    concurrency(
                        name,
                        occupy=1,
                        strict=True,
                        timeout_seconds=max(min(stale / 4, 15.0), 0.5),
                        lease_duration=max(stale / 2, 60.0),  # the server's minimum is 60 s
                    )
                )
                break
            except TimeoutError:
                seen, spoke = _holder_is_gone(name, stale, silent_since)
                if spoke and seen is None:
                    silent_since = time.monotonic()
                if seen is not None and _reclaim(name, seen):
                    _logger().warning(
                        "reclaimed lab lock %s from a run that stopped without releasing it (%s)",
                        name,
                        seen.get("flow_run_id") or "no holder record",
                    )
                    silent_since = time.monotonic()
        stack.enter_context(_Heartbeat(name, max(stale / 6, 0.2)))
        yield
