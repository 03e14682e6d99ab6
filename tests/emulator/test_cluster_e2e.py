"""End to end: a cluster created through the GKE API, then used through its own Kubernetes endpoint."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable

import httpx
import pytest
import urllib3
from google.api_core import exceptions as gexc
from kubernetes import client

from tests.emulator.helpers import (
    build_cluster,
    make_clients,
    setup_prerequisites,
    wait_gke,
    wait_propagation,
)
from tests.fixtures_emulator import PROJECT, REGION

PARENT = f"projects/{PROJECT}/locations/{REGION}"
CLUSTER = f"{PARENT}/clusters/cluster"


def wait_for(predicate: Callable[[], object], timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def emulator_token() -> str:
    """An access token from the emulator's token endpoint: its clusters accept no other."""
    resp = httpx.post(
        f"http://{os.environ['GKE_LAB_EMULATOR_HOST']}/token",
        data={"grant_type": "refresh_token", "refresh_token": "test", "client_id": "test"},
        timeout=30,
    )
    resp.raise_for_status()
    return resp.json()["access_token"]


def kube_client(cluster, tmp_path) -> client.ApiClient:
    """Built like `gcloud container clusters get-credentials`: endpoint, CA, bearer token."""
    ca = tmp_path / "ca.pem"
    ca.write_bytes(base64.b64decode(cluster.master_auth.cluster_ca_certificate))
    cfg = client.Configuration(host=f"https://{cluster.endpoint}", ssl_ca_cert=str(ca))
    cfg.api_key = {"authorization": emulator_token()}
    cfg.api_key_prefix = {"authorization": "Bearer"}
    cfg.safe_chars_for_path_param = "/:"
    cfg.retries = 0
    return client.ApiClient(cfg)


def echo_objects(image: str):
    deployment = client.V1Deployment(
        metadata=client.V1ObjectMeta(name="echo-deployment", labels={"app": "echo-server"}),
        spec=client.V1DeploymentSpec(
            replicas=2,
            selector=client.V1LabelSelector(match_labels={"app": "echo-server"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "echo-server"}),
                spec=client.V1PodSpec(
                    containers=[
                        client.V1Container(
                            name="echo-server",
                            image=image,
                            ports=[client.V1ContainerPort(container_port=8080, name="http-port")],
                        )
                    ]
                ),
            ),
        ),
    )
    service = client.V1Service(
        metadata=client.V1ObjectMeta(name="echo-service"),
        spec=client.V1ServiceSpec(
            selector={"app": "echo-server"},
            ports=[client.V1ServicePort(port=80, target_port=8080, protocol="TCP")],
        ),
    )
    return deployment, service


def create_cluster(emulator_factory, *, nat: bool = True, authorized: str = "127.0.0.1/32"):
    emu = emulator_factory()
    c = make_clients(emu)
    setup_prerequisites(c, nat=nat)
    wait_propagation(emu)
    wait_gke(c, c.gke.create_cluster(parent=PARENT, cluster=build_cluster(authorized=authorized)))
    return emu, c, c.gke.get_cluster(name=CLUSTER)


