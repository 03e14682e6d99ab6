"""A lab you can watch being made: progress lines, the progress artifact, estimates from history, --quiet,
a failed run's artifact and `/lab status`, on the emulator (about two minutes in all).

The cluster create takes ~40 s (latency scale 0.09) instead of minutes, and the cadence is shortened
through the environment (a line at least every 5 s, at most one per 2 s), so the rules are exercised
many times without a multi-minute run.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
import uuid

import httpx
import pytest
from click.testing import CliRunner

from flows.progress import HEARTBEAT_ENV, MIN_GAP_ENV
from gke_lab import progress
from gke_lab.cli import main
from tests.fixtures_emulator import LOCAL_NETWORK, NUMBER, PROJECT, EmulatorAdmin

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LONG_SCALE = 0.09  # clusters.create is 420 s at scale 1: ~38 s here
HEARTBEAT, MIN_GAP = 5.0, 2.0
TIME = r"(\d+h)?(\d+m)?(\d+s)?"
LINE = re.compile(rf"^[a-z ,]+(: .+)?, {TIME} elapsed, (about {TIME} left|almost done|longer than usual)")


def _api() -> str:
    from prefect.settings import PREFECT_API_URL

    return PREFECT_API_URL.value().rstrip("/")


def _progress_artifacts(key: str) -> list[dict]:
    body = {"artifacts": {"key": {"any_": [key]}, "type": {"any_": ["progress"]}}, "sort": "UPDATED_DESC"}
    return httpx.post(f"{_api()}/artifacts/filter", json=body, timeout=30).json()


def _cluster_task_seconds(lab: str) -> float:
    body = {
        "flow_runs": {"tags": {"all_": [f"lab:{lab}"]}},
        "task_runs": {"name": {"like_": "ensure-cluster"}, "state": {"type": {"any_": ["COMPLETED"]}}},
    }
    runs = httpx.post(f"{_api()}/task_runs/filter", json=body, timeout=30).json()
    assert len(runs) == 1, runs
    from datetime import datetime

    start, end = (datetime.fromisoformat(runs[0][k]) for k in ("start_time", "end_time"))
    return (end - start).total_seconds()


class Recorder:
    """A progress output that notes when each line came (by the same clock the rules use)."""

    def __init__(self) -> None:
        self.lines: list[tuple[float, str]] = []
        cadence = progress.Cadence(heartbeat=HEARTBEAT, min_gap=MIN_GAP)
        self.sink = progress.PlainSink(
            lambda text: self.lines.append((time.monotonic(), text)), cadence, time.monotonic
        )


def test_watch_a_lab_being_made(prefect_harness, emulator_factory, monkeypatch):
    from prefect import tags

    from chatops.app import ChatOps
    from chatops.policy import Policy
    from chatops.settings import Settings
    from flows.common import artifact_key
    from flows.provision import provision_lab
    from gke_lab.overrides import apply_overrides

    monkeypatch.setenv(HEARTBEAT_ENV, str(HEARTBEAT))
    monkeypatch.setenv(MIN_GAP_ENV, str(MIN_GAP))
    lab = f"watch-{uuid.uuid4().hex[:6]}"
    sets = [LOCAL_NETWORK, f"lab={lab}"]
    spec = apply_overrides(None, sets)
    key = artifact_key(spec, "progress")

    # 1. A run with a long cluster create: lines by the cadence, an artifact that only moves forward.
    emulator_factory(projects={PROJECT: NUMBER}, latency_scale=LONG_SCALE)
    recorder = Recorder()
    seen: list[float] = []
    stop = threading.Event()

    def watch_artifact() -> None:
        while not stop.wait(0.5):
            found = _progress_artifacts(key)
            if found:
                seen.append(float(found[0]["data"]))

    watcher = threading.Thread(target=watch_artifact)
    watcher.start()
    progress.set_output(recorder.sink)
    try:
        result = provision_lab(spec=spec)
    finally:
        progress.set_output(None)
        stop.set()
        watcher.join()
    seen.append(float(_progress_artifacts(key)[0]["data"]))
    assert seen == sorted(seen), seen  # never backwards
    assert len(set(seen)) >= 4 and seen[-1] == 100.0, seen
    cluster_lines = [(at, text) for at, text in recorder.lines if text.startswith("cluster")]
    assert len(cluster_lines) >= 5, recorder.lines
    for _, text in cluster_lines:
        assert LINE.match(text), text
    times = [at for at, _ in cluster_lines]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    # At least one line per heartbeat (the ticker may be one 1 s tick late on a loaded machine) and
    # never two within the minimum gap.
    assert max(gaps) <= HEARTBEAT + progress.Cadence().tick and min(gaps) >= MIN_GAP, gaps
    assert "| cluster |" in result["lab_card"]
    first_cluster = _cluster_task_seconds(lab)

    # 2. The second run (a fresh project, same Prefect history), through the CLI with stderr a pipe: its
    # cluster estimate is the first run's measured duration; `/lab status` answers with phase and estimate.
    emulator_factory(projects={PROJECT: NUMBER}, latency_scale=0.05)
    settings = Settings(
        signing_secret="unused",
        policy=Policy(users=frozenset({"U1"}), admins=frozenset(), projects=frozenset({PROJECT})),
        api_url=_api(),
        ui_url="http://ui.example",
    )
    answers: list[str] = []
    done = threading.Event()

    def ask_status() -> None:
        async def loop() -> None:
            chat = ChatOps(settings)
            try:
                while not done.is_set():
                    answers.append(await chat.status(lab, "U1"))
                    await asyncio.sleep(1.0)
            finally:
                await chat.aclose()

        asyncio.run(loop())

    asker = threading.Thread(target=ask_status)
    asker.start()
    try:
        with tags("gke-lab"):  # chat finds a lab's runs by this tag
            second = CliRunner().invoke(main, ["up", *sum((["--set", s] for s in sets), [])])
    finally:
        done.set()
        asker.join()
    assert second.exit_code == 0, second.output
    plain = [line for line in second.stderr.splitlines() if "elapsed" in line]
    assert any(line.startswith("cluster: creating") for line in plain), second.stderr
    assert all(LINE.match(line) for line in plain), plain
    expected = f"{progress.duration(first_cluster)} (median of 1 earlier run)"
    assert re.search(rf"\| cluster \| \S+ \| {re.escape(expected)} \|", second.stdout), second.stdout
    during = [a for a in answers if "cluster:" in a]
    assert during, answers
    assert (
        "elapsed" in during[-1] and "left" in during[-1] and "http://ui.example/runs/flow-run/" in during[-1]
    )

    # 3. --quiet: the lab card and nothing else.
    emulator_factory(projects={PROJECT: NUMBER})
    quiet = CliRunner().invoke(main, ["up", "--quiet", *sum((["--set", s] for s in sets), [])])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stderr == "", quiet.stderr
    assert quiet.stdout.lstrip().startswith(f"# Lab card: {lab}") or "# Lab card" in quiet.stdout
    assert "elapsed" not in quiet.stdout

    # 4. A failed run leaves its artifact where it stopped, naming the failing phase.
    failing_lab = f"{lab}-fails"
    failing = apply_overrides(None, [LOCAL_NETWORK, f"lab={failing_lab}"])
    emu = emulator_factory(projects={PROJECT: NUMBER})
    rule = {"api": "container", "method": "POST", "path_regex": r"/clusters$", "count": 1, "status": 400}
    EmulatorAdmin(emu.url).configure_faults({"rules": [rule]})
    state = provision_lab(spec=failing, return_state=True)
    assert state.is_failed()
    [stopped] = _progress_artifacts(artifact_key(failing, "progress"))[:1]
    assert 0 < float(stopped["data"]) < 100
    assert "failed during phase 3/5 (cluster)" in stopped["description"]
