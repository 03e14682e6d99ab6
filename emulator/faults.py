"""One fault injector: seeded random 429/503, scripted failures and per-project request quotas.

A rule fails matching requests in one of two ways Google really has:

- `"mode": "before"` (the default): the request is refused before it is served, nothing changes;
- `"mode": "lost_response"`: the request is served (the create or delete takes effect), then its answer is
  lost: the client gets `status` (503 by default) or, with `"drop": true`, a connection closed without an
  answer -- a timeout or a proxy failure after the backend committed. A client that retries meets the effect
  of its first attempt (409 already exists, 404 on a delete, an operation still running).

Rules match on `api` (compute, container, cloudkms, cloudresourcemanager, iam, serviceusage, kubernetes),
`method`, `path_regex` and `mutating` (only requests that change something), and a lost response's on
`served_ok` (only answers of requests that succeeded: a create that took effect, not one refused anyway);
`probability` (0-1) picks a share of the matching requests, and `count` (null = unlimited) bounds how many
are failed. The pick depends only on the seed and on the request (API, method, path and how many such
requests the rule saw before), not on how concurrent requests interleave, so a seed fails the same requests
in every run. The random `fault_rate` and the quota apply to Google's APIs only,
never to a cluster's Kubernetes API, which only rules naming it (or no api) reach.
"""

from __future__ import annotations

import random
import re
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

from emulator.errors import ApiError

_SERVICE_HOSTS = {
    "compute": "compute.googleapis.com",
    "container": "container.googleapis.com",
    "cloudkms": "cloudkms.googleapis.com",
    "cloudresourcemanager": "cloudresourcemanager.googleapis.com",
    "iam": "iam.googleapis.com",
}

BEFORE = "before"
LOST_RESPONSE = "lost_response"
MODES = (BEFORE, LOST_RESPONSE)
KUBERNETES = "kubernetes"


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


@dataclass(frozen=True)
class Fault:
    """What to do to one request: refuse it (`lost_response` False), or serve it and lose the answer."""

    status: int
    lost_response: bool = False
    drop: bool = False  # lose the answer by closing the connection (no status at all)

    def error(self, api: str) -> ApiError:
        return fault_error(self.status, api)


@dataclass
class _Rule:
    api: str | None
    method: str | None
    path: re.Pattern[str]
    count: int | None  # None: unlimited
    status: int
    mode: str
    drop: bool
    probability: float
    mutating: bool
    served_ok: bool
    seen: Counter[tuple[str, str, str]] = field(default_factory=Counter)

    def picks(self, seed: int, api: str, method: str, path: str) -> bool:
        """Whether this request is one of the rule's `probability` share (seeded per request)."""
        if self.probability >= 1.0:
            return True
        key = (api, method, path)
        n = self.seen[key]
        self.seen[key] += 1
        return random.Random(f"{seed}/{api}/{method}/{path}/{n}").random() < self.probability

    def describe(self) -> dict[str, Any]:
        return {
            "api": self.api,
            "method": self.method,
            "path_regex": self.path.pattern,
            "count": self.count,
            "status": self.status,
            "mode": self.mode,
            "drop": self.drop,
            "probability": self.probability,
            "mutating": self.mutating,
            "served_ok": self.served_ok,
        }


def _rule(raw: Any) -> _Rule:
    if not isinstance(raw, dict):
        raise ValueError("each rule must be an object")
    count = raw.get("count", 1)
    if count is not None:
        count = int(count)
    mode = raw.get("mode") or (LOST_RESPONSE if raw.get("after") is True else BEFORE)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {', '.join(MODES)}")
    probability = float(raw.get("probability", 1.0))
    if not 0.0 <= probability <= 1.0:
        raise ValueError("probability must be between 0 and 1")
    drop = raw.get("drop", False)
    if not isinstance(drop, bool) or (drop and mode != LOST_RESPONSE):
        raise ValueError("drop is a boolean, and only for mode lost_response")
    served_ok = raw.get("served_ok", False)
    if not isinstance(served_ok, bool) or (served_ok and mode != LOST_RESPONSE):
        raise ValueError("served_ok is a boolean, and only for mode lost_response")
    return _Rule(
        api=raw.get("api") or None,
        method=(raw.get("method") or "").upper() or None,
        path=re.compile(raw.get("path_regex") or ""),
        count=count,
        status=int(raw.get("status", 503)),
        mode=mode,
        drop=drop,
        probability=probability,
        mutating=bool(raw.get("mutating", False)),
        served_ok=served_ok,
    )


class FaultInjector:
    def __init__(self, seed: int = 0, fault_rate: float = 0.0, quota_per_minute: int | None = None) -> None:
        self._lock = threading.Lock()
        self._seed = seed
        self._rng = random.Random(seed)
        self.fault_rate = fault_rate
        self.quota_per_minute = quota_per_minute
        self._rules: list[_Rule] = []
        self._quota: dict[str, deque[float]] = {}

    def reset(self) -> None:
        with self._lock:
            self._rng = random.Random(self._seed)
            self._rules = []
            self._quota = {}

    def configure(self, body: dict[str, Any]) -> None:
        rules = [_rule(raw) for raw in body.get("rules", [])]  # all valid, or none added
        with self._lock:
            if "fault_rate" in body:
                rate = float(body["fault_rate"])
                if not 0.0 <= rate <= 1.0:
                    raise ValueError("fault_rate must be between 0 and 1")
                self.fault_rate = rate
            if "quota_per_minute" in body:
                q = body["quota_per_minute"]
                self.quota_per_minute = None if q is None else int(q)
            self._rules.extend(rules)

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "fault_rate": self.fault_rate,
                "quota_per_minute": self.quota_per_minute,
                "rules": [r.describe() for r in self._rules],
            }

    def clear(self) -> None:
        with self._lock:
            self._rules = []
            self.fault_rate = 0.0

    def decide(
        self,
        api: str,
        method: str,
        path: str,
        project: str | None,
        *,
        mutating: bool = False,
        served: int | None = None,
    ) -> Fault | None:
        """The fault for this request, if any. Asked twice: before serving (`served` None: a refusal, from a
        rule, the quota or the random rate) and after (`served`: the status it was served with; a lost
        response, from a rule)."""
        with self._lock:
            for rule in self._rules:
                if rule.count is not None and rule.count <= 0:
                    continue
                if (rule.mode == LOST_RESPONSE) != (served is not None):
                    continue
                if rule.served_ok and not (served is not None and 200 <= served < 300):
                    continue
                if rule.api and rule.api != api:
                    continue
                if rule.method and rule.method != method.upper():
                    continue
                if rule.mutating and not mutating:
                    continue
                if not rule.path.search(path):
                    continue
                if not rule.picks(self._seed, api, method.upper(), path):
                    continue
                if rule.count is not None:
                    rule.count -= 1
                return Fault(rule.status, lost_response=rule.mode == LOST_RESPONSE, drop=rule.drop)
            self._rules = [r for r in self._rules if r.count is None or r.count > 0]
            if api == KUBERNETES or served is not None:
                return None
            if project and self.quota_per_minute is not None:
                now = time.monotonic()
                window = self._quota.setdefault(project, deque())
                while window and now - window[0] >= 60.0:
                    window.popleft()
                if len(window) >= self.quota_per_minute:
                    return Fault(429)
                window.append(now)
            if self.fault_rate > 0 and self._rng.random() < self.fault_rate:
                return Fault(self._rng.choice((429, 503)))
        return None
