"""IAM policies by etag read-modify-write, retried whole on conflict: no binding is ever lost."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict

from gke_lab import retry
from gke_lab.errors import is_transient

Pair = tuple[str, str]


class Grants(BaseModel):
    """What one read-modify-write added (role, member) and when (None when nothing had to change)."""

    model_config = ConfigDict(frozen=True)

    resource: str
    granted: list[Pair] = []
    granted_at: float | None = None


def missing_bindings(policy: Any, wanted: Iterable[Pair]) -> list[Pair]:
    """The (role, member) pairs not in an unconditional binding of `policy` (None = no policy yet)."""
    if policy is None:
        return list(wanted)
    have = {(b.role, m) for b in policy.bindings if not b.HasField("condition") for m in b.members}
    return [pair for pair in wanted if pair not in have]


def add_bindings(policy: Any, wanted: Iterable[Pair]) -> list[Pair]:
    """Add (role, member) pairs to unconditional bindings in place; return the pairs that were missing.

    Other bindings and members are left exactly as read: nothing of anyone else's is ever dropped.
    """
    added: list[Pair] = []
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
    wanted: list[Pair],
    resource: str,
    retryable: Callable[[BaseException], bool] = is_transient,
    backoff: retry.Backoff = retry.DEFAULT,
) -> Grants:
    """One read-modify-write: get (with etag) -> add what is missing -> set with that etag.

    A 409/ABORTED (someone else wrote in between) restarts the whole cycle with a fresh read.
    Nothing to add: no mutating call.
    """

    def cycle() -> Grants:
        policy = get()
        added = add_bindings(policy, wanted)
        if not added:
            return Grants(resource=resource)
        set_(policy)
        return Grants(resource=resource, granted=added, granted_at=time.time())

    return retry.call(
        cycle, resource=resource, action="update IAM policy of", retryable=retryable, backoff=backoff
    )


def remove_bindings(policy: Any, unwanted: Iterable[Pair]) -> list[Pair]:
    """Remove (role, member) pairs from unconditional bindings in place; return the pairs that were there.

    A binding left without members is dropped (as gcloud does); everything else stays exactly as read."""
    removed: list[Pair] = []
    for role, member in unwanted:
        for binding in policy.bindings:
            if binding.role == role and not binding.HasField("condition") and member in binding.members:
                binding.members.remove(member)
                removed.append((role, member))
    empty = [b for b in policy.bindings if not b.members]
    for binding in empty:
        policy.bindings.remove(binding)
    return removed


def ensure_absent(
    get: Callable[[], Any],
    set_: Callable[[Any], Any],
    unwanted: list[Pair],
    resource: str,
    retryable: Callable[[BaseException], bool] = is_transient,
    backoff: retry.Backoff = retry.DEFAULT,
) -> list[Pair]:
    """One read-modify-write removing `unwanted` (the mirror of `ensure_members`): nothing of anyone else's
    is dropped, a 409/ABORTED restarts with a fresh read, nothing to remove makes no mutating call."""

    def cycle() -> list[Pair]:
        policy = get()
        removed = remove_bindings(policy, unwanted)
        if removed:
            set_(policy)
        return removed

    return retry.call(
        cycle, resource=resource, action="update IAM policy of", retryable=retryable, backoff=backoff
    )
