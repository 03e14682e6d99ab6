"""A saved lab pool: a PoolSpec under a name, editable in the Prefect UI (Blocks > GKE Lab Pool).

`maintain-pools` keeps every saved pool full, `claim-lab` hands one of its ready labs to a person.
`gke-lab blocks register` saves the example pool `workshop` (`small-zonal` labs) with a hot size of 0: it
provisions nothing, and costs nothing, until an operator raises `hot_size` (or gives it a class).
"""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field

from gke_lab.pool_spec import PoolSpec


class LabPool(Block):
    """A pool of ready, verified gke-lab labs that people claim in seconds."""

    _block_type_name = "GKE Lab Pool"
    _block_type_slug = "gke-lab-pool"
    _description = "A pool of ready gke-lab labs: blueprint, projects, sizes, TTLs, who may claim, a class."

    pool: PoolSpec = Field(description="The pool: its name must be the block's name.")
    description: str = Field("", description="What this pool is for (shown in the UI's Blocks page).")


EXAMPLE_POOL = "workshop"


def example_pool(project: str) -> PoolSpec:
    """The example pool `gke-lab blocks register` saves: `small-zonal` labs in one project, none kept ready
    (maintain-pools runs on a schedule once deployed: registering blocks must not start paid labs)."""
    return PoolSpec(name=EXAMPLE_POOL, blueprint="small-zonal", projects=[project], hot_size=0, max_size=4)
