"""The typed decision every resource module takes: what a provisioning run does with one resource.

`assess(spec, live)` answers a Decision; `plan --live` renders it and `ensure` acts on it, so the plan
and the run cannot disagree. A decision that stops the run (BLOCKED, DIFFERS) raises, through
`Decision.stop`, exactly the error the run raises.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gke_lab.errors import DriftError, LabError, NotOwnedError, RefusedError
from gke_lab.ownership import Marker, require_owner


class Action(StrEnum):
    CREATE = "create"  # missing: the run creates it
    EXISTS = "exists"  # present as the spec says: the run makes no mutating call
    UPDATE = "update"  # present, changed in place by the run (the echo workload)
    DIFFERS = "differs"  # present but different: the run stops with a DriftError
    BLOCKED = "blocked"  # the run refuses (not owned, guard refusal, unusable state)
    DELETE = "delete"  # the run deletes it (the default network, when asked and unused)
    SKIP = "skip"  # the run leaves it alone (not asked for, already absent)


class Blocker(StrEnum):
    NOT_OWNED = "not-owned"  # NotOwnedError
    REFUSED = "refused"  # RefusedError (the default-network guard)
    UNUSABLE = "unusable"  # LabError (e.g. a cluster in ERROR)


@dataclass(frozen=True)
class Difference:
    field: str
    live: Any
    spec: Any


@dataclass(frozen=True)
class Decision:
    """One resource's verdict. `message` is the error text the run raises when it stops here."""

    action: Action
    kind: str
    name: str
    resource: str
    differences: tuple[Difference, ...] = ()
    blocker: Blocker | None = None
    message: str = ""
    detail: str = ""
    # DIFFERS in settings GKE could change in place: gke-lab still stops and reports them.
    changeable: bool = False

    @property
    def stops(self) -> bool:
        return self.action in (Action.BLOCKED, Action.DIFFERS)

    def stop(self) -> None:
        """Raise the run's error when this decision stops it; return otherwise."""
        if self.action is Action.BLOCKED:
            error = {Blocker.NOT_OWNED: NotOwnedError, Blocker.REFUSED: RefusedError}.get(
                self.blocker or Blocker.UNUSABLE, LabError
            )
            raise error(self.message, resource=self.resource)
        if self.action is Action.DIFFERS:
            triples = [(d.field, d.live, d.spec) for d in self.differences]
            raise (
                SettingsDriftError(self.resource, triples)
                if self.changeable
                else DriftError(self.resource, triples)
            )


class SettingsDriftError(DriftError):
    """A running lab's setting differs from the spec; GKE could change it, gke-lab does not."""

    def __init__(self, resource: str, differences: list[tuple[str, Any, Any]]) -> None:
        super().__init__(resource, differences)
        lines = "; ".join(f"{field}: live={live!r}, spec={want!r}" for field, live, want in differences)
        self.args = (
            f"{resource} exists but differs from the spec: {lines}. gke-lab does not change a running lab's "
            "settings; align the spec (or update the cluster yourself), "
            "or tear the lab down and provision again.",
        )


def create(kind: str, name: str, resource: str, detail: str = "") -> Decision:
    return Decision(Action.CREATE, kind, name, resource, detail=detail)


def exists(kind: str, name: str, resource: str, detail: str = "") -> Decision:
    return Decision(Action.EXISTS, kind, name, resource, detail=detail)


def skip(kind: str, name: str, resource: str, reason: str) -> Decision:
    return Decision(Action.SKIP, kind, name, resource, detail=reason)


def not_owned(
    kind: str, name: str, resource: str, found: Marker | None, lab: str, fix: str
) -> Decision | None:
    """BLOCKED when `found` is not the lab's marker (the one ownership check), else None."""
    try:
        require_owner(resource, found, lab, fix)
    except NotOwnedError as exc:
        return Decision(Action.BLOCKED, kind, name, resource, blocker=Blocker.NOT_OWNED, message=str(exc))
    return None


def differs_or_exists(
    kind: str, name: str, resource: str, differences: list[Difference], *, changeable: bool = False
) -> Decision:
    if differences:
        return Decision(
            Action.DIFFERS, kind, name, resource, differences=tuple(differences), changeable=changeable
        )
    return exists(kind, name, resource)
