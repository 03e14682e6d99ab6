"""Teardown and reaper tasks: thin wrappers over gke_lab.teardown / gke_lab.reaping, one per phase.

Phases read live state when they start, so each task is idempotent; results persist per flow run so a
flow-level retry resumes after the last completed phase.
"""

from __future__ import annotations

from typing import Any

from prefect import task

from gke_lab import reaping
from gke_lab import teardown as td
from gke_lab.spec import LabSpec
from tasks.common import MUTATING, clients


def target_of(identity: dict[str, Any], spec: LabSpec | None) -> td.LabTarget:
    if spec is not None:
        return td.LabTarget.from_spec(spec)
    return td.LabTarget(identity["project_id"], identity["lab"], tuple(identity.get("regions") or ()))


def _phase(phase: str, identity: dict, spec: LabSpec | None, destroy_keys: bool, dry_run: bool) -> list[dict]:
    rows = td.run_phase(
        clients(), target_of(identity, spec), phase, destroy_keys_=destroy_keys, dry_run=dry_run
    )
    return [row.__dict__ for row in rows]


@task(name="teardown-workload", **MUTATING)
def remove_workload(identity: dict, spec: LabSpec | None = None, dry_run: bool = False) -> list[dict]:
    return _phase("workload", identity, spec, False, dry_run)


@task(name="teardown-cluster", **MUTATING)
def delete_cluster(identity: dict, spec: LabSpec | None = None, dry_run: bool = False) -> list[dict]:
    return _phase("cluster", identity, spec, False, dry_run)


@task(name="teardown-firewalls", **MUTATING)
def delete_firewalls(identity: dict, spec: LabSpec | None = None, dry_run: bool = False) -> list[dict]:
    return _phase("firewalls", identity, spec, False, dry_run)


@task(name="teardown-router", **MUTATING)
def delete_router(identity: dict, spec: LabSpec | None = None, dry_run: bool = False) -> list[dict]:
    return _phase("router", identity, spec, False, dry_run)


@task(name="teardown-subnetwork", **MUTATING)
def delete_subnetwork(identity: dict, spec: LabSpec | None = None, dry_run: bool = False) -> list[dict]:
    return _phase("subnetwork", identity, spec, False, dry_run)


@task(name="teardown-network", **MUTATING)
def delete_network(identity: dict, spec: LabSpec | None = None, dry_run: bool = False) -> list[dict]:
    return _phase("network", identity, spec, False, dry_run)


@task(name="teardown-iam-bindings", **MUTATING)
def remove_bindings(identity: dict, spec: LabSpec | None = None, dry_run: bool = False) -> list[dict]:
    return _phase("bindings", identity, spec, False, dry_run)


@task(name="teardown-service-account", **MUTATING)
def delete_service_account(identity: dict, spec: LabSpec | None = None, dry_run: bool = False) -> list[dict]:
    return _phase("service_account", identity, spec, False, dry_run)


@task(name="teardown-keys", **MUTATING)
def destroy_keys(
    identity: dict, spec: LabSpec | None = None, destroy_keys: bool = False, dry_run: bool = False
) -> list[dict]:
    return _phase("keys", identity, spec, destroy_keys, dry_run)


PHASE_TASKS = (
    remove_workload,
    delete_cluster,
    delete_firewalls,
    delete_router,
    delete_subnetwork,
    delete_network,
    remove_bindings,
    delete_service_account,
)


@task(name="find-expired-labs", retries=2, retry_delay_seconds=2)
def find_expired_labs(
    projects: list[str], locations: list[str], exclude: list[str], default_ttl_hours: float
) -> dict:
    """Read-only: which labs to reap and which to skip (with why). Never cached: time moves."""
    return reaping.find(
        clients(), projects, locations, exclude, default_ttl_hours=default_ttl_hours
    ).to_dict()
