"""A small catalogue of Google Cloud regions and their zones.

The spec checks node locations against it before any cloud call. It covers the common regions; a region
missing here is refused with the list of known ones, and adding it is a one-line change.
"""

from __future__ import annotations

ZONES: dict[str, tuple[str, ...]] = {
    "asia-east1": ("a", "b", "c"),
    "asia-east2": ("a", "b", "c"),
    "asia-northeast1": ("a", "b", "c"),
    "asia-northeast2": ("a", "b", "c"),
    "asia-northeast3": ("a", "b", "c"),
    "asia-south1": ("a", "b", "c"),
    "asia-southeast1": ("a", "b", "c"),
    "asia-southeast2": ("a", "b", "c"),
    "australia-southeast1": ("a", "b", "c"),
    "europe-north1": ("a", "b", "c"),
    "europe-west1": ("b", "c", "d"),
    "europe-west2": ("a", "b", "c"),
    "europe-west3": ("a", "b", "c"),
    "europe-west4": ("a", "b", "c"),
    "europe-west6": ("a", "b", "c"),
    "northamerica-northeast1": ("a", "b", "c"),
    "southamerica-east1": ("a", "b", "c"),
    "us-central1": ("a", "b", "c", "f"),
    "us-east1": ("b", "c", "d"),
    "us-east4": ("a", "b", "c"),
    "us-west1": ("a", "b", "c"),
    "us-west2": ("a", "b", "c"),
    "us-west3": ("a", "b", "c"),
    "us-west4": ("a", "b", "c"),
}

REGIONS: tuple[str, ...] = tuple(sorted(ZONES))


def zones_of(region: str) -> list[str]:
    """Full zone names of a region (empty when the region is unknown)."""
    return [f"{region}-{suffix}" for suffix in ZONES.get(region, ())]


def all_zones() -> list[str]:
    return [zone for region in REGIONS for zone in zones_of(region)]


def region_of(zone: str) -> str:
    """`us-west1-a` -> `us-west1`."""
    return zone.rsplit("-", 1)[0]
