"""Watches, pod logs and endpoint shutdown of the emulated Kubernetes API (official kubernetes client)."""

from __future__ import annotations

import base64
import time

import pytest
import urllib3
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from emulator.kubernetes import KubeCluster

NODES = [
    {"name": "gke-lab-default-pool-1a2b3c4d-x0ab", "zone": "us-west1-a", "internal_ip": "10.138.0.2"},
    {"name": "gke-lab-default-pool-5e6f7a8b-k3cd", "zone": "us-west1-b", "internal_ip": "10.138.0.3"},
]
DELAYS = {"pod.ready": 0.2, "endpoints.ready": 0.05}


@pytest.fixture
def egress() -> dict:
    return {"on": True}


@pytest.fixture
def cluster(egress):
    kc = KubeCluster(
        project="lab-project",
        location="us-west1",
        name="cluster",
        nodes=NODES,
        pod_cidr="10.4.0.0/14",
        service_cidr="10.0.32.0/20",
        authorized_cidrs=None,
        private_nodes=True,
        has_egress=lambda: egress["on"],
        delay=lambda what: DELAYS[what],
        log=lambda entry: None,
        on_load_balancer=lambda ns, name, ports: None,
        on_load_balancer_deleted=lambda ns, name: None,
        master_ipv4_cidr="172.16.0.0/28",
    )
    kc.start()
    yield kc
    kc.stop()


@pytest.fixture
def api(cluster, tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_bytes(base64.b64decode(cluster.ca_certificate_b64))
    cfg = client.Configuration(
        host=f"https://{cluster.endpoint}",
        ssl_ca_cert=str(ca),
        api_key={"authorization": "token"},
        api_key_prefix={"authorization": "Bearer"},
    )
    cfg.safe_chars_for_path_param = "/:"
    cfg.retries = 1
    api = client.ApiClient(cfg)
    yield api
    api.close()


def deployment(image: str = "registry.k8s.io/echoserver:1.4") -> dict:
    labels = {"app": "echo-server"}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "echo-deployment", "labels": labels},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [
                        {
                            "name": "echo-server",
                            "image": image,
                            "ports": [{"containerPort": 8080, "name": "http-port"}],
                        }
                    ]
                },
            },
        },
    }


def test_watch_reports_a_rollout_until_ready(api):
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", deployment())
    seen = []
    w = watch.Watch()
    for event in w.stream(
        apps.list_namespaced_deployment,
        "default",
        field_selector="metadata.name=echo-deployment",
        timeout_seconds=60,
    ):
        seen.append(event["type"])
        dep = event["object"]
        assert isinstance(dep, client.V1Deployment)
        if (dep.status.available_replicas or 0) == 2:
            w.stop()
    assert seen[0] == "ADDED" and "MODIFIED" in seen
    assert dep.status.ready_replicas == 2


def test_watch_reports_deletions_and_ends_at_its_timeout(api):
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", deployment())
    pods = core.list_namespaced_pod("default", label_selector="app=echo-server")
    apps.delete_namespaced_deployment("echo-deployment", "default")
    events = list(
        watch.Watch().stream(
            core.list_namespaced_pod,
            "default",
            label_selector="app=echo-server",
            resource_version=pods.metadata.resource_version,
            timeout_seconds=1,
        )
    )
    deleted = sorted(e["object"].metadata.name for e in events if e["type"] == "DELETED")
    assert deleted == sorted(p.metadata.name for p in pods.items)


def test_pod_logs_show_proxied_requests(api):
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", deployment())
    core.create_namespaced_service(
        "default",
        {
            "metadata": {"name": "echo-service"},
            "spec": {"selector": {"app": "echo-server"}, "ports": [{"port": 80, "targetPort": 8080}]},
        },
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            resp = core.connect_get_namespaced_service_proxy_with_path(
                "echo-service:80", "default", "logged", _preload_content=False
            )
            break
        except ApiException as exc:
            assert exc.status == 503 and time.monotonic() < deadline
            time.sleep(0.02)
    text = resp.data.decode()
    # Through a private cluster's control plane the request comes from its private endpoint.
    assert "client_address=172.16.0.2\n" in text
    pod_ip = text.split("request_uri=http://", 1)[1].split(":", 1)[0]
    pod = next(p for p in core.list_namespaced_pod("default").items if p.status.pod_ip == pod_ip)
    log = core.read_namespaced_pod_log(pod.metadata.name, "default")
    assert '"GET /logged HTTP/1.1" 200' in log and log.startswith("172.16.0.2 - - [")


def test_logs_of_a_pod_that_cannot_pull_are_refused(api, egress):
    egress["on"] = False
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", deployment())
    pod = core.list_namespaced_pod("default").items[0]
    deadline = time.monotonic() + 60
    while True:
        with pytest.raises(ApiException) as err:
            core.read_namespaced_pod_log(pod.metadata.name, "default")
        assert err.value.status == 400
        if "trying and failing to pull image" in err.value.body or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    assert (
        f'container \\"echo-server\\" in pod \\"{pod.metadata.name}\\" is waiting to start: '
        "trying and failing to pull image"
    ) in err.value.body


def test_stopping_the_cluster_closes_kept_alive_connections(cluster, api):
    core = client.CoreV1Api(api)
    assert core.list_namespace().items  # opens a pooled keep-alive connection
    cluster.stop()
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        core.list_namespace()
