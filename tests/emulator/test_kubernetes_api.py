"""The emulated per-cluster Kubernetes API, driven through the official kubernetes client."""

from __future__ import annotations

import base64
import ipaddress
import json
import socket
import ssl
import time
from collections.abc import Callable, Iterator

import pytest
import urllib3
from cryptography import x509
from kubernetes import client
from kubernetes.client.rest import ApiException

from emulator.kubernetes import KubeCluster

NODES = [
    {"name": "gke-lab-default-pool-1a2b3c4d-x0ab", "zone": "us-west1-a", "internal_ip": "10.138.0.2"},
    {"name": "gke-lab-default-pool-5e6f7a8b-k3cd", "zone": "us-west1-b", "internal_ip": "10.138.0.3"},
]
DELAYS = {"pod.ready": 0.2, "endpoints.ready": 0.05, "loadBalancer.ready": 0.1}
ECHO_IMAGE = "registry.k8s.io/echoserver:1.4"


class Recorder:
    def __init__(self) -> None:
        self.log: list[dict] = []
        self.lb: list[tuple] = []
        self.lb_deleted: list[tuple] = []
        self.egress = True


@pytest.fixture
def rec() -> Recorder:
    return Recorder()


@pytest.fixture
def make_cluster(rec: Recorder) -> Iterator[Callable[..., KubeCluster]]:
    started: list[KubeCluster] = []

    def make(**overrides) -> KubeCluster:
        kwargs = dict(
            project="lab-project",
            location="us-west1",
            name="cluster",
            nodes=NODES,
            pod_cidr="10.4.0.0/14",
            service_cidr="10.0.32.0/20",
            authorized_cidrs=["127.0.0.1/32"],
            private_nodes=True,
            has_egress=lambda: rec.egress,
            delay=lambda what: DELAYS[what],
            log=rec.log.append,
            on_load_balancer=lambda ns, name, ports: rec.lb.append((ns, name, ports)),
            on_load_balancer_deleted=lambda ns, name: rec.lb_deleted.append((ns, name)),
        )
        kwargs.update(overrides)
        kc = KubeCluster(**kwargs)
        kc.start()
        started.append(kc)
        return kc

    yield make
    for kc in started:
        kc.stop()


def api_client(kc: KubeCluster, tmp_path, token: str | None = "ya29.test-token", ca_b64: str | None = None):
    ca_file = tmp_path / f"ca-{kc.endpoint.replace(':', '_')}-{abs(hash(ca_b64))}.pem"
    ca_file.write_bytes(base64.b64decode(ca_b64 or kc.ca_certificate_b64))
    cfg = client.Configuration(host=f"https://{kc.endpoint}", ssl_ca_cert=str(ca_file))
    if token is not None:
        cfg.api_key = {"authorization": token}
        cfg.api_key_prefix = {"authorization": "Bearer"}
    cfg.safe_chars_for_path_param = "/:"
    cfg.retries = 1
    return client.ApiClient(cfg)


@pytest.fixture
def cluster(make_cluster) -> KubeCluster:
    return make_cluster()


@pytest.fixture
def apis(cluster, tmp_path):
    api = api_client(cluster, tmp_path)
    yield client.CoreV1Api(api), client.AppsV1Api(api)
    api.close()


