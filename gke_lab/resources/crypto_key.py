"""The two CMEK keys (node boot disks, Secrets in etcd): symmetric, labelled with the lab's marker."""

from __future__ import annotations

from typing import Literal

from google.cloud import kms_v1
from pydantic import BaseModel, ConfigDict

from gke_lab import calls
from gke_lab.clients import Clients
from gke_lab.ownership import Marker
from gke_lab.requests import build_crypto_key
from gke_lab.resources.converge import converge
from gke_lab.resources.decision import Decision, Difference, create, differs_or_exists, not_owned
from gke_lab.spec import LabSpec

KIND = "kms.cryptoKey"
FIX = "Choose other key names in the spec (kms.node_key / kms.secrets_key)."
Which = Literal["node", "secrets"]
WHICH: tuple[Which, Which] = ("node", "secrets")
ENCRYPT_DECRYPT = kms_v1.CryptoKey.CryptoKeyPurpose.ENCRYPT_DECRYPT


class CryptoKeyResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    created: bool


def read(c: Clients, spec: LabSpec, which: Which) -> kms_v1.CryptoKey | None:
    name = spec.key_name(which)
    return calls.get_or_none(lambda: c.kms.get_crypto_key(name=name), resource=name)


def assess(spec: LabSpec, which: Which, live: kms_v1.CryptoKey | None) -> Decision:
    key_id, resource = spec.key_id(which), spec.key_name(which)
    if live is None:
        return create(KIND, key_id, resource, "ENCRYPT_DECRYPT, software")
    blocked = not_owned(KIND, key_id, resource, Marker.from_labels(live.labels), spec.lab, FIX)
    if blocked:
        return blocked
    purpose = kms_v1.CryptoKey.CryptoKeyPurpose(live.purpose)
    found = (
        [] if purpose == ENCRYPT_DECRYPT else [Difference("purpose", str(purpose.name), "ENCRYPT_DECRYPT")]
    )
    return differs_or_exists(KIND, key_id, resource, found)


def ensure(c: Clients, spec: LabSpec, marker: Marker, which: Which) -> CryptoKeyResult:
    body = build_crypto_key(spec, marker)
    _, created = converge(
        lambda: read(c, spec, which),
        lambda live: assess(spec, which, live),
        lambda: calls.create_or_existing(
            lambda: c.kms.create_crypto_key(
                parent=spec.keyring_name, crypto_key_id=spec.key_id(which), crypto_key=body
            ),
            resource=spec.key_name(which),
        ),
    )
    return CryptoKeyResult(name=spec.key_name(which), created=created)
