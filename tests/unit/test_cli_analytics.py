"""Any Prefect server a gke-lab command starts (the temporary one of `up`, the demo's, the stack's) runs with
analytics off: offline, telemetry only logs an ERROR."""

from __future__ import annotations

import os

from click.testing import CliRunner

from gke_lab.cli import main


def test_every_command_turns_server_analytics_off_unless_the_user_chose(monkeypatch):
    monkeypatch.delenv("PREFECT_SERVER_ANALYTICS_ENABLED", raising=False)
    result = CliRunner().invoke(main, ["plan", "--offline"])
    assert result.exit_code == 0, result.output
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"

    monkeypatch.setenv("PREFECT_SERVER_ANALYTICS_ENABLED", "true")
    CliRunner().invoke(main, ["plan", "--offline"])
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "true"