def wait_for(predicate: Callable[[], object], timeout: float = 60.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def echo_deployment(image: str = ECHO_IMAGE, name: str = "echo-deployment", replicas: int = 2):
    return client.V1Deployment(
        metadata=client.V1ObjectMeta(name=name, labels={"app": "echo-server"}),
        spec=client.V1DeploymentSpec(
            replicas=replicas,
            selector=client.V1LabelSelector(
                match_labels={"app": name if name != "echo-deployment" else "echo-server"}
            ),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(
                    labels={"app": name if name != "echo-deployment" else "echo-server"}
                ),
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


def echo_service(name: str = "echo-service", app: str = "echo-server", type_: str = "ClusterIP"):
    return client.V1Service(
        metadata=client.V1ObjectMeta(name=name),
        spec=client.V1ServiceSpec(
            type=type_,
            selector={"app": app},
            ports=[client.V1ServicePort(port=80, target_port=8080, protocol="TCP")],
        ),
    )


def status_body(exc: ApiException) -> dict:
    return json.loads(exc.body)


# ------------------------------------------------------------------------------------------------------
# TLS, authentication, authorized networks


def test_tls_trusts_only_the_cluster_ca(make_cluster, tmp_path):
    a = make_cluster(name="a")
    b = make_cluster(name="b")
    assert a.ca_certificate_b64 != b.ca_certificate_b64
    ca = x509.load_pem_x509_certificate(base64.b64decode(a.ca_certificate_b64))
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True

    good = api_client(a, tmp_path)
    assert client.VersionApi(good).get_code().git_version.startswith("v1.")
    assert client.CoreV1Api(good).list_namespace().items

    # The server certificate is for 127.0.0.1 and localhost, signed by the cluster CA.
    host, port = a.endpoint.split(":")
    ctx = ssl.create_default_context(cadata=base64.b64decode(a.ca_certificate_b64).decode())
    with socket.create_connection((host, int(port)), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            cert = x509.load_der_x509_certificate(tls.getpeercert(binary_form=True))
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert "localhost" in san.get_values_for_type(x509.DNSName)

    wrong = api_client(a, tmp_path, ca_b64=b.ca_certificate_b64)
    with pytest.raises(urllib3.exceptions.MaxRetryError) as err:
        client.CoreV1Api(wrong).list_namespace()
    assert isinstance(err.value.reason, urllib3.exceptions.SSLError)


def test_requests_without_a_bearer_token_get_401(cluster, tmp_path):
    anonymous = client.CoreV1Api(api_client(cluster, tmp_path, token=None))
    with pytest.raises(ApiException) as err:
        anonymous.list_namespaced_pod("default")
    assert err.value.status == 401
    assert status_body(err.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": "Unauthorized",
        "reason": "Unauthorized",
        "code": 401,
    }


def test_authorized_networks_refuse_clients_outside_the_cidrs(make_cluster, tmp_path):
    kc = make_cluster(authorized_cidrs=["203.0.113.0/24"])
    core = client.CoreV1Api(api_client(kc, tmp_path))
    with pytest.raises(urllib3.exceptions.MaxRetryError):
        core.list_namespace()
    # The refusal happens before TLS: a raw handshake never completes.
    host, port = kc.endpoint.split(":")
    ctx = ssl.create_default_context(cadata=base64.b64decode(kc.ca_certificate_b64).decode())
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        with socket.create_connection((host, int(port)), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost"):
                pass
    # Updating master authorized networks opens the endpoint to the listed client.
    kc.set_authorized_cidrs(["203.0.113.0/24", "127.0.0.0/8"])
    assert core.list_namespace().items
    kc.set_authorized_cidrs(None)  # disabled: everyone may connect
    assert core.list_namespace().items


# ------------------------------------------------------------------------------------------------------
# Nodes and namespaces


def test_nodes_carry_zones_addresses_and_ready(cluster, apis):
    core, _ = apis
    nodes = core.list_node().items
    assert [n.metadata.name for n in nodes] == sorted(n["name"] for n in NODES)
    by_name = {n.metadata.name: n for n in nodes}
    for spec in NODES:
        node = by_name[spec["name"]]
        assert node.metadata.labels["topology.kubernetes.io/zone"] == spec["zone"]
        assert node.metadata.labels["kubernetes.io/hostname"] == spec["name"]
        assert node.metadata.labels["topology.kubernetes.io/region"] == "us-west1"
        ready = [c for c in node.status.conditions if c.type == "Ready"]
        assert ready and ready[0].status == "True"
        internal = [a.address for a in node.status.addresses if a.type == "InternalIP"]
        assert internal == [spec["internal_ip"]]
        assert ipaddress.ip_network(node.spec.pod_cidr).subnet_of(ipaddress.ip_network("10.4.0.0/14"))
        assert node.metadata.uid and node.metadata.resource_version and node.metadata.creation_timestamp
    assert len({n.spec.pod_cidr for n in nodes}) == len(nodes)
    zoned = core.list_node(label_selector="topology.kubernetes.io/zone=us-west1-b").items
    assert [n.metadata.name for n in zoned] == [NODES[1]["name"]]
    with pytest.raises(ApiException) as err:
        core.read_node("gke-missing")
    assert err.value.status == 404
    assert status_body(err.value)["message"] == 'nodes "gke-missing" not found'


def test_namespaces_exist_and_can_be_created_and_deleted(make_cluster, tmp_path):
    # A slow profile keeps the namespace Terminating long enough to observe it.
    kc = make_cluster(delay=lambda what: {**DELAYS, "endpoints.ready": 3.0}[what])
    api = api_client(kc, tmp_path)
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    names = {ns.metadata.name for ns in core.list_namespace().items}
    assert {"default", "kube-system"} <= names
    created = core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="echo")))
    assert created.status.phase == "Active"
    assert created.metadata.labels["kubernetes.io/metadata.name"] == "echo"
    with pytest.raises(ApiException) as err:
        core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name="echo")))
    assert err.value.status == 409 and status_body(err.value)["reason"] == "AlreadyExists"
    apps.create_namespaced_deployment("echo", echo_deployment())
    core.delete_namespace("echo")
    assert core.read_namespace("echo").status.phase == "Terminating"
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment("echo", echo_deployment(name="other"))
    assert err.value.status == 403
    wait_for(lambda: "echo" not in {n.metadata.name for n in core.list_namespace().items}, what="ns gone")
    with pytest.raises(ApiException) as err:
        core.delete_namespace("kube-system")
    assert err.value.status == 403


