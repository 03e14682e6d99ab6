"""The stack's state file: what `stack down` trusts before it signals anything."""

from __future__ import annotations

import os

import click
import pytest

from gke_lab.cli.stack import Process, StackState, start_time, stop_group


def test_state_round_trips_and_is_private(tmp_path):
    path = tmp_path / "stack.json"
    state = StackState(
        str(tmp_path),
        "http://127.0.0.1:1/api",
        "sqlite",
        "sqlite+aiosqlite:///x",
        [Process("w", 1, "log", 2, "3")],
    )
    state.save(path)
    assert StackState.load(path) == state
    assert path.stat().st_mode & 0o077 == 0  # it may hold the database password
    assert StackState.load(tmp_path / "missing.json") is None


def test_a_corrupt_state_file_is_refused_with_its_path(tmp_path):
    path = tmp_path / "stack.json"
    path.write_text("{not json")
    with pytest.raises(click.ClickException, match="stack.json"):
        StackState.load(path)


def test_a_recycled_pid_is_never_signalled():
    me = Process("worker-1", os.getpid(), "log", started="1")  # our pid, another process's start time
    assert start_time(os.getpid()) != "1"
    assert "left alone" in stop_group(me)  # and this test process is still here to say so
    assert Process("worker-1", os.getpid(), "log", started=start_time(os.getpid())).running()
