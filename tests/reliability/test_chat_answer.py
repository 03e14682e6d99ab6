"""Slack drops a slash command's answer after 3 s, so the receiver must answer before the slow part of
the work is done, with the Prefect API client at its normal timeout (no test-only raise).

Ordering, not wall time: a proxy in front of the Prefect API holds every `create_flow_run` until the
test releases it. The receiver's HTTP answer must come back while the create is still held (the run does
not exist yet); once released, the run is created exactly once and its link is posted to the command's
response_url. Before the fix, the answer waited for the create until the client timed out and told the
user the API could not be reached, while the run was created anyway.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.fixtures_external import Receiver, slack_headers, slash_command

SECRET = "reliability-answer-secret"
ADMIN = "U0ADMIN"
LAB = "answer-first"


class HoldingProxy:
    """Forwards every request to the Prefect API; holds each create_flow_run until `release` is set."""

    def __init__(self, target: str) -> None:
        self.release = threading.Event()
        self.held = 0  # create_flow_run requests that arrived (each waits for `release`)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def _forward(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if self.path.endswith("/create_flow_run"):
                    proxy.held += 1
                    proxy.release.wait(300)
                headers = {k: v for k, v in self.headers.items() if k.lower() in ("content-type", "accept")}
                answer = httpx.request(
                    self.command, target + self.path, content=body, headers=headers, timeout=60
                )
                try:
                    self.send_response(answer.status_code)
                    self.send_header("content-type", answer.headers.get("content-type", "application/json"))
                    self.send_header("content-length", str(len(answer.content)))
                    self.end_headers()
                    self.wfile.write(answer.content)
                except OSError:  # the client gave up waiting: the request was still served, as on a real API
                    pass

            do_GET = do_POST = do_PATCH = do_DELETE = _forward  # noqa: N815

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def provision_deployment(prefect_harness) -> str:
    """A `provision-lab` deployment without a worker: a run it creates stays scheduled."""
    from prefect.client.orchestration import get_client

    from flows.provision import provision_lab

    with get_client(sync_client=True) as client:
        flow_id = client.create_flow(provision_lab)
        return str(client.create_deployment(flow_id=flow_id, name="provision-lab"))


def _runs_of_lab(deployment_id: str) -> list[str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        DeploymentFilter,
        DeploymentFilterId,
        FlowRunFilter,
        FlowRunFilterTags,
    )

    with get_client(sync_client=True) as client:
        found = client.read_flow_runs(
            deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[f"lab:{LAB}"])),
        )
    return [str(r.id) for r in found]


def test_the_answer_goes_out_before_the_run_is_created(provision_deployment, emulator):
    from prefect.settings import PREFECT_API_URL
    from starlette.testclient import TestClient

    from chatops.app import create_app
    from chatops.policy import Policy
    from chatops.settings import Settings

    api_url = PREFECT_API_URL.value()
    proxy = HoldingProxy(api_url.removesuffix("/api"))
    receiver = Receiver()
    settings = Settings(
        signing_secret=SECRET,
        policy=Policy(users=frozenset(), admins=frozenset({ADMIN})),
        api_url=f"{proxy.url}/api",
        ui_url=api_url.removesuffix("/api"),
    )
    assert settings.api_timeout == 2.5  # the receiver's normal Prefect API timeout
    before = _runs_of_lab(provision_deployment)
    body = slash_command(f"up {LAB} ttl=2h", ADMIN, receiver.url, trigger_id="answer-1")
    try:
        with TestClient(create_app(settings)) as http:
            headers = slack_headers(body, SECRET)
            answer = http.post("/slack/commands", content=body, headers=headers)
            # What was true when the answer came back: the create had reached the API and was held there.
            held, runs_at_answer = proxy.held, _runs_of_lab(provision_deployment)
            proxy.release.set()
            posted = receiver.wait_for(f"provisioning lab `{LAB}`", timeout=120)
    finally:
        proxy.release.set()
        proxy.server.shutdown()
        receiver.close()

    assert answer.status_code == 200
    assert held >= 1 and runs_at_answer == before, "the answer waited for the run to be created"
    assert answer.json()["text"].startswith(":hourglass_flowing_sand:"), answer.json()["text"]
    assert "the result will be posted here" in answer.json()["text"]
    runs = _runs_of_lab(provision_deployment)
    assert len(runs) == len(before) + 1, "the run was not created exactly once"
    (new,) = set(runs) - set(before)
    assert f"/runs/flow-run/{new}" in posted["text"], posted