# ------------------------------------------------------------------------------------------------------
# The echo workload


def _ready_deployment(apps, name="echo-deployment", ns="default", replicas=2):
    def check():
        # Rollout complete: every pod runs the current template and is available.
        dep = apps.read_namespaced_deployment(name, ns)
        st = dep.status
        done = (st.available_replicas or 0) == replicas and st.updated_replicas == replicas == st.replicas
        return dep if done else None

    return wait_for(check, what=f"deployment {name} ready")


def test_echo_deployment_and_service_become_ready_across_zones(cluster, apis):
    core, apps = apis
    created = apps.create_namespaced_deployment("default", echo_deployment())
    assert created.metadata.generation == 1 and created.metadata.uid
    assert created.status.replicas == 2 and not created.status.ready_replicas
    svc = core.create_namespaced_service("default", echo_service())
    assert ipaddress.ip_address(svc.spec.cluster_ip) in ipaddress.ip_network("10.0.32.0/20")
    assert svc.spec.ports[0].target_port == 8080

    dep = _ready_deployment(apps)
    assert dep.status.ready_replicas == 2 and dep.status.updated_replicas == 2
    assert dep.status.observed_generation == 1
    conds = {c.type: c for c in dep.status.conditions}
    assert conds["Available"].status == "True" and conds["Available"].reason == "MinimumReplicasAvailable"
    assert conds["Progressing"].reason == "NewReplicaSetAvailable"

    pods = core.list_namespaced_pod("default", label_selector="app=echo-server").items
    assert len(pods) == 2
    nodes = {
        n.metadata.name: n.metadata.labels["topology.kubernetes.io/zone"] for n in core.list_node().items
    }
    assert {nodes[p.spec.node_name] for p in pods} == {"us-west1-a", "us-west1-b"}
    for pod in pods:
        assert pod.status.phase == "Running"
        assert pod.metadata.name.startswith("echo-deployment-")
        assert pod.metadata.labels["pod-template-hash"] in pod.metadata.name
        assert pod.metadata.owner_references[0].kind == "ReplicaSet"
        assert ipaddress.ip_address(pod.status.pod_ip) in ipaddress.ip_network("10.4.0.0/14")
        assert {c.type: c.status for c in pod.status.conditions}["Ready"] == "True"
        assert pod.status.container_statuses[0].ready is True
        assert pod.status.container_statuses[0].state.running.started_at is not None

    def endpoints():
        ep = core.read_namespaced_endpoints("echo-service", "default")
        return ep if ep.subsets and len(ep.subsets[0].addresses or []) == 2 else None

    ep = wait_for(endpoints, what="endpoints")
    assert {a.ip for a in ep.subsets[0].addresses} == {p.status.pod_ip for p in pods}
    assert ep.subsets[0].ports[0].port == 8080


def expected_report(pod_ip: str, method: str, path: str, query: str, headers: dict, body: str | None) -> str:
    uri = path + (f"?{query}" if query else "")
    lines = [
        "CLIENT VALUES:",
        f"client_address={NODES[0]['internal_ip']}",
        f"command={method}",
        f"real path={uri}",
        f"query={query or 'nil'}",
        "request_version=1.1",
        f"request_uri=http://{pod_ip}:8080{uri}",
        "",
        "SERVER VALUES:",
        "server_version=nginx: 1.10.0 - lua: 10001",
        "",
        "HEADERS RECEIVED:",
        *[f"{k}={v}" for k, v in sorted(headers.items())],
        "BODY:",
    ]
    return "\n".join(lines) + "\n" + (body if body is not None else "-no body in request-\n")


