"""`gke-lab up` against the emulator when the project is not there: one line, no flow, no change."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from gke_lab.cli import main
from tests.fixtures_emulator import NUMBER, PROJECT, EmulatorAdmin

pytestmark = [pytest.mark.e2e]


def test_up_on_a_project_the_caller_cannot_see_stops_at_preflight(lab_admin, monkeypatch):
    def no_flow(*args, **kwargs):
        raise AssertionError("the flow must not start after a failed preflight")

    monkeypatch.setattr("gke_lab.cli.lab.run_provision", no_flow)
    # Google answers 403 for a project that does not exist or that the caller may not see.
    hidden = {
        "api": "cloudresourcemanager",
        "method": "GET",
        "path_regex": r"/projects/not-my-project$",
        "count": 100,
        "status": 403,
    }
    lab_admin.configure_faults({"rules": [hidden]})
    result = CliRunner().invoke(main, ["up", "--set", "project_id=not-my-project"])
    assert result.exit_code == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: preflight: project: not-my-project is not visible to the caller")
    assert "roles/browser" in lines[0]
    assert "Traceback" not in result.output
    assert lab_admin.mutations_since(0) == []


def test_plan_live_on_a_new_project_says_enable_then_create_without_a_change(emulator_factory):
    from gke_lab.clients import Clients
    from gke_lab.overrides import apply_overrides
    from gke_lab.plan import live_decisions
    from gke_lab.preflight import run
    from gke_lab.resources import services
    from gke_lab.resources.decision import Action

    emu = emulator_factory(projects={PROJECT: NUMBER}, services_enabled=False)
    spec = apply_overrides(None, [])
    checked = run(spec, "up")
    assert checked.passed and checked.checks[-1].detail.startswith("will enable compute.googleapis.com")
    decisions = live_decisions(Clients.from_env(), spec)
    assert {d.name for d in decisions if d.kind == services.KIND and d.action is Action.CREATE} == set(
        services.REQUIRED
    )
    assert {d.action for d in decisions if d.kind != services.KIND} <= {Action.CREATE, Action.SKIP}
    assert EmulatorAdmin(emu.url).mutations_since(0) == []
