"""One latency table: every wait the emulator simulates is in it, and the benchmarks divide by the same."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import emulator
from bench import profile
from emulator.clock import Clock
from emulator.latency import PROFILE

# Calls whose first argument names a latency-table entry (the clock, and the delay a cluster API is given).
_TIMED_CALLS = {"duration", "sleep", "delay", "_delay", "_safe_delay"}


def _keys_used_by_the_emulator() -> dict[str, list[str]]:
    """Every string literal passed to a timed call anywhere in emulator/, with where it is used."""
    used: dict[str, list[str]] = {}
    root = Path(emulator.__file__).parent
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)
            first = node.args[0]
            if name in _TIMED_CALLS and isinstance(first, ast.Constant) and isinstance(first.value, str):
                used.setdefault(first.value, []).append(f"{path.relative_to(root)}:{node.lineno}")
    return used


def test_every_key_the_emulator_uses_is_in_the_table():
    used = _keys_used_by_the_emulator()
    # the scan must see the clock's and the Kubernetes API's waits, or it proves nothing
    assert {
        "networks.insert",
        "keyRings.create",
        "clusters.create",
        "pod.ready",
        "loadBalancer.ready",
    } <= set(used)
    missing = {key: where for key, where in used.items() if key not in PROFILE}
    assert not missing, f"latency keys used by the emulator but missing from the table: {missing}"


def test_every_table_entry_is_a_duration_the_clock_can_scale():
    clock = Clock(latency_scale=0.5)
    for key, seconds in PROFILE.items():
        assert seconds > 0 and clock.duration(key) == pytest.approx(seconds * 0.5), key


def test_the_bench_shows_the_emulators_values():
    assert profile.PROFILE == PROFILE
    costs = {step.cost for dag in (profile.PROVISION_DAG, profile.TEARDOWN_DAG) for step in dag} - {None}
    unknown = sorted(c for c in costs if c not in PROFILE)
    assert not unknown, f"bench steps priced by keys the emulator does not have: {unknown}"
    for key in costs:
        assert profile.PROFILE[key] == PROFILE[key]
