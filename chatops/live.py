"""What live resources carry a lab's ownership marker (read-only; runs in the receiver's check threads)."""

from __future__ import annotations

from gke_lab import inventory
from gke_lab.clients import Clients

# Kinds listed project-wide in one call each: enough to see any lab that still has a cluster, network,
# firewall rule or service account (regional subnets and routers live in a marked network).
KINDS = ("cluster", "network", "firewall", "service_account")


def live_lab(project: str, lab: str) -> str:
    """A short list of the lab's marked resources in `project` ("" when none); raises when unreadable."""
    found = inventory.scan(Clients.from_env(), project, kinds=KINDS)
    mine = [r for r in found.resources if r.marker is not None and r.marker.lab == lab]
    return ", ".join(f"{r.kind} {r.ref}" for r in mine[:3]) + (" ..." if len(mine) > 3 else "")
