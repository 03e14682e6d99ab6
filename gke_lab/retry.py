"""Exponential backoff with jitter, for single calls, read-modify-write loops and Prefect task retries."""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from gke_lab.errors import is_transient, permanent

T = TypeVar("T")
log = logging.getLogger("gke_lab.retry")


@dataclass(frozen=True)
class Backoff:
    """delay(n) = min(cap, base * factor**n) * (1 +- jitter); attempts counts the first try."""

    base: float = 0.25
    factor: float = 2.0
    cap: float = 10.0
    jitter: float = 0.5
    attempts: int = 8

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        draw = rng.random if rng is not None else random.random
        for n in range(self.attempts - 1):
            raw = min(self.cap, self.base * self.factor**n)
            yield max(0.0, raw * (1 + self.jitter * (2 * draw() - 1)))


DEFAULT = Backoff()


def call(
    fn: Callable[[], T],
    *,
    resource: str,
    action: str,
    retryable: Callable[[BaseException], bool] = is_transient,
    backoff: Backoff = DEFAULT,
    sleep: Callable[[float], None] = time.sleep,
) -> T:
    """Run `fn`, retrying transient failures; a permanent one (or the last) raises a LabError.

    Used for single calls and for whole read-modify-write loops (fn re-reads the etag on every attempt).
    """
    delays = backoff.delays()
    while True:
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - classified below
            if not retryable(exc):
                raise permanent(exc, resource, action) from exc
            delay = next(delays, None)
            if delay is None:
                raise permanent(
                    exc, resource, f"{action} (gave up after {backoff.attempts} attempts)"
                ) from exc
            log.warning("%s %s: %s; retrying in %.1f s", action, resource, exc, delay)
            sleep(delay)


def retry_condition(task: Any, task_run: Any, state: Any) -> bool:
    """A Prefect `retry_condition_fn`: retry a failed task run only when its error is transient.

    Duck-typed on the state (this package does not import Prefect).
    """
    try:
        exc = state.result(raise_on_failure=False)
    except Exception as err:  # noqa: BLE001 - reading the result may itself raise the error
        exc = err
    if isinstance(exc, BaseException):
        # A LabError wrapping a transient cause means the in-task retries were exhausted: retry the task.
        return is_transient(exc) or (exc.__cause__ is not None and is_transient(exc.__cause__))
    return False
