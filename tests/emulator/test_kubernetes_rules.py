"""Controller and API rules of the emulated Kubernetes API, through the official kubernetes client."""

from __future__ import annotations

import base64
import ipaddress
import json
import time

import pytest
from kubernetes import client
from kubernetes.client.rest import ApiException

from emulator.kubernetes import KubeCluster, is_google_registry

NODES = [
    {"name": "gke-lab-pool-a-0001", "zone": "us-west1-a", "internal_ip": "10.138.0.2"},
    {"name": "gke-lab-pool-b-0001", "zone": "us-west1-b", "internal_ip": "10.138.0.3"},
    {"name": "gke-lab-pool-c-0001", "zone": "us-west1-c", "internal_ip": "10.138.0.4"},
    {"name": "gke-lab-pool-a-0002", "zone": "us-west1-a", "internal_ip": "10.138.0.5"},
]


def make(**overrides) -> KubeCluster:
    calls = overrides.pop("calls", [])
    kwargs = dict(
        project="lab-project",
        location="us-west1",
        name="rules",
        nodes=NODES,
        pod_cidr="10.4.0.0/14",
        service_cidr="10.0.32.0/20",
        authorized_cidrs=None,
        private_nodes=True,
        has_egress=lambda: True,
        delay=lambda what: {"pod.ready": 0.1, "endpoints.ready": 0.02}[what],
        log=lambda entry: None,
        on_load_balancer=lambda ns, name, ports: calls.append(("lb", ns, name)),
        on_load_balancer_deleted=lambda ns, name: calls.append(("lb-deleted", ns, name)),
    )
    kwargs.update(overrides)
    return KubeCluster(**kwargs)


@pytest.fixture
def calls() -> list:
    return []


@pytest.fixture
def cluster(calls):
    kc = make(calls=calls)
    kc.start()
    yield kc
    kc.stop()


def api_for(kc: KubeCluster, tmp_path) -> client.ApiClient:
    ca = tmp_path / f"ca-{kc.name}.pem"
    ca.write_bytes(base64.b64decode(kc.ca_certificate_b64))
    cfg = client.Configuration(
        host=f"https://{kc.endpoint}",
        ssl_ca_cert=str(ca),
        api_key={"authorization": "token"},
        api_key_prefix={"authorization": "Bearer"},
    )
    cfg.retries = 1
    return client.ApiClient(cfg)


@pytest.fixture
def api(cluster, tmp_path):
    api = api_for(cluster, tmp_path)
    yield api
    api.close()


def deployment(name: str, replicas: int, image: str = "gcr.io/google-containers/echoserver:1.4") -> dict:
    labels = {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "c", "image": image}]},
            },
        },
    }


def wait_for(predicate, timeout: float = 60.0):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return value


@pytest.mark.parametrize(
    ("image", "google"),
    [
        ("gcr.io/google-containers/echoserver:1.4", True),
        ("us.gcr.io/p/app:1", True),
        ("us-west1-docker.pkg.dev/p/repo/app:1", True),
        ("k8s.gcr.io/echoserver:1.4", True),
        ("registry.k8s.io/echoserver:1.4", False),
        ("nginx:1.27", False),
        ("docker.io/library/nginx", False),
        ("quay.io/org/app:1", False),
        ("evilgcr.io/app:1", False),
    ],
)
def test_google_registries(image, google):
    assert is_google_registry(image) is google


def test_pods_spread_round_robin_over_zones_then_nodes(api):
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", deployment("spread", 4))
    pods = core.list_namespaced_pod("default").items
    zone = {n["name"]: n["zone"] for n in NODES}
    zones = sorted(zone[p.spec.node_name] for p in pods)
    assert zones == ["us-west1-a", "us-west1-a", "us-west1-b", "us-west1-c"]
    assert len({p.spec.node_name for p in pods}) == 4
    assert len({p.status.pod_ip for p in pods}) == 4
    nodes = {n.metadata.name: n for n in core.list_node().items}
    for pod in pods:
        node = nodes[pod.spec.node_name]
        assert ipaddress.ip_address(pod.status.pod_ip) in ipaddress.ip_network(node.spec.pod_cidr)
        assert pod.status.host_ip == next(a.address for a in node.status.addresses if a.type == "InternalIP")


def test_scale_subresource_and_scaling_events(api):
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", deployment("web", 1))
    scale = apps.read_namespaced_deployment_scale("web", "default")
    assert scale.spec.replicas == 1 and scale.status.selector == "app=web"
    apps.patch_namespaced_deployment_scale("web", "default", {"spec": {"replicas": 3}})
    assert apps.read_namespaced_deployment("web", "default").spec.replicas == 3
    assert len(core.list_namespaced_pod("default", label_selector="app=web").items) == 3
    events = core.list_namespaced_event("default", field_selector="involvedObject.kind=Deployment").items
    messages = [e.message for e in events if e.reason == "ScalingReplicaSet"]
    assert any(m.endswith("from 0 to 1") for m in messages) and any(
        m.endswith("from 1 to 3") for m in messages
    )
    rs = apps.list_namespaced_replica_set("default").items
    assert len(rs) == 1 and rs[0].spec.replicas == 3 and rs[0].metadata.owner_references[0].name == "web"


