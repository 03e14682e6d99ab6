"""Prefect tasks for the project: its services, lookups (project number, GKE version), the live plan."""

from __future__ import annotations

from prefect import task

from gke_lab import plan
from gke_lab.resources import project, services
from gke_lab.resources.project import ServerVersion
from gke_lab.spec import LabSpec
from tasks.common import MUTATING, READ_ONLY, clients


@task(name="services", **MUTATING)
def enable_services(spec: LabSpec) -> services.Enabled:
    return services.ensure(clients(), spec)


# `target` keeps a cached answer from one cloud (or emulator) from being reused for another.
@task(name="project-number", **READ_ONLY)
def project_number(project_id: str, target: str) -> int:
    return project.project_number(clients(), project_id)


@task(name="server-config", **READ_ONLY)
def server_config(spec: LabSpec, target: str) -> ServerVersion:
    return project.choose_version(clients(), spec)


@task(name="live-plan")
def live_plan(spec: LabSpec) -> plan.LivePlan:
    """Read-only dry run: what a provisioning run would do now with each resource."""
    return plan.read_live(clients(), spec)
