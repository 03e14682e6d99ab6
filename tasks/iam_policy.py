"""Adding members to an IAM policy by etag read-modify-write, retried whole on conflict."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from gke_lab import retry
from gke_lab.errors import is_transient


def add_bindings(policy: Any, wanted: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """Add (role, member) pairs to unconditional bindings in place; return the pairs that were missing.

    Other bindings and members are left exactly as read: nothing of anyone else's is ever dropped.
    """
    added: list[tuple[str, str]] = []
    for role, member in wanted:
        binding = next((b for b in policy.bindings if b.role == role and not b.HasField("condition")), None)
        if binding is None:
            policy.bindings.add(role=role, members=[member])
            added.append((role, member))
        elif member not in binding.members:
            binding.members.append(member)
            added.append((role, member))
    return added


def ensure_members(
    get: Callable[[], Any],
    set_: Callable[[Any], Any],
    wanted: list[tuple[str, str]],
    resource: str,
    retryable: Callable[[BaseException], bool] = is_transient,
    backoff: retry.Backoff = retry.DEFAULT,
) -> dict:
    """One read-modify-write: get (with etag) -> add what is missing -> set with that etag.

    A 409/ABORTED (someone else wrote in between) restarts the whole cycle with a fresh read.
    Returns the pairs granted and when (None when nothing had to change: no mutating call).
    """

    def cycle() -> dict:
        policy = get()
        added = add_bindings(policy, wanted)
        if not added:
            return {"granted": [], "granted_at": None}
        set_(policy)
        return {"granted": [list(p) for p in added], "granted_at": time.time()}

    return retry.call(
        cycle, resource=resource, action="update IAM policy of", retryable=retryable, backoff=backoff
    )