def test_deleting_a_pod_of_a_deployment_gets_it_replaced(api):
    core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", deployment("web", 2))
    first = core.list_namespaced_pod("default").items
    gone = core.delete_namespaced_pod(first[0].metadata.name, "default")
    assert gone.metadata.deletion_timestamp is not None
    after = core.list_namespaced_pod("default").items
    assert len(after) == 2 and first[0].metadata.name not in {p.metadata.name for p in after}


def test_service_type_changes_follow_the_load_balancer(api, calls, cluster):
    core = client.CoreV1Api(api)
    body = {
        "metadata": {"name": "web"},
        "spec": {
            "type": "LoadBalancer",
            "selector": {"app": "web"},
            "ports": [{"port": 80, "targetPort": 8080}],
        },
    }
    created = core.create_namespaced_service("default", body)
    assert calls == [("lb", "default", "web")]
    patched = core.patch_namespaced_service("web", "default", {"spec": {"type": "ClusterIP"}})
    assert patched.spec.type == "ClusterIP" and patched.spec.cluster_ip == created.spec.cluster_ip
    assert patched.spec.ports[0].node_port is None
    assert (
        patched.spec.external_traffic_policy is None
        and patched.spec.allocate_load_balancer_node_ports is None
    )
    assert calls == [("lb", "default", "web"), ("lb-deleted", "default", "web")]
    assert cluster.load_balancer_services() == []
    with pytest.raises(ApiException) as err:
        core.patch_namespaced_service("web", "default", {"spec": {"clusterIP": "10.0.32.99"}})
    assert err.value.status == 422


def test_service_validation_and_cluster_ip_range(api):
    core = client.CoreV1Api(api)
    with pytest.raises(ApiException) as err:
        core.create_namespaced_service(
            "default", {"metadata": {"name": "noports"}, "spec": {"selector": {"a": "b"}}}
        )
    body = json.loads(err.value.body)
    assert err.value.status == 422 and body["details"]["causes"][0]["field"] == "spec.ports"
    with pytest.raises(ApiException) as err:
        core.create_namespaced_service(
            "default", {"metadata": {"name": "Bad_Name"}, "spec": {"ports": [{"port": 80}]}}
        )
    assert err.value.status == 422
    assert json.loads(err.value.body)["message"].startswith('Service "Bad_Name" is invalid: metadata.name')
    kube = core.read_namespaced_service("kubernetes", "default")
    assert kube.spec.cluster_ip == "10.0.32.1"
    assert core.read_namespaced_endpoints("kubernetes", "default").subsets[0].ports[0].port == 443


def test_a_pod_range_too_small_for_every_node_leaves_the_rest_without_pod_cidr():
    kc = make(pod_cidr="10.4.0.0/30")
    state = kc.to_state()
    assert [n["spec"].get("podCIDR") for n in state["nodes"]].count(None) == len(NODES) - 1


def test_kube_system_runs_gke_system_deployments(tmp_path):
    kc = make(name="no-nat", has_egress=lambda: False)
    kc.start()
    try:
        api = api_for(kc, tmp_path)
        core, apps = client.CoreV1Api(api), client.AppsV1Api(api)
        dns = core.read_namespaced_service("kube-dns", "kube-system")
        assert dns.spec.cluster_ip == "10.0.32.10"
        names = {d.metadata.name for d in apps.list_namespaced_deployment("kube-system").items}
        assert {"kube-dns", "konnectivity-agent"} <= names
        # System images come from Google's registries: they run on private nodes without NAT.
        wait_for(
            lambda: apps.read_namespaced_deployment("kube-dns", "kube-system").status.available_replicas == 2
        )
        assert core.list_namespaced_pod("default").items == []
    finally:
        kc.stop()


def test_stop_before_start_leaves_nothing_listening():
    kc = make()
    kc.stop()
    kc.start()
    assert kc.endpoint == ""


