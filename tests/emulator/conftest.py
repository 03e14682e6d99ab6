"""The emulator's older rules are tested on an old project (APIs enabled, service agents present, an existing
GKE customer); test_today.py tests how a project created today starts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from emulator.server import Emulator


@pytest.fixture
def emulator_factory(emulator_factory: Callable[..., Emulator]) -> Callable[..., Emulator]:
    def make(**kwargs: Any) -> Emulator:
        kwargs.setdefault("new_projects", "legacy")
        return emulator_factory(**kwargs)

    return make