def test_service_proxy_answers_like_echoserver(cluster, apis):
    core, apps = apis
    apps.create_namespaced_deployment("default", echo_deployment())
    core.create_namespaced_service("default", echo_service())
    _ready_deployment(apps)
    pod_ips = {p.status.pod_ip for p in core.list_namespaced_pod("default").items}
    proxy = "/api/v1/namespaces/default/services/echo-service:80/proxy"

    def get(path: str):
        return core.connect_get_namespaced_service_proxy_with_path(
            "echo-service:80", "default", path, _preload_content=False
        )

    resp = wait_for(lambda: (r := get("")) and r.status == 200 and r, what="proxy 200")
    text = resp.data.decode()
    ip = text.split("request_uri=http://", 1)[1].split(":", 1)[0]
    assert ip in pod_ips
    headers = {
        "accept": "*/*",
        "accept-encoding": "identity",
        "host": f"{ip}:8080",
        "user-agent": core.api_client.user_agent,
        "x-forwarded-for": "127.0.0.1",
        "x-forwarded-host": cluster.endpoint,
        "x-forwarded-proto": "https",
        "x-forwarded-uri": f"{proxy}/",
    }
    assert text == expected_report(ip, "GET", "/", "", headers, None)
    assert resp.headers["Content-Type"].startswith("text/plain")

    # The percent-encoded form the client produces without safe_chars reaches the same service.
    core.api_client.configuration.safe_chars_for_path_param = ""
    encoded = get("healthz")
    assert encoded.status == 200 and "real path=/healthz\n" in encoded.data.decode()
    core.api_client.configuration.safe_chars_for_path_param = "/:"

    # http:NAME:PORT, a query and a body are forwarded too.
    api = core.api_client
    params = api.param_serialize(
        method="POST",
        resource_path="/api/v1/namespaces/default/services/http:echo-service:80/proxy/echo",
        query_params=[("a", "1")],
        header_params={"Content-Type": "text/plain"},
        body="hello",
        auth_settings=["BearerToken"],
    )
    raw = api.call_api(*params)
    raw.read()
    text = raw.data.decode()
    assert raw.status == 200
    ip = text.split("request_uri=http://", 1)[1].split(":", 1)[0]
    post_headers = {
        "accept-encoding": "identity",
        "content-length": "5",
        "content-type": "text/plain",
        "host": f"{ip}:8080",
        "user-agent": api.user_agent,
        "x-forwarded-for": "127.0.0.1",
        "x-forwarded-host": cluster.endpoint,
        "x-forwarded-proto": "https",
        "x-forwarded-uri": "/api/v1/namespaces/default/services/http:echo-service:80/proxy/echo",
    }
    assert text == expected_report(ip, "POST", "/echo", "a=1", post_headers, "hello")


def test_service_proxy_without_ready_pods_is_503(cluster, apis):
    core, _ = apis
    core.create_namespaced_service("default", echo_service())
    with pytest.raises(ApiException) as err:
        core.connect_get_namespaced_service_proxy_with_path("echo-service:80", "default", "")
    assert err.value.status == 503
    body = status_body(err.value)
    assert body["reason"] == "ServiceUnavailable"
    assert body["message"] == 'no endpoints available for service "echo-service:80"'
    with pytest.raises(ApiException) as err:
        core.connect_get_namespaced_service_proxy_with_path("missing:80", "default", "")
    assert err.value.status == 404


