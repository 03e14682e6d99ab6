"""`make live-test`: never a pass when not run; the teardown runs whatever happens before it."""

from __future__ import annotations

import pytest

from gke_lab.cli import live_test


def test_without_the_project_it_says_not_run_and_fails(monkeypatch, capsys):
    monkeypatch.delenv("GKE_LAB_LIVE_PROJECT", raising=False)
    assert live_test.main() == live_test.NOT_RUN
    assert "NOT RUN" in capsys.readouterr().out


def test_never_against_an_emulator(monkeypatch):
    monkeypatch.setenv("GKE_LAB_LIVE_PROJECT", "my-proj")
    monkeypatch.setenv("GKE_LAB_EMULATOR_HOST", "127.0.0.1:1")
    assert live_test.main() == live_test.NOT_RUN


@pytest.mark.parametrize("failure", ["up-fails", "interrupted"])
def test_down_runs_after_a_failure_or_an_interrupt(monkeypatch, capsys, failure):
    monkeypatch.setenv("GKE_LAB_LIVE_PROJECT", "my-proj")
    monkeypatch.setenv("GKE_LAB_LIVE_CIDR", "198.51.100.7/32")
    monkeypatch.delenv("GKE_LAB_EMULATOR_HOST", raising=False)
    monkeypatch.setattr(live_test.signal, "signal", lambda *a: None)
    ran: list[str] = []

    def gke_lab(*args):
        ran.append(args[0])
        if args[0] == "up":
            if failure == "interrupted":
                raise KeyboardInterrupt
            return 1
        return 0

    monkeypatch.setattr(live_test, "_gke_lab", gke_lab)
    assert live_test.main() == 1
    assert ran == ["plan", "up", "down"]
    out = capsys.readouterr().out
    assert "--- phase down: ok" in out
