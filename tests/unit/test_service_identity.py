"""generateServiceIdentity (Service Usage v1beta1): one POST, its operation polled, the agent's email."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from gke_lab.clients import Clients


def test_generate_service_identity_polls_the_operation_for_the_email(monkeypatch):
    seen: list[tuple[str, str]] = []
    email = "service-123@container-engine-robot.iam.gserviceaccount.com"

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self):  # noqa: N802 - http.server's naming
            seen.append(("POST", self.path))
            self._answer({"name": "operations/gsi-1", "done": False})

        def do_GET(self):  # noqa: N802
            seen.append(("GET", self.path))
            self._answer(
                {"name": "operations/gsi-1", "done": True, "response": {"identity": {"email": email}}}
            )

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr("gke_lab.clients.time.sleep", lambda seconds: None)
    try:
        c = Clients(None, f"127.0.0.1:{server.server_address[1]}")
        assert c.generate_service_identity("projects/p", "container.googleapis.com") == email
    finally:
        server.shutdown()
    assert seen == [
        ("POST", "/v1beta1/projects/p/services/container.googleapis.com:generateServiceIdentity"),
        ("GET", "/v1beta1/operations/gsi-1"),
    ]
