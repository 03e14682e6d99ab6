"""Reading and summarising the emulator's request log (`/_emulator/requests`) and inventory (`state`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx


def _get(url: str, path: str, **params: Any) -> Any:
    resp = httpx.get(f"{url}/_emulator/{path}", params=params or None, timeout=60)
    resp.raise_for_status()
    return resp.json()


def requests_since(url: str, since: int = 0) -> list[dict]:
    """Request-log entries with seq > since (the emulator's `?since=` is exclusive of `since`)."""
    entries = _get(url, "requests", since=since) if since else _get(url, "requests")
    return [e for e in entries if e.get("seq", 0) > since]


def last_seq(url: str) -> int:
    entries = _get(url, "requests")
    return max((e.get("seq", 0) for e in entries), default=0)


def state(url: str) -> dict:
    return _get(url, "state")


def baseline(url: str, project: str) -> dict:
    """The state with `project` in it as a new project starts (the emulator creates one on first use):
    one read request, so a later diff does not count the project's own bootstrap as ours."""
    httpx.get(f"{url}/compute/v1/projects/{project}/global/networks", timeout=60).raise_for_status()
    return state(url)


def is_operation_poll(entry: dict) -> bool:
    """A read of a long-running operation: compute get/wait, container operations get."""
    return "/operations/" in entry.get("path", "") and not entry.get("mutating", False)


def summarize(entries: list[dict], project: str | None = None) -> dict:
    """Totals for a slice of the log, optionally only one project's requests."""
    if project is not None:
        entries = [e for e in entries if e.get("project") in (project, None, "")]
    return {
        "total": len(entries),
        "mutating": sum(1 for e in entries if e.get("mutating")),
        "operation_polls": sum(1 for e in entries if is_operation_poll(e)),
        "errors": sum(1 for e in entries if int(e.get("status") or 0) >= 400),
        "by_api": dict(Counter(e.get("api", "?") for e in entries)),
    }


def first_mutating(entries: list[dict]) -> dict | None:
    return next((e for e in entries if e.get("mutating")), None)
