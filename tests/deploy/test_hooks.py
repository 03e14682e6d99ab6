"""Chat notification hooks: post through a SlackWebhook block when configured, silent otherwise."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from prefect import flow

from flows.hooks import BLOCK_ENV, notify_completion, notify_failure


@pytest.fixture
def receiver():
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            received.append(json.loads(body))
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", received
    server.shutdown()


@flow(name="hooked-ok", on_completion=[notify_completion], on_failure=[notify_failure])
def hooked_ok() -> int:
    return 1


@flow(name="hooked-fails", on_completion=[notify_completion], on_failure=[notify_failure])
def hooked_fails() -> None:
    raise RuntimeError("cluster create failed: quota exceeded")


def test_hooks_post_outcome_through_configured_webhook_block(prefect_harness, receiver, monkeypatch):
    from prefect_slack import SlackWebhook

    url, received = receiver
    name = f"hook-{uuid.uuid4().hex[:8]}"
    SlackWebhook(url=url).save(name)
    monkeypatch.setenv(BLOCK_ENV, name)

    assert hooked_ok(return_state=True).is_completed()
    assert hooked_fails(return_state=True).is_failed()

    assert len(received) == 2, received
    ok, failed = received[0]["text"], received[1]["text"]
    assert "hooked-ok" in ok and "Completed" in ok
    assert "hooked-fails" in failed and "Failed" in failed and "quota exceeded" in failed
    assert url not in ok + failed  # the webhook URL is a secret


def test_hooks_are_no_ops_without_a_block(prefect_harness, receiver, monkeypatch):
    _url, received = receiver
    monkeypatch.delenv(BLOCK_ENV, raising=False)
    assert hooked_ok(return_state=True).is_completed()
    assert received == []
