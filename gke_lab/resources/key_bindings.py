"""Each CMEK key's encrypter/decrypter binding for the service agent that uses it (by project NUMBER)."""

from __future__ import annotations

from typing import Any

from gke_lab import calls
from gke_lab.clients import Clients
from gke_lab.requests import KMS_ROLE, key_bindings
from gke_lab.resources.decision import Decision, create, exists
from gke_lab.resources.iam_policy import Grants, ensure_members, missing_bindings
from gke_lab.spec import LabSpec

KIND = "kms.iamBinding"
# Policy version 3 on every read before a write: an older version would drop conditional bindings.
POLICY_VERSION = 3


def _get_policy(c: Clients, key: str) -> Any:
    return c.kms.get_iam_policy(
        request={"resource": key, "options": {"requested_policy_version": POLICY_VERSION}}
    )


def read(c: Clients, key: str) -> Any | None:
    """The key's IAM policy; None when the key does not exist yet."""
    return calls.get_or_none(lambda: _get_policy(c, key), resource=key)


def assess(spec: LabSpec, key: str, member: str, live: Any | None) -> Decision:
    name = key.rsplit("/", 1)[-1]
    if missing_bindings(live, [(KMS_ROLE, member)]):
        return create(KIND, name, key, member)
    return exists(KIND, name, key, member)


def decisions(c: Clients, spec: LabSpec, project_number: int) -> list[Decision]:
    return [
        assess(spec, key, member, read(c, key)) for key, member in key_bindings(spec, project_number).items()
    ]


def _grant(c: Clients, key: str, member: str) -> Grants:
    return ensure_members(
        lambda: _get_policy(c, key),
        lambda policy: c.kms.set_iam_policy(request={"resource": key, "policy": policy}),
        [(KMS_ROLE, member)],
        key,
    )


def ensure(c: Clients, spec: LabSpec, project_number: int) -> list[Grants]:
    """Grant what is missing, one etag read-modify-write per key; nothing to grant: no mutating call."""
    return [_grant(c, key, member) for key, member in key_bindings(spec, project_number).items()]
