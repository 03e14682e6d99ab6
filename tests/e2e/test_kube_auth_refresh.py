"""The product's Kubernetes token outlives no wait: a rollout that takes longer than an access token lives
still completes, because the client asks `Clients.access_token` for a valid token before every request."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from kubernetes.client.rest import ApiException

from emulator.kubernetes import KubeCluster
from gke_lab import echo, kube
from gke_lab.clients import Clients

# Tokens live 1 s; a pod becomes ready 3 s after it is scheduled: the rollout wait outlives two tokens.
TOKEN_LIFETIME = 1.0
POD_READY = 3.0
SPEC = SimpleNamespace(namespace="default", image="registry.k8s.io/echoserver:1.10", replicas=2)


def start_cluster(authenticate) -> KubeCluster:
    cluster = KubeCluster(
        project="gke-detail",
        location="us-west1",
        name="cluster",
        nodes=[
            {"name": "gke-cluster-default-pool-a0", "zone": "us-west1-a", "internal_ip": "10.128.0.2"},
            {"name": "gke-cluster-default-pool-b0", "zone": "us-west1-b", "internal_ip": "10.128.0.12"},
        ],
        pod_cidr="100.64.0.0/14",
        service_cidr="100.68.0.0/20",
        authorized_cidrs=["127.0.0.1/32"],
        private_nodes=True,
        has_egress=lambda: True,
        delay=lambda what: POD_READY if what == "pod.ready" else 0.02,
        log=lambda entry: None,
        on_load_balancer=lambda ns, svc, ports: None,
        on_load_balancer_deleted=lambda ns, svc: None,
        master_ipv4_cidr="172.16.0.0/28",
        authenticate=authenticate,
    )
    cluster.start()
    return cluster


@pytest.fixture
def cluster(emulator):
    """A cluster API that accepts only the emulator's tokens, which live TOKEN_LIFETIME seconds."""
    emulator.tokens.configure({"lifetime_seconds": TOKEN_LIFETIME})
    c = start_cluster(emulator.tokens.valid)
    yield c
    c.stop()


def test_an_expiring_token_is_refreshed_during_a_long_rollout_wait(cluster, emulator):
    clients = Clients(None, emulator.address)
    api = kube.api_client(cluster.endpoint, cluster.ca_certificate_b64, clients.access_token)
    try:
        assert echo.apply_echo(api, SPEC)["deployment"] == "created"
        rollout = echo.wait_rollout(api, SPEC)
        assert rollout["available"] == 2
    finally:
        api.close()
    # The wait outlived the first token: more than one was issued for it.
    assert len(emulator.tokens.describe()["grants"]) > 1


def test_a_token_taken_once_expires_during_the_same_wait(cluster, emulator):
    """The same wait with the token read once, as before: the server refuses it once it expires."""
    clients = Clients(None, emulator.address)
    api = kube.api_client(cluster.endpoint, cluster.ca_certificate_b64, clients.access_token())
    try:
        echo.apply_echo(api, SPEC)
        with pytest.raises(Exception) as err:
            echo.wait_rollout(api, SPEC)
        cause = err.value if isinstance(err.value, ApiException) else err.value.__cause__
        assert isinstance(cause, ApiException) and cause.status == 401
    finally:
        api.close()
