"""A saved lab blueprint: a named LabSpec that the Prefect UI can edit and runs can start from."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field

from gke_lab.spec import LabSpec


class LabBlueprint(Block):
    """A GKE lab specification saved under a name (the default is the article's environment)."""

    _block_type_name = "GKE Lab Blueprint"
    _block_type_slug = "gke-lab-blueprint"
    _description = "A saved gke-lab LabSpec: start provision/teardown runs from it by name."

    spec: LabSpec = Field(default_factory=LabSpec, description="The lab specification.")
