"""Project lookups the run needs: the project number and the GKE version to create. Read-only."""

from __future__ import annotations

import re

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
    # Where the version comes from, for the plan: "REGULAR channel default", "pinned, in REGULAR", ...
    source: str = ""


def project_number(c: Clients, project_id: str) -> int:
    project = retry.call(
        lambda: c.projects.get_project(name=f"projects/{project_id}"),
        resource=f"projects/{project_id}",
        action="look up",
    )
    return int(project.name.split("/")[-1])


def choose_version(c: Clients, spec: LabSpec) -> ServerVersion:
    """The pinned version when the chosen channel offers it, else that channel's default.

    A cluster in a channel must run one of the channel's versions (serverConfig.channels); only the legacy
    no-channel opt-in reads the location-wide lists.
    """
    name = spec.cluster_parent
    config = retry.call(
        lambda: c.container.get_server_config(name=name), resource=name, action="read server config"
    )
    channel = spec.cluster.release_channel
    if channel is None:
        offered, default, where = (
            list(config.valid_master_versions),
            config.default_cluster_version,
            "no channel",
        )
    else:
        found = next((ch for ch in config.channels if ch.channel.name == channel), None)
        if found is None:
            raise LabError(
                f"cluster.release_channel {channel} is not offered in {spec.region}; offered: "
                f"{', '.join(ch.channel.name for ch in config.channels) or 'none'}",
                resource=name,
            )
        offered, default, where = list(found.valid_versions), found.default_version, f"{channel} channel"
    pinned = spec.cluster.version
    chosen = _resolve(pinned, offered) if pinned else default
    if chosen is None:
        raise LabError(
            f"cluster.version {pinned} is not offered by the {where} in {spec.region}; "
            f"offered: {', '.join(offered[:12])} (or null for the default {default})",
            resource=name,
        )
    source = f"{where} default" if not pinned else f"pinned {pinned}, offered by the {where}"
    return ServerVersion(version=chosen, default=default, offered=offered, source=source)


def _resolve(pinned: str, offered: list[str]) -> str | None:
    """An exact offered version, or the newest offered one that a MAJOR.MINOR[.PATCH] alias names."""
    if pinned in offered:
        return pinned
    if pinned in ("latest", "-"):
        return offered[0] if offered else None
    matches = [v for v in offered if v.startswith(pinned + ".") or v.startswith(pinned + "-")]
    return max(matches, key=_version_key) if matches else None


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version))
