"""Compute, KMS and IAM request bodies, as the official proto-plus types."""

import json

from google.cloud import compute_v1, kms_v1
from google.cloud.iam_admin_v1 import types as iam_types

from gke_lab.ownership import Marker
from gke_lab.requests import (
    KMS_ROLE,
    build_crypto_key,
    build_crypto_key_requests,
    build_network,
    build_router,
    build_service_account,
    build_subnetwork,
    key_bindings,
    project_bindings,
)
from gke_lab.spec import LabSpec

MARK = Marker("cluster", 1700000000)
DESCRIPTION = 'gke-lab:{"managed-by":"gke-lab","lab":"cluster","expires":1700000000}'
NETWORK_URL = "https://www.googleapis.com/compute/v1/projects/gke-detail/global/networks/gke-network"


def _json(message) -> dict:
    return json.loads(type(message).to_json(message, always_print_fields_with_no_presence=False))


def test_network_is_custom_mode_global_routing():
    net = build_network(LabSpec(), MARK)
    assert isinstance(net, compute_v1.Network)
    assert _json(net) == {
        "name": "gke-network",
        "autoCreateSubnetworks": False,
        "routingConfig": {"routingMode": "GLOBAL"},
        "description": DESCRIPTION,
    }


def test_subnetwork_with_secondary_ranges():
    sub = build_subnetwork(LabSpec(), MARK)
    assert isinstance(sub, compute_v1.Subnetwork)
    body = _json(sub)
    assert body["name"] == "gke-subnet"
    assert body["network"] == NETWORK_URL
    assert body["region"] == "us-west1"
    assert body["ipCidrRange"] == "10.128.0.0/20"
    assert body["secondaryIpRanges"] == [
        {"rangeName": "gke-cluster-pods", "ipCidrRange": "100.64.0.0/14"},
        {"rangeName": "gke-cluster-services", "ipCidrRange": "100.68.0.0/20"},
    ]
    assert body["privateIpGoogleAccess"] is True
    assert body["description"] == DESCRIPTION


def test_router_carries_cloud_nat():
    router = build_router(LabSpec(), MARK)
    assert isinstance(router, compute_v1.Router)
    body = _json(router)
    assert (body["name"], body["network"]) == ("gke-router", NETWORK_URL)
    assert "region" not in body  # output only in a Router body: the region is in the URL
    assert body["nats"] == [
        {
            "name": "gke-nat",
            "natIpAllocateOption": "AUTO_ONLY",
            "sourceSubnetworkIpRangesToNat": "ALL_SUBNETWORKS_ALL_IP_RANGES",
        }
    ]
    assert Marker.from_description(body["description"]) == MARK


def test_crypto_keys_symmetric_software_labelled():
    key = build_crypto_key(LabSpec(), MARK)
    assert isinstance(key, kms_v1.CryptoKey)
    assert key.purpose == kms_v1.CryptoKey.CryptoKeyPurpose.ENCRYPT_DECRYPT
    assert (
        key.version_template.algorithm
        == kms_v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm.GOOGLE_SYMMETRIC_ENCRYPTION
    )
    assert key.version_template.protection_level == kms_v1.ProtectionLevel.SOFTWARE
    assert dict(key.labels) == {
        "managed-by": "gke-lab",
        "gke-lab": "cluster",
        "gke-lab-expires": "1700000000",
    }
    reqs = build_crypto_key_requests(LabSpec(), MARK)
    assert [(r.parent, r.crypto_key_id) for r in reqs] == [
        ("projects/gke-detail/locations/us-west1/keyRings/keyring-gke", "key-gke-node"),
        ("projects/gke-detail/locations/us-west1/keyRings/keyring-gke", "key-gke-secret"),
    ]


def test_key_bindings_use_the_project_number():
    keys = "projects/gke-detail/locations/us-west1/keyRings/keyring-gke/cryptoKeys/"
    agent = "serviceAccount:service-415104041262@{}.iam.gserviceaccount.com"
    assert KMS_ROLE == "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    assert key_bindings(LabSpec(), 415104041262) == {
        keys + "key-gke-node": agent.format("compute-system"),
        keys + "key-gke-secret": agent.format("container-engine-robot"),
    }


def test_service_account_and_project_bindings():
    req = build_service_account(LabSpec(), MARK)
    assert isinstance(req, iam_types.CreateServiceAccountRequest)
    assert (req.name, req.account_id) == ("projects/gke-detail", "gke-node")
    assert req.service_account.display_name == "gke-node"
    assert Marker.from_description(req.service_account.description) == MARK
    member = "serviceAccount:gke-node@gke-detail.iam.gserviceaccount.com"
    assert project_bindings(LabSpec()) == [
        ("roles/logging.logWriter", member),
        ("roles/monitoring.metricWriter", member),
        ("roles/monitoring.viewer", member),
    ]
