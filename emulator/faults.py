"""One fault injector: seeded random 429/503, scripted failures and per-project request quotas."""

from __future__ import annotations

import random
import re
import threading
import time
from collections import deque
from typing import Any

from emulator.errors import ApiError

_SERVICE_HOSTS = {
    "compute": "compute.googleapis.com",
    "container": "container.googleapis.com",
    "cloudkms": "cloudkms.googleapis.com",
    "cloudresourcemanager": "cloudresourcemanager.googleapis.com",
    "iam": "iam.googleapis.com",
}


def fault_error(status: int, api: str) -> ApiError:
    if status == 429:
        return ApiError(
            429,
            f"Quota exceeded for quota metric 'Queries' and limit 'Queries per minute' of service "
            f"'{_SERVICE_HOSTS.get(api, api)}'.",
            status="RESOURCE_EXHAUSTED",
            reason="rateLimitExceeded",
            domain="usageLimits",
        )
    if status == 503:
        return ApiError(
            503, "The service is currently unavailable.", status="UNAVAILABLE", reason="backendError"
        )
    if status == 500:
        return ApiError(500, "Internal error encountered.", status="INTERNAL", reason="backendError")
    return ApiError(status, f"Injected fault (HTTP {status}).")


class FaultInjector:
    def __init__(self, seed: int = 0, fault_rate: float = 0.0, quota_per_minute: int | None = None) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self._rng = random.Random(seed)
        self.fault_rate = fault_rate
        self.quota_per_minute = quota_per_minute
        self._rules: list[dict[str, Any]] = []
        self._quota: dict[str, deque[float]] = {}

    def reset(self) -> None:
        with self._lock:
            self._rng = random.Random(self._seed)
            self._rules = []
            self._quota = {}

    def configure(self, body: dict[str, Any]) -> None:
        with self._lock:
            if "fault_rate" in body:
                rate = float(body["fault_rate"])
                if not 0.0 <= rate <= 1.0:
                    raise ValueError("fault_rate must be between 0 and 1")
                self.fault_rate = rate
            if "quota_per_minute" in body:
                q = body["quota_per_minute"]
                self.quota_per_minute = None if q is None else int(q)
            for rule in body.get("rules", []):
                count = int(rule.get("count", 1))
                status = int(rule.get("status", 503))
                self._rules.append(
                    {
                        "api": rule.get("api"),
                        "method": (rule.get("method") or "").upper() or None,
                        "path_regex": rule.get("path_regex") or "",
                        "count": count,
                        "status": status,
                        "_re": re.compile(rule.get("path_regex") or ""),
                    }
                )

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "fault_rate": self.fault_rate,
                "quota_per_minute": self.quota_per_minute,
                "rules": [{k: v for k, v in r.items() if not k.startswith("_")} for r in self._rules],
            }

    def clear(self) -> None:
        with self._lock:
            self._rules = []
            self.fault_rate = 0.0

    def check(self, api: str, method: str, path: str, project: str | None) -> ApiError | None:
        """The error to answer instead of serving this request, if any."""
        with self._lock:
            for rule in self._rules:
                if rule["count"] <= 0:
                    continue
                if rule["api"] and rule["api"] != api:
                    continue
                if rule["method"] and rule["method"] != method.upper():
                    continue
                if not rule["_re"].search(path):
                    continue
                rule["count"] -= 1
                return fault_error(rule["status"], api)
            self._rules = [r for r in self._rules if r["count"] > 0]
            if project and self.quota_per_minute is not None:
                now = time.monotonic()
                window = self._quota.setdefault(project, deque())
                while window and now - window[0] >= 60.0:
                    window.popleft()
                if len(window) >= self.quota_per_minute:
                    return fault_error(429, api)
                window.append(now)
            if self.fault_rate > 0 and self._rng.random() < self.fault_rate:
                return fault_error(self._rng.choice((429, 503)), api)
        return None
