"""KMS, Resource Manager and IAM: duplicates, missing, etags, members, key versions."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc
from google.cloud import iam_admin_v1, kms_v1
from google.protobuf import field_mask_pb2

from tests.emulator.helpers import ENCRYPTER, NODE_KEY, RING, SA_ID, key_name, make_clients
from tests.fixtures_emulator import PROJECT, REGION

PARENT = f"projects/{PROJECT}/locations/{REGION}"
ENCRYPT = kms_v1.CryptoKey.CryptoKeyPurpose.ENCRYPT_DECRYPT


@pytest.fixture
def c(emulator):
    clients = make_clients(emulator)
    yield clients
    clients.close()


def _keys(c) -> None:
    c.kms.create_key_ring(parent=PARENT, key_ring_id=RING, key_ring={})
    c.kms.create_crypto_key(
        parent=f"{PARENT}/keyRings/{RING}",
        crypto_key_id=NODE_KEY,
        crypto_key=kms_v1.CryptoKey(purpose=ENCRYPT),
    )


def test_project_numbers_are_stable_and_given_numbers_win(emulator_factory):
    a = emulator_factory(projects={"lab-one": 111122223333})
    ca = make_clients(a)
    b = emulator_factory()
    cb = make_clients(b)
    try:
        assert ca.projects.get_project(name="projects/lab-one").name == "projects/111122223333"
        first = ca.projects.get_project(name="projects/lab-two").name
        assert first == cb.projects.get_project(name="projects/lab-two").name  # derived from the ID
        assert first != cb.projects.get_project(name="projects/lab-three").name
        with pytest.raises(gexc.NotFound):
            ca.projects.get_project(name="projects/999999999999")
    finally:
        ca.close()
        cb.close()


def test_kms_rings_keys_and_versions(c):
    with pytest.raises(gexc.NotFound):
        c.kms.get_key_ring(name=f"{PARENT}/keyRings/{RING}")
    with pytest.raises(gexc.NotFound):  # the ring does not exist yet
        c.kms.create_crypto_key(
            parent=f"{PARENT}/keyRings/{RING}",
            crypto_key_id="k",
            crypto_key=kms_v1.CryptoKey(purpose=ENCRYPT),
        )
    _keys(c)
    with pytest.raises(gexc.Conflict):
        c.kms.create_key_ring(parent=PARENT, key_ring_id=RING, key_ring={})
    with pytest.raises(gexc.BadRequest):
        c.kms.create_key_ring(parent=PARENT, key_ring_id="bad ring!", key_ring={})
    with pytest.raises(gexc.BadRequest):  # purpose is required
        c.kms.create_crypto_key(parent=f"{PARENT}/keyRings/{RING}", crypto_key_id="k2", crypto_key={})
    assert [r.name for r in c.kms.list_key_rings(parent=PARENT)] == [f"{PARENT}/keyRings/{RING}"]
    key = c.kms.get_crypto_key(name=key_name(NODE_KEY))
    assert key.purpose == ENCRYPT
    assert (
        key.version_template.algorithm
        == kms_v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm.GOOGLE_SYMMETRIC_ENCRYPTION
    )
    assert key.destroy_scheduled_duration.total_seconds() == 30 * 24 * 3600
    assert [k.name for k in c.kms.list_crypto_keys(parent=f"{PARENT}/keyRings/{RING}")] == [
        key_name(NODE_KEY)
    ]

    # labels through updateCryptoKey with an update mask
    key.labels["gke-lab-expires"] = "1700000000"
    updated = c.kms.update_crypto_key(
        crypto_key=kms_v1.CryptoKey(name=key.name, labels={"gke-lab-expires": "1700000000"}),
        update_mask=field_mask_pb2.FieldMask(paths=["labels"]),
    )
    assert dict(updated.labels) == {"gke-lab-expires": "1700000000"}
    with pytest.raises(gexc.BadRequest):
        c.kms.update_crypto_key(
            crypto_key=kms_v1.CryptoKey(name=key.name, labels={"Bad": "x"}),
            update_mask=field_mask_pb2.FieldMask(paths=["labels"]),
        )

    # destroy schedules destruction; a second destroy is refused; restore brings it back disabled
    v1 = key_name(NODE_KEY) + "/cryptoKeyVersions/1"
    destroyed = c.kms.destroy_crypto_key_version(name=v1)
    assert destroyed.state == kms_v1.CryptoKeyVersion.CryptoKeyVersionState.DESTROY_SCHEDULED
    with pytest.raises(gexc.BadRequest) as err:
        c.kms.destroy_crypto_key_version(name=v1)
    assert "DESTROY_SCHEDULED" in err.value.message
    versions = list(c.kms.list_crypto_key_versions(parent=key_name(NODE_KEY)))
    assert [v.state for v in versions] == [kms_v1.CryptoKeyVersion.CryptoKeyVersionState.DESTROY_SCHEDULED]
    restored = c.kms.restore_crypto_key_version(name=v1)
    assert restored.state == kms_v1.CryptoKeyVersion.CryptoKeyVersionState.DISABLED
    with pytest.raises(gexc.NotFound):
        c.kms.get_crypto_key_version(name=key_name(NODE_KEY) + "/cryptoKeyVersions/9")


def test_key_policy_etags_and_members(c):
    _keys(c)
    number = c.projects.get_project(name=f"projects/{PROJECT}").name.split("/")[1]
    agent = f"serviceAccount:service-{number}@compute-system.iam.gserviceaccount.com"
    policy = c.kms.get_iam_policy(request={"resource": key_name(NODE_KEY)})
    assert not policy.bindings and policy.etag
    policy.bindings.add(role=ENCRYPTER, members=[agent])
    saved = c.kms.set_iam_policy(request={"resource": key_name(NODE_KEY), "policy": policy})
    assert saved.etag != policy.etag and list(saved.bindings[0].members) == [agent]
    with pytest.raises(gexc.Conflict) as err:  # the etag read before the first set is stale now
        c.kms.set_iam_policy(request={"resource": key_name(NODE_KEY), "policy": policy})
    assert "concurrent policy changes" in err.value.message
    # an agent of a project number that does not exist, or a missing service account: 400
    fresh = c.kms.get_iam_policy(request={"resource": key_name(NODE_KEY)})
    fresh.bindings.add(
        role=ENCRYPTER, members=["serviceAccount:service-1@compute-system.iam.gserviceaccount.com"]
    )
    with pytest.raises(gexc.BadRequest) as err:
        c.kms.set_iam_policy(request={"resource": key_name(NODE_KEY), "policy": fresh})
    assert "does not exist" in err.value.message


def test_project_policy_stale_etag_is_409_aborted(c):
    resource = f"projects/{PROJECT}"
    first = c.projects.get_iam_policy(
        request={"resource": resource, "options": {"requested_policy_version": 3}}
    )
    second = c.projects.get_iam_policy(request={"resource": resource})
    assert first.etag == second.etag
    first.bindings.add(role="roles/viewer", members=["user:alice@example.com"])
    c.projects.set_iam_policy(request={"resource": resource, "policy": first})
    second.bindings.add(role="roles/viewer", members=["user:bob@example.com"])
    with pytest.raises(gexc.Conflict) as err:
        c.projects.set_iam_policy(request={"resource": resource, "policy": second})
    assert err.value.code == 409
    assert err.value.message.endswith(
        ": There were concurrent policy changes. "
        "Please retry the whole read-modify-write with exponential backoff."
    )
    assert err.value.response.json()["error"]["status"] == "ABORTED"
    # no binding was lost: alice is still there, bob never got in
    members = {
        m for b in c.projects.get_iam_policy(request={"resource": resource}).bindings for m in b.members
    }
    assert "user:alice@example.com" in members and "user:bob@example.com" not in members


def test_project_policy_refuses_a_missing_service_account(c):
    resource = f"projects/{PROJECT}"
    policy = c.projects.get_iam_policy(request={"resource": resource})
    member = f"serviceAccount:{SA_ID}@{PROJECT}.iam.gserviceaccount.com"
    policy.bindings.add(role="roles/logging.logWriter", members=[member])
    with pytest.raises(gexc.BadRequest) as err:
        c.projects.set_iam_policy(request={"resource": resource, "policy": policy})
    assert err.value.message.endswith(
        f": Service account {SA_ID}@{PROJECT}.iam.gserviceaccount.com does not exist."
    )
    c.iam.create_service_account(name=f"projects/{PROJECT}", account_id=SA_ID, service_account={})
    assert c.projects.set_iam_policy(request={"resource": resource, "policy": policy}).bindings


def test_service_accounts_over_grpc(c):
    sa = c.iam.create_service_account(
        name=f"projects/{PROJECT}",
        account_id=SA_ID,
        service_account=iam_admin_v1.ServiceAccount(display_name="nodes", description="gke-lab:{}"),
    )
    assert (
        sa.name == f"projects/{PROJECT}/serviceAccounts/{sa.email}"
        and sa.unique_id
        and sa.project_id == PROJECT
    )
    with pytest.raises(gexc.AlreadyExists):
        c.iam.create_service_account(name=f"projects/{PROJECT}", account_id=SA_ID, service_account={})
    with pytest.raises(gexc.InvalidArgument):
        c.iam.create_service_account(name=f"projects/{PROJECT}", account_id="x", service_account={})
    assert (
        c.iam.get_service_account(name=f"projects/-/serviceAccounts/{sa.email}").description == "gke-lab:{}"
    )
    assert (
        c.iam.get_service_account(name=f"projects/{PROJECT}/serviceAccounts/{sa.unique_id}").email == sa.email
    )
    listed = list(c.iam.list_service_accounts(name=f"projects/{PROJECT}"))
    assert [a.email for a in listed] == [sa.email]
    c.iam.delete_service_account(name=sa.name)
    with pytest.raises(gexc.NotFound):
        c.iam.get_service_account(name=sa.name)
    with pytest.raises(gexc.NotFound):
        c.iam.delete_service_account(name=sa.name)


def test_concurrent_writers_never_lose_a_binding(c):
    import threading

    resource = f"projects/{PROJECT}"
    conflicts: list[int] = []

    def writer(i: int) -> None:
        while True:
            policy = c.projects.get_iam_policy(request={"resource": resource})
            policy.bindings.add(role="roles/viewer", members=[f"user:writer-{i}@example.com"])
            try:
                c.projects.set_iam_policy(request={"resource": resource, "policy": policy})
                return
            except gexc.Conflict:
                conflicts.append(i)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    policy = c.projects.get_iam_policy(request={"resource": resource})
    members = {m for b in policy.bindings if b.role == "roles/viewer" for m in b.members}
    assert members == {f"user:writer-{i}@example.com" for i in range(6)}
