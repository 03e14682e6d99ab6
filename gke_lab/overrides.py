"""Dotted `PATH=VALUE` overrides (CLI `--set`, chat commands, flow parameters).

Values are parsed as YAML, so scalars, lists and mappings all work:
`cluster.num_nodes=2`, `'cluster.master_authorized_networks=[{cidr: 127.0.0.1/32, name: local}]'`.
List items are addressed as `cluster.node_locations.0` or `cluster.node_locations[0]`.
"""

from __future__ import annotations

import copy
import re
import types
import typing
from typing import Any

import yaml
from pydantic import BaseModel

from gke_lab import yamlsafe
from gke_lab.spec import LabSpec, SpecError

_INDEX = re.compile(r"\[(\d+)\]")


def parse_override(text: str) -> tuple[list[str], Any]:
    if "=" not in text:
        raise SpecError(
            [(text or "(override)", "an override must look like PATH=VALUE, e.g. cluster.num_nodes=2")]
        )
    path, raw = text.split("=", 1)
    path = _INDEX.sub(r".\1", path.strip())
    parts = [p for p in path.split(".")]
    if not path or any(not p for p in parts):
        raise SpecError(
            [(path or "(override)", "empty path segment; accepted: dotted field names like cluster.name")]
        )
    try:
        value = yamlsafe.loads(raw) if raw.strip() else ""
    except yamlsafe.UnsafeYamlError as exc:
        where = f"{path}.{exc.where}" if exc.where and not exc.where.startswith("[") else path + exc.where
        raise SpecError([(where, f"value refused: {exc.message}")]) from None
    except yaml.YAMLError as exc:
        raise SpecError([(path, f"value is not valid YAML: {exc}")]) from None
    return parts, value


def _is_text(annotation: Any) -> bool:
    """A field that only takes text (str, str | None, or a Literal of strings)."""
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if annotation is str:
        return True
    if typing.get_origin(annotation) is typing.Literal:
        return all(isinstance(a, str) for a in args)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return bool(args) and all(_is_text(a) for a in args)
    return False


def _set(data: dict[str, Any], parts: list[str], value: Any, raw: str = "") -> None:
    node: Any = data
    model: type[BaseModel] | None = LabSpec
    for depth, part in enumerate(parts):
        last = depth == len(parts) - 1
        where = ".".join(parts[: depth + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise SpecError([(where, f"no list item {part} (the list has {len(node)} items)")])
            if last:
                node[int(part)] = value
                return
            node = node[int(part)]
            model = None
            continue
        if not isinstance(node, dict):
            raise SpecError([(where, "cannot descend into a scalar value")])
        if model is not None and part not in model.model_fields:
            accepted = ", ".join(model.model_fields)
            raise SpecError([(where, f"unknown field {part!r} (accepted: {accepted})")])
        if last:
            if (
                model is not None
                and not isinstance(value, str | list | dict | type(None))
                and _is_text(model.model_fields[part].annotation)
            ):
                value = raw.strip()  # `cluster.version=1.30` means the text, not the float 1.3
            node[part] = value
            return
        child_model = None
        if model is not None:
            annotation = model.model_fields[part].annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                child_model = annotation
        if node.get(part) is None:
            node[part] = {}
        elif not isinstance(node[part], dict | list):
            full = ".".join(parts)
            raise SpecError([(full, f"unknown field: {where} is a single value, it has no fields")])
        node = node[part]
        model = child_model


def apply_overrides(spec_or_data: LabSpec | dict[str, Any] | None, overrides: list[str]) -> LabSpec:
    """A new validated LabSpec with each `PATH=VALUE` applied; raises SpecError naming bad paths or fields."""
    if isinstance(spec_or_data, LabSpec):
        data = spec_or_data.model_dump(mode="json")
    else:
        data = copy.deepcopy(spec_or_data or {})
    if not overrides:
        return LabSpec.from_data(data)
    # Work on the full document (defaults filled in) so list items and nested fields are addressable.
    data = _merge_defaults(data)
    problems: list[tuple[str, str]] = []
    for text in overrides:
        try:
            parts, value = parse_override(text)
            _set(data, parts, value, text.split("=", 1)[1])
        except SpecError as exc:
            problems.extend(exc.problems)
    try:
        spec = LabSpec.from_data(data)
    except SpecError as exc:
        problems.extend(exc.problems)
    if problems:
        raise SpecError(problems)
    return spec


def _merge_defaults(data: dict[str, Any]) -> dict[str, Any]:
    base = LabSpec().model_dump(mode="json")

    def merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
        for key, value in b.items():
            if isinstance(value, dict) and isinstance(a.get(key), dict):
                merge(a[key], value)
            else:
                a[key] = value
        return a

    return merge(base, copy.deepcopy(data))
