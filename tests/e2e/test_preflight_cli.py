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
