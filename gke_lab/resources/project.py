"""Project lookups the run needs: the project number and the GKE version to create. Read-only."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from gke_lab import retry
from gke_lab.clients import Clients
from gke_lab.errors import LabError
from gke_lab.spec import LabSpec


class ServerVersion(BaseModel):
    model_config = ConfigDict(frozen=True)

    version: str
    default: str
    offered: list[str]


def project_number(c: Clients, project_id: str) -> int:
    project = retry.call(
        lambda: c.projects.get_project(name=f"projects/{project_id}"),
        resource=f"projects/{project_id}",
        action="look up",
    )
    return int(project.name.split("/")[-1])


def choose_version(c: Clients, spec: LabSpec) -> ServerVersion:
    """The pinned version when the server offers it, else the server's default."""
    name = spec.cluster_parent
    config = retry.call(
        lambda: c.container.get_server_config(name=name), resource=name, action="read server config"
    )
    offered = list(config.valid_master_versions)
    pinned = spec.cluster.version
    if pinned and pinned not in offered:
        raise LabError(
            f"cluster.version {pinned} is not offered in {spec.region}; "
            f"offered: {', '.join(offered[:12])} "
            f"(or null for the default {config.default_cluster_version})",
            resource=name,
        )
    return ServerVersion(
        version=pinned or config.default_cluster_version,
        default=config.default_cluster_version,
        offered=offered,
    )
