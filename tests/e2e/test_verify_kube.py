"""Deploy, roll out and verify the echo app against a standalone emulated cluster API (TLS, bearer token).

Also the two diagnostics a user must be able to act on: an authorized-network list that excludes the
runner names master authorized networks; private nodes without Cloud NAT name Cloud NAT.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from kubernetes import client as k8s

from emulator.kubernetes import KubeCluster
from gke_lab import echo, kube, reports, verify
from gke_lab.echo import ImagePullError
from gke_lab.kube import ControlPlaneUnreachable

ZONES = ["us-west1-a", "us-west1-b"]
ARTICLE_IMAGE = "registry.k8s.io/echoserver:1.4"
TOKEN = "test-bearer-token-0123456789"

pytestmark = pytest.mark.e2e


def start_cluster(*, authorized=None, egress=True, nodes_per_zone=1, log=None, zones=ZONES):
    nodes = [
        {
            "name": f"gke-cluster-default-pool-{z[-1]}{i}",
            "zone": z,
            "internal_ip": f"10.128.0.{10 * n + i + 2}",
        }
        for n, z in enumerate(zones)
        for i in range(nodes_per_zone)
    ]
    cluster = KubeCluster(
        project="gke-detail",
        location="us-west1",
        name="cluster",
        nodes=nodes,
        pod_cidr="100.64.0.0/14",
        service_cidr="100.68.0.0/20",
        authorized_cidrs=authorized,
        private_nodes=True,
        has_egress=lambda: egress,
        delay=lambda what: 0.02,
        log=log if log is not None else (lambda entry: None),
        on_load_balancer=lambda ns, svc, ports: None,
        on_load_balancer_deleted=lambda ns, svc: None,
        master_ipv4_cidr="172.16.0.0/28",
    )
    cluster.start()
    return cluster


@pytest.fixture
def cluster():
    c = start_cluster(authorized=["127.0.0.1/32"])
    yield c
    c.stop()


def client_for(cluster, token=TOKEN, authorized=None):
    return kube.api_client(
        cluster.endpoint, cluster.ca_certificate_b64, token, authorized_networks=authorized
    )


def test_deploy_rollout_and_verify(cluster):
    spec = SimpleNamespace(namespace="default", image=ARTICLE_IMAGE, replicas=2)
    api = client_for(cluster)
    assert echo.apply_echo(api, spec) == {
        "namespace": "default",
        "deployment": "created",
        "service": "created",
    }
    state = echo.wait_rollout(api, spec)
    assert state["available"] == 2 and state["updated"] == 2

    report = verify.verify_echo(api, spec, ZONES)
    failed = [c for c in report["checks"] if not c["passed"]]
    assert failed == [] and report["passed"] is True
    assert report["echo_report"]["client"]["request_uri"].endswith("/gke-lab/probe")
    assert report["echo_report"]["headers"]["host"]
    assert {n["zone"] for n in report["nodes"]} == set(ZONES)
    assert len({p["node"] for p in report["pods"]}) == 2
    text = json.dumps(report) + reports.verification_markdown(report)
    assert TOKEN not in text and not reports.contains_secret(text)

    # A second apply changes nothing; a spec change is patched in place.
    assert echo.apply_echo(api, spec)["deployment"] == "unchanged"
    assert echo.apply_echo(api, spec)["service"] == "unchanged"
    bigger = SimpleNamespace(namespace="default", image=ARTICLE_IMAGE, replicas=3)
    assert echo.apply_echo(api, bigger)["deployment"] == "updated"
    echo.wait_rollout(api, bigger)
    live = k8s.AppsV1Api(api).read_namespaced_deployment(echo.DEPLOYMENT, "default")
    assert live.spec.replicas == 3


def test_second_apply_makes_no_write(cluster):
    entries = []
    c = start_cluster(authorized=None, log=entries.append)
    try:
        spec = SimpleNamespace(namespace="labs", image=ARTICLE_IMAGE, replicas=2)
        api = client_for(c)
        echo.apply_echo(api, spec)
        echo.wait_rollout(api, spec)
        before = len(entries)
        assert echo.apply_echo(api, spec) == {
            "namespace": "labs",
            "deployment": "unchanged",
            "service": "unchanged",
        }
        writes = [e for e in entries[before:] if e.get("method") in ("POST", "PUT", "PATCH", "DELETE")]
        assert writes == []
        assert len(entries) > before  # the reads were logged, so the filter above saw real traffic
    finally:
        c.stop()


def test_service_proxy_path_is_not_percent_encoded(cluster):
    spec = SimpleNamespace(namespace="default", image=ARTICLE_IMAGE, replicas=1)
    api = client_for(cluster)
    echo.apply_echo(api, spec)
    echo.wait_rollout(api, spec)
    probe, body = verify.probe_service(api, "default", "a/b:c")
    parsed = echo.parse_echo_report(body)
    assert parsed["client"]["request_uri"].endswith("/a/b:c")
    assert parsed["headers"][verify.PROBE_HEADER] == probe
    # One replica: no spread is expected, the rest must pass.
    assert verify.verify_echo(api, spec, ZONES)["passed"]


def test_spread_fails_when_all_pods_share_one_zone():
    c = start_cluster(authorized=None)
    try:
        spec = SimpleNamespace(namespace="default", image=ARTICLE_IMAGE, replicas=2)
        api = client_for(c)
        echo.apply_echo(api, spec)
        echo.wait_rollout(api, spec)
        # Ask for a zone the cluster has no node in: the node check must fail and say which zone.
        report = verify.verify_echo(api, spec, [*ZONES, "us-west1-c"])
        nodes = next(x for x in report["checks"] if x["id"] == "nodes-ready")
        assert not nodes["passed"] and nodes["detail"]["zones_without_ready_node"] == ["us-west1-c"]
        assert report["passed"] is False
    finally:
        c.stop()


def test_spread_fails_when_both_replicas_run_on_the_only_node():
    """One node in one zone, two replicas: both pods run and are Ready on that node, so every other
    check passes and the spread check alone fails, naming the one node the pods share."""
    c = start_cluster(authorized=None, zones=ZONES[:1])
    try:
        spec = SimpleNamespace(namespace="default", image=ARTICLE_IMAGE, replicas=2)
        api = client_for(c)
        echo.apply_echo(api, spec)
        echo.wait_rollout(api, spec)
        report = verify.verify_echo(api, spec, ZONES[:1])
        checks = {x["id"]: x for x in report["checks"]}
        assert checks["pods-running"]["passed"], checks["pods-running"]
        spread = checks["pods-spread"]
        assert not spread["passed"], spread
        assert spread["detail"]["running"] == 2
        assert spread["detail"]["nodes"] == ["gke-cluster-default-pool-a0"]
        assert spread["detail"]["zones"] == [ZONES[0]]
        assert [x["id"] for x in report["checks"] if not x["passed"]] == ["pods-spread"]
        assert report["passed"] is False
    finally:
        c.stop()


def test_unauthorized_runner_gets_master_authorized_networks_error():
    c = start_cluster(authorized=["203.0.113.7/32"])
    try:
        api = client_for(c, authorized=["203.0.113.7/32"])
        spec = SimpleNamespace(namespace="default", image=ARTICLE_IMAGE, replicas=2)
        with pytest.raises(ControlPlaneUnreachable) as err:
            echo.apply_echo(api, spec)
        message = str(err.value)
        assert "master authorized networks" in message
        assert f"https://{c.endpoint}" in message
        assert "203.0.113.7/32" in message
        assert "cluster.master_authorized_networks" in message
    finally:
        c.stop()


def test_private_nodes_without_cloud_nat_name_cloud_nat():
    c = start_cluster(authorized=None, egress=False)
    try:
        api = client_for(c)
        spec = SimpleNamespace(namespace="default", image=ARTICLE_IMAGE, replicas=2)
        echo.apply_echo(api, spec)
        with pytest.raises(ImagePullError) as err:
            echo.wait_rollout(api, spec, timeout=300)
        message = str(err.value)
        assert "Cloud NAT" in message and "network.cloud_nat" in message
        assert ARTICLE_IMAGE in message
        assert 'Event: "Failed: Failed to pull image' in message
    finally:
        c.stop()


def test_google_registry_image_pulls_without_cloud_nat():
    c = start_cluster(authorized=None, egress=False)
    try:
        api = client_for(c)
        spec = SimpleNamespace(
            namespace="default", image="gcr.io/google-containers/echoserver:1.4", replicas=2
        )
        echo.apply_echo(api, spec)
        assert echo.wait_rollout(api, spec)["available"] == 2
    finally:
        c.stop()


def test_missing_token_is_refused(cluster):
    with pytest.raises(Exception, match="no access token"):
        kube.api_client(cluster.endpoint, cluster.ca_certificate_b64, "")


def test_verification_reports_a_missing_app_as_failed_checks(cluster):
    spec = SimpleNamespace(namespace="default", image=ARTICLE_IMAGE, replicas=2)
    api = client_for(cluster)
    echo.apply_echo(api, spec)
    echo.wait_rollout(api, spec)
    k8s.CoreV1Api(api).delete_namespaced_service(echo.SERVICE, "default")
    k8s.AppsV1Api(api).delete_namespaced_deployment(echo.DEPLOYMENT, "default")
    report = verify.verify_echo(api, spec, ZONES)
    checks = {c["id"]: c for c in report["checks"]}
    assert report["passed"] is False
    assert not checks["deployment-available"]["passed"] and "404" in checks["deployment-available"]["detail"]
    assert not checks["service-answers"]["passed"] and "404" in checks["service-answers"]["detail"]
    assert checks["nodes-ready"]["passed"]
