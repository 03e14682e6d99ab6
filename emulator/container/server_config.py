"""Server config: the versions, release channels and image types GKE offers, and version aliases."""

from __future__ import annotations

import re
from typing import Any

from emulator.container.base import ContainerBase
from emulator.container.common import region_of_location
from emulator.store import Project

CHANNELS = {
    "RAPID": ["1.34.1-gke.1829001", "1.33.5-gke.1201000"],
    "REGULAR": ["1.33.5-gke.1201000", "1.33.4-gke.1350000", "1.32.9-gke.1108000"],
    "STABLE": ["1.32.9-gke.1108000", "1.32.8-gke.1134000"],
    "EXTENDED": ["1.32.9-gke.1108000", "1.32.8-gke.1134000"],
}
VALID_MASTER_VERSIONS = [
    "1.34.1-gke.1829001",
    "1.33.5-gke.1201000",
    "1.33.4-gke.1350000",
    "1.32.9-gke.1108000",
    "1.32.8-gke.1134000",
]
VALID_NODE_VERSIONS = VALID_MASTER_VERSIONS + ["1.31.13-gke.1023000", "1.30.14-gke.1239000"]
DEFAULT_VERSION = "1.33.5-gke.1201000"
IMAGE_TYPES = ["COS_CONTAINERD", "UBUNTU_CONTAINERD", "WINDOWS_LTSC_CONTAINERD"]


def server_config_json() -> dict[str, Any]:
    return {
        "defaultClusterVersion": DEFAULT_VERSION,
        "validNodeVersions": VALID_NODE_VERSIONS,
        "defaultImageType": "COS_CONTAINERD",
        "validImageTypes": IMAGE_TYPES,
        "validMasterVersions": VALID_MASTER_VERSIONS,
        "channels": [
            {"channel": name, "defaultVersion": versions[0], "validVersions": versions}
            for name, versions in CHANNELS.items()
        ],
    }


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v))


def resolve_version(requested: str, offered: list[str]) -> str | None:
    """GKE's version aliases: "", "latest", "-", "1.33", "1.33.5" or an exact "-gke.N" version."""
    if requested in ("", "latest", "-"):
        return DEFAULT_VERSION if DEFAULT_VERSION in offered else max(offered, key=_version_key)
    if requested in offered:
        return requested
    candidates = [v for v in offered if v.startswith(requested + ".") or v.startswith(requested + "-")]
    return max(candidates, key=_version_key) if candidates else None


class ServerConfigMixin(ContainerBase):
    def server_config(self, project: Project, location: str) -> dict[str, Any]:
        region_of_location(location)
        return server_config_json()
