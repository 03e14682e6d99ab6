"""Crash and resume: `gke-lab up` killed with SIGKILL before, during and after the cluster create, then
run again, completes, and the project ends exactly as after a clean run (same resources, no duplicate).

The moment of the kill is chosen by watching the emulator's request log, so it does not depend on how
fast the machine is: "before" = the lab's VPC insert has been answered, "during" = the cluster create has
been accepted (the cluster is PROVISIONING), "after" = the first Kubernetes API request (cluster RUNNING).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bench import inventory
from tests.fixtures_emulator import LOCAL_NETWORK, PROJECT, SCALE, EmulatorAdmin, lab_spec

REPO = Path(__file__).resolve().parents[2]
GKE_LAB = str(Path(sys.executable).parent / "gke-lab")


def _is_vpc_insert(e: dict) -> bool:
    return e["method"] == "POST" and e["path"].endswith("/global/networks") and e["status"] < 300


def _is_cluster_create(e: dict) -> bool:
    return (
        e["api"] == "container"
        and e["method"] == "POST"
        and e["path"].endswith("/clusters")
        and e["status"] < 300
    )


def _is_kubernetes(e: dict) -> bool:
    return e["api"] == "kubernetes"


KILL_POINTS: dict[str, Callable[[dict], bool]] = {
    "before-cluster-create": _is_vpc_insert,
    "during-cluster-create": _is_cluster_create,
    "after-cluster-create": _is_kubernetes,
}
# A rerun at the test latency scale takes well under a minute; this only bounds a rerun that never starts.
RERUN_TIMEOUT_S = 300


def _overrides() -> list[str]:
    spec = lab_spec(project=PROJECT)
    return [f"project_id={spec.project_id}", f"lab={spec.lab}", LOCAL_NETWORK]


def _up(emu, output: Path) -> subprocess.Popen:
    """`gke-lab up` in its own process group, its output to a file (a pipe nobody reads could fill)."""
    from prefect.settings import PREFECT_API_URL

    env = dict(os.environ)
    env.update(
        GKE_LAB_EMULATOR_HOST=emu.address,
        PREFECT_API_URL=PREFECT_API_URL.value(),
        PREFECT_SERVER_ANALYTICS_ENABLED="false",
        # A killed run's lock is reclaimed once its heartbeat is this old (the default is 120 s).
        GKE_LAB_LOCK_STALE_SECONDS="5",
    )
    args = [GKE_LAB, "up"]
    for o in _overrides():
        args += ["--set", o]
    with output.open("wb") as sink:
        return subprocess.Popen(
            args, cwd=REPO, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
        )


def _slots_held(name: str) -> int:
    """The lab lock's occupied slots; the limit exists once any run took the lock (a failed read fails)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        return int(client.read_global_concurrency_limit_by_name(name).active_slots)


def _kill_at(emu, moment: Callable[[dict], bool], output: Path) -> None:
    proc = _up(emu, output)
    deadline = time.monotonic() + 600
    try:
        while not any(moment(e) for e in EmulatorAdmin(emu.url).requests()):
            if proc.poll() is not None:
                raise AssertionError(f"the run ended before the kill point:\n{output.read_text()[-2000:]}")
            assert time.monotonic() < deadline, "the kill point never came"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL


@pytest.mark.timeout(1200)
def test_killed_runs_resume_to_the_clean_result(emulator_factory, prefect_harness, tmp_path):
    """One test for the three kill points, in order: a rerun that cannot start fails the first one
    without waiting on the others."""
    from flows.provision import provision_lab

    spec = lab_spec(project=PROJECT)
    lock = f"gke-lab:{spec.project_id}:{spec.lab}"
    emu = emulator_factory(latency_scale=SCALE)
    clean_run = provision_lab(spec=spec, return_state=True)
    assert clean_run.is_completed(), clean_run.message
    clean = inventory.snapshot(EmulatorAdmin(emu.url).state(), PROJECT)

    for point, moment in KILL_POINTS.items():
        emu = emulator_factory(latency_scale=SCALE)
        _kill_at(emu, moment, tmp_path / f"{point}-killed.log")
        held = _slots_held(lock)
        # The killed run was inside the lock (it had called the cloud): its slot is still taken.
        assert held == 1, f"after a kill {point} the lab's lock {lock!r} holds {held} slot(s), not 1"

        output = tmp_path / f"{point}-rerun.log"
        rerun = _up(emu, output)
        try:
            rerun.wait(timeout=RERUN_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            os.killpg(rerun.pid, signal.SIGKILL)
            rerun.wait(timeout=60)
            raise AssertionError(
                f"the rerun after a kill {point} did not finish in {RERUN_TIMEOUT_S} s; the killed run held "
                f"{held} slot(s) of the lab's concurrency limit {lock!r} and "
                f"{_slots_held(lock)} are still held: a process that no longer exists keeps the lab locked\n"
                + output.read_text()[-2000:]
            ) from None
        rerun_output = output.read_text()
        assert rerun.returncode == 0, f"rerun after a kill {point} failed:\n{rerun_output[-3000:]}"
        # The rerun got in by reclaiming the dead run's slot, said so, and released it when done.
        assert f"reclaimed lab lock {lock} from a run that stopped without releasing it" in rerun_output, (
            rerun_output[-3000:]
        )
        assert _slots_held(lock) == 0, f"the rerun after a kill {point} left the lab's lock taken"

        final = EmulatorAdmin(emu.url).state()
        assert inventory.duplicates(final, PROJECT) == [], point
        got = inventory.snapshot(final, PROJECT)
        for part in ("resources", "bindings"):
            missing = [x for x in clean[part] if x not in got[part]]
            extra = [x for x in got[part] if x not in clean[part]]
            assert (missing, extra) == ([], []), f"{part} differ from a clean run after a kill {point}"
