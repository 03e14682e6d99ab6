"""HTTP/1.1-over-TLS plumbing for one emulated Kubernetes API server.

The server knows nothing about Kubernetes objects: it enforces the network edge (master authorized
networks), TLS, bearer-token authentication and the request log, and hands every authenticated request
to an application callable that returns a ``Response``.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

from emulator.gateway import drop_connection

# Paths the system:public-info-viewer role exposes without credentials.
PUBLIC_PATHS = frozenset({"/version", "/healthz", "/livez", "/readyz"})
MUTATING_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Requests through the service proxy reach a pod; they change nothing in the cluster.
_PROXY_PATH = re.compile(r"^/api/v1/namespaces/[^/]+/services/[^/]+/proxy(/|$)")


@dataclass
class Request:
    method: str
    path: str  # raw path as received (may be percent-encoded)
    query: str
    headers: dict[str, str]  # lower-case names
    raw_headers: list[tuple[str, str]]  # as received, in order
    body: bytes
    client_ip: str


@dataclass
class Response:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    stream: Iterator[bytes] | None = None  # a chunked body (watch); ``body`` is ignored when set
    drop: bool = False  # a lost response: close the connection without answering
    served: int | None = None  # a lost response: the status the request was served with


def is_mutating(method: str, path: str) -> bool:
    """Whether a request can change the cluster (the service proxy reaches a pod and changes nothing)."""
    return method in MUTATING_METHODS and not _PROXY_PATH.match(path)


def json_response(status: int, obj: object) -> Response:
    return Response(status, json.dumps(obj, separators=(",", ":")).encode())


def status_error(code: int, reason: str, message: str, details: dict | None = None) -> Response:
    """A Kubernetes ``Status`` failure, the shape every apiserver error has."""
    body: dict = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return json_response(code, body)


def _json_or_none(body: bytes) -> object:
    if not body:
        return None
    try:
        return json.loads(body)
    except (UnicodeDecodeError, ValueError):
        return None


class _TLSServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 64

    def __init__(
        self,
        address,
        handler,
        ctx: ssl.SSLContext,
        allow_ip: Callable[[str], bool],
        app,
        log,
        authenticate: Callable[[str], bool] | None = None,
    ):
        self.ctx = ctx
        self.authenticate = authenticate
        self.allow_ip = allow_ip
        self.app = app
        self.log_entry = log
        self.stopping = threading.Event()
        self._conns: set[ssl.SSLSocket] = set()
        self._conns_lock = threading.Lock()
        super().__init__(address, handler)

    def drop_connections(self) -> None:
        """A deleted cluster's endpoint goes away: cut kept-alive connections too."""
        with self._conns_lock:
            conns = list(self._conns)
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def verify_request(self, request, client_address) -> bool:
        # A firewalled endpoint: drop the connection before any TLS byte is exchanged.
        try:
            return bool(self.allow_ip(client_address[0]))
        except Exception:
            return False

    def finish_request(self, request, client_address) -> None:
        request.settimeout(60)
        try:
            tls_sock = self.ctx.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            return  # e.g. the client does not trust our CA and aborts the handshake
        with self._conns_lock:
            self._conns.add(tls_sock)
        try:
            self.RequestHandlerClass(tls_sock, client_address, self)
        except (ssl.SSLError, OSError, ConnectionError):
            pass
        finally:
            with self._conns_lock:
                self._conns.discard(tls_sock)
            try:
                tls_sock.close()
            except OSError:
                pass

    def handle_error(self, request, client_address) -> None:  # keep test output clean
        pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args) -> None:  # noqa: A002 - stdlib signature
        pass

    def send_response(self, code, message=None) -> None:
        # No stdlib "Server" header: the apiserver sends none, proxied backends send their own.
        self.send_response_only(code, message)
        self.send_header("Date", self.date_time_string())

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _handle(self) -> None:
        server: _TLSServer = self.server  # type: ignore[assignment]
        start = time.time()
        parts = urlsplit(self.path)
        body = self._read_body()
        raw_headers = list(self.headers.items())
        req = Request(
            method=self.command,
            path=parts.path,
            query=parts.query,
            headers={k.lower(): v for k, v in raw_headers},
            raw_headers=raw_headers,
            body=body,
            client_ip=self.client_address[0],
        )
        # No credentials: anonymous, allowed the public paths only. Credentials that fail: 401 everywhere.
        # https://kubernetes.io/docs/reference/access-authn-authz/authentication/#anonymous-requests
        anonymous = "authorization" not in req.headers
        if not (anonymous and parts.path.rstrip("/") in PUBLIC_PATHS) and not self._authenticated(
            server, req
        ):
            resp = status_error(401, "Unauthorized", "Unauthorized")
        else:
            try:
                resp = server.app(req)
            except Exception as exc:  # an emulator bug must still look like an apiserver error
                resp = status_error(500, "InternalError", f"Internal error occurred: {exc!r}")
        # Logged before the answer goes out, so a client that got its answer finds the entry.
        is_proxy = bool(_PROXY_PATH.match(parts.path))
        entry = {
            "api": "kubernetes",
            "method": self.command,
            "path": parts.path,
            "query": {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()},
            "body": None if is_proxy else _json_or_none(body),
            "status": 0 if resp.drop else resp.status,
            "start": start,
            "end": time.time(),
            "mutating": is_mutating(self.command, parts.path),
        }
        if resp.served is not None:
            entry["served"] = resp.served
            entry["lost_response"] = "dropped" if resp.drop else resp.status
        try:
            server.log_entry(entry)
        except Exception:
            pass
        self._send(resp)

    @staticmethod
    def _authenticated(server: _TLSServer, req: Request) -> bool:
        """A bearer token, and (when the server checks tokens) one Google issued and not expired."""
        scheme, _, token = req.headers.get("authorization", "").partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            return False
        if server.authenticate is None:
            return True
        try:
            return bool(server.authenticate(token))
        except Exception:  # a broken check refuses, never lets a request through
            return False

    def _send(self, resp: Response) -> None:
        if resp.drop:
            drop_connection(self)
            return
        self.send_response(resp.status)
        self.send_header("Audit-Id", str(uuid.uuid4()))
        self.send_header("Cache-Control", "no-cache, private")
        if resp.content_type:
            self.send_header("Content-Type", resp.content_type)
        for k, v in resp.headers:
            self.send_header(k, v)
        if resp.stream is not None:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self.wfile.flush()
            try:
                for chunk in resp.stream:
                    if chunk:
                        self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                        self.wfile.flush()
            finally:
                close = getattr(resp.stream, "close", None)
                if close is not None:
                    close()
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
            return
        self.send_header("Content-Length", str(len(resp.body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(resp.body)
        self.wfile.flush()

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _handle


class KubeHTTPServer:
    """A threaded TLS API server on ``host:port`` (port 0 picks a free one)."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        ssl_context: ssl.SSLContext,
        allow_ip: Callable[[str], bool],
        app: Callable[[Request], Response],
        log: Callable[[dict], None],
        authenticate: Callable[[str], bool] | None = None,
    ) -> None:
        """`authenticate(token)`: whether a bearer token is accepted (None: any non-empty one)."""
        self._server = _TLSServer((host, port), _Handler, ssl_context, allow_ip, app, log, authenticate)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def stopping(self) -> threading.Event:
        return self._server.stopping

    def stop(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.drop_connections()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
