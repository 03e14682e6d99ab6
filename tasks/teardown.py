"""Teardown and reaper tasks: thin wrappers over gke_lab.teardown / gke_lab.reaping.

One task, run once per phase of `gke_lab.teardown.PHASES` (each run is named after its phase). Phases read
live state when they start, so each run is idempotent; results persist per flow run so a flow-level retry
resumes after the last completed phase.
"""

from __future__ import annotations

from prefect import task

from gke_lab import reaping
from gke_lab import teardown as td
from gke_lab.identity import LabIdentity
from gke_lab.spec import LabSpec
from tasks.common import MUTATING, clients


@task(name="teardown-phase", task_run_name="teardown-{phase}", **MUTATING)
def teardown_phase(
    phase: str,
    identity: LabIdentity,
    spec: LabSpec | None = None,
    destroy_keys: bool = False,
    dry_run: bool = False,
) -> list[td.Row]:
    """One teardown phase of the lab (with its spec when known, else found by the lab's markers)."""
    target = td.LabTarget(identity, spec)
    return td.run_phase(clients(), target, phase, destroy_keys=destroy_keys, dry_run=dry_run)


@task(name="find-expired-labs", retries=2, retry_delay_seconds=2)
def find_expired_labs(
    projects: list[str], locations: list[str], exclude: list[str], default_ttl_hours: float
) -> reaping.Plan:
    """Read-only: which labs to reap and which to skip (with why). Never cached: time moves."""
    return reaping.find(clients(), projects, locations, exclude, default_ttl_hours=default_ttl_hours)
