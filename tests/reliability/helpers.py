"""What only the reliability suite needs: the deep-run switch, a project's baseline state, and calls
released at the same instant. Fixtures, constants, the lab spec and the emulator's admin client are in
tests/fixtures_emulator.py."""

from __future__ import annotations

import contextvars
import os
import threading
from collections.abc import Callable
from typing import Any

import httpx

from tests.fixtures_emulator import EmulatorAdmin

# `python -m bench --deep` sets this to run the larger counts.
DEEP = os.environ.get("GKE_LAB_RELIABILITY_DEEP") == "1"


def baseline(emulator: Any, project: str) -> dict:
    """The state once `project` exists as a new project (created by the emulator on first use), read
    again if an injected fault answers the read. The project's lab APIs are on (an existing project)."""
    admin = EmulatorAdmin(emulator.url)
    admin.project_settings(project, {"servicesEnabled": True})
    for _ in range(20):
        if httpx.get(f"{emulator.url}/compute/v1/projects/{project}/global/networks", timeout=60).is_success:
            return admin.state()
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
