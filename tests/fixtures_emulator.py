"""Fixtures that start the emulator in-process on free ports and point the clients at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from emulator.server import Emulator

DEFAULT_SCALE = 0.01


@pytest.fixture
def emulator_factory(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Emulator]]:
    """`emulator_factory(**kwargs)` starts an Emulator (latency scale 0.01 unless given) and sets
    GKE_LAB_EMULATOR_HOST to the last one started; all are stopped after the test."""
    started: list[Emulator] = []

    def make(*, services_enabled: bool = True, **kwargs: Any) -> Emulator:
        """`services_enabled=False` with the default new_projects="today": a project exactly as Google
        creates one (APIs disabled, agents missing), which the product's first step enables."""
        kwargs.setdefault("latency_scale", DEFAULT_SCALE)
        kwargs.setdefault("port", 0)
        kwargs.setdefault("new_projects", "today")
        emu = Emulator(**kwargs).start()
        started.append(emu)
        if services_enabled and kwargs["new_projects"] == "today":
            # Today's versions and rules, with the lab's APIs already on (an existing project).
            for project in {*(kwargs.get("projects") or {}), "gke-detail"}:
                emu.project_settings(project, {"servicesEnabled": True})
        monkeypatch.setenv("GKE_LAB_EMULATOR_HOST", emu.address)
        return emu

    yield make
    for emu in reversed(started):
        emu.stop()


@pytest.fixture
def emulator(emulator_factory: Callable[..., Emulator]) -> Emulator:
    """A fresh emulator at latency scale 0.01 with GKE_LAB_EMULATOR_HOST set for the test."""
    return emulator_factory()
