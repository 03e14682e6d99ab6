"""The node service account's roles on the project (one etag read-modify-write, policy version 3)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from google.api_core import exceptions as gexc

from gke_lab import calls, retry
from gke_lab.clients import Clients
from gke_lab.errors import is_transient
from gke_lab.requests import project_bindings
from gke_lab.resources.decision import Decision, create, exists
from gke_lab.resources.iam_policy import Grants, ensure_members, missing_bindings
from gke_lab.spec import LabSpec

KIND = "project.iamBinding"
# How long after we created the account a "does not exist" from setIamPolicy is taken for propagation.
NEW_ACCOUNT_WINDOW = 300.0


def _get_policy(c: Clients, spec: LabSpec) -> Callable[[], Any]:
    resource = f"projects/{spec.project_id}"
    return lambda: c.projects.get_iam_policy(
        request={"resource": resource, "options": {"requested_policy_version": 3}}
    )


def read(c: Clients, spec: LabSpec) -> Any | None:
    return calls.get_or_none(_get_policy(c, spec), resource=f"projects/{spec.project_id}")


def assess(spec: LabSpec, live: Any | None) -> list[Decision]:
    """One decision per (role, member): grant what is missing, leave the rest."""
    missing = set(missing_bindings(live, project_bindings(spec)))
    resource = f"projects/{spec.project_id}"
    return [
        (create if (role, member) in missing else exists)(KIND, role, resource, member)
        for role, member in project_bindings(spec)
    ]


def new_account_retryable(
    spec: LabSpec, created_at: float | None, now: float | None = None
) -> Callable[[BaseException], bool]:
    """Transient errors, plus "service account does not exist" shortly after we created it (IAM is
    eventually consistent: a brand-new account can be unknown to setIamPolicy for a while)."""

    def retryable(exc: BaseException) -> bool:
        if is_transient(exc):
            return True
        if created_at is None or not isinstance(exc, gexc.BadRequest):
            return False
        message = str(getattr(exc, "message", "") or exc)
        recent = (now or time.time()) - created_at < NEW_ACCOUNT_WINDOW
        return recent and spec.node_sa_email in message and "does not exist" in message

    return retryable


def ensure(c: Clients, spec: LabSpec, account_created_at: float | None = None) -> Grants:
    resource = f"projects/{spec.project_id}"
    return ensure_members(
        _get_policy(c, spec),
        lambda policy: c.projects.set_iam_policy(
            request={"resource": resource, "policy": policy, "update_mask": {"paths": ["bindings", "etag"]}}
        ),
        list(project_bindings(spec)),
        resource,
        retryable=new_account_retryable(spec, account_created_at),
        backoff=retry.Backoff(base=0.5, cap=15.0, attempts=30),
    )
