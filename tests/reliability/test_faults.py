"""Transient faults (the emulator answers a share of all requests with 429 or 503): every provision and
teardown still succeeds, nothing is created twice, and nothing of the lab is left behind."""

from __future__ import annotations

import pytest

from bench import inventory
from tests.fixtures_emulator import SCALE, EmulatorAdmin, lab_spec
from tests.reliability.helpers import DEEP, baseline

RATES = (0.05, 0.10, 0.20)
LABS_PER_RATE = 3 if DEEP else 1


@pytest.mark.timeout(900)
@pytest.mark.parametrize("rate", RATES, ids=[f"{int(r * 100)}pct" for r in RATES])
def test_transient_faults_never_fail_or_duplicate(rate, emulator_factory, prefect_harness):
    from flows.provision import provision_lab
    from flows.teardown import teardown_lab

    emu = emulator_factory(latency_scale=SCALE, fault_rate=rate, seed=int(rate * 1000))
    for i in range(LABS_PER_RATE):
        spec = lab_spec(project=f"faults-{int(rate * 100)}-{i}")
        before = baseline(emu, spec.project_id)

        up = provision_lab(spec=spec, return_state=True)
        assert up.is_completed(), f"provision failed at {rate:.0%} faults: {up.message}"
        after_up = EmulatorAdmin(emu.url).state()
        assert inventory.duplicates(after_up, spec.project_id) == []
        assert len(after_up["projects"][spec.project_id]["clusters"]) == 1

        down = teardown_lab(spec=spec, return_state=True)
        assert down.is_completed(), f"teardown failed at {rate:.0%} faults: {down.message}"
        after_down = EmulatorAdmin(emu.url).state()
        assert inventory.duplicates(after_down, spec.project_id) == []
        assert inventory.left_behind(before, after_down, spec.project_id) == []

    injected = [e for e in EmulatorAdmin(emu.url).requests() if e["status"] in (429, 503)]
    assert injected, "no fault was injected: the test did not exercise anything"
