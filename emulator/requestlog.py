"""The request log that tests and benchmarks read through `/_emulator/requests`."""

from __future__ import annotations

import threading
from typing import Any

_READ_SUFFIXES = (":getIamPolicy", ":testIamPermissions", "/wait")
_GRPC_MUTATING = ("Create", "Delete", "Update", "Patch", "Set", "Undelete", "Enable", "Disable", "Sign")


def is_mutating(method: str, path: str) -> bool:
    if method == "GRPC":
        return path.rsplit("/", 1)[-1].startswith(_GRPC_MUTATING)
    if method not in ("POST", "PUT", "PATCH", "DELETE"):
        return False
    return not path.endswith(_READ_SUFFIXES)


class RequestLog:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: list[dict[str, Any]] = []
        self._seq = 0

    def append(self, entry: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self._seq += 1
            entry = {"seq": self._seq, **entry}
            entry.setdefault("mutating", is_mutating(entry.get("method", ""), entry.get("path", "")))
            self._entries.append(entry)
            return entry

    def since(self, seq: int = 0) -> list[dict[str, Any]]:
        with self._lock:
            return [e for e in self._entries if e["seq"] > seq]

    def clear(self) -> None:
        with self._lock:
            self._entries = []