def test_public_image_without_egress_stays_in_image_pull_backoff(cluster, apis, rec):
    core, apps = apis
    rec.egress = False
    apps.create_namespaced_deployment("default", echo_deployment())
    apps.create_namespaced_deployment(
        "default", echo_deployment(image="gcr.io/google-containers/echoserver:1.4", name="gcr-echo")
    )
    core.create_namespaced_service("default", echo_service())

    def backoff():
        pods = core.list_namespaced_pod("default", label_selector="app=echo-server").items
        reasons = [
            (p.status.container_statuses[0].state.waiting or client.V1ContainerStateWaiting()).reason
            for p in pods
        ]
        return pods if reasons == ["ImagePullBackOff"] * 2 else None

    pods = wait_for(backoff, what="ImagePullBackOff")
    assert all(p.status.phase == "Pending" for p in pods)
    # A Google registry is reachable through Private Google Access.
    _ready_deployment(apps, name="gcr-echo")

    events = core.list_namespaced_event("default").items
    failed = [
        e
        for e in events
        if e.reason == "Failed"
        and e.involved_object.name == pods[0].metadata.name
        and "Failed to pull" in e.message
    ]
    assert failed and failed[0].type == "Warning"
    assert f'Failed to pull image "{ECHO_IMAGE}"' in failed[0].message
    assert "no route to the internet" in failed[0].message
    assert any(e.reason == "BackOff" and e.involved_object.name == pods[0].metadata.name for e in events)
    dep = apps.read_namespaced_deployment("echo-deployment", "default")
    assert not dep.status.available_replicas and dep.status.unavailable_replicas == 2
    assert {c.type: c.status for c in dep.status.conditions}["Available"] == "False"
    with pytest.raises(ApiException) as err:
        core.connect_get_namespaced_service_proxy_with_path("echo-service:80", "default", "")
    assert err.value.status == 503

    # The kubelet keeps retrying with back-off: the failure events repeat.
    def repeated():
        return [
            e
            for e in core.list_namespaced_event("default").items
            if e.reason == "BackOff" and e.involved_object.name == pods[0].metadata.name and e.count >= 2
        ]

    backoff = wait_for(repeated, what="repeated back-off")[0]
    assert backoff.last_timestamp >= backoff.first_timestamp

    # Cloud NAT appears (a live check): the next pull succeeds.
    rec.egress = True
    _ready_deployment(apps)


def test_public_nodes_pull_public_images_without_nat(make_cluster, tmp_path, rec):
    rec.egress = False
    kc = make_cluster(private_nodes=False)
    apps = client.AppsV1Api(api_client(kc, tmp_path))
    apps.create_namespaced_deployment("default", echo_deployment())
    _ready_deployment(apps)
    node = client.CoreV1Api(apps.api_client).list_node().items[0]
    assert [a.type for a in node.status.addresses if a.type.endswith("IP")] == ["InternalIP", "ExternalIP"]


def test_load_balancer_service_calls_back_and_gets_an_ingress(cluster, apis, rec):
    core, _ = apis
    svc = core.create_namespaced_service("default", echo_service(name="echo-lb", type_="LoadBalancer"))
    assert rec.lb and rec.lb[0][:2] == ("default", "echo-lb")
    assert rec.lb[0][2][0]["port"] == 80 and rec.lb[0][2][0]["protocol"] == "TCP"
    assert 30000 <= svc.spec.ports[0].node_port <= 32767
    assert cluster.load_balancer_services() == [("default", "echo-lb")]

    def ingress():
        s = core.read_namespaced_service("echo-lb", "default")
        return s.status.load_balancer.ingress

    ing = wait_for(ingress, what="LB ingress")
    ipaddress.ip_address(ing[0].ip)

    deleted = core.delete_namespaced_service("echo-lb", "default")
    assert deleted.metadata.name == "echo-lb"
    assert rec.lb_deleted == [("default", "echo-lb")]
    assert cluster.load_balancer_services() == []


def test_error_shapes(cluster, apis):
    core, apps = apis
    with pytest.raises(ApiException) as err:
        apps.read_namespaced_deployment("nope", "default")
    assert err.value.status == 404
    assert status_body(err.value) == {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": 'deployments.apps "nope" not found',
        "reason": "NotFound",
        "details": {"name": "nope", "group": "apps", "kind": "deployments"},
        "code": 404,
    }
    apps.create_namespaced_deployment("default", echo_deployment())
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment("default", echo_deployment())
    assert err.value.status == 409
    body = status_body(err.value)
    assert (
        body["reason"] == "AlreadyExists"
        and body["message"] == 'deployments.apps "echo-deployment" already exists'
    )
    with pytest.raises(ApiException) as err:
        core.read_namespaced_service("nope", "default")
    assert status_body(err.value)["message"] == 'services "nope" not found'
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment("no-such-ns", echo_deployment())
    assert (
        err.value.status == 404 and status_body(err.value)["message"] == 'namespaces "no-such-ns" not found'
    )

    bad = echo_deployment(name="bad")
    bad.spec.template.metadata.labels = {"app": "other"}
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment("default", bad)
    assert err.value.status == 422
    body = status_body(err.value)
    assert body["reason"] == "Invalid"
    assert body["details"]["causes"][0]["field"] == "spec.template.metadata.labels"

    stale = apps.read_namespaced_deployment("echo-deployment", "default")
    apps.patch_namespaced_deployment("echo-deployment", "default", {"spec": {"replicas": 3}})
    stale.spec.replicas = 1
    with pytest.raises(ApiException) as err:
        apps.replace_namespaced_deployment("echo-deployment", "default", stale)
    assert err.value.status == 409 and status_body(err.value)["reason"] == "Conflict"


