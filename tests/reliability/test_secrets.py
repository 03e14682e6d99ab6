"""A service-account key in a prefect-gcp `GcpCredentials` block never leaks: after a full provisioning
run that uses the block, none of the key's private material is in any log line (the run's logs read
back from the Prefect API, and every record this process logged), artifact, or flow-run parameter."""

from __future__ import annotations

import json
import logging
import uuid

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.reliability.helpers import SCALE, lab_spec

BLOCK = "reliability-sa-key"


def _throwaway_key(token_uri: str, project: str) -> tuple[dict, list[str]]:
    """A service-account key file's content and the fragments of its private key to search for."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    body = [line for line in pem.splitlines() if line and not line.startswith("-----")]
    # Every base64 line of the key, and shorter slices that would survive re-wrapping or truncation.
    joined = "".join(body)
    fragments = body + [joined[i : i + 32] for i in range(0, len(joined) - 32, 97)]
    info = {
        "type": "service_account",
        "project_id": project,
        "private_key_id": uuid.uuid4().hex,
        "private_key": pem,
        "client_email": f"lab-runner@{project}.iam.gserviceaccount.com",
        "client_id": "100000000000000000001",
        "token_uri": token_uri,
    }
    return info, fragments


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
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogHandler
    from prefect_gcp import GcpCredentials

    from flows.provision import provision_lab

    emu = emulator_factory(latency_scale=SCALE)
    spec = lab_spec("secret-lab")
    info, fragments = _throwaway_key(f"{emu.url}/token", spec.project_id)
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
        logs = client.read_logs(log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=run_ids)), limit=200)
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=run_ids))
        )
        parameters = [client.read_flow_run(i).parameters for i in run_ids]

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
    run = provision_lab(spec=lab_spec("secret-lab-2"), credentials_block="no-such-block", return_state=True)
    assert not run.is_completed()
