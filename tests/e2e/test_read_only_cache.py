"""Read-only lookups are cached per flow run, never across runs.

The project number names the service agents granted on the lab's keys. Taken from an earlier run against
another endpoint that had the same address (an emulator restarted on a reused port), it granted a key to
an agent that does not exist and the run failed with 400 (seen in the lost-response suite).
"""

from __future__ import annotations

import os

from prefect import flow

from gke_lab.clients import EMULATOR_ENV
from tasks import project as project_tasks

TARGET = "emulator at a reused address"


@flow
def read_number(project_id: str) -> int:
    return project_tasks.project_number(project_id, TARGET)


def test_a_later_run_reads_the_project_number_again(emulator_factory, prefect_harness):
    first = emulator_factory(projects={"gke-detail": 111111111111})
    assert os.environ[EMULATOR_ENV].endswith(str(first.port))
    assert read_number("gke-detail") == 111111111111

    # Another endpoint behind the same target description, where the project has another number.
    emulator_factory(projects={"gke-detail": 222222222222})
    assert read_number("gke-detail") == 222222222222