def test_patch_replace_and_delete(cluster, apis, rec):
    core, apps = apis
    apps.create_namespaced_deployment("default", echo_deployment())
    _ready_deployment(apps)

    # The client sends dict patches as strategic merge patches.
    dep = apps.patch_namespaced_deployment("echo-deployment", "default", {"spec": {"replicas": 3}})
    assert dep.spec.replicas == 3 and dep.metadata.generation == 2
    assert dep.spec.template.spec.containers[0].image == ECHO_IMAGE
    _ready_deployment(apps, replicas=3)
    assert len(core.list_namespaced_pod("default").items) == 3

    # JSON merge patch and JSON patch.
    merge = apps.patch_namespaced_deployment(
        "echo-deployment",
        "default",
        {"metadata": {"labels": {"tier": "demo"}}},
        _content_type="application/merge-patch+json",
    )
    assert merge.metadata.labels == {"app": "echo-server", "tier": "demo"}
    assert merge.metadata.generation == 2  # metadata changes do not bump the generation
    jp = apps.patch_namespaced_deployment(
        "echo-deployment", "default", [{"op": "replace", "path": "/spec/replicas", "value": 1}]
    )
    assert jp.spec.replicas == 1
    wait_for(lambda: len(core.list_namespaced_pod("default").items) == 1, what="scale down")

    # A new template rolls out a new ReplicaSet.
    current = apps.read_namespaced_deployment("echo-deployment", "default")
    old_hash = core.list_namespaced_pod("default").items[0].metadata.labels["pod-template-hash"]
    current.spec.template.spec.containers[0].image = "gcr.io/google-containers/echoserver:1.4"
    replaced = apps.replace_namespaced_deployment("echo-deployment", "default", current)
    assert replaced.metadata.annotations["deployment.kubernetes.io/revision"] == "2"
    _ready_deployment(apps, replicas=1)
    pods = core.list_namespaced_pod("default").items
    assert [p.metadata.labels["pod-template-hash"] != old_hash for p in pods] == [True]

    status = apps.delete_namespaced_deployment("echo-deployment", "default")
    assert status["kind"] == "Status" and status["status"] == "Success"
    assert status["details"]["name"] == "echo-deployment"
    assert core.list_namespaced_pod("default").items == []
    with pytest.raises(ApiException) as err:
        apps.delete_namespaced_deployment("echo-deployment", "default")
    assert err.value.status == 404


def test_request_log_and_state(cluster, apis, rec):
    core, apps = apis
    apps.create_namespaced_deployment("default", echo_deployment())
    core.list_namespaced_pod("default")
    entries = [e for e in rec.log if e["path"].startswith("/apis/apps/v1/namespaces/default/deployments")]
    assert entries[0]["api"] == "kubernetes" and entries[0]["method"] == "POST"
    assert entries[0]["status"] == 201 and entries[0]["mutating"] is True
    assert entries[0]["start"] <= entries[0]["end"]
    assert entries[0]["body"]["metadata"]["name"] == "echo-deployment"
    reads = [e for e in rec.log if e["path"] == "/api/v1/namespaces/default/pods"]
    assert reads and reads[0]["mutating"] is False
    core.list_namespaced_pod("default", label_selector="app=echo-server")
    assert rec.log[-1]["query"] == {"labelSelector": "app=echo-server"}
    with pytest.raises(ApiException):
        apps.create_namespaced_deployment("default", echo_deployment())
    assert rec.log[-1]["status"] == 409 and rec.log[-1]["mutating"] is True  # a write attempt all the same
    with pytest.raises(ApiException):
        core.connect_post_namespaced_service_proxy_with_path("echo-service:80", "default", "x")
    assert rec.log[-1]["method"] == "POST" and rec.log[-1]["mutating"] is False  # reaches a pod, not the API
    state = json.loads(json.dumps(cluster.to_state()))
    mine = [d for d in state["deployments"] if d["metadata"]["namespace"] == "default"]
    assert [d["metadata"]["name"] for d in mine] == ["echo-deployment"]
    assert len([p for p in state["pods"] if p["metadata"]["namespace"] == "default"]) == 2
    assert len(state["nodes"]) == 2
    assert {"namespaces", "services", "events"} <= set(state)
