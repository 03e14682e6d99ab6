"""One clock and one latency profile for every simulated service."""

from __future__ import annotations

import datetime as _dt
import time

# Reference durations in seconds at latency scale 1.0 (DESIGN.md, "Reference latency profile").
PROFILE: dict[str, float] = {
    "networks.insert": 12.0,
    "networks.delete": 10.0,
    "subnetworks.insert": 10.0,
    "subnetworks.delete": 8.0,
    "firewalls.insert": 6.0,
    "firewalls.delete": 6.0,
    "firewalls.patch": 6.0,
    "routes.insert": 6.0,
    "routes.delete": 6.0,
    "routers.insert": 8.0,
    "routers.delete": 8.0,
    "routers.patch": 8.0,
    "kms.keyRings.create": 0.3,
    "kms.cryptoKeys.create": 0.5,
    "setIamPolicy": 0.3,
    "serviceAccounts.create": 0.8,
    "serviceAccounts.delete": 0.8,
    "iam.propagation": 30.0,
    "clusters.create": 420.0,
    "clusters.delete": 240.0,
    "clusters.update": 10.0,
    "pod_ready": 20.0,
    "endpoints_ready": 2.0,
    # not in the design table: a LoadBalancer Service gets its external IP after about this long
    "load_balancer": 40.0,
}

# Share of clusters.create after which node VMs are created (and the boot-disk key is used).
NODE_CREATION_FRACTION = 0.6

# Operation `wait` returns at DONE or after this many (real) seconds, like Compute's ~2 minute deadline.
WAIT_DEADLINE_S = 120.0


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
