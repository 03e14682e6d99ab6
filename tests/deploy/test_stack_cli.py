"""`gke-lab stack up` / `stack down` as a user runs them: real PostgreSQL, server, workers and emulator."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
import pytest

from gke_lab.cli.stack import STATE_FILE

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

GKE_LAB = str(Path(sys.executable).parent / "gke-lab")
REPO = Path(__file__).resolve().parents[2]


def _sigint_ignored() -> None:
    # As in a script that starts `gke-lab stack up &` without job control: SIGINT arrives ignored.
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def stack(*args: str, directory: Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("PREFECT_") and k != "GKE_LAB_EMULATOR_HOST"
    }
    result = subprocess.run(
        [GKE_LAB, "stack", *args, "--dir", str(directory)],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
        preexec_fn=_sigint_ignored,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr}"
    return result


def running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_stack_up_twice_is_idempotent_and_down_leaves_nothing_running():
    # Not pytest's tmp_path: its parent is closed to others, and PostgreSQL runs as `postgres`.
    base = Path(tempfile.mkdtemp(prefix="gke-lab-stack-test-"))
    base.chmod(0o755)
    directory = base / "stack"
    first = stack("up", "--workers", "2", "--port", "0", directory=directory)
    assert "PostgreSQL not found" not in first.stdout  # .ci/run installs postgresql
    state = json.loads((directory / STATE_FILE).read_text())
    try:
        assert state["database"] == "postgresql"
        assert re.match(r"postgresql\+asyncpg://postgres:[^@]+@127\.0\.0\.1:", state["database_url"])
        names = [p["name"] for p in state["processes"]]
        assert names == ["emulator", "server", "worker-1", "worker-2"]
        assert f"Prefect UI: {state['api_url'].removesuffix('/api')}" in first.stdout
        deployments = httpx.post(f"{state['api_url']}/deployments/filter", json={}, timeout=30).json()
        assert {d["name"] for d in deployments} >= {"provision-lab", "teardown-lab", "reap-expired-labs"}
        server_log = Path(next(p["log"] for p in state["processes"] if p["name"] == "server")).read_text()
        assert "ERROR" not in server_log  # analytics off: no telemetry error offline

        second = stack("up", "--workers", "2", "--port", "0", directory=directory)
        assert "nothing started" in second.stdout
        assert json.loads((directory / STATE_FILE).read_text()) == state
    finally:
        down = stack("down", directory=directory)

    pids = {p["name"]: p["pid"] for p in state["processes"]}
    ports = [p["port"] for p in state["processes"] if p["port"]] + [state["postgres_port"]]
    for name, pid in pids.items():
        assert f"{name} (pid {pid}" in down.stdout and "killed" not in down.stdout, down.stdout
    assert "postgresql" in down.stdout and "stack stopped" in down.stdout
    assert [name for name, pid in pids.items() if running(pid)] == []
    assert [port for port in ports if listening(port)] == []
    assert not (directory / STATE_FILE).exists()
    assert "nothing to stop" in stack("down", "--purge", directory=directory).stdout
    base.rmdir()
