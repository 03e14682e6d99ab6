"""Shared helpers of the reliability suite (fixtures come from tests/fixtures_emulator.py and
tests/fixtures_prefect.py; this module only builds specs and reads the emulator)."""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable
from typing import Any

import httpx

from gke_lab.overrides import apply_overrides
from gke_lab.spec import LabSpec

# `python -m bench --deep` sets this to run the larger counts.
DEEP = os.environ.get("GKE_LAB_RELIABILITY_DEEP") == "1"
# Small latencies keep `make test` fast; the ordering and the races are the same at any scale.
SCALE = 0.01
LOCAL_NETWORK = "cluster.master_authorized_networks=[{cidr: 127.0.0.1/32, name: local}]"


def lab_spec(project: str = "gke-detail", lab: str = "cluster", *extra: str) -> LabSpec:
    return apply_overrides(LabSpec(), [f"project_id={project}", f"lab={lab}", LOCAL_NETWORK, *extra])


def admin(emulator: Any, path: str, method: str = "GET", **kwargs: Any) -> Any:
    resp = httpx.request(method, f"{emulator.url}/_emulator/{path}", timeout=60, **kwargs)
    resp.raise_for_status()
    return resp.json() if resp.content else None


def log(emulator: Any, since: int = 0) -> list[dict]:
    return [e for e in admin(emulator, "requests") if e["seq"] > since]


def last_seq(emulator: Any) -> int:
    return max((e["seq"] for e in admin(emulator, "requests")), default=0)


def state(emulator: Any) -> dict:
    return admin(emulator, "state")


def baseline(emulator: Any, project: str) -> dict:
    """The state once `project` exists as a new project (created by the emulator on first use), read
    again if an injected fault answers the read. The project's lab APIs are on (an existing project)."""
    admin(emulator, f"projects/{project}/settings", "POST", json={"servicesEnabled": True})
    for _ in range(20):
        if httpx.get(f"{emulator.url}/compute/v1/projects/{project}/global/networks", timeout=60).is_success:
            return state(emulator)
    raise AssertionError(f"project {project} could not be read")


def together(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run the calls in threads released at the same instant; exceptions are returned, not raised.

    Each thread gets a copy of the caller's context: Prefect settings (the test server) are context
    variables that a bare thread would not see."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(i: int, fn: Callable[[], Any]) -> None:
        barrier.wait()
        try:
            results[i] = fn()
        except BaseException as exc:  # noqa: BLE001 - handed back to the test, which asserts on it
            results[i] = exc

    threads = [
        threading.Thread(target=contextvars.copy_context().run, args=(run, i, fn))
        for i, fn in enumerate(calls)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    return results
