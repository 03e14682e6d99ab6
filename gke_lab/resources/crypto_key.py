"""The two CMEK keys (node boot disks, Secrets in etcd): symmetric, labelled with the lab's marker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from google.cloud import kms_v1
from pydantic import BaseModel, ConfigDict

from gke_lab import calls, retry
from gke_lab.clients import Clients
from gke_lab.errors import ApiError, LabError, is_permission_denied
from gke_lab.ownership import Marker
from gke_lab.requests import build_crypto_key
from gke_lab.resources.converge import converge
from gke_lab.resources.decision import (
    Action,
    Blocker,
    Decision,
    Difference,
    create,
    differs_or_exists,
    not_owned,
)
from gke_lab.spec import LabSpec

KIND = "kms.cryptoKey"
FIX = "Choose other key names in the spec (kms.node_key / kms.secrets_key)."
Which = Literal["node", "secrets"]
WHICH: tuple[Which, Which] = ("node", "secrets")
ENCRYPT_DECRYPT = kms_v1.CryptoKey.CryptoKeyPurpose.ENCRYPT_DECRYPT
ENABLED = kms_v1.CryptoKeyVersion.CryptoKeyVersionState.ENABLED
# What a key without an enabled primary needs, as Google documents it: a manual rotation, i.e. a new
# version made primary ("Rotate a key", https://cloud.google.com/kms/docs/rotate-key#manual_rotation;
# CreateCryptoKeyVersion then UpdateCryptoKeyPrimaryVersion). A disabled or destroyed primary is not
# re-enabled or restored: someone disabled or destroyed it on purpose (Enabling and disabling key versions,
# https://cloud.google.com/kms/docs/enable-disable; https://cloud.google.com/kms/docs/destroy-restore).
ROTATE_PERMISSIONS = ("cloudkms.cryptoKeyVersions.create", "cloudkms.cryptoKeys.update")


@dataclass(frozen=True)
class LiveKey:
    """The live key and, when its primary version is unusable, which rotation permissions the caller lacks
    (asked with testIamPermissions, so plan and up take the same decision)."""

    key: kms_v1.CryptoKey
    missing_permissions: tuple[str, ...] = ()


class CryptoKeyResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    created: bool
    # the version this run created and made primary, when the key had no enabled primary version
    new_primary: str | None = None


def read(c: Clients, spec: LabSpec, which: Which) -> LiveKey | None:
    name = spec.key_name(which)
    key = calls.get_or_none(lambda: c.kms.get_crypto_key(name=name), resource=name)
    if key is None:
        return None
    if primary_problem(key) is None:
        return LiveKey(key)
    held = retry.call(
        lambda: c.kms.test_iam_permissions(
            request={"resource": name, "permissions": list(ROTATE_PERMISSIONS)}
        ),
        resource=name,
        action="test permissions on",
    )
    return LiveKey(key, tuple(p for p in ROTATE_PERMISSIONS if p not in held.permissions))


def primary_problem(live: kms_v1.CryptoKey) -> str | None:
    """Why the key cannot encrypt with its primary version (None when the primary is ENABLED)."""
    if not live.primary.name:
        return "has no primary version"
    if live.primary.state != ENABLED:
        state = kms_v1.CryptoKeyVersion.CryptoKeyVersionState(live.primary.state).name
        return f"has primary version {live.primary.name.rsplit('/', 1)[-1]} in state {state}"
    return None


def _refusal(resource: str, problem: str, missing: str, done: str = "Nothing was changed.") -> str:
    return (
        f"{resource} {problem}, and this run may not rotate it ({missing} denied). {done} Rotate it with "
        f"`gcloud kms keys versions create --primary --key {resource}`, or run as someone with "
        "roles/cloudkms.admin on the key."
    )


def assess(spec: LabSpec, which: Which, live: LiveKey | None) -> Decision:
    key_id, resource = spec.key_id(which), spec.key_name(which)
    if live is None:
        return create(KIND, key_id, resource, "ENCRYPT_DECRYPT, software")
    key = live.key
    blocked = not_owned(KIND, key_id, resource, Marker.from_labels(key.labels), spec.lab, FIX)
    if blocked:
        return blocked
    purpose = kms_v1.CryptoKey.CryptoKeyPurpose(key.purpose)
    found = (
        [] if purpose == ENCRYPT_DECRYPT else [Difference("purpose", str(purpose.name), "ENCRYPT_DECRYPT")]
    )
    problem = None if found else primary_problem(key)
    if problem and live.missing_permissions:
        return Decision(
            Action.BLOCKED,
            KIND,
            key_id,
            resource,
            blocker=Blocker.UNUSABLE,
            message=_refusal(resource, problem, " and ".join(live.missing_permissions)),
        )
    if problem:
        # The lab's own key: rotate it so the cluster's disks and Secrets can be encrypted.
        return Decision(
            Action.UPDATE,
            KIND,
            key_id,
            resource,
            detail=f"{problem}: a new version is created and made primary (manual rotation)",
        )
    return differs_or_exists(KIND, key_id, resource, found)


def _rotate(c: Clients, resource: str, problem: str) -> str:
    """Create a version and make it primary; the name of the new version. A permission refused all the
    same (changed since the check) fails like the planned refusal."""
    version: kms_v1.CryptoKeyVersion | None = None
    try:
        version = retry.call(
            lambda: c.kms.create_crypto_key_version(
                parent=resource, crypto_key_version=kms_v1.CryptoKeyVersion()
            ),
            resource=resource,
            action="create a version of",
        )
        version_id = version.name.rsplit("/", 1)[-1]
        retry.call(
            lambda: c.kms.update_crypto_key_primary_version(name=resource, crypto_key_version_id=version_id),
            resource=resource,
            action="make a new primary version of",
        )
    except ApiError as exc:
        if exc.__cause__ is None or not is_permission_denied(exc.__cause__):
            raise
        done = (
            f"Version {version.name} was created but not made primary."
            if version is not None
            else "Nothing was changed."
        )
        missing = ROTATE_PERMISSIONS[1] if version is not None else ROTATE_PERMISSIONS[0]
        raise LabError(f"{_refusal(resource, problem, missing, done)} ({exc})", resource=resource) from exc
    return version.name


def ensure(c: Clients, spec: LabSpec, marker: Marker, which: Which) -> CryptoKeyResult:
    body = build_crypto_key(spec, marker)
    resource = spec.key_name(which)
    live, created = converge(
        lambda: read(c, spec, which),
        lambda live: assess(spec, which, live),
        lambda: calls.create_or_existing(
            lambda: c.kms.create_crypto_key(
                parent=spec.keyring_name, crypto_key_id=spec.key_id(which), crypto_key=body
            ),
            resource=resource,
        ),
    )
    problem = primary_problem(live.key)
    if problem is None:
        return CryptoKeyResult(name=resource, created=created)
    new_primary = _rotate(c, resource, problem)
    after = read(c, spec, which)
    decision = assess(spec, which, after)
    decision.stop()
    if decision.action is not Action.EXISTS:
        raise LabError(
            f"{resource} still {primary_problem(after.key) if after else 'is missing'} after rotation",
            resource=resource,
        )
    return CryptoKeyResult(name=resource, created=created, new_primary=new_primary)
