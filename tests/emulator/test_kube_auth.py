"""A cluster's Kubernetes API authenticates like GKE's: only tokens the (emulated) Google token endpoint
issued, and only until they expire; anything else gets 401 in Kubernetes' shape."""

from __future__ import annotations

import base64
import json
import ssl

import httpx
import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from emulator.tokens import TokenRegistry
from tests.emulator.test_cluster_e2e import create_cluster
from tests.emulator.test_kubernetes_rules import make


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _get(kc, path: str, token: str | None) -> httpx.Response:
    headers = {} if token is None else {"Authorization": f"Bearer {token}"}
    ctx = ssl.create_default_context(cadata=base64.b64decode(kc.ca_certificate_b64).decode())
    return httpx.get(f"https://{kc.endpoint}{path}", headers=headers, verify=ctx, timeout=30)


def _assert_unauthorized(resp: httpx.Response) -> None:
    assert resp.status_code == 401
    body = resp.json()
    assert (body["kind"], body["status"], body["reason"], body["code"]) == (
        "Status",
        "Failure",
        "Unauthorized",
        401,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens(clock) -> TokenRegistry:
    return TokenRegistry(lifetime=60, clock=clock)


@pytest.fixture
def cluster(tokens):
    kc = make(name="auth", authenticate=tokens.valid)
    kc.start()
    yield kc
    kc.stop()


def test_only_issued_unexpired_tokens_are_accepted(cluster, tokens, clock):
    token = tokens.issue("someone@example.com")["access_token"]
    assert _get(cluster, "/api/v1/namespaces", token).status_code == 200
    _assert_unauthorized(_get(cluster, "/api/v1/namespaces", "ya29.made-up-token"))
    _assert_unauthorized(_get(cluster, "/api/v1/namespaces", None))
    clock.now += 59
    assert _get(cluster, "/api/v1/namespaces", token).status_code == 200
    clock.now += 1  # expired
    _assert_unauthorized(_get(cluster, "/api/v1/namespaces", token))


def test_public_paths_are_open_to_anonymous_callers_but_not_to_bad_credentials(cluster):
    assert _get(cluster, "/version", None).status_code == 200
    _assert_unauthorized(_get(cluster, "/version", "ya29.made-up-token"))


def test_the_token_endpoint_grants_jwt_and_refresh_token_requests_only(emulator):
    claims = base64.urlsafe_b64encode(json.dumps({"iss": "ci@p.iam.gserviceaccount.com"}).encode()).decode()
    grants = [
        {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": f"e30.{claims}.sig"},
        {"grant_type": "refresh_token", "refresh_token": "r", "client_id": "gke-lab"},
    ]
    for grant in grants:
        resp = httpx.post(f"{emulator.url}/token", data=grant, timeout=30)
        assert resp.status_code == 200 and emulator.tokens.valid(resp.json()["access_token"])
    for bad in ({"grant_type": "password"}, {"grant_type": "refresh_token"}, {"assertion": "not-a-jwt"}):
        resp = httpx.post(f"{emulator.url}/token", data=bad, timeout=30)
        assert resp.status_code == 400 and resp.json()["error"], bad
    subjects = [
        g["subject"] for g in httpx.get(f"{emulator.url}/_emulator/tokens", timeout=30).json()["grants"]
    ]
    assert subjects == ["ci@p.iam.gserviceaccount.com", "gke-lab"]
    resp = httpx.post(f"{emulator.url}/_emulator/tokens", json={"lifetime_seconds": 5}, timeout=30)
    assert resp.json()["lifetime_seconds"] == 5
    assert httpx.post(f"{emulator.url}/token", data=grants[1], timeout=30).json()["expires_in"] == 5


def test_a_cluster_made_through_the_gke_api_refuses_a_wrong_token(emulator_factory, tmp_path):
    emu, c, cluster = create_cluster(emulator_factory)
    try:
        ca = tmp_path / "ca.pem"
        ca.write_bytes(base64.b64decode(cluster.master_auth.cluster_ca_certificate))
        cfg = client.Configuration(host=f"https://{cluster.endpoint}", ssl_ca_cert=str(ca))
        cfg.api_key_prefix = {"authorization": "Bearer"}
        cfg.retries = 0
        cfg.api_key = {"authorization": "ya29.not-issued-by-the-emulator"}
        with client.ApiClient(cfg) as api, pytest.raises(ApiException) as err:
            client.CoreV1Api(api).list_node()
        assert err.value.status == 401 and json.loads(err.value.body)["reason"] == "Unauthorized"
        grant = {"grant_type": "refresh_token", "refresh_token": "r", "client_id": "c"}
        cfg.api_key = {
            "authorization": httpx.post(f"{emu.url}/token", data=grant, timeout=30).json()["access_token"]
        }
        with client.ApiClient(cfg) as api:
            assert len(client.CoreV1Api(api).list_node().items) == 2
    finally:
        c.close()
