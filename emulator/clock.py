"""One clock for every simulated service; the durations come from the latency table (emulator/latency.py)."""

from __future__ import annotations

import datetime as _dt
import time

from emulator.latency import NODE_CREATION_FRACTION, PROFILE

__all__ = ["NODE_CREATION_FRACTION", "PROFILE", "Clock", "compute_time", "rfc3339"]


class Clock:
    def __init__(self, latency_scale: float = 1.0) -> None:
        if latency_scale < 0:
            raise ValueError("latency_scale must be >= 0")
        self.latency_scale = latency_scale

    def now(self) -> float:
        return time.time()

    def duration(self, name: str) -> float:
        """Scaled duration of a profiled operation."""
        return PROFILE[name] * self.latency_scale

    def sleep(self, name: str) -> None:
        d = self.duration(name)
        if d > 0:
            time.sleep(d)


def rfc3339(ts: float) -> str:
    return _dt.datetime.fromtimestamp(ts, _dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def compute_time(ts: float) -> str:
    """Compute Engine's timestamp style: RFC 3339 with milliseconds and a numeric offset."""
    d = _dt.datetime.fromtimestamp(ts, _dt.UTC)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + f"{d.microsecond // 1000:03d}-00:00"
