"""Project lookups: the project number and the GKE server config (version choice). Read-only."""

from __future__ import annotations

from prefect import task

from gke_lab import retry
from gke_lab.clients import Clients
from gke_lab.errors import LabError
from gke_lab.spec import LabSpec
from tasks.common import READ_ONLY, clients


def lookup_project_number(c: Clients, project_id: str) -> int:
    project = retry.call(
        lambda: c.projects.get_project(name=f"projects/{project_id}"),
        resource=f"projects/{project_id}",
        action="look up",
    )
    return int(project.name.split("/")[-1])


def choose_version(c: Clients, spec: LabSpec) -> dict:
    """The pinned version when the server offers it, else the server's default."""
    name = spec.cluster_parent
    config = retry.call(
        lambda: c.container.get_server_config(name=name), resource=name, action="read server config"
    )
    offered = list(config.valid_master_versions)
    pinned = spec.cluster.version
    if pinned:
        if pinned not in offered:
            raise LabError(
                f"cluster.version {pinned} is not offered in {spec.region}; "
                f"offered: {', '.join(offered[:12])} "
                f"(or null for the default {config.default_cluster_version})",
                resource=name,
            )
        version = pinned
    else:
        version = config.default_cluster_version
    return {"version": version, "default": config.default_cluster_version, "offered": offered}


# `target` keeps a cached answer from one cloud (or emulator) from being reused for another.
@task(name="project-number", **READ_ONLY)
def project_number(project_id: str, target: str) -> int:
    return lookup_project_number(clients(), project_id)


@task(name="server-config", **READ_ONLY)
def server_config(spec: LabSpec, target: str) -> dict:
    return choose_version(clients(), spec)


@task(name="live-diff")
def live_state(spec: LabSpec) -> dict:
    """Read-only dry run: what a provisioning run would create, what exists and what differs."""
    from gke_lab.livediff import live_diff

    return live_diff(spec, clients())
