"""The REST transport: one threaded HTTP server that parses requests, routes them through the gateway, and
serves the admin API."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from emulator.errors import ApiError, invalid, not_found
from emulator.gateway import Call, drop_connection
from emulator.routing import Router
from emulator.store import Project
from emulator.tokens import Caller

if TYPE_CHECKING:
    from emulator.server import Emulator

# The status `RestApp.handle` answers for a lost response dropped on the floor: no answer at all.
DROP = 0

_PROJECT_RE = re.compile(r"^/(?:compute/v1/|v1/|v1beta1/|v3/)projects/([^/:]+)")


def guess_api(path: str) -> str:
    """The API an unrouted path belongs to, so that faults and the request log still name one."""
    if path.startswith("/compute/"):
        return "compute"
    if path.startswith("/v3/"):
        return "cloudresourcemanager"
    if "/services" in path or path.startswith(("/v1/operations", "/v1beta1/")):
        return "serviceusage"
    if "/keyRings" in path:
        return "cloudkms"
    return "container"


class RestApp:
    """Parses one HTTP request: the admin API here, every API request through the gateway."""

    def __init__(self, emu: Emulator) -> None:
        self.emu = emu
        self.router = Router(
            [service.routes() for service in (emu.compute, emu.crm, emu.kms, emu.container)]
            + emu.service_usage.routes()
        )

    def handle(self, method: str, raw_path: str, raw_body: bytes, authorization: str = "") -> tuple[int, Any]:
        parts = urlsplit(raw_path)
        path = parts.path
        # a repeated parameter (Service Usage batchGet's names=...&names=...) arrives comma-joined
        query = {k: ",".join(v) for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        try:
            body = json.loads(raw_body) if raw_body.strip() else None
        except ValueError:
            body = raw_body.decode(errors="replace")
        if path.startswith("/_emulator/"):
            return self.admin(method, path[len("/_emulator/") :], query, body)
        if path == "/token":
            return self.emu.issue_token(body)
        scheme, _, token = authorization.partition(" ")
        return self.api(method, path, query, body, token.strip() if scheme.lower() == "bearer" else "")

    def api(
        self, method: str, path: str, query: dict[str, str], body: Any, token: str = ""
    ) -> tuple[int, Any]:
        match = self.router.match(method, path)
        named = _PROJECT_RE.match(path)
        call = Call(
            api=match.api if match else guess_api(path),
            method=method,
            path=path,
            project=named.group(1) if named else None,
            query=query,
            body=body,
            service=match.service if match else "",
            token=token or None,
            permission=match.permission if match else "*",
        )

        def serve(project: Project | None, caller: Caller) -> Any:
            if match is None:
                raise not_found(f"The requested URL {path} was not found on this server.")
            if isinstance(body, str):
                raise invalid("Invalid JSON payload received.")
            return match.call(project, query, body, caller)

        outcome = self.emu.gateway.call(call, serve)
        if outcome.drop:
            return DROP, None
        if outcome.error is not None:
            return outcome.status, outcome.error.to_json()
        return outcome.status, {} if outcome.result is None else outcome.result

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
            if name == "tokens":
                if method == "GET":
                    return 200, emu.tokens.describe()
                if method == "POST":
                    return 200, emu.tokens.configure(body or {})
            if method == "POST" and name == "identities/token":
                # a named user's access token, as `gcloud auth print-access-token` gives that user
                return 200, emu.tokens.issue_for(body or {})
            m = re.fullmatch(r"projects/([^/]+)/quotas", name)
            if m and method in ("GET", "POST"):
                return 200, emu.project_quotas(m.group(1), body if method == "POST" else None)
            if method == "POST" and name == "reset":
                emu.reset()
                return 200, {}
            if method == "POST" and name == "patch":
                return 200, emu.patch(body or {})
            m = re.fullmatch(r"projects/([^/]+)/settings", name)
            if m and method == "POST":
                return 200, emu.project_settings(m.group(1), body or {})
            m = re.fullmatch(r"projects/([^/]+)/zones/([^/]+)/instances", name)
            if m and method == "POST":
                return 200, emu.add_instance(m.group(1), m.group(2), body or {})
            # forwarding rules, addresses, VPN gateways/tunnels placed by tests (compute/network_users.py)
            m = re.fullmatch(r"projects/([^/]+)/(?:regions/([^/]+)|(global))/([A-Za-z]+)", name)
            if m and method == "POST":
                scope = m.group(2) or "global"
                return 200, emu.seed_network_user(m.group(1), scope, m.group(4), body or {})
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
        status, out = self.app.handle(self.command, self.path, raw, self.headers.get("Authorization") or "")
        if status == DROP:
            drop_connection(self)
            return
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
