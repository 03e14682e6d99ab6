"""Prefect tasks for KMS: the key ring, the two keys and each key's binding for its service agent."""

from __future__ import annotations

from prefect import task

from gke_lab.ownership import marker_for
from gke_lab.resources import crypto_key, key_bindings, key_ring
from gke_lab.resources.iam_policy import Grants
from gke_lab.spec import LabSpec
from tasks.common import MUTATING, clients


@task(name="ensure-key-ring", **MUTATING)
def ring(spec: LabSpec) -> key_ring.KeyRingResult:
    return key_ring.ensure(clients(), spec)


@task(name="ensure-crypto-key", **MUTATING)
def key(
    spec: LabSpec, stamp: float, which: crypto_key.Which, ring: key_ring.KeyRingResult
) -> crypto_key.CryptoKeyResult:
    return crypto_key.ensure(clients(), spec, marker_for(spec, stamp), which)


@task(name="ensure-key-bindings", **MUTATING)
def bindings(spec: LabSpec, project_number: int, keys: list[crypto_key.CryptoKeyResult]) -> list[Grants]:
    """Each key's encrypter/decrypter binding for the service agent that uses it (by project NUMBER)."""
    return key_bindings.ensure(clients(), spec, project_number)
