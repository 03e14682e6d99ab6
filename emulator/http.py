"""REST plumbing: one threaded HTTP server, the route table, faults, the request log and the admin API."""

from __future__ import annotations

import json
import re
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from emulator.errors import ApiError, invalid, not_found

if TYPE_CHECKING:
    from emulator.server import Emulator

_PROJECT_RE = re.compile(r"^/(?:compute/v1/|v1/|v3/)projects/([^/:]+)")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    params: dict[str, str] = field(default_factory=dict)
    project: Any = None


Handler = Callable[[Request], Any]


class Router:
    def __init__(self) -> None:
        self.routes: list[tuple[str, re.Pattern[str], str, Handler]] = []

    def add(self, method: str, pattern: str, api: str, fn: Handler) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/:]+)", pattern)
        self.routes.append((method, re.compile("^" + regex + "$"), api, fn))

    def match(self, method: str, path: str) -> tuple[str, Handler, dict[str, str]] | None:
        for m, regex, api, fn in self.routes:
            if m != method:
                continue
            hit = regex.match(path)
            if hit:
                return api, fn, hit.groupdict()
        return None


def guess_api(path: str) -> str:
    if path.startswith("/compute/"):
        return "compute"
    if path.startswith("/v3/"):
        return "cloudresourcemanager"
    if "/keyRings" in path:
        return "cloudkms"
    return "container"