def test_bad_patch_and_body_shapes(api):
    apps = client.AppsV1Api(api)
    apps.create_namespaced_deployment("default", deployment("web", 1))
    with pytest.raises(ApiException) as err:
        apps.patch_namespaced_deployment(
            "web", "default", [{"op": "replace", "path": "/spec/nothing/here", "value": 1}]
        )
    assert err.value.status == 400 and json.loads(err.value.body)["reason"] == "BadRequest"
    with pytest.raises(ApiException) as err:
        apps.create_namespaced_deployment(
            "default", {**deployment("web2", 1), "metadata": {"name": "web2", "namespace": "other"}}
        )
    assert err.value.status == 400
    # The typed client refuses such a body itself: send it as raw JSON.
    params = api.param_serialize(
        method="POST",
        resource_path="/apis/apps/v1/namespaces/default/deployments",
        body={"metadata": {"name": "empty"}, "spec": {"replicas": 1}},
        auth_settings=["BearerToken"],
    )
    resp = api.call_api(*params)
    resp.read()
    body = json.loads(resp.data)
    assert resp.status == 422 and body["reason"] == "Invalid"
    assert {c["field"] for c in body["details"]["causes"]} >= {
        "spec.selector",
        "spec.template.spec.containers",
    }


def test_rolling_update_to_an_unpullable_image_keeps_the_old_pods_serving(tmp_path):
    egress = {"on": True}
    kc = make(has_egress=lambda: egress["on"], latency_scale=0.01)
    kc.start()
    try:
        apps = client.AppsV1Api(api_for(kc, tmp_path))
        core = client.CoreV1Api(apps.api_client)
        body = deployment("web", 2, image="registry.k8s.io/echoserver:1.4")
        body["spec"]["progressDeadlineSeconds"] = 30  # 0.3 s at latency scale 0.01
        apps.create_namespaced_deployment("default", body)
        wait_for(lambda: apps.read_namespaced_deployment("web", "default").status.available_replicas == 2)
        old_pods = {p.metadata.name for p in core.list_namespaced_pod("default").items}

        egress["on"] = False  # Cloud NAT removed: the new image cannot be pulled
        apps.patch_namespaced_deployment(
            "web",
            "default",
            {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:1.27"}]}}}},
        )

        def stuck():
            dep = apps.read_namespaced_deployment("web", "default")
            conds = {c.type: c for c in dep.status.conditions}
            return dep if conds["Progressing"].reason == "ProgressDeadlineExceeded" else None

        dep = wait_for(stuck)
        conds = {c.type: c for c in dep.status.conditions}
        assert conds["Progressing"].status == "False"
        assert conds["Available"].status == "True"
        assert (
            dep.status.available_replicas == 2
            and dep.status.updated_replicas == 1
            and dep.status.replicas == 3
        )
        pods = core.list_namespaced_pod("default").items
        running = {p.metadata.name for p in pods if p.status.phase == "Running"}
        assert running == old_pods
        new = [p for p in pods if p.metadata.name not in old_pods]
        assert len(new) == 1 and new[0].status.container_statuses[0].state.waiting.reason in (
            "ErrImagePull",
            "ImagePullBackOff",
        )
        assert dep.metadata.annotations["deployment.kubernetes.io/revision"] == "2"

        egress["on"] = True  # NAT is back: the rollout completes and the old pods go

        def complete():
            d = apps.read_namespaced_deployment("web", "default")
            return (
                d
                if d.status.updated_replicas == 2 == d.status.replicas == d.status.available_replicas
                else None
            )

        dep = wait_for(complete)
        assert {c.type: c.reason for c in dep.status.conditions}["Progressing"] == "NewReplicaSetAvailable"
        assert not old_pods & {p.metadata.name for p in core.list_namespaced_pod("default").items}
        old_rs = [rs for rs in apps.list_namespaced_replica_set("default").items if rs.spec.replicas == 0]
        assert len(old_rs) == 1
    finally:
        kc.stop()


def test_injected_faults_answer_like_an_overloaded_apiserver(tmp_path):
    script = [429, 503]

    def fault(method: str, path: str) -> int | None:
        if method == "POST" and path.endswith("/deployments") and script:
            return script.pop(0)
        return None

    kc = make(name="faulty", fault=fault)
    kc.start()
    try:
        apps = client.AppsV1Api(api_for(kc, tmp_path))
        with pytest.raises(ApiException) as err:
            apps.create_namespaced_deployment("default", deployment("web", 1))
        assert err.value.status == 429 and err.value.headers["Retry-After"] == "1"
        assert json.loads(err.value.body)["reason"] == "TooManyRequests"
        with pytest.raises(ApiException) as err:
            apps.create_namespaced_deployment("default", deployment("web", 1))
        assert err.value.status == 503 and json.loads(err.value.body)["reason"] == "ServiceUnavailable"
        with pytest.raises(ApiException) as err:
            apps.read_namespaced_deployment("web", "default")  # the faulted calls changed nothing
        assert err.value.status == 404
        assert apps.create_namespaced_deployment("default", deployment("web", 1)).metadata.name == "web"
    finally:
        kc.stop()
