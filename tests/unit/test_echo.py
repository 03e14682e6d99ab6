"""The echo application: manifests as in the article, and the echoserver report parser."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from kubernetes import client as k8s

from gke_lab.echo import contains, deployment_manifest, parse_echo_report, service_manifest

# The article's sample, verbatim (section 8).
ARTICLE_REPORT = """CLIENT VALUES:
client_address=10.138.0.2
command=GET
real path=/
query=nil
request_version=1.1
request_uri=http://echo-service:8080/

SERVER VALUES:
server_version=nginx: 1.10.0 - lua: 10001

HEADERS RECEIVED:
accept=*/*
host=echo-service
user-agent=curl/7.47.0
BODY:
-no body in request-"""

ECHO = SimpleNamespace(namespace="default", image="registry.k8s.io/echoserver:1.4", replicas=2)


def plain(obj):
    return k8s.ApiClient().sanitize_for_serialization(obj)


def test_parses_the_article_sample():
    report = parse_echo_report(ARTICLE_REPORT)
    assert report["client"] == {
        "client_address": "10.138.0.2",
        "command": "GET",
        "real path": "/",
        "query": "nil",
        "request_version": "1.1",
        "request_uri": "http://echo-service:8080/",
    }
    assert report["server"] == {"server_version": "nginx: 1.10.0 - lua: 10001"}
    assert report["headers"] == {"accept": "*/*", "host": "echo-service", "user-agent": "curl/7.47.0"}
    assert report["body"] == "-no body in request-"


def test_parses_crlf_and_a_multiline_body():
    text = ARTICLE_REPORT.replace("-no body in request-", "a=b\nBODY:\nline two").replace("\n", "\r\n")
    report = parse_echo_report(text)
    assert report["client"]["request_uri"] == "http://echo-service:8080/"
    assert report["body"] == "a=b\r\nBODY:\r\nline two".replace("\r", "")


@pytest.mark.parametrize(
    "text",
    ["", "<html>502 Bad Gateway</html>", "HEADERS RECEIVED:\nhost=x\n", "CLIENT VALUES:\nnot a pair\n"],
)
def test_rejects_what_is_not_a_report(text):
    with pytest.raises(ValueError, match="not an echoserver report"):
        parse_echo_report(text)


def test_deployment_matches_the_article():
    d = plain(deployment_manifest(ECHO))
    assert d["apiVersion"] == "apps/v1" and d["kind"] == "Deployment"
    assert d["metadata"]["name"] == "echo-deployment"
    assert d["metadata"]["namespace"] == "default"
    assert d["spec"]["replicas"] == 2
    assert d["spec"]["selector"] == {"matchLabels": {"app": "echo-server"}}
    assert d["spec"]["template"]["metadata"]["labels"] == {"app": "echo-server"}
    (container,) = d["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "registry.k8s.io/echoserver:1.4"
    assert container["ports"] == [{"containerPort": 8080, "name": "http-port"}]


def test_deployment_follows_the_spec():
    echo = SimpleNamespace(namespace="labs", image="us-docker.pkg.dev/p/r/echo:1", replicas=3)
    d = plain(deployment_manifest(echo))
    assert d["metadata"]["namespace"] == "labs"
    assert d["spec"]["replicas"] == 3
    assert d["spec"]["template"]["spec"]["containers"][0]["image"] == "us-docker.pkg.dev/p/r/echo:1"


def test_service_matches_the_article():
    s = plain(service_manifest(ECHO))
    assert s["kind"] == "Service" and s["metadata"]["name"] == "echo-service"
    assert s["spec"]["type"] == "ClusterIP"
    assert s["spec"]["selector"] == {"app": "echo-server"}
    assert s["spec"]["ports"] == [{"port": 80, "targetPort": 8080, "protocol": "TCP"}]


def test_contains_ignores_server_defaults_but_not_changes():
    want = plain(deployment_manifest(ECHO))["spec"]
    live = plain(deployment_manifest(ECHO))["spec"]
    live["strategy"] = {"type": "RollingUpdate"}
    live["template"]["spec"]["containers"][0]["imagePullPolicy"] = "IfNotPresent"
    live["template"]["spec"]["containers"][0]["ports"][0]["protocol"] = "TCP"
    assert contains(live, want)
    live["replicas"] = 1
    assert not contains(live, want)
    live["replicas"] = 2
    live["template"]["spec"]["containers"][0]["image"] = "other:1"
    assert not contains(live, want)


# echoserver 1.10's report (the default image: schema 2, pullable by containerd 2).
REPORT_1_10 = """

Hostname: echo-deployment-5d9c7b8b4-x2v9q

Pod Information:
\t-no pod information available-

Server values:
\tserver_version=nginx: 1.13.3 - lua: 10008

Request Information:
\tclient_address=10.4.0.1
\tmethod=GET
\treal path=/gke-lab/probe
\tquery=
\trequest_version=1.1
\trequest_scheme=http
\trequest_uri=http://10.4.1.7:8080/gke-lab/probe

Request Headers:
\taccept=*/*
\thost=10.4.1.7:8080
\tx-gke-lab-probe=abc123

Request Body:
\t-no body in request-
"""


def test_parses_the_echoserver_1_10_report():
    report = parse_echo_report(REPORT_1_10)
    assert report["hostname"] == "echo-deployment-5d9c7b8b4-x2v9q"
    assert report["client"]["real path"] == "/gke-lab/probe"
    assert report["client"]["request_uri"] == "http://10.4.1.7:8080/gke-lab/probe"
    assert report["client"]["method"] == "GET"
    assert report["server"] == {"server_version": "nginx: 1.13.3 - lua: 10008"}
    assert report["headers"] == {"accept": "*/*", "host": "10.4.1.7:8080", "x-gke-lab-probe": "abc123"}
    assert report["pod"] == "-no pod information available-"


def test_1_10_report_proves_path_host_and_probe():
    from gke_lab.verify import check_echo_report

    checks, _ = check_echo_report(REPORT_1_10, "gke-lab/probe", "abc123")
    assert {c["id"]: c["passed"] for c in checks} == {
        "service-answers": True,
        "request-uri": True,
        "header-host": True,
        "header-probe": True,
    }
    wrong_path = REPORT_1_10.replace("real path=/gke-lab/probe", "real path=/other")
    checks, _ = check_echo_report(wrong_path, "gke-lab/probe", "abc123")
    assert not {c["id"]: c["passed"] for c in checks}["request-uri"]
    checks, _ = check_echo_report(REPORT_1_10, "gke-lab/probe", "different")
    assert not {c["id"]: c["passed"] for c in checks}["header-probe"]


def test_schema_1_pull_failure_names_the_image_and_containerd_s_reason():
    from gke_lab.echo import _image_pull_error

    containerd = (
        'failed to pull and unpack image "registry.k8s.io/echoserver:1.4": Pulling Schema 1 images have '
        "been deprecated and disabled by default since containerd v2.0"
    )
    error = _image_pull_error(
        "registry.k8s.io/echoserver:1.4", "echo-1", "ErrImagePull", "Failed: Failed to pull image", containerd
    )
    message = str(error)
    assert "registry.k8s.io/echoserver:1.4" in message and "ErrImagePull" in message
    assert "Schema 1 images have been deprecated" in message
    assert "echoserver:1.10" in message and "Cloud NAT" not in message
    egress = str(_image_pull_error("docker.io/x:1", "echo-1", "ImagePullBackOff", "Failed: i/o timeout"))
    assert "Cloud NAT" in egress and "schema 1" not in egress.lower()
