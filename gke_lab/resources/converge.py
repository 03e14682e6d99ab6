"""The one shape of every ensure: read -> assess -> create if missing -> read back -> assess again."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from gke_lab.errors import LabError
from gke_lab.resources.decision import Action, Decision

L = TypeVar("L")


def converge(
    read: Callable[[], L | None],
    assess: Callable[[L | None], Decision],
    create: Callable[[], object],
) -> tuple[L, bool]:
    """(the live resource, whether this call created it). A decision that stops the run raises before any
    mutating call; a resource created here is assessed again after it is read back, so a same-named
    resource made by someone else in between is never adopted."""
    live = read()
    decision = assess(live)
    created = decision.action is Action.CREATE
    if created:
        create()
        live = read()
        if live is None:
            raise LabError(
                f"{decision.resource} was created but cannot be read back", resource=decision.resource
            )
        decision = assess(live)
    decision.stop()
    assert live is not None  # EXISTS / UPDATE decisions are only taken on a live resource
    return live, created
