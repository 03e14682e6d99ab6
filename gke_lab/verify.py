"""Verify the echo service and the nodes behind it, through the Kubernetes API only.

The Service is reached through the API server's service proxy (no exec, no port-forward, no public IP):
`GET /api/v1/namespaces/<ns>/services/echo-service:80/proxy/<path>`. The echoserver report it returns says
which path and headers reached the pod. Nodes must be Ready in every node location and the replicas spread
over more than one node (and zone) so that one zone failing keeps the service up.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from typing import Any, cast

from kubernetes import client as k8s

from gke_lab import kube
from gke_lab.echo import APP_LABEL, DEPLOYMENT, SERVICE, SERVICE_PORT, EchoLike, parse_echo_report
from gke_lab.errors import ApiError

ZONE_LABELS = ("topology.kubernetes.io/zone", "failure-domain.beta.kubernetes.io/zone")
PROBE_HEADER = "x-gke-lab-probe"
PROBE_PATH = "gke-lab/probe"


def _check(check_id: str, title: str, passed: bool, detail: Any) -> dict[str, Any]:
    return {"id": check_id, "title": title, "passed": bool(passed), "detail": detail}


def probe_service(api: k8s.ApiClient, namespace: str, path: str = PROBE_PATH) -> tuple[str, str]:
    """GET the service through the API server proxy with a probe header; returns (probe value, body)."""
    core = k8s.CoreV1Api(api)
    probe = uuid.uuid4().hex
    name = f"{SERVICE}:{SERVICE_PORT}"

    def get() -> str:
        # With _preload_content=False the client returns the raw urllib3 response, not the typed str.
        response: Any = core.connect_get_namespaced_service_proxy_with_path(
            name,
            namespace,
            path,
            _preload_content=False,
            _headers={PROBE_HEADER: probe, "Accept": "*/*"},
        )
        try:
            return cast(str, response.data.decode("utf-8", errors="replace"))
        finally:
            response.release_conn()

    body = kube.call(get, resource=f"Service {namespace}/{name} (proxy)", action="GET")
    return probe, body


def _zone(node: k8s.V1Node) -> str:
    labels = cast("k8s.V1ObjectMeta", node.metadata).labels or {}
    return next((labels[x] for x in ZONE_LABELS if labels.get(x)), "")


def _ready(conditions: Iterable[Any] | None) -> bool:
    return any(c.type == "Ready" and c.status == "True" for c in conditions or [])


def check_echo_report(body: str, path: str, probe: str) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    try:
        report = parse_echo_report(body)
    except ValueError as exc:
        snippet = " ".join(body.split())[:200]
        return [
            _check(
                "service-answers",
                "echo-service answers with the echoserver report",
                False,
                f"{exc}; got: {snippet!r}",
            )
        ], None
    uri = report["client"].get("request_uri", "")
    headers = report["headers"]
    wanted = "/" + path.lstrip("/")
    # echoserver 1.10 also reports the path nginx served ("real path") and the pod that answered.
    real_path = report["client"].get("real path")
    path_seen = uri.endswith(wanted) and (real_path is None or real_path == wanted)
    checks = [
        _check(
            "service-answers",
            "echo-service answers with the echoserver report",
            True,
            report["server"].get("server_version", "")
            + (f" (pod {report['hostname']})" if report["hostname"] else ""),
        ),
        _check(
            "request-uri",
            f"request_uri ends with the requested path {wanted}",
            path_seen,
            {"request_uri": uri, "real_path": real_path} if real_path is not None else uri,
        ),
        _check(
            "header-host", "the Host header reached the pod", bool(headers.get("host")), headers.get("host")
        ),
        _check(
            "header-probe",
            f"the {PROBE_HEADER} header reached the pod unchanged",
            headers.get(PROBE_HEADER) == probe,
            headers.get(PROBE_HEADER),
        ),
    ]
    return checks, report


def check_nodes(nodes: list[k8s.V1Node], zones: Iterable[str]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    rows = [
        {
            "name": cast("k8s.V1ObjectMeta", n.metadata).name,
            "zone": _zone(n),
            "ready": _ready(n.status and n.status.conditions),
        }
        for n in nodes
    ]
    missing = [z for z in zones if not any(r["zone"] == z and r["ready"] for r in rows)]
    detail = {"expected_zones": list(zones), "zones_without_ready_node": missing}
    return _check(
        "nodes-ready", "a Ready node in every node location", not missing and bool(rows), detail
    ), rows


def check_pods(
    pods: list[k8s.V1Pod], node_zone: dict[str, str], replicas: int, zones: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    for p in pods:
        if cast("k8s.V1ObjectMeta", p.metadata).deletion_timestamp:
            continue
        rows.append(
            {
                "name": cast("k8s.V1ObjectMeta", p.metadata).name,
                "node": cast("k8s.V1PodSpec", p.spec).node_name or "",
                "zone": node_zone.get(cast("k8s.V1PodSpec", p.spec).node_name or "", ""),
                "phase": p.status.phase if p.status else "",
                "ready": _ready(p.status and p.status.conditions),
            }
        )
    running = [r for r in rows if r["phase"] == "Running" and r["ready"]]
    used_nodes = {r["node"] for r in running}
    used_zones = {r["zone"] for r in running if r["zone"]}
    if replicas >= 2:
        spread = len(used_nodes) > 1 and (len(used_zones) > 1 or zones < 2)
        title = "echo pods are spread over more than one node and zone"
    else:
        spread = len(running) >= 1
        title = "the echo pod runs (one replica: no spread expected)"
    detail = {
        "running": len(running),
        "replicas": replicas,
        "nodes": sorted(used_nodes),
        "zones": sorted(used_zones),
    }
    checks = [
        _check(
            "pods-running",
            f"{replicas} echo pods Running and Ready",
            len(running) >= replicas,
            f"{len(running)}/{replicas}",
        ),
        _check("pods-spread", title, spread, detail),
    ]
    return checks, rows


def verify_echo(
    api: k8s.ApiClient, echo: EchoLike, node_locations: Iterable[str], path: str = PROBE_PATH
) -> dict[str, Any]:
    """Run every check; a JSON-able report with pass/fail per check (a failed check does not raise)."""
    core, apps = k8s.CoreV1Api(api), k8s.AppsV1Api(api)
    zones = list(node_locations)
    checks: list[dict[str, Any]] = []

    title = f"{DEPLOYMENT} has {echo.replicas} available replicas"
    try:
        dep = kube.call(
            lambda: apps.read_namespaced_deployment(DEPLOYMENT, echo.namespace),
            resource=f"Deployment {echo.namespace}/{DEPLOYMENT}",
            action="read",
        )
        available = (dep.status and dep.status.available_replicas) or 0
        checks.append(
            _check("deployment-available", title, available >= echo.replicas, f"{available}/{echo.replicas}")
        )
    except ApiError as exc:  # e.g. deleted out of band: a failed check, not a crash
        checks.append(_check("deployment-available", title, False, str(exc)))

    report = None
    try:
        probe, body = probe_service(api, echo.namespace, path)
    except ApiError as exc:
        checks.append(
            _check("service-answers", "echo-service answers with the echoserver report", False, str(exc))
        )
    else:
        report_checks, report = check_echo_report(body, path, probe)
        checks.extend(report_checks)

    nodes = kube.call(lambda: core.list_node().items, resource="nodes", action="list")
    node_check, node_rows = check_nodes(nodes, zones)
    checks.append(node_check)

    selector = ",".join(f"{k}={v}" for k, v in APP_LABEL.items())
    pods = kube.call(
        lambda: core.list_namespaced_pod(echo.namespace, label_selector=selector).items,
        resource=f"pods {echo.namespace}/{selector}",
        action="list",
    )
    pod_checks, pod_rows = check_pods(
        pods, {r["name"]: r["zone"] for r in node_rows}, echo.replicas, len(zones)
    )
    checks.extend(pod_checks)

    return {
        "passed": all(c["passed"] for c in checks),
        "checks": checks,
        "echo_report": report,
        "path": "/" + path.lstrip("/"),
        "nodes": node_rows,
        "pods": pod_rows,
    }
