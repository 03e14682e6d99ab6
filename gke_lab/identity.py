"""Which lab: the one identity type (project, lab name, regions) and the names derived from it.

A flow parameter (the teardown's `identity`, JSON `{"project_id", "lab", "regions"}`), the key of the
per-lab lock, and what teardown, the reaper and `extend` act on. Project IDs and lab names are validated
here as strictly as in the spec, so the characters ':' and '_' can never occur in them: the lock name
uses ':' and the heartbeat record name uses '_' as separators, which keeps both collision-free
(`team-a-x`/`demo` and `team-a`/`x-demo` get different names).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

if TYPE_CHECKING:
    from gke_lab.spec import LabSpec

PROJECT_PATTERN = r"^[a-z][-a-z0-9]{4,28}[a-z0-9]$"
LAB_PATTERN = r"^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$"
REGION_PATTERN = r"^[a-z]+(-[a-z0-9]+)+$"

Region = Annotated[str, StringConstraints(pattern=REGION_PATTERN)]

LOCK_PREFIX = "gke-lab"
HEARTBEAT_PREFIX = "gke-lab-lock"


class LabIdentity(BaseModel):
    """A lab, named by its project and lab name (and the regions its resources live in, when known)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    project_id: str = Field(
        ..., pattern=PROJECT_PATTERN, title="Project ID", description="Project of the lab."
    )
    lab: str = Field(
        ..., pattern=LAB_PATTERN, title="Lab name", description="The lab's ownership label value."
    )
    regions: tuple[Region, ...] = Field(
        default=(),
        title="Regions",
        description="Regions of the lab's cluster, subnet, router and keys (empty: found from the markers).",
    )

    @classmethod
    def from_spec(cls, spec: LabSpec) -> LabIdentity:
        return cls(project_id=spec.project_id, lab=spec.lab, regions=(spec.region,))

    @property
    def lock_name(self) -> str:
        """The one-slot concurrency limit every mutating run of this lab holds."""
        return f"{LOCK_PREFIX}:{self.project_id}:{self.lab}"

    @property
    def heartbeat_name(self) -> str:
        """The Prefect Variable holding the lock holder's heartbeat (letters, digits, '-' and '_' only)."""
        return f"{HEARTBEAT_PREFIX}_{self.project_id}_{self.lab}"

    def __str__(self) -> str:
        return f"{self.lab}@{self.project_id}"


def identity_of(lab: LabSpec | LabIdentity) -> LabIdentity:
    """The identity of a spec (or the identity itself): what the lock, run tags and artifact keys read."""
    return lab if isinstance(lab, LabIdentity) else LabIdentity.from_spec(lab)


def heartbeat_name_of_lock(lock_name: str) -> str:
    """The heartbeat record name of a lock name made by `LabIdentity.lock_name`."""
    prefix, _, rest = lock_name.partition(":")
    project_id, _, lab = rest.partition(":")
    if prefix != LOCK_PREFIX:
        raise ValueError(f"{lock_name!r} is not a lab lock name ({LOCK_PREFIX}:<project>:<lab>)")
    return LabIdentity(project_id=project_id, lab=lab).heartbeat_name
