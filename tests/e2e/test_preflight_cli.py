"""`gke-lab up` against the emulator when the project is not there: one line, no flow, no change."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from gke_lab.cli import main
from tests.e2e.emulator_admin import PROJECT, admin

pytestmark = [pytest.mark.e2e]


def test_up_on_a_project_the_caller_cannot_see_stops_at_preflight(emulator_factory, monkeypatch):
    emu = emulator_factory(projects={PROJECT: 415104041262})

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
    admin(emu, "POST", "faults", json={"rules": [hidden]})
    result = CliRunner().invoke(main, ["up", "--set", "project_id=not-my-project"])
    assert result.exit_code == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("error: preflight: project: not-my-project is not visible to the caller")
    assert "roles/browser" in lines[0]
    assert "Traceback" not in result.output
    assert [e for e in admin(emu, "GET", "requests") if e["mutating"]] == []


def test_plan_live_on_a_new_project_says_enable_then_create_without_a_change(emulator_factory):
    from gke_lab.clients import Clients
    from gke_lab.overrides import apply_overrides
    from gke_lab.plan import live_decisions
    from gke_lab.preflight import run
    from gke_lab.resources import services
    from gke_lab.resources.decision import Action

    emu = emulator_factory(projects={PROJECT: 415104041262}, services_enabled=False)
    spec = apply_overrides(None, [])
    checked = run(spec, "up")
    assert checked.passed and checked.checks[-1].detail.startswith("will enable compute.googleapis.com")
    decisions = live_decisions(Clients.from_env(), spec)
    assert {d.name for d in decisions if d.kind == services.KIND and d.action is Action.CREATE} == set(
        services.REQUIRED
    )
    assert {d.action for d in decisions if d.kind != services.KIND} <= {Action.CREATE, Action.SKIP}
    assert [e for e in admin(emu, "GET", "requests") if e["mutating"]] == []
