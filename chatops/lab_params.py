"""Turn an `up` command into validated flow-run parameters, tags and a name (no Prefect, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from chatops import recurrence
from chatops.commands import Command, shown
from gke_lab.naming import per_lab_overrides, without_explicit
from gke_lab.overrides import apply_overrides, parse_override
from gke_lab.spec import LabSpec, SpecError, format_errors

OWNER_TAG = "owner:"
LAB_TAG = "lab:"
PROJECT_TAG = "project:"
CHAT_TAG = "chatops"

RECURRENCE_PATH = ("cluster", "maintenance_window", "recurrence")
# Deeper or larger values are refused (the text before YAML sees it, the value before LabSpec does): no
# spec field nests more than a few levels, and YAML aliases could otherwise expand to billions of items.
MAX_NESTING = 16
MAX_ITEMS = 10_000


@dataclass(frozen=True)
class LabRun:
    """What `/lab up` asks Prefect for: parameters exactly as the deployment receives them."""

    spec: LabSpec
    parameters: dict[str, Any]
    tags: list[str]
    name: str
    overrides: list[
        str
    ]  # how the spec was resolved from the blueprint (derived names, chat defaults, user's)


def lab_tags(project_id: str, lab: str, owner: str | None = None) -> list[str]:
    """Tags that find a lab's runs again (`status`, `down`) and record who started it."""
    tags = ["gke-lab", CHAT_TAG, f"{LAB_TAG}{lab}", f"{PROJECT_TAG}{project_id}"]
    if owner:
        tags.append(f"{OWNER_TAG}{owner}")
    return tags


def owner_of(tags: list[str]) -> str | None:
    for tag in tags:
        if tag.startswith(OWNER_TAG):
            return tag[len(OWNER_TAG) :]
    return None


def spec_problems(exc: Exception) -> str:
    lines = format_errors(exc) if isinstance(exc, SpecError | ValidationError) else [str(exc)]
    return "\n".join(f"• `{shown(line, limit=300)}`" for line in lines)


def tag_value(tags: list[str], prefix: str) -> str | None:
    return next((tag[len(prefix) :] for tag in tags if tag.startswith(prefix)), None)


def _nesting(text: str) -> int:
    depth = deepest = 0
    for char in text:
        if char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _too_big(value: Any) -> bool:
    """Whether the parsed value nests deeper than MAX_NESTING or holds more than MAX_ITEMS items."""
    pending: list[tuple[Any, int]] = [(value, 0)]
    seen = 0
    while pending:
        item, depth = pending.pop()
        seen += 1
        if seen > MAX_ITEMS or depth > MAX_NESTING:
            return True
        if isinstance(item, dict):
            pending += [(child, depth + 1) for pair in item.items() for child in pair]
        elif isinstance(item, list):
            pending += [(child, depth + 1) for child in item]
    return False


def _recurrences(base: dict[str, Any] | None, overrides: list[str]) -> list[tuple[str, object]]:
    """(where, value) of every maintenance recurrence the blueprint or an override supplies."""
    found: list[tuple[str, object]] = []
    node: Any = base or {}
    for part in RECURRENCE_PATH:
        node = node.get(part) if isinstance(node, dict) else None
    if node is not None:
        found.append(("blueprint's " + ".".join(RECURRENCE_PATH), node))
    for text in overrides:
        path = text.partition("=")[0]
        if _nesting(text) > MAX_NESTING:
            raise SpecError([(path, f"value nests deeper than {MAX_NESTING} levels")])
        try:
            parts, value = parse_override(text)
        except SpecError:
            raise
        except Exception as exc:  # noqa: BLE001 - any YAML the parser chokes on is the user's mistake
            raise SpecError([(path, f"value is not valid YAML ({type(exc).__name__})")]) from None
        if _too_big(value):
            raise SpecError([(path, f"value is larger than {MAX_ITEMS} items or {MAX_NESTING} levels")])
        if tuple(parts) != RECURRENCE_PATH[: len(parts)]:
            continue
        for part in RECURRENCE_PATH[len(parts) :]:
            value = value.get(part) if isinstance(value, dict) else None
        if value is not None:
            found.append((".".join(RECURRENCE_PATH), value))
    return found


def build_up(
    command: Command, base: dict[str, Any] | None, blueprint: str | None, user_id: str, *, admin: bool = False
) -> LabRun:
    """Resolve blueprint + overrides through LabSpec exactly as the flow will; raises SpecError.

    `base` is the blueprint's spec (None: LabSpec's defaults). The run gets the fully resolved spec (and
    no blueprint or overrides), so `down` tears down exactly what `up` made, whatever happens to the
    blueprint in between. Resource names come from the lab name (so labs in one project never collide)
    unless the user set a name explicitly; the user's overrides come last and win. Chat labs never
    delete the project's default network unless an admin asks with `delete_default_network=true`.
    Recurrences are checked against GKE's forms before the core expands them (bounded time).
    """
    if not command.lab:
        raise SpecError([("lab", "a lab name is required")])
    for where, value in _recurrences(base, command.overrides):
        problem = recurrence.problem(value)
        if problem:
            shown_value = shown(str(value)) if isinstance(value, str) else type(value).__name__
            raise SpecError([(where, f"`{shown_value}` {problem} (accepted: {recurrence.ACCEPTED})")])
    derived = without_explicit(per_lab_overrides(command.lab), command.overrides)
    chat_defaults = ["delete_default_network=false"]
    overrides = [*derived, *chat_defaults, *command.overrides, f"lab={command.lab}"]
    if command.ttl_hours is not None:
        overrides.append(f"ttl_hours={command.ttl_hours}")
    spec = apply_overrides(base or {}, overrides)
    if spec.delete_default_network and not admin:
        raise SpecError([("delete_default_network", "admin-only in chat")])
    parameters: dict[str, Any] = {"spec": spec.model_dump(mode="json"), "blueprint": None, "overrides": []}
    return LabRun(
        spec=spec,
        parameters=parameters,
        tags=lab_tags(spec.project_id, spec.lab, user_id),
        name=f"provision {spec.lab}@{spec.project_id}",
        overrides=overrides,
    )
