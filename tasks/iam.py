"""IAM ensures: the node service account and its project roles (one etag read-modify-write)."""

from __future__ import annotations

import time

from google.api_core import exceptions as gexc
from google.cloud import iam_admin_v1
from prefect import task

from gke_lab import retry
from gke_lab.clients import Clients
from gke_lab.errors import NotOwnedError, is_already_exists, is_not_found, is_transient
from gke_lab.ownership import Marker, marker_for
from gke_lab.requests import build_service_account, project_bindings
from gke_lab.spec import LabSpec
from tasks.common import MUTATING, clients
from tasks.iam_policy import ensure_members

NEW_ACCOUNT_WINDOW = 300.0


def ensure_service_account(c: Clients, spec: LabSpec, marker: Marker) -> dict:
    name = spec.node_sa_resource

    def attempt() -> tuple[iam_admin_v1.ServiceAccount, bool]:
        try:
            return c.iam.get_service_account(name=name), False
        except Exception as exc:
            if not is_not_found(exc):
                raise
        body = build_service_account(spec, marker)
        try:
            if isinstance(body, iam_admin_v1.CreateServiceAccountRequest):
                return c.iam.create_service_account(request=body), True
            return c.iam.create_service_account(
                name=f"projects/{spec.project_id}",
                account_id=spec.node_service_account.name,
                service_account=body,
            ), True
        except Exception as exc:
            if is_already_exists(exc):
                return c.iam.get_service_account(name=name), False
            raise

    account, created = retry.call(attempt, resource=name, action="ensure")
    found = Marker.from_description(account.description)
    if found is None or found.lab != spec.lab:
        raise NotOwnedError(
            f"{name} exists but its description carries no gke-lab marker for lab {spec.lab!r}; "
            "gke-lab never adopts it. Choose another node_service_account.name.",
            resource=name,
        )
    return {
        "email": account.email or spec.node_sa_email,
        "created": created,
        "created_at": time.time() if created else None,
    }


def new_account_retryable(spec: LabSpec, created_at: float | None, now: float | None = None):
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


def ensure_project_roles(c: Clients, spec: LabSpec, account_created_at: float | None = None) -> dict:
    resource = f"projects/{spec.project_id}"
    return ensure_members(
        lambda: c.projects.get_iam_policy(
            request={"resource": resource, "options": {"requested_policy_version": 3}}
        ),
        lambda policy: c.projects.set_iam_policy(
            request={"resource": resource, "policy": policy, "update_mask": {"paths": ["bindings", "etag"]}}
        ),
        list(project_bindings(spec)),
        resource,
        retryable=new_account_retryable(spec, account_created_at),
        backoff=retry.Backoff(base=0.5, cap=15.0, attempts=30),
    )


@task(name="ensure-node-service-account", **MUTATING)
def service_account(spec: LabSpec, stamp: float) -> dict:
    return ensure_service_account(clients(), spec, marker_for(spec, stamp))


@task(name="ensure-project-roles", **MUTATING)
def project_roles(spec: LabSpec, account: dict) -> dict:
    return ensure_project_roles(clients(), spec, account.get("created_at"))
