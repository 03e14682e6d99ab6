"""KMS ensures: the key ring, the two keys and each key's binding for its service agent."""

from __future__ import annotations

from typing import Literal

from google.cloud import kms_v1
from prefect import task

from gke_lab import retry
from gke_lab.clients import Clients
from gke_lab.errors import DriftError, NotOwnedError, is_already_exists, is_not_found
from gke_lab.ownership import Marker, marker_for
from gke_lab.requests import build_crypto_key, key_bindings
from gke_lab.spec import LabSpec
from tasks.common import MUTATING, clients
from tasks.iam_policy import ensure_members

ENCRYPTER_DECRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


def _get_or_create(get, create, resource: str):
    def attempt():
        try:
            return get(), False
        except Exception as exc:
            if not is_not_found(exc):
                raise
        try:
            return create(), True
        except Exception as exc:
            if is_already_exists(exc):  # a retried create that had gone through
                return get(), False
            raise

    return retry.call(attempt, resource=resource, action="ensure")


def ensure_key_ring(c: Clients, spec: LabSpec) -> dict:
    name = spec.keyring_name
    ring, created = _get_or_create(
        lambda: c.kms.get_key_ring(name=name),
        lambda: c.kms.create_key_ring(parent=spec.keyring_parent, key_ring_id=spec.kms.keyring, key_ring={}),
        name,
    )
    return {"name": ring.name or name, "created": created}


def ensure_crypto_key(c: Clients, spec: LabSpec, marker: Marker, which: Literal["node", "secrets"]) -> dict:
    name = spec.key_name(which)
    body = build_crypto_key(spec, marker)
    key, created = _get_or_create(
        lambda: c.kms.get_crypto_key(name=name),
        lambda: c.kms.create_crypto_key(
            parent=spec.keyring_name, crypto_key_id=spec.key_id(which), crypto_key=body
        ),
        name,
    )
    found = Marker.from_labels(key.labels)
    if found is None or found.lab != spec.lab:
        raise NotOwnedError(
            f"{name} exists but is not labelled for lab {spec.lab!r}; gke-lab never adopts it. "
            "Choose other key names in the spec (kms.node_key / kms.secrets_key).",
            resource=name,
        )
    if key.purpose != kms_v1.CryptoKey.CryptoKeyPurpose.ENCRYPT_DECRYPT:
        raise DriftError(name, [("purpose", key.purpose.name, "ENCRYPT_DECRYPT")])
    return {"name": name, "created": created}


def ensure_key_binding(c: Clients, key: str, member: str) -> dict:
    result = ensure_members(
        lambda: c.kms.get_iam_policy(request={"resource": key}),
        lambda policy: c.kms.set_iam_policy(request={"resource": key, "policy": policy}),
        [(ENCRYPTER_DECRYPTER, member)],
        key,
    )
    return {"key": key, "member": member, **result}


@task(name="ensure-key-ring", **MUTATING)
def key_ring(spec: LabSpec) -> dict:
    return ensure_key_ring(clients(), spec)


@task(name="ensure-crypto-key", **MUTATING)
def crypto_key(spec: LabSpec, stamp: float, which: str, ring: dict) -> dict:
    return ensure_crypto_key(clients(), spec, marker_for(spec, stamp), which)  # type: ignore[arg-type]


@task(name="ensure-key-bindings", **MUTATING)
def key_bindings_for_agents(spec: LabSpec, project_number: int, keys: list[dict]) -> list[dict]:
    """Each key's encrypter/decrypter binding for the service agent that uses it (by project NUMBER)."""
    c = clients()
    return [ensure_key_binding(c, key, member) for key, member in key_bindings(spec, project_number).items()]
