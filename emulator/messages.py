"""Request bodies read through the official message types (container, KMS), as Google's front ends do."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from emulator.errors import invalid


def normalize(cls: Any, body: dict[str, Any]) -> dict[str, Any]:
    """Parse a request body with the official message type and re-emit canonical REST JSON."""
    try:
        msg = json_format.ParseDict(body or {}, cls.pb(cls()), ignore_unknown_fields=True)
    except json_format.ParseError as exc:
        raise invalid(f"Invalid JSON payload received. {exc}") from exc
    return json_format.MessageToDict(msg)
