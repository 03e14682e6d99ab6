"""The reaper's schedule fires: a Prefect server with its scheduler service on (as every real server
has it) creates the runs of `reap-expired-labs` from the deployment's own cron in prefect.yaml, and a
run the scheduler created is picked up by a worker and completes.

The cron fires every 15 minutes, too rarely to wait for in a test: its runs are checked as scheduled
(at quarter hours, ahead of time), and a second, short interval schedule added to the same deployment
shows the path from the scheduler to a finished run.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from tests.fixtures_servers import Stack, prefect_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REAPER = "reap-expired-labs"


@pytest.fixture(scope="module")
def scheduled_stack() -> Iterator[Stack]:
    with prefect_stack(workers=1, register_blocks=False, scheduler=True) as stack:
        yield stack


def auto_scheduled(stack: Stack, deployment_id: str) -> list[dict]:
    with stack.client() as c:
        response = c.post(
            "flow_runs/filter",
            json={
                "deployments": {"id": {"any_": [deployment_id]}},
                "sort": "EXPECTED_START_TIME_ASC",
            },
        )
    response.raise_for_status()
    return [r for r in response.json() if r["auto_scheduled"]]


def wait_for(what: str, found, timeout: float = 240):
    """Polls `found()` until it returns something truthy; the bound only ends a wait that never ends."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := found():
            return result
        time.sleep(1)
    raise AssertionError(f"{what}: not seen in {timeout:g} s")


def test_the_reaper_cron_creates_runs_and_a_scheduled_run_completes(scheduled_stack: Stack):
    stack = scheduled_stack
    deployment_id = stack.deployment_id(REAPER)
    started = datetime.now(UTC)

    # The cron of prefect.yaml, as the scheduler service turns it into runs: every quarter hour, ahead.
    runs = wait_for("runs scheduled from the reaper's cron", lambda: auto_scheduled(stack, deployment_id))
    times = [datetime.fromisoformat(r["expected_start_time"]) for r in runs]
    assert all(t.minute % 15 == 0 and t.second == 0 and t.microsecond == 0 for t in times), times
    assert times[0] > started.replace(second=0, microsecond=0), times
    assert all(r["state"]["type"] == "SCHEDULED" for r in runs), [r["state"] for r in runs]
    assert runs[0]["parameters"] == {"locations": ["us-west1"], "dry_run": False, "exclude": []}

    # A short schedule on the same deployment: the scheduler creates its runs, a worker runs one.
    with stack.client() as c:
        added = c.post(
            f"deployments/{deployment_id}/schedules",
            json=[{"schedule": {"interval": 5, "timezone": "UTC"}, "active": True}],
        )
    assert added.status_code == 201, added.text

    def completed() -> list[dict]:
        return [r for r in auto_scheduled(stack, deployment_id) if r["state"]["type"] == "COMPLETED"]

    (first, *_) = wait_for("a completed run created by the scheduler", completed)
    assert first["auto_scheduled"] is True
    assert first["parameters"] == {"locations": ["us-west1"], "dry_run": False, "exclude": []}
