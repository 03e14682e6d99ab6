"""Helpers shared by the Compute Engine resource modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gke_lab import calls, ops
from gke_lab.clients import Clients


def uses_network(link: str, network: str) -> bool:
    """Whether a resource's network link names `network` (links come as full URLs or paths)."""
    return bool(link) and link.rstrip("/").endswith(f"/global/networks/{network}")


def network_name(link: str) -> str:
    return link.rstrip("/").rsplit("/", 1)[-1] if link else ""


def insert_and_wait(
    c: Clients, insert: Callable[[], Any], *, project: str, resource: str, region: str | None = None
) -> None:
    """Insert and wait for the operation; on a 409 (a retried insert whose first attempt went through) wait
    for that attempt's operation if it still runs; the caller reads the resource back and assesses it
    again."""
    op = calls.create_or_existing(insert, resource=resource)
    if op is not None:
        ops.wait_compute(c, op, project=project, region=region, resource=resource)
    else:
        ops.wait_compute_pending(c, project=project, region=region, resource=resource)


def delete_and_wait(
    c: Clients, delete: Callable[[], Any], *, project: str, resource: str, region: str | None = None
) -> None:
    op = calls.delete_or_gone(delete, resource=resource)
    if op is not None:
        ops.wait_compute(c, op, project=project, region=region, resource=resource)
