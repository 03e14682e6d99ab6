"""`gke-lab chatops` as a real process in front of a real Prefect server, worker and emulator.

Signed Slack slash commands start, extend and end a lab; every refusal creates no run and says why.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode

import httpx
import pytest

from gke_lab.naming import per_lab_overrides
from tests.fixtures_servers import BIN, Stack, _wait_http, _wait_line

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
PROJECT = "lab-bravo"
# The workers reach the emulated control plane from 127.0.0.1: it must be an authorized network.
LOCAL = "'cluster.master_authorized_networks=[{cidr: 127.0.0.1/32, name: local}]'"


class Receiver:
    """Stands in for Slack's response_url: collects what chatops posts there."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                received.append(json.loads(self.rfile.read(int(self.headers.get("content-length", 0)))))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/response"

    def wait_for(self, text: str, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for post in self.posts:
                if text in post.get("text", ""):
                    return post
            time.sleep(0.5)
        raise AssertionError(f"nothing containing {text!r} was posted; got {self.posts}")


class Slack:
    """Signs and sends slash commands the way Slack does."""

    def __init__(self, url: str, response_url: str) -> None:
        self.url = url
        self.response_url = response_url
        self.deliveries = 0

    def payload(self, text: str, user: str) -> bytes:
        self.deliveries += 1
        form = {
            "token": "unused",
            "team_id": "T0001",
            "team_domain": "example",
            "channel_id": "C2147483705",
            "channel_name": "labs",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/lab",
            "text": text,
            "api_app_id": "A123456",
            "response_url": self.response_url,
            "trigger_id": f"13345224609.738474920.{self.deliveries:08x}",
        }
        return urlencode(form).encode()

    @staticmethod
    def headers(body: bytes, timestamp: int | None = None, secret: str = SECRET) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        digest = hmac.new(secret.encode(), f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
        return {
            "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": f"v0={digest}",
            "Content-Type": "application/x-www-form-urlencoded",
        }

    def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return httpx.post(f"{self.url}/slack/commands", content=body, headers=headers, timeout=30)

    def send(self, text: str, user: str = "UALICE") -> httpx.Response:
        body = self.payload(text, user)
        return self.post(body, self.headers(body))


@pytest.fixture(scope="module")
def chat(sqlite_stack: Stack):
    receiver = Receiver()
    env = {
        **sqlite_stack.env,
        "SLACK_SIGNING_SECRET": SECRET,
        "GKE_LAB_CHATOPS_USERS": "UALICE,UBOB",
        "GKE_LAB_CHATOPS_ADMINS": "UADMIN",
        "GKE_LAB_CHATOPS_POLL_SECONDS": "1",
        "GKE_LAB_CHATOPS_API_TIMEOUT": "30",  # the test machine is busy; Slack's 3 s do not apply here
    }
    proc = sqlite_stack.start("chatops", [str(BIN / "gke-lab"), "chatops", "--port", "0"], env=env)
    url = _wait_line(proc, r"Uvicorn running on (http://127\.0\.0\.1:\d+)").group(1)
    _wait_http(f"{url}/healthz", proc)
    yield Slack(url, receiver.url), receiver, proc
    proc.stop()
    receiver.server.shutdown()


def chat_runs(stack: Stack) -> list[dict]:
    return stack.flow_runs(tags={"all_": ["chatops"]})


def test_chatops_refuses_to_start_without_signing_secret(sqlite_stack: Stack):
    import subprocess

    env = {k: v for k, v in sqlite_stack.env.items() if k != "SLACK_SIGNING_SECRET"}
    out = subprocess.run(
        [str(BIN / "gke-lab"), "chatops", "--port", "0"], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and "SLACK_SIGNING_SECRET is not set" in out.stderr


def test_signing_secret_from_a_prefect_secret_block(sqlite_stack: Stack):
    save = "from prefect.blocks.system import Secret; Secret(value='block-held-secret').save('slack-signing')"
    sqlite_stack.run([str(BIN / "python"), "-c", save])
    env = {k: v for k, v in sqlite_stack.env.items() if k != "SLACK_SIGNING_SECRET"}
    env.update(GKE_LAB_CHATOPS_SECRET_BLOCK="slack-signing", GKE_LAB_CHATOPS_USERS="UALICE")
    proc = sqlite_stack.start("chatops-block", [str(BIN / "gke-lab"), "chatops", "--port", "0"], env=env)
    try:
        url = _wait_line(proc, r"Uvicorn running on (http://127\.0\.0\.1:\d+)").group(1)
        slack = Slack(url, "http://127.0.0.1:9/unused")
        body = slack.payload("help", "UALICE")
        assert slack.post(body, slack.headers(body, secret="block-held-secret")).status_code == 200
        assert slack.post(body, slack.headers(body)).status_code == 401
        assert "block-held-secret" not in proc.log.read_text()
    finally:
        proc.stop()


def test_refusals_create_no_run_and_say_why(sqlite_stack: Stack, chat):
    slack, _receiver, proc = chat
    before = len(chat_runs(sqlite_stack))

    body = slack.payload(f"up mallory project_id={PROJECT}", "UALICE")
    forged = slack.post(body, slack.headers(body, secret="not-the-secret"))
    assert forged.status_code == 401
    stale = slack.post(body, slack.headers(body, timestamp=int(time.time()) - 600))
    assert stale.status_code == 401
    unsigned = slack.post(body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert unsigned.status_code == 401

    huge = slack.payload("up big " + "x" * 20000, "UALICE")
    oversized = slack.post(huge, slack.headers(huge))
    assert oversized.status_code == 413 and "larger than" in oversized.text

    def refused(text: str, user: str = "UALICE") -> str:
        response = slack.send(text, user)
        assert response.status_code == 200, response.text
        assert response.json()["response_type"] == "ephemeral"
        return response.json()["text"]

    assert "not allowed" in refused(f"up eve project_id={PROJECT}", user="UEVE")
    unknown = refused(f"up typo project_id={PROJECT} cluster.nodes=2")
    assert "cluster.nodes" in unknown and "unknown field" in unknown
    cidr = refused(f"up badnet project_id={PROJECT} network.subnet.cidr=10.0.0.0/33")
    assert "network.subnet.cidr" in cidr
    assert "no lab `ghost`" in refused("down ghost")
    assert "unknown command" in refused("destroy everything")
    assert "no blueprint `nope`" in refused(f"up x1 blueprint=nope project_id={PROJECT}")

    assert len(chat_runs(sqlite_stack)) == before
    assert SECRET not in proc.log.read_text()


def test_up_extend_down_through_chat(sqlite_stack: Stack, chat):
    slack, receiver, proc = chat
    before = len(chat_runs(sqlite_stack))

    text = f"up chat-a ttl=3h blueprint=small-zonal project_id={PROJECT} cluster.disk_size_gb=60 {LOCAL}"
    body = slack.payload(text, "UALICE")
    headers = slack.headers(body)
    answer = slack.post(body, headers)
    assert answer.status_code == 200 and "provisioning lab `chat-a`" in answer.json()["text"]
    assert f"{sqlite_stack.ui_url}/runs/flow-run/" in answer.json()["text"]
    replay = slack.post(body, headers)  # Slack retried the same delivery
    assert replay.status_code == 200 and "already received" in replay.json()["text"]

    runs = chat_runs(sqlite_stack)
    assert len(runs) == before + 1
    (run,) = [r for r in runs if "lab:chat-a" in r["tags"]]
    assert run["parameters"]["blueprint"] == "small-zonal"
    assert run["parameters"]["overrides"] == [
        *per_lab_overrides("chat-a"),  # the lab's own resource names: labs in one project never collide
        f"project_id={PROJECT}",
        "cluster.disk_size_gb=60",
        LOCAL.strip("'"),
        "lab=chat-a",
        "ttl_hours=3",
    ]
    assert {"owner:UALICE", f"project:{PROJECT}", "gke-lab"} <= set(run["tags"])

    # Someone else may not take the lab down (or reuse its name); nothing is created.
    assert "belongs to <@UALICE>" in slack.send("down chat-a", "UBOB").json()["text"]
    assert "belongs to <@UALICE>" in slack.send(f"up chat-a project_id={PROJECT}", "UBOB").json()["text"]
    assert len(chat_runs(sqlite_stack)) == before + 1

    done = sqlite_stack.wait_run(run["id"], timeout=600)
    assert done["state"]["type"] == "COMPLETED", f"{done['state']}\n{sqlite_stack.logs()}"
    outcome = receiver.wait_for("completed", timeout=120)
    assert f"provision chat-a@{PROJECT}" in outcome["text"]
    assert len(outcome["text"]) > 200, outcome  # the lab card follows the headline

    status = slack.send("status chat-a").json()["text"]
    assert f"provision chat-a@{PROJECT}" in status and "Completed" in status
    assert "`chat-a` (owner <@UALICE>)" in slack.send("list", "UBOB").json()["text"]

    # extend: the owner moves the expiry later.
    def expires() -> int:
        clusters = sqlite_stack.emulator_state()["projects"][PROJECT]["clusters"]
        (cluster,) = [c for c in clusters if c["resourceLabels"].get("gke-lab") == "chat-a"]
        return int(cluster["resourceLabels"]["gke-lab-expires"])

    old = expires()
    extended = slack.send("extend chat-a 2h").json()["text"]
    assert "extending by 2h lab `chat-a`" in extended, extended
    (ext,) = [r for r in chat_runs(sqlite_stack) if r["name"] == f"extend chat-a@{PROJECT}"]
    assert sqlite_stack.wait_run(ext["id"])["state"]["type"] == "COMPLETED", sqlite_stack.logs()
    assert expires() == old + 2 * 3600

    # down by an admin works for any lab; the outcome is posted.
    down = slack.send("down chat-a", "UADMIN").json()["text"]
    assert "tearing down lab `chat-a`" in down
    (teardown,) = [r for r in chat_runs(sqlite_stack) if r["name"] == f"teardown chat-a@{PROJECT}"]
    assert teardown["parameters"]["blueprint"] == "small-zonal"
    assert sqlite_stack.wait_run(teardown["id"])["state"]["type"] == "COMPLETED", sqlite_stack.logs()
    receiver.wait_for(f"teardown chat-a@{PROJECT}", timeout=120)
    assert not [c for c in sqlite_stack.emulator_state()["projects"][PROJECT]["clusters"]]

    log = proc.log.read_text()
    assert SECRET not in log and receiver.url not in log


def test_failed_run_posts_the_error(sqlite_stack: Stack, chat):
    slack, receiver, _proc = chat
    # Valid spec, but the workers' address is not an authorized network: the run fails after
    # provisioning, when it cannot reach the control plane, and the user is told why.
    answer = slack.send("up chat-fail blueprint=small-zonal project_id=lab-alpha", "UBOB").json()["text"]
    assert "provisioning lab `chat-fail`" in answer
    (run,) = [r for r in chat_runs(sqlite_stack) if "lab:chat-fail" in r["tags"]]
    assert sqlite_stack.wait_run(run["id"])["state"]["type"] == "FAILED"
    post = receiver.wait_for("provision chat-fail@lab-alpha", timeout=120)
    assert post["text"].startswith(":x:") and "Failed" in post["text"] and "```" in post["text"]
