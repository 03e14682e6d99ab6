"""The outside parties tests play: Slack (signed slash commands), an endpoint that receives webhooks
(Slack's response_url, an incoming webhook), and Google (a service-account key file)."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

TEAM = "T0001"


def slack_headers(body: bytes, secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack sends with a request: its timestamp and the v0 HMAC-SHA256 signature of
    `v0:<timestamp>:<body>` under the app's signing secret."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def slash_command(text: str, user: str, response_url: str, team: str = TEAM, trigger_id: str = "") -> bytes:
    """A `/lab` slash command's form body, with the fields Slack sends."""
    form = {
        "token": "unused",
        "team_id": team,
        "team_domain": "example",
        "channel_id": "C2147483705",
        "channel_name": "labs",
        "user_id": user,
        "user_name": user.lower(),
        "command": "/lab",
        "text": text,
        "api_app_id": "A123456",
        "response_url": response_url,
        "trigger_id": trigger_id or f"13345224609.738474920.{uuid.uuid4().hex[:8]}",
    }
    return urlencode(form).encode()


class Slack:
    """Signs and sends slash commands to a chat receiver at `url` the way Slack does."""

    def __init__(self, url: str, response_url: str, secret: str) -> None:
        self.url = url
        self.response_url = response_url
        self.secret = secret

    def payload(self, text: str, user: str, team: str = TEAM) -> bytes:
        return slash_command(text, user, self.response_url, team)

    def headers(self, body: bytes, timestamp: int | None = None, secret: str | None = None) -> dict[str, str]:
        """Signed with this app's secret unless another `secret` is given (a forged request)."""
        return slack_headers(body, self.secret if secret is None else secret, timestamp)

    def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(f"{self.url}/slack/commands", content=body, headers=headers, timeout=30)

    def send(self, text: str, user: str = "UALICE", team: str = TEAM) -> httpx.Response:
        body = self.payload(text, user, team)
        return self.post(body, self.headers(body))


class Receiver:
    """An HTTP endpoint that collects the JSON posted to it and answers 200 "ok", as Slack's
    response_url and incoming webhooks do. `close()` stops it."""

    def __init__(self, path: str = "/response") -> None:
        self.posts: list[dict[str, Any]] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                received.append(json.loads(self.rfile.read(int(self.headers.get("content-length", 0)))))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def wait_for(self, text: str, timeout: float = 600) -> dict[str, Any]:
        """The first post whose text contains `text`; the timeout only ends a wait that would never end."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for post in list(self.posts):
                if text in post.get("text", ""):
                    return post
            time.sleep(0.5)
        raise AssertionError(f"nothing containing {text!r} was posted; got {self.posts}")

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_receiver() -> Iterator[Receiver]:
    """A Receiver at `/hook`, stopped after the test."""
    receiver = Receiver("/hook")
    yield receiver
    receiver.close()


@dataclass(frozen=True)
class ServiceAccountKey:
    """A throwaway service-account key: `info` is the key file's content (what `gcloud iam
    service-accounts keys create` writes, and what a GcpCredentials block holds)."""

    info: dict[str, str]
    public_key: rsa.RSAPublicKey

    @property
    def client_email(self) -> str:
        return self.info["client_email"]

    @property
    def private_key_pem(self) -> str:
        return self.info["private_key"]


def service_account_key(project: str, token_uri: str, account: str = "lab-runner") -> ServiceAccountKey:
    """A fresh RSA key for `account@project`, whose tokens are granted at `token_uri`."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": uuid.uuid4().hex,
        "private_key": pem,
        "client_email": f"{account}@{project}.iam.gserviceaccount.com",
        "client_id": "100000000000000000001",
        "token_uri": token_uri,
    }
    return ServiceAccountKey(info=info, public_key=key.public_key())
