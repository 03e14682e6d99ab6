"""Turn an `up` command into validated flow-run parameters, tags and a name (no Prefect, no I/O)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from chatops.commands import Command
from gke_lab.naming import per_lab_overrides, without_explicit
from gke_lab.overrides import apply_overrides
from gke_lab.spec import LabSpec, SpecError, format_errors

OWNER_TAG = "owner:"
LAB_TAG = "lab:"
PROJECT_TAG = "project:"


@dataclass(frozen=True)
class LabRun:
    """What `/lab up` asks Prefect for: parameters exactly as the deployment receives them."""

    spec: LabSpec
    parameters: dict[str, Any]
    tags: list[str]
    name: str


def lab_tags(project_id: str, lab: str, owner: str | None = None) -> list[str]:
    """Tags that find a lab's runs again (`status`, `down`) and record who started it."""
    tags = ["gke-lab", "chatops", f"{LAB_TAG}{lab}", f"{PROJECT_TAG}{project_id}"]
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
    return "\n".join(f"• `{line}`" for line in lines)


def build_up(command: Command, base: dict[str, Any] | None, blueprint: str | None, user_id: str) -> LabRun:
    """Validate blueprint + overrides through LabSpec exactly as the flow will; raises SpecError.

    `base` is the blueprint's spec (None: LabSpec's defaults). The flow gets the blueprint name and
    the overrides (not a frozen copy), so the run's parameters say how the lab was asked for.
    Resource names come from the lab name (so labs in one project never collide) unless the user set a
    name explicitly; the user's overrides come last and win.
    """
    if not command.lab:
        raise SpecError([("lab", "a lab name is required")])
    derived = without_explicit(per_lab_overrides(command.lab), command.overrides)
    overrides = [*derived, *command.overrides, f"lab={command.lab}"]
    if command.ttl_hours is not None:
        overrides.append(f"ttl_hours={command.ttl_hours}")
    spec = apply_overrides(base or {}, overrides)
    parameters: dict[str, Any] = {"spec": None, "blueprint": blueprint, "overrides": overrides}
    return LabRun(
        spec=spec,
        parameters=parameters,
        tags=lab_tags(spec.project_id, spec.lab, user_id),
        name=f"provision {spec.lab}@{spec.project_id}",
    )
