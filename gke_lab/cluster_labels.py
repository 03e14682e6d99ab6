"""A cluster's labels changed safely: read, decide on the labels read, write them with their fingerprint.

GKE refuses a setResourceLabels whose label fingerprint is not the cluster's current one, so a change
decided on labels that someone else has changed since the read never lands: the whole cycle starts over
with a fresh read, and the decision is taken again on what is there now (it may be "nothing to do").
This is the only lock the pools use (gke_lab.pools) and what `gke-lab extend` moves the expiry with.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gke_lab import calls, ops, retry
from gke_lab.clients import Clients

# A decision on the labels read: the labels to write, or None for "leave the cluster alone".
Change = Callable[[dict[str, str]], dict[str, str] | None]


@dataclass(frozen=True)
class LabelChange:
    cluster: str  # projects/P/locations/L/clusters/C
    before: dict[str, str]
    after: dict[str, str]
    fingerprint: str  # the fingerprint read with `before`, which the write carried


def label_race(exc: BaseException) -> bool:
    """Worth a fresh read: a transient error, a stale label fingerprint (someone changed the labels since
    our read), or another operation still running on the cluster (another writer's label change)."""
    from google.api_core import exceptions as gexc

    from gke_lab.errors import api_message, is_transient

    if is_transient(exc):
        return True
    if not isinstance(exc, gexc.FailedPrecondition | gexc.BadRequest):
        return False
    message = api_message(exc)
    return "fingerprint" in message or "incompatible operation" in message


def change_labels(
    clients: Clients, name: str, change: Change, *, backoff: retry.Backoff = retry.DEFAULT
) -> LabelChange | None:
    """Apply `change` to the cluster `name`'s labels with the fingerprint read with them, until it lands or
    `change` declines on a fresh read (None). None too when the cluster does not exist."""
    from google.cloud import container_v1

    parent = name.split("/clusters/", 1)[0]

    def cycle() -> LabelChange | None:
        live = calls.get_or_none(lambda: clients.container.get_cluster(name=name), resource=name)
        if live is None:
            return None
        before = dict(live.resource_labels)
        after = change(dict(before))
        if after is None:
            return None
        op = clients.container.set_labels(
            request=container_v1.SetLabelsRequest(
                name=name, resource_labels=after, label_fingerprint=live.label_fingerprint
            )
        )
        ops.wait_container(clients, op, location_path=parent, resource=name)
        return LabelChange(name, before, after, live.label_fingerprint)

    return retry.call(cycle, resource=name, action="set labels of", retryable=label_race, backoff=backoff)
