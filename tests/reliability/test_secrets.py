"""A service-account key in a prefect-gcp `GcpCredentials` block never leaks: after a full provisioning
run that uses the block, none of the key's private material is in any log line (all the run's logs, read
back from the Prefect API page by page, and every record this process logged), artifact, or flow-run
parameter.

The key is really used: the run's Kubernetes API token is granted at the emulator's token endpoint for
an assertion the block's key signed (a recorder in front of the endpoint checks the signature)."""

from __future__ import annotations

import base64
import json
import logging
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.fixtures_emulator import SCALE, lab_spec
from tests.fixtures_external import service_account_key

BLOCK = "reliability-sa-key"


@dataclass(frozen=True)
class Grant:
    """One request that reached the token endpoint: the assertion's claims, whether the block's key
    signed it, and the endpoint's HTTP status."""

    claims: dict[str, Any]
    signed_by_block_key: bool
    status: int


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


class TokenRecorder:
    """Stands in front of the emulator's /token: records each JWT-bearer grant, then forwards it."""

    def __init__(self, endpoint: str, public_key: rsa.RSAPublicKey) -> None:
        self.grants: list[Grant] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                answer = httpx.post(
                    endpoint,
                    content=body,
                    headers={"content-type": self.headers.get("content-type", "")},
                    timeout=60,
                )
                assertion = parse_qs(body.decode()).get("assertion", [""])[0]
                recorder.grants.append(recorder.grant(assertion, public_key, answer.status_code))
                self.send_response(answer.status_code)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/token"

    @staticmethod
    def grant(assertion: str, public_key: rsa.RSAPublicKey, status: int) -> Grant:
        try:
            header, payload, signature = assertion.split(".")
        except ValueError:
            return Grant({}, False, status)
        try:
            public_key.verify(
                _b64(signature), f"{header}.{payload}".encode(), padding.PKCS1v15(), hashes.SHA256()
            )
            signed = True
        except InvalidSignature:
            signed = False
        return Grant(json.loads(_b64(payload)), signed, status)


def _all_logs(client, run_ids) -> list:
    """Every log record of the runs, page by page (one page would silently cut a long run's logs)."""
    from prefect.client.schemas.filters import LogFilter, LogFilterFlowRunId

    found: list = []
    page = 200
    while True:
        batch = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=run_ids)), limit=page, offset=len(found)
        )
        found.extend(batch)
        if len(batch) < page:
            return found


def _fragments(pem: str) -> list[str]:
    """The fragments of a private key to search for: every base64 line of it, and shorter slices that
    would survive re-wrapping or truncation."""
    body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    joined = "".join(body)
    return body + [joined[i : i + 32] for i in range(0, len(joined) - 32, 97)]


def _leaks(text: str, fragments: list[str]) -> list[str]:
    flat = text.replace("\\n", "").replace("\n", "")
    return [f[:12] + "..." for f in fragments if f in text or f in flat]


@pytest.mark.timeout(600)
def test_service_account_key_never_leaks(emulator_factory, prefect_harness, caplog):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
    )
    from prefect.logging.handlers import APILogHandler
    from prefect_gcp import GcpCredentials

    from flows.provision import provision_lab

    emu = emulator_factory(latency_scale=SCALE)
    spec = lab_spec(project="secret-lab")
    key = service_account_key(spec.project_id, token_uri="")
    recorder = TokenRecorder(f"{emu.url}/token", key.public_key)
    # The block's token endpoint: the emulator's, behind the recorder.
    info, fragments = {**key.info, "token_uri": recorder.url}, _fragments(key.private_key_pem)
    GcpCredentials(service_account_info=info, project=spec.project_id).save(BLOCK, overwrite=True)

    caplog.set_level(logging.DEBUG)
    run = provision_lab(spec=spec, credentials_block=BLOCK, return_state=True)
    assert run.is_completed(), run.message
    run_id = run.state_details.flow_run_id
    APILogHandler().flush()

    with get_client(sync_client=True) as client:
        flow_run = client.read_flow_run(run_id)
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[run_id]))
        )
        run_ids = [run_id, *(r.id for r in children)]
        logs = _all_logs(client, run_ids)
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=run_ids))
        )
        parameters = [client.read_flow_run(i).parameters for i in run_ids]

    recorder.server.shutdown()
    # The block's key signed the grant of the token the run used on the cluster, and the emulator's token
    # endpoint granted it.
    ours = [g for g in recorder.grants if g.claims.get("iss") == info["client_email"]]
    assert ours, f"no token grant for {info['client_email']} reached the token endpoint: {recorder.grants}"
    assert all(g.signed_by_block_key and g.status == 200 for g in ours), ours
    assert flow_run.parameters.get("credentials_block") == BLOCK  # the block was named, not its content
    assert logs, "the run logged nothing: nothing was checked"
    assert artifacts, "the run published no artifact: nothing was checked"
    assert _leaks(json.dumps(parameters, default=str), fragments) == []
    assert _leaks("\n".join(rec.message for rec in logs), fragments) == []
    assert _leaks(json.dumps([a.model_dump(mode="json") for a in artifacts]), fragments) == []
    assert _leaks("\n".join(r.getMessage() for r in caplog.records), fragments) == []
    # The block really holds the key (so the checks above searched for something that exists).
    stored = GcpCredentials.load(BLOCK).service_account_info.get_secret_value()
    assert _leaks(stored["private_key"], fragments)


def test_a_missing_credentials_block_fails_the_run(emulator_factory, prefect_harness):
    """The flow really reads the block it is given (so the test above exercised it)."""
    from flows.provision import provision_lab

    emulator_factory(latency_scale=SCALE)
    run = provision_lab(
        spec=lab_spec(project="secret-lab-2"), credentials_block="no-such-block", return_state=True
    )
    assert not run.is_completed()
