"""Flow parameter resolution shared by the lab flows: spec | blueprint name, then overrides."""

from __future__ import annotations

from typing import Any

from gke_lab.overrides import apply_overrides
from gke_lab.spec import LabSpec, SpecError


def resolve_spec(
    spec: LabSpec | dict[str, Any] | None = None,
    blueprint: str | None = None,
    overrides: list[str] | None = None,
) -> LabSpec:
    """The spec to run: an explicit spec, else a saved LabBlueprint block, else the default; then overrides.

    Everything is validated here, before any cloud call; problems name the field path.
    """
    if spec is not None and blueprint:
        raise SpecError([("blueprint", "give either a spec or a blueprint name, not both")])
    if blueprint:
        from blocks.blueprint import LabBlueprint

        try:
            loaded = LabBlueprint.load(blueprint)
        except ValueError as exc:
            raise SpecError([("blueprint", f"no LabBlueprint block named {blueprint!r} ({exc})")]) from exc
        # Prefect answers a coroutine inside an event loop; the lab flows are synchronous.
        if not isinstance(loaded, LabBlueprint):
            raise RuntimeError("resolve_spec loads blueprints synchronously: call it outside an event loop")
        base: LabSpec | dict[str, Any] | None = loaded.spec
    else:
        base = spec
    if isinstance(base, dict):
        base = LabSpec.model_validate(base)
    if overrides:
        return apply_overrides(base, list(overrides))
    return base if base is not None else LabSpec()