def build_router(emu: Emulator) -> Router:
    r = Router()
    c, k, g, crm = emu.compute, emu.kms, emu.container, emu.crm
    cp = "/compute/v1/projects/{project}"

    def add(method: str, pattern: str, api: str, fn: Handler) -> None:
        r.add(method, pattern, api, fn)

    # ---- compute ----
    add("GET", cp + "/global/networks", "compute", lambda q: c.list_networks(q.project, q.query))
    add("POST", cp + "/global/networks", "compute", lambda q: c.insert_network(q.project, q.body))
    add(
        "GET", cp + "/global/networks/{name}", "compute", lambda q: c.get_network(q.project, q.params["name"])
    )
    add(
        "DELETE",
        cp + "/global/networks/{name}",
        "compute",
        lambda q: c.delete_network(q.project, q.params["name"]),
    )
    add(
        "GET",
        cp + "/regions/{region}/subnetworks",
        "compute",
        lambda q: c.list_subnets(q.project, q.params["region"], q.query),
    )
    add(
        "POST",
        cp + "/regions/{region}/subnetworks",
        "compute",
        lambda q: c.insert_subnet(q.project, q.params["region"], q.body),
    )
    add(
        "GET",
        cp + "/regions/{region}/subnetworks/{name}",
        "compute",
        lambda q: c.get_subnet(q.project, q.params["region"], q.params["name"]),
    )
    add(
        "DELETE",
        cp + "/regions/{region}/subnetworks/{name}",
        "compute",
        lambda q: c.delete_subnet(q.project, q.params["region"], q.params["name"]),
    )
    add("GET", cp + "/global/firewalls", "compute", lambda q: c.list_firewalls(q.project, q.query))
    add("POST", cp + "/global/firewalls", "compute", lambda q: c.insert_firewall(q.project, q.body))
    add(
        "GET",
        cp + "/global/firewalls/{name}",
        "compute",
        lambda q: c.get_firewall(q.project, q.params["name"]),
    )
    add(
        "PATCH",
        cp + "/global/firewalls/{name}",
        "compute",
        lambda q: c.patch_firewall(q.project, q.params["name"], q.body),
    )
    add(
        "DELETE",
        cp + "/global/firewalls/{name}",
        "compute",
        lambda q: c.delete_firewall(q.project, q.params["name"]),
    )
    add("GET", cp + "/global/routes", "compute", lambda q: c.list_routes(q.project, q.query))
    add("POST", cp + "/global/routes", "compute", lambda q: c.insert_route(q.project, q.body))
    add("GET", cp + "/global/routes/{name}", "compute", lambda q: c.get_route(q.project, q.params["name"]))
    add(
        "DELETE",
        cp + "/global/routes/{name}",
        "compute",
        lambda q: c.delete_route(q.project, q.params["name"]),
    )
    add(
        "GET",
        cp + "/regions/{region}/routers",
        "compute",
        lambda q: c.list_routers(q.project, q.params["region"], q.query),
    )
    add(
        "POST",
        cp + "/regions/{region}/routers",
        "compute",
        lambda q: c.insert_router(q.project, q.params["region"], q.body),
    )
    add(
        "GET",
        cp + "/regions/{region}/routers/{name}",
        "compute",
        lambda q: c.get_router(q.project, q.params["region"], q.params["name"]),
    )
    add(
        "PATCH",
        cp + "/regions/{region}/routers/{name}",
        "compute",
        lambda q: c.patch_router(q.project, q.params["region"], q.params["name"], q.body),
    )
    add(
        "DELETE",
        cp + "/regions/{region}/routers/{name}",
        "compute",
        lambda q: c.delete_router(q.project, q.params["region"], q.params["name"]),
    )
    add(
        "GET",
        cp + "/zones/{zone}/instances",
        "compute",
        lambda q: c.list_instances(q.project, q.params["zone"], q.query),
    )
    add(
        "GET",
        cp + "/zones/{zone}/instances/{name}",
        "compute",
        lambda q: c.get_instance(q.project, q.params["zone"], q.params["name"]),
    )
    add(
        "GET",
        cp + "/aggregated/{kind}",
        "compute",
        lambda q: c.aggregated(q.project, q.params["kind"], q.query),
    )
    for scope, pattern in (
        ("global", "/global"),
        ("regions", "/regions/{scope}"),
        ("zones", "/zones/{scope}"),
    ):

        def sc(q: Request, scope: str = scope) -> tuple[str, ...]:
            return (scope, q.params["scope"]) if scope != "global" else ("global",)

        add(
            "GET",
            cp + pattern + "/operations",
            "compute",
            lambda q, sc=sc: c.list_operations(q.project, sc(q), q.query),
        )
        add(
            "GET",
            cp + pattern + "/operations/{op}",
            "compute",
            lambda q, sc=sc: c.get_operation(q.project, sc(q), q.params["op"]),
        )
        add(
            "POST",
            cp + pattern + "/operations/{op}/wait",
            "compute",
            lambda q, sc=sc: c.wait_operation(q.project, sc(q), q.params["op"]),
        )

    # ---- resource manager v3 ----
    add("GET", "/v3/projects/{project}", "cloudresourcemanager", lambda q: crm.get_project(q.project))
    add(
        "POST",
        "/v3/projects/{project}:getIamPolicy",
        "cloudresourcemanager",
        lambda q: crm.get_iam_policy(q.project),
    )
    add(
        "POST",
        "/v3/projects/{project}:setIamPolicy",
        "cloudresourcemanager",
        lambda q: crm.set_iam_policy(q.project, (q.body or {}).get("policy") or {}),
    )

    # ---- KMS ----
    loc = "/v1/projects/{project}/locations/{location}"
    ring = loc + "/keyRings/{ring}"
    key = ring + "/cryptoKeys/{key}"
    ver = key + "/cryptoKeyVersions/{version}"
    add(
        "POST",
        loc + "/keyRings",
        "cloudkms",
        lambda q: k.create_key_ring(q.project, q.params, q.query, q.body),
    )
    add("GET", loc + "/keyRings", "cloudkms", lambda q: k.list_key_rings(q.project, q.params, q.query))
    add("GET", ring, "cloudkms", lambda q: k.get_key_ring(q.project, q.params))
    add(
        "POST", ring + "/cryptoKeys", "cloudkms", lambda q: k.create_key(q.project, q.params, q.query, q.body)
    )
    add("GET", ring + "/cryptoKeys", "cloudkms", lambda q: k.list_keys(q.project, q.params, q.query))
    add("GET", key, "cloudkms", lambda q: k.get_key(q.project, q.params))
    add("PATCH", key, "cloudkms", lambda q: k.update_key(q.project, q.params, q.query, q.body))
    add("GET", key + ":getIamPolicy", "cloudkms", lambda q: k.get_iam_policy(q.project, q.params))
    add("POST", key + ":getIamPolicy", "cloudkms", lambda q: k.get_iam_policy(q.project, q.params))
    add(
        "POST",
        key + ":setIamPolicy",
        "cloudkms",
        lambda q: k.set_iam_policy(q.project, q.params, (q.body or {}).get("policy") or {}),
    )
    add(
        "GET", key + "/cryptoKeyVersions", "cloudkms", lambda q: k.list_versions(q.project, q.params, q.query)
    )
    add("GET", ver, "cloudkms", lambda q: k.get_version(q.project, q.params))
    add("POST", ver + ":destroy", "cloudkms", lambda q: k.destroy_version(q.project, q.params))
    add("POST", ver + ":restore", "cloudkms", lambda q: k.restore_version(q.project, q.params))

    # ---- GKE ----
    add("GET", loc + "/serverConfig", "container", lambda q: g.server_config(q.project, q.params["location"]))
    add(
        "POST",
        loc + "/clusters",
        "container",
        lambda q: g.create_cluster(q.project, q.params["location"], (q.body or {}).get("cluster") or {}),
    )
    add("GET", loc + "/clusters", "container", lambda q: g.list_clusters(q.project, q.params["location"]))
    add(
        "GET",
        loc + "/clusters/{cluster}",
        "container",
        lambda q: g.get_cluster(q.project, q.params["location"], q.params["cluster"]),
    )
    add(
        "DELETE",
        loc + "/clusters/{cluster}",
        "container",
        lambda q: g.delete_cluster(q.project, q.params["location"], q.params["cluster"]),
    )
    add(
        "POST",
        loc + "/clusters/{cluster}:setResourceLabels",
        "container",
        lambda q: g.set_resource_labels(q.project, q.params["location"], q.params["cluster"], q.body or {}),
    )
    add("GET", loc + "/operations", "container", lambda q: g.list_operations(q.project, q.params["location"]))
    add(
        "GET",
        loc + "/operations/{op}",
        "container",
        lambda q: g.get_operation(q.project, q.params["location"], q.params["op"]),
    )
    return r


