"""Server config: the versions, release channels and image types GKE offers, and version aliases.

A project created today gets today's offer (TODAY); a "legacy" project keeps the offer the emulator had
before (the constants below without a prefix), so that its older tests and old nodes stay as they were.
"""

from __future__ import annotations

import datetime as _dt
import re
from dataclasses import dataclass
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


@dataclass(frozen=True)
class Offer:
    """What `serverConfig` offers: per channel (default first) and for clusters without a channel."""

    channels: dict[str, list[str]]
    valid_master_versions: list[str]
    valid_node_versions: list[str]
    default_version: str  # no channel (and the `defaultClusterVersion` field)


LEGACY = Offer(CHANNELS, VALID_MASTER_VERSIONS, VALID_NODE_VERSIONS, DEFAULT_VERSION)

# Today's offer: GKE release notes, "Current versions" table
# (https://cloud.google.com/kubernetes-engine/docs/release-notes): available minors Rapid 1.34-1.37,
# Regular 1.34-1.36, Stable 1.34-1.35, Extended 1.31-1.36, No channel 1.34-1.36; default patch for
# cluster creation Rapid 1.36.4-gke.1082000, Regular/Extended/No channel 1.35.7-gke.1222000, Stable
# 1.35.6-gke.1250000.
TODAY = Offer(
    channels={
        "RAPID": ["1.36.4-gke.1082000", "1.37.0-gke.1140000", "1.35.7-gke.1222000", "1.34.9-gke.1655001"],
        "REGULAR": ["1.35.7-gke.1222000", "1.36.4-gke.1082000", "1.35.6-gke.1250000", "1.34.9-gke.1655001"],
        "STABLE": ["1.35.6-gke.1250000", "1.34.9-gke.1655001"],
        # Extended also keeps minors down to 1.31 for clusters already on them; new clusters start at 1.34
        "EXTENDED": ["1.35.7-gke.1222000", "1.34.9-gke.1655001"],
    },
    valid_master_versions=[
        "1.36.4-gke.1082000",
        "1.35.7-gke.1222000",
        "1.35.6-gke.1250000",
        "1.34.9-gke.1655001",
    ],
    valid_node_versions=[
        "1.36.4-gke.1082000",
        "1.35.7-gke.1222000",
        "1.35.6-gke.1250000",
        "1.34.9-gke.1655001",
    ],
    default_version="1.35.7-gke.1222000",
)

# End of standard support per minor version: the limit of a NO_MINOR_UPGRADES / NO_MINOR_OR_NODE_UPGRADES
# exclusion (GKE release schedule, https://cloud.google.com/kubernetes-engine/docs/release-schedule, as
# mirrored by https://endoflife.date/google-kubernetes-engine; 1.36 and 1.37 are that schedule's estimates
# of about 14 months after availability).
END_OF_STANDARD_SUPPORT = {
    "1.32": _dt.datetime(2026, 2, 28, tzinfo=_dt.UTC),
    "1.33": _dt.datetime(2026, 6, 30, tzinfo=_dt.UTC),
    "1.34": _dt.datetime(2026, 8, 30, tzinfo=_dt.UTC),
    "1.35": _dt.datetime(2027, 2, 28, tzinfo=_dt.UTC),
    "1.36": _dt.datetime(2027, 6, 30, tzinfo=_dt.UTC),
    "1.37": _dt.datetime(2027, 10, 31, tzinfo=_dt.UTC),
}


def minor_of(version: str) -> str:
    return ".".join(version.split(".")[:2])


def offer_for(legacy: bool) -> Offer:
    return LEGACY if legacy else TODAY


def server_config_json(offer: Offer = LEGACY) -> dict[str, Any]:
    return {
        "defaultClusterVersion": offer.default_version,
        "validNodeVersions": offer.valid_node_versions,
        "defaultImageType": "COS_CONTAINERD",
        "validImageTypes": IMAGE_TYPES,
        "validMasterVersions": offer.valid_master_versions,
        "channels": [
            {"channel": name, "defaultVersion": versions[0], "validVersions": versions}
            for name, versions in offer.channels.items()
        ],
    }


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", v))


def resolve_version(requested: str, offered: list[str], default: str = DEFAULT_VERSION) -> str | None:
    """GKE's version aliases: "", "latest", "-", "1.33", "1.33.5" or an exact "-gke.N" version.

    "" and "-" mean the default (of the channel: its first version); "latest" the newest offered."""
    if requested == "latest":
        return max(offered, key=_version_key)
    if requested in ("", "-"):
        return default if default in offered else max(offered, key=_version_key)
    if requested in offered:
        return requested
    candidates = [v for v in offered if v.startswith(requested + ".") or v.startswith(requested + "-")]
    return max(candidates, key=_version_key) if candidates else None


class ServerConfigMixin(ContainerBase):
    def server_config(self, project: Project, location: str) -> dict[str, Any]:
        region_of_location(location)
        return server_config_json(offer_for(project.legacy))