def test_echo_service_through_the_cluster_endpoint(emulator_factory, tmp_path):
    emu, c, cluster = create_cluster(emulator_factory)
    api = kube_client(cluster, tmp_path)
    try:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        nodes = core.list_node().items
        assert len(nodes) == 2
        zones = sorted(n.metadata.labels["topology.kubernetes.io/zone"] for n in nodes)
        assert zones == ["us-west1-a", "us-west1-b"]
        instance_names = {i.name for z in zones for i in c.instances.list(project=PROJECT, zone=z)}
        assert {n.metadata.name for n in nodes} == instance_names

        deployment, service = echo_objects("registry.k8s.io/echoserver:1.4")
        apps.create_namespaced_deployment("default", deployment)
        core.create_namespaced_service("default", service)
        wait_for(
            lambda: (
                (apps.read_namespaced_deployment("echo-deployment", "default").status.available_replicas or 0)
                == 2
            ),
            what="deployment 2/2",
        )
        pods = core.list_namespaced_pod("default", label_selector="app=echo-server").items
        assert len(pods) == 2 and all(p.status.phase == "Running" for p in pods)
        assert {p.spec.node_name for p in pods} == instance_names

        def proxied():
            try:
                r = core.connect_get_namespaced_service_proxy_with_path(
                    "echo-service:80", "default", "", _preload_content=False
                )
            except client.ApiException:
                return None
            return r if r.status == 200 else None

        report = wait_for(proxied, what="service proxy").data.decode()
        assert (
            report.startswith("CLIENT VALUES:\n") and "SERVER VALUES:\nserver_version=nginx: 1.10.0" in report
        )

        # a LoadBalancer Service gets GKE's k8s-fw-* rule; deleting the cluster leaves it behind
        lb = client.V1Service(
            metadata=client.V1ObjectMeta(name="echo-lb"),
            spec=client.V1ServiceSpec(
                type="LoadBalancer",
                selector={"app": "echo-server"},
                ports=[client.V1ServicePort(port=80, target_port=8080, protocol="TCP")],
            ),
        )
        core.create_namespaced_service("default", lb)

        def lb_rules():
            return [f for f in c.firewalls.list(project=PROJECT) if f.name.startswith("k8s-fw-")]

        rule = wait_for(lb_rules, what="k8s-fw rule")[0]
        assert [(a.I_p_protocol, list(a.ports)) for a in rule.allowed] == [("tcp", ["80"])]
        assert list(rule.target_tags) == [t for t in rule.target_tags if t.endswith("-node")]

        # kubernetes requests are in the emulator's request log
        kube_entries = [e for e in emu.log.since(0) if e["api"] == "kubernetes"]
        assert any(e["method"] == "POST" and e["mutating"] for e in kube_entries)
    finally:
        api.close()

    wait_gke(c, c.gke.delete_cluster(name=CLUSTER))
    assert [f.name for f in lb_rules()] == [rule.name]
    assert not any(f.name.startswith("gke-cluster-") for f in c.firewalls.list(project=PROJECT))
    with pytest.raises(gexc.NotFound):
        c.gke.get_cluster(name=CLUSTER)
    # the leftover rule keeps the network in use, as on GKE when Services were not deleted first
    with pytest.raises(gexc.BadRequest) as err:
        c.networks.delete_unary(project=PROJECT, network="gke-network")
    assert rule.name in err.value.message
    c.close()


def test_public_image_never_pulls_on_private_nodes_without_nat(emulator_factory, tmp_path):
    emu, c, cluster = create_cluster(emulator_factory, nat=False)
    api = kube_client(cluster, tmp_path)
    try:
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        deployment, _ = echo_objects("registry.k8s.io/echoserver:1.4")
        apps.create_namespaced_deployment("default", deployment)

        def backoff():
            pods = core.list_namespaced_pod("default").items
            waiting = [
                cs.state.waiting.reason
                for p in pods
                for cs in (p.status.container_statuses or [])
                if cs.state and cs.state.waiting
            ]
            return len(pods) == 2 and waiting and all(r == "ImagePullBackOff" for r in waiting) and pods

        wait_for(backoff, what="ImagePullBackOff")
        events = core.list_namespaced_event("default").items
        assert any("registry.k8s.io" in (e.message or "") for e in events if e.type == "Warning")
        # an image from a Google registry pulls on the same nodes
        gdeployment, _ = echo_objects("us-docker.pkg.dev/google-samples/containers/gke/hello-app:1.0")
        gdeployment.metadata.name = "hello"
        gdeployment.spec.selector.match_labels = {"app": "hello"}
        gdeployment.spec.template.metadata.labels = {"app": "hello"}
        apps.create_namespaced_deployment("default", gdeployment)
        wait_for(
            lambda: (apps.read_namespaced_deployment("hello", "default").status.available_replicas or 0) == 2,
            what="google-registry image ready",
        )
    finally:
        api.close()
        c.close()


def test_endpoint_refuses_clients_outside_authorized_networks(emulator_factory, tmp_path):
    _, c, cluster = create_cluster(emulator_factory, authorized="203.0.113.7/32")
    api = kube_client(cluster, tmp_path)
    try:
        with pytest.raises((urllib3.exceptions.HTTPError, OSError)):
            client.CoreV1Api(api).list_namespace(_request_timeout=5)
    finally:
        api.close()
        c.close()
