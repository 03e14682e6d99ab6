"""Label and field selectors."""

from __future__ import annotations

import re

from emulator.kubernetes.errors import BadRequest


def parse_label_selector(text: str) -> list[tuple[str, str, list[str]]]:
    """Parse ``a=b,c!=d,e in (x,y),!f,g`` into (key, op, values)."""
    reqs: list[tuple[str, str, list[str]]] = []
    parts = re.findall(r"[^,(]+(?:\([^)]*\))?", text or "")
    for raw in parts:
        part = raw.strip()
        if not part:
            continue
        m = re.match(r"^(\S+)\s+(in|notin)\s+\(([^)]*)\)$", part)
        if m:
            values = [v.strip() for v in m.group(3).split(",") if v.strip()]
            reqs.append((m.group(1), m.group(2), values))
        elif "!=" in part:
            k, v = part.split("!=", 1)
            reqs.append((k.strip(), "!=", [v.strip()]))
        elif "==" in part:
            k, v = part.split("==", 1)
            reqs.append((k.strip(), "=", [v.strip()]))
        elif "=" in part:
            k, v = part.split("=", 1)
            reqs.append((k.strip(), "=", [v.strip()]))
        elif part.startswith("!"):
            reqs.append((part[1:].strip(), "!exists", []))
        elif re.match(r"^[A-Za-z0-9._/-]+$", part):
            reqs.append((part, "exists", []))
        else:
            raise BadRequest(f"unable to parse requirement: {part!r}")
    return reqs


def labels_match(labels: dict, reqs: list[tuple[str, str, list[str]]]) -> bool:
    for key, op, values in reqs:
        present = key in labels
        val = labels.get(key)
        if op == "=" and val != values[0]:
            return False
        if op == "!=" and val == values[0]:
            return False
        if op == "in" and val not in values:
            return False
        if op == "notin" and present and val in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
    return True


def _field_value(obj: dict, path: str) -> str:
    cur: object = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    return "" if cur is None else str(cur)


def fields_match(obj: dict, selector: str) -> bool:
    for part in (selector or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "!=" in part:
            k, v = part.split("!=", 1)
            if _field_value(obj, k.strip()) == v.strip():
                return False
        else:
            k, v = part.split("==", 1) if "==" in part else part.split("=", 1)
            if _field_value(obj, k.strip()) != v.strip():
                return False
    return True


def equality_requirements(match_labels: dict) -> list[tuple[str, str, list[str]]]:
    """matchLabels as requirements for labels_match."""
    return [(k, "=", [v]) for k, v in match_labels.items()]


def selector_string(match_labels: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))
