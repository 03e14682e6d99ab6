"""Loading a lab spec the way the faces take it: a YAML file (or the default) plus `PATH=VALUE` overrides.

Apart from `gke_lab.spec` so that the spec does not import the overrides that import it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gke_lab.overrides import apply_overrides
from gke_lab.spec import LabSpec, SpecError, read_yaml_document


def read_spec_file(path: str | Path) -> dict[str, Any]:
    """The mapping in a YAML spec file (empty file = the defaults); raises SpecError naming the problem.

    Regular UTF-8 files only, bounded in size and nesting, YAML 1.2, duplicate keys refused."""
    data = read_yaml_document(Path(path))
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise SpecError([("(spec)", f"expected a mapping of fields, got {type(data).__name__}")])
    return data


def load_spec(path: str | Path | None = None, overrides: list[str] | None = None) -> LabSpec:
    """The spec from a YAML file (or the default) with `PATH=VALUE` overrides applied; raises SpecError."""
    return apply_overrides({} if path is None else read_spec_file(path), overrides or [])
