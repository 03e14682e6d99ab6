"""The faces of progress that need no server: the command line's start-up, its options, chat and hooks."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from gke_lab.cli import _COMMANDS, main

HEAVY = ("prefect", "google.cloud", "google.api_core", "kubernetes", "grpc", "rich")

PROBE = """
import json, sys
from gke_lab.cli import main
try:
    main(sys.argv[1:], standalone_mode=False)
except SystemExit:
    pass
heavy = sorted({m for m in sys.modules if m.startswith(%r)})
print("\\nIMPORTED=" + json.dumps(heavy))
"""


def _imported(*args: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", PROBE % (HEAVY,), *args], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out.rsplit("IMPORTED=", 1)[1])


@pytest.mark.parametrize(
    "args",
    [["--help"], ["up", "--help"], ["down", "--help"], ["kubeconfig", "--help"], ["list", "--help"]]
    + [["extend", "--help"]],
)
def test_help_imports_neither_prefect_nor_google_clients(args):
    assert _imported(*args) == []


def test_group_help_lists_every_command_with_its_own_summary():
    out = CliRunner().invoke(main, ["--help"])
    assert out.exit_code == 0
    for name, (_, summary) in _COMMANDS.items():
        command = main.get_command(None, name)  # type: ignore[arg-type]
        assert command is not None and name in out.output
        # The table repeats the first line of the command's own help, so the two cannot drift apart.
        assert (command.help or "").splitlines()[0].strip() == summary, name


def test_a_bad_progress_cadence_is_refused_naming_the_variable(monkeypatch):
    monkeypatch.setenv("GKE_LAB_PROGRESS_HEARTBEAT", "soon")
    out = CliRunner().invoke(main, ["up", "--set", "lab=x"])
    assert out.exit_code == 2
    assert "GKE_LAB_PROGRESS_HEARTBEAT" in out.stderr and "Traceback" not in out.output
    monkeypatch.setenv("GKE_LAB_PROGRESS_HEARTBEAT", "5")
    monkeypatch.setenv("GKE_LAB_PROGRESS_MIN_GAP", "9")
    out = CliRunner().invoke(main, ["down", "--set", "lab=x"])
    assert out.exit_code == 2 and "GKE_LAB_PROGRESS_MIN_GAP" in out.stderr


def test_completion_notice_states_the_total_time():
    from flows.hooks import message

    start = dt.datetime(2026, 1, 1, 12, 0, 0, tzinfo=dt.UTC)
    run = SimpleNamespace(id="r1", name="provision a@p", tags=["lab:a"], start_time=start)
    state = SimpleNamespace(
        name="Completed",
        message="",
        timestamp=start + dt.timedelta(minutes=7, seconds=12),
        is_completed=lambda: True,
    )
    assert "ended Completed after 7m12s" in message(SimpleNamespace(name="provision-lab"), run, state)
    run.start_time = None  # never started: no time claimed
    assert "after" not in message(SimpleNamespace(name="provision-lab"), run, state)


class FakeApi:
    def __init__(self, artifact):
        self.artifact = artifact

    async def flow_runs(self, **kwargs):
        return [{"id": "run-1", "name": "provision a@p", "state": {"name": "Running"}}]

    async def progress_artifact(self, run_id):
        return self.artifact

    async def aclose(self):
        return None


def _status(artifact) -> str:
    from chatops.app import ChatOps
    from chatops.policy import Policy
    from chatops.settings import Settings

    settings = Settings(
        signing_secret="s",
        policy=Policy(users=frozenset(), admins=frozenset()),
        api_url="x",
        ui_url="http://ui",
    )

    async def ask() -> str:
        chat = ChatOps(settings, FakeApi(artifact))
        try:
            return await chat.status("a", "U1")
        finally:
            await chat.aclose()

    return asyncio.run(ask())


def test_lab_status_shows_phase_elapsed_estimate_and_link():
    text = _status(
        {"data": 42.4, "description": "phase 3/5: cluster: creating, 2m10s elapsed, about 4m left; run `x`"}
    )
    assert "<http://ui/runs/flow-run/run-1|provision a@p>: Running" in text
    assert "42 %: phase 3/5: cluster: creating, 2m10s elapsed, about 4m left" in text
    assert "`x`" not in text  # artifact text cannot break out of chat formatting
    assert _status(None).endswith("Running")


def test_commands_without_a_flow_import_no_prefect():
    """`list`, `extend`, `kubeconfig` and `plan` use these modules: none of them may pull Prefect in."""
    code = (
        "import sys\n"
        "import gke_lab.inventory, gke_lab.expiry, gke_lab.reaping, gke_lab.kubeconfig, gke_lab.plan\n"
        "import gke_lab.cli.lab, gke_lab.cli.teardown, gke_lab.cli.plan\n"
        "print(sorted(m for m in sys.modules if m.startswith('prefect')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
