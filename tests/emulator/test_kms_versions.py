"""KMS key versions as Google serves them: create, enable/disable, primary changes, and GKE refusing a
CMEK key whose primary version is not ENABLED."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc
from google.cloud import kms_v1
from google.protobuf import field_mask_pb2

from tests.emulator.helpers import (
    NODE_KEY,
    SECRET_KEY,
    build_cluster,
    key_name,
    make_clients,
    setup_prerequisites,
    wait_propagation,
)
from tests.fixtures_emulator import PROJECT, REGION

State = kms_v1.CryptoKeyVersion.CryptoKeyVersionState
KEY = key_name(NODE_KEY)


@pytest.fixture
def c(emulator):
    clients = make_clients(emulator)
    yield clients
    clients.close()


def disable(c, version: str) -> kms_v1.CryptoKeyVersion:
    return c.kms.update_crypto_key_version(
        crypto_key_version=kms_v1.CryptoKeyVersion(name=version, state=State.DISABLED),
        update_mask=field_mask_pb2.FieldMask(paths=["state"]),
    )


def test_new_version_is_enabled_not_primary_until_made_primary(emulator, c):
    setup_prerequisites(c)
    created = c.kms.create_crypto_key_version(parent=KEY, crypto_key_version=kms_v1.CryptoKeyVersion())
    assert created.name == f"{KEY}/cryptoKeyVersions/2" and created.state == State.ENABLED
    assert c.kms.get_crypto_key(name=KEY).primary.name == f"{KEY}/cryptoKeyVersions/1"
    key = c.kms.update_crypto_key_primary_version(name=KEY, crypto_key_version_id="2")
    assert key.primary.name == created.name and key.primary.state == State.ENABLED


def test_disable_enable_and_what_cannot_be_primary(emulator, c):
    setup_prerequisites(c)
    v1 = f"{KEY}/cryptoKeyVersions/1"
    assert disable(c, v1).state == State.DISABLED
    assert c.kms.get_crypto_key(name=KEY).primary.state == State.DISABLED
    # FAILED_PRECONDITION travels as HTTP 400 over REST.
    with pytest.raises(gexc.BadRequest, match="DISABLED"):  # a disabled version cannot become primary
        c.kms.update_crypto_key_primary_version(name=KEY, crypto_key_version_id="1")
    c.kms.destroy_crypto_key_version(name=v1)
    with pytest.raises(gexc.BadRequest, match="DESTROY_SCHEDULED"):  # only ENABLED <-> DISABLED
        disable(c, v1)
    with pytest.raises(gexc.NotFound):
        c.kms.update_crypto_key_primary_version(name=KEY, crypto_key_version_id="9")


@pytest.mark.parametrize("key_id", [NODE_KEY, SECRET_KEY])
def test_cluster_create_refused_while_a_cmek_primary_is_not_enabled(emulator, c, key_id):
    setup_prerequisites(c)
    wait_propagation(emulator)
    disable(c, f"{key_name(key_id)}/cryptoKeyVersions/1")
    with pytest.raises(gexc.BadRequest) as refused:
        c.gke.create_cluster(parent=f"projects/{PROJECT}/locations/{REGION}", cluster=build_cluster())
    assert key_name(key_id) in str(refused.value) and "no enabled primary version" in str(refused.value)
