"""The emulator's admin API as the end-to-end tests read it: state, the request log, and patches."""

from __future__ import annotations

import httpx

PROJECT = "gke-detail"


def admin(emu, method: str, path: str, **kw):
    resp = httpx.request(method, f"{emu.url}/_emulator/{path}", timeout=60, **kw)
    resp.raise_for_status()
    return resp.json() if resp.content else None


def project_state(emu, project: str = PROJECT) -> dict:
    return admin(emu, "GET", "state")["projects"][project]


def last_seq(emu) -> int:
    entries = admin(emu, "GET", "requests")
    return entries[-1]["seq"] if entries else 0


def mutations_since(emu, seq: int) -> list[dict]:
    return [e for e in admin(emu, "GET", "requests", params={"since": seq}) if e["mutating"]]
