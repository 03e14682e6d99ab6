"""A saved lab blueprint: a named LabSpec that the Prefect UI can edit and runs can start from.

`gke-lab blocks register` saves the variants of blocks/variants.py (`article-default`, `small-zonal`);
operators add their own in the UI (Blocks > + > GKE Lab Blueprint) or with
`LabBlueprint(spec=...).save(name)`.
"""

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
    description: str = Field("", description="What this blueprint is for (shown in the UI's Blocks page).")
