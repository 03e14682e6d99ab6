"""The KMS key ring: created when missing, reused when it exists (key rings cannot be deleted)."""

from __future__ import annotations

from google.cloud import kms_v1
from pydantic import BaseModel, ConfigDict

from gke_lab import calls
from gke_lab.clients import Clients
from gke_lab.requests import build_key_ring
from gke_lab.resources.converge import converge
from gke_lab.resources.decision import Decision, create, exists
from gke_lab.spec import LabSpec

KIND = "kms.keyRing"


class KeyRingResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    created: bool


def read(c: Clients, spec: LabSpec) -> kms_v1.KeyRing | None:
    return calls.get_or_none(lambda: c.kms.get_key_ring(name=spec.keyring_name), resource=spec.keyring_name)


def assess(spec: LabSpec, live: kms_v1.KeyRing | None) -> Decision:
    # Key rings carry no labels and outlive every lab: an existing one is reused, never owned.
    if live is None:
        return create(KIND, spec.kms.keyring, spec.keyring_name)
    return exists(KIND, spec.kms.keyring, spec.keyring_name, "reused")


def ensure(c: Clients, spec: LabSpec) -> KeyRingResult:
    _, created = converge(
        lambda: read(c, spec),
        lambda live: assess(spec, live),
        lambda: calls.create_or_existing(
            lambda: c.kms.create_key_ring(
                parent=spec.keyring_parent, key_ring_id=spec.kms.keyring, key_ring=build_key_ring()
            ),
            resource=spec.keyring_name,
        ),
    )
    return KeyRingResult(name=spec.keyring_name, created=created)