class RestApp:
    """Dispatches one request: admin API, or fault check -> service -> request log."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.router = build_router(emu)

    def handle(self, method: str, raw_path: str, raw_body: bytes) -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            body = json.loads(raw_body) if raw_body.strip() else None
        except ValueError:
            body = raw_body.decode(errors="replace")
        if path.startswith("/_emulator/"):
            return self.admin(method, path[len("/_emulator/") :], query, body)
        if path == "/token":
            return 200, self.emu.issue_token(body)
        return self.api(method, path, query, body)

    def api(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        start = time.time()
        hit = self.router.match(method, path)
        api = hit[0] if hit else guess_api(path)
        pm = _PROJECT_RE.match(path)
        project_id = pm.group(1) if pm else None
        status, out = 200, None
        try:
            project = self.emu.backend.project(project_id) if project_id else None
            if project is not None:
                project_id = project.id
            fault = self.emu.faults.check(api, method, path, project_id)
            if fault:
                raise fault
            if hit is None:
                raise not_found(f"The requested URL {path} was not found on this server.")
            if isinstance(body, str):
                raise invalid("Invalid JSON payload received.")
            out = hit[1](Request(method, path, query, body, hit[2], project))
            if out is None:
                out = {}
        except ApiError as exc:
            status, out = exc.code, exc.to_json()
        except Exception as exc:  # a bug here must look like a 500, not a hang
            traceback.print_exc()
            err = ApiError(500, f"Internal error: {exc}", status="INTERNAL", reason="backendError")
            status, out = 500, err.to_json()
        self.emu.log.append(
            {
                "api": api,
                "method": method,
                "path": path,
                "query": query,
                "body": body,
                "status": status,
                "start": start,
                "end": time.time(),
                "project": project_id,
            }
        )
        return status, out

    def admin(self, method: str, name: str, query: dict[str, str], body: Any) -> tuple[int, Any]:
        emu = self.emu
        try:
            if method == "GET" and name == "info":
                return 200, emu.info()
            if method == "GET" and name == "state":
                return 200, emu.state()
            if method == "GET" and name == "requests":
                return 200, emu.log.since(int(query.get("since") or 0))
            if name == "faults":
                if method == "GET":
                    return 200, emu.faults.describe()
                if method == "POST":
                    emu.faults.configure(body or {})
                    return 200, emu.faults.describe()
                if method == "DELETE":
                    emu.faults.clear()
                    return 200, emu.faults.describe()
            if method == "POST" and name == "reset":
                emu.reset()
                return 200, {}
            if method == "POST" and name == "patch":
                return 200, emu.patch(body or {})
            m = re.match(r"^projects/([^/]+)/zones/([^/]+)/instances$", name)
            if m and method == "POST":
                return 200, emu.add_instance(m.group(1), m.group(2), body or {})
        except ApiError as exc:
            return exc.code, exc.to_json()
        except (ValueError, KeyError, TypeError) as exc:
            return 400, invalid(f"Bad admin request: {exc}").to_json()
        return 404, not_found(f"Unknown admin endpoint {method} /_emulator/{name}").to_json()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    app: RestApp

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        status, out = self.app.handle(self.command, self.path, raw)
        data = json.dumps(out).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def log_message(self, format: str, *args: Any) -> None:  # the request log replaces stderr noise
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


def serve(app: RestApp, host: str, port: int) -> tuple[ThreadingHTTPServer, threading.Thread]:
    handler = type("Handler", (_Handler,), {"app": app})
    server = _Server((host, port), handler)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True, name="emulator-rest"
    )
    thread.start()
    return server, thread
