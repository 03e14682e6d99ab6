"""A reused lab key without an enabled primary version is never used silently (issue 13, case 4)."""

from __future__ import annotations

import pytest
from google.cloud import kms_v1

from gke_lab.ownership import marker_for
from gke_lab.resources import crypto_key
from gke_lab.resources.decision import Action, Blocker
from gke_lab.spec import LabSpec

State = kms_v1.CryptoKeyVersion.CryptoKeyVersionState
SPEC = LabSpec()


def key(
    primary: kms_v1.CryptoKeyVersion | None, *, lab: str = SPEC.lab, missing: tuple[str, ...] = ()
) -> crypto_key.LiveKey:
    labels = marker_for(SPEC.model_copy(update={"lab": lab}), 0).labels() if lab else {}
    live = kms_v1.CryptoKey(
        name=SPEC.key_name("node"),
        purpose=kms_v1.CryptoKey.CryptoKeyPurpose.ENCRYPT_DECRYPT,
        labels=labels,
        primary=primary,
    )
    return crypto_key.LiveKey(live, missing)


def version(n: int, state: State) -> kms_v1.CryptoKeyVersion:
    return kms_v1.CryptoKeyVersion(name=f"{SPEC.key_name('node')}/cryptoKeyVersions/{n}", state=state)


@pytest.mark.parametrize(
    ("primary", "says"),
    [
        (None, "has no primary version"),
        (version(1, State.DISABLED), "primary version 1 in state DISABLED"),
        (version(2, State.DESTROY_SCHEDULED), "primary version 2 in state DESTROY_SCHEDULED"),
        (version(3, State.DESTROYED), "primary version 3 in state DESTROYED"),
    ],
)
def test_lab_key_without_enabled_primary_is_rotated(primary, says):
    decision = crypto_key.assess(SPEC, "node", key(primary))
    assert decision.action is Action.UPDATE and not decision.stops
    assert says in decision.detail and "made primary" in decision.detail


def test_enabled_primary_exists():
    assert crypto_key.assess(SPEC, "node", key(version(1, State.ENABLED))).action is Action.EXISTS


@pytest.mark.parametrize("lab", ["", "other-lab"])
def test_foreign_key_without_enabled_primary_is_refused_naming_the_key(lab):
    decision = crypto_key.assess(SPEC, "node", key(version(1, State.DISABLED), lab=lab))
    assert decision.action is Action.BLOCKED and decision.blocker is Blocker.NOT_OWNED
    assert SPEC.key_name("node") in decision.message and "kms.node_key" in decision.message


@pytest.mark.parametrize(
    "missing",
    [
        ("cloudkms.cryptoKeyVersions.create",),
        ("cloudkms.cryptoKeys.update",),
        crypto_key.ROTATE_PERMISSIONS,
    ],
)
def test_lab_key_the_caller_may_not_rotate_is_refused_naming_key_and_fix(missing):
    decision = crypto_key.assess(SPEC, "node", key(version(1, State.DISABLED), missing=missing))
    assert decision.action is Action.BLOCKED and decision.blocker is Blocker.UNUSABLE
    assert SPEC.key_name("node") in decision.message and "state DISABLED" in decision.message
    assert all(p in decision.message for p in missing)
    assert "gcloud kms keys versions create --primary" in decision.message


def test_missing_permissions_do_not_matter_while_the_primary_is_enabled():
    live = key(version(1, State.ENABLED), missing=crypto_key.ROTATE_PERMISSIONS)
    assert crypto_key.assess(SPEC, "node", live).action is Action.EXISTS
