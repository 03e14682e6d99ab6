"""Compute's list filters and paging."""

from __future__ import annotations

import fnmatch
import re
from typing import Any

from emulator.errors import invalid

_FILTER_TERM = re.compile(r'\(?\s*([\w.]+)\s*(=|!=|:)\s*("([^"]*)"|\'([^\']*)\'|([^\s)]+))\s*\)?')
_FILTER_EQ = re.compile(r"^\s*([\w.]+)\s+(eq|ne)\s+(.+?)\s*$")


def _field(item: dict[str, Any], path: str) -> Any:
    cur: Any = item
    for part in path.split("."):
        if isinstance(cur, dict):
            cur = cur.get(part)
        else:
            return None
    return cur


def _values(item: dict[str, Any], field: str) -> list[str]:
    actual = _field(item, field)
    if isinstance(actual, list):
        return [str(v) for v in actual]
    if isinstance(actual, bool):
        return [str(actual).lower()]
    return ["" if actual is None else str(actual)]


def matches_filter(item: dict[str, Any], expr: str | None) -> bool:
    """Compute's list filters: `field = "glob"` / `!=` terms (ANDed), or one `field eq|ne regex`."""
    if not expr:
        return True
    eq = _FILTER_EQ.match(expr)
    if eq:
        field, op, pattern = eq.groups()
        pattern = pattern.strip("\"'")
        try:
            hit = any(re.fullmatch(pattern, v) for v in _values(item, field))
        except re.error as exc:
            raise invalid(
                f"Invalid value for field 'filter': '{expr}'. Invalid regular expression: {exc}."
            ) from None
        return hit if op == "eq" else not hit
    terms = list(_FILTER_TERM.finditer(expr))
    if not terms:
        raise invalid(f"Invalid value for field 'filter': '{expr}'. Invalid list filter expression.")
    for m in terms:
        field, op = m.group(1), m.group(2)
        value = next(g for g in (m.group(4), m.group(5), m.group(6)) if g is not None)
        hit = any(fnmatch.fnmatchcase(v, value) for v in _values(item, field))
        if hit != (op != "!="):
            return False
    return True


def page(items: list[dict[str, Any]], query: dict[str, str]) -> tuple[list[dict[str, Any]], str | None]:
    items = [i for i in items if matches_filter(i, query.get("filter"))]
    start = int(query.get("pageToken") or 0)
    size = int(query.get("maxResults") or 500)
    chunk = items[start : start + size]
    nxt = str(start + size) if start + size < len(items) else None
    return chunk, nxt
