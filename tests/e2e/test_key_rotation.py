"""Provisioning checks that a reused lab key has an enabled primary version (issue 13, case 4): plan and
`up` take the same decision, the lab's own key is rotated (a new version made primary), a key the run may
not rotate fails naming the key and the fix, and a key that is not the lab's is refused untouched."""

from __future__ import annotations

import time

import pytest
from google.cloud import kms_v1
from google.protobuf import field_mask_pb2

from gke_lab.clients import Clients
from gke_lab.errors import LabError, NotOwnedError
from gke_lab.overrides import apply_overrides
from gke_lab.ownership import marker_for
from gke_lab.plan import live_decisions
from gke_lab.resources import crypto_key, key_ring
from gke_lab.resources.decision import Action
from tests.fixtures_emulator import LOCAL_NETWORK, PROJECT, EmulatorAdmin

pytestmark = [pytest.mark.e2e]

State = kms_v1.CryptoKeyVersion.CryptoKeyVersionState
SPEC = apply_overrides(None, [LOCAL_NETWORK])
KEY = SPEC.key_name("node")
V1 = f"{KEY}/cryptoKeyVersions/1"


@pytest.fixture
def c(lab_emulator):
    return Clients.from_env()


def planned(c: Clients):
    (decision,) = [
        d for d in live_decisions(c, SPEC) if (d.kind, d.name) == (crypto_key.KIND, SPEC.key_id("node"))
    ]
    return decision


def lab_key(c: Clients) -> None:
    key_ring.ensure(c, SPEC)
    crypto_key.ensure(c, SPEC, marker_for(SPEC, time.time()), "node")


def disable(c: Clients, admin: EmulatorAdmin) -> None:
    c.kms.update_crypto_key_version(
        crypto_key_version=kms_v1.CryptoKeyVersion(name=V1, state=State.DISABLED),
        update_mask=field_mask_pb2.FieldMask(paths=["state"]),
    )


def schedule_destruction(c: Clients, admin: EmulatorAdmin) -> None:
    c.kms.destroy_crypto_key_version(name=V1)


def destroyed(c: Clients, admin: EmulatorAdmin) -> None:
    fields = {"state": "DESTROYED"}
    admin.patch(PROJECT, "cryptoKeyVersions", V1, fields)


def no_version(c: Clients, admin: EmulatorAdmin) -> None:
    # The lab's key exists with no version at all (created without its initial version).
    key_ring.ensure(c, SPEC)
    body = kms_v1.CryptoKey(
        purpose=kms_v1.CryptoKey.CryptoKeyPurpose.ENCRYPT_DECRYPT,
        labels=marker_for(SPEC, time.time()).labels(),
    )
    c.kms.create_crypto_key(
        request={
            "parent": SPEC.keyring_name,
            "crypto_key_id": SPEC.key_id("node"),
            "crypto_key": body,
            "skip_initial_version_creation": True,
        }
    )


@pytest.mark.parametrize(
    ("make", "says", "old_state"),
    [
        (disable, "primary version 1 in state DISABLED", State.DISABLED),
        (schedule_destruction, "primary version 1 in state DESTROY_SCHEDULED", State.DESTROY_SCHEDULED),
        (destroyed, "primary version 1 in state DESTROYED", State.DESTROYED),
        (no_version, "has no primary version", None),
    ],
)
def test_lab_key_without_enabled_primary_is_rotated_as_planned(lab_admin, c, make, says, old_state):
    if make is not no_version:
        lab_key(c)
    make(c, lab_admin)
    decision = planned(c)
    assert decision.action is Action.UPDATE and says in decision.detail

    result = crypto_key.ensure(c, SPEC, marker_for(SPEC, time.time()), "node")
    key = c.kms.get_crypto_key(name=KEY)
    assert result.new_primary == key.primary.name and key.primary.state == State.ENABLED
    if old_state is not None:  # a new version; the old one left as it was, disabled or destroyed on purpose
        assert key.primary.name != V1
        assert c.kms.get_crypto_key_version(name=V1).state == old_state

    assert planned(c).action is Action.EXISTS
    seq = lab_admin.last_seq()
    again = crypto_key.ensure(c, SPEC, marker_for(SPEC, time.time()), "node")
    assert again.new_primary is None and lab_admin.mutations_since(seq) == []


def test_rotation_refused_fails_naming_the_key_and_the_fix(lab_admin, c):
    lab_key(c)
    disable(c, lab_admin)
    lab_admin.configure_faults(
        {
            "rules": [
                {
                    "api": "cloudkms",
                    "method": "POST",
                    "path_regex": "cryptoKeyVersions$",
                    "status": 403,
                    "count": 1,
                }
            ]
        },
    )
    with pytest.raises(LabError) as failed:
        crypto_key.ensure(c, SPEC, marker_for(SPEC, time.time()), "node")
    message = str(failed.value)
    assert KEY in message and "primary version 1 in state DISABLED" in message
    assert (
        "cloudkms.cryptoKeyVersions.create" in message
        and "gcloud kms keys versions create --primary" in message
    )
    key = c.kms.get_crypto_key(name=KEY)
    assert key.primary.name == V1 and key.primary.state == State.DISABLED


def test_foreign_key_without_enabled_primary_is_refused_untouched(lab_admin, c):
    key_ring.ensure(c, SPEC)
    c.kms.create_crypto_key(
        parent=SPEC.keyring_name,
        crypto_key_id=SPEC.key_id("node"),
        crypto_key=kms_v1.CryptoKey(purpose=kms_v1.CryptoKey.CryptoKeyPurpose.ENCRYPT_DECRYPT),
    )
    disable(c, lab_admin)
    decision = planned(c)
    assert decision.action is Action.BLOCKED and KEY in decision.message
    seq = lab_admin.last_seq()
    with pytest.raises(NotOwnedError) as refused:
        crypto_key.ensure(c, SPEC, marker_for(SPEC, time.time()), "node")
    assert str(refused.value) == decision.message
    assert lab_admin.mutations_since(seq) == []


@pytest.mark.parametrize("denied", ["cloudkms.cryptoKeyVersions.create", "cloudkms.cryptoKeys.update"])
def test_caller_without_rotation_permissions_is_refused_as_planned(lab_admin, c, denied):
    lab_key(c)
    disable(c, lab_admin)
    lab_admin.project_settings(PROJECT, {"deniedPermissions": [denied]})
    decision = planned(c)
    assert decision.action is Action.BLOCKED and KEY in decision.message and denied in decision.message
    seq = lab_admin.last_seq()
    with pytest.raises(LabError) as refused:
        crypto_key.ensure(c, SPEC, marker_for(SPEC, time.time()), "node")
    assert str(refused.value) == decision.message
    assert lab_admin.mutations_since(seq) == []
    assert c.kms.get_crypto_key(name=KEY).primary.name == V1
