"""verify_lab against the emulator: re-verifying a provisioned lab is read-only and publishes reports."""

from __future__ import annotations

import asyncio

import pytest
from kubernetes import client as k8s
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

from gke_lab import kube
from gke_lab.clients import Clients
from gke_lab.errors import LabError
from gke_lab.overrides import apply_overrides
from tests.fixtures_emulator import LOCAL_NETWORK, EmulatorAdmin

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


async def artifacts_of(flow_run_id) -> dict[str, str]:
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {a.key: a.data for a in found if a.key}


@pytest.fixture
def provisioned(prefect_harness, lab_emulator):
    from flows.provision import provision_lab

    emu = lab_emulator
    spec = apply_overrides(None, [LOCAL_NETWORK])
    result = provision_lab(spec=spec)
    assert result["verification"]["passed"]
    return emu, spec, result


def test_verify_lab_is_read_only_and_publishes_reports(provisioned):
    from flows.verify import verify_lab

    emu, spec, _ = provisioned
    since = EmulatorAdmin(emu.url).last_seq()
    state = verify_lab(spec=spec, return_state=True)
    assert state.is_completed()
    result = state.result()
    assert result["verification"]["passed"]
    assert [c["id"] for c in result["audit"] if not c["passed"]] == []

    entries = EmulatorAdmin(emu.url).requests(since=since)
    assert any(e["api"] == "kubernetes" and "/proxy/" in e["path"] for e in entries)
    assert any(e["api"] == "container" for e in entries)
    assert [e for e in entries if e["mutating"]] == []

    arts = asyncio.run(artifacts_of(state.state_details.flow_run_id))
    keys = {k.rsplit("-", 1)[-1] for k in arts}
    assert {"verification", "audit", "impact", "card"} <= keys, arts.keys()
    card = next(v for k, v in arts.items() if k.endswith("lab-card"))
    assert "gke-lab kubeconfig" in card and "unix " in card
    token = Clients.from_env().access_token()
    assert all(token not in text for text in arts.values())
    impact = next(v for k, v in arts.items() if k.endswith("vpc-impact"))
    assert "tcp:10250,tcp:443" in impact and "peering" in impact


def test_verify_lab_fails_when_the_app_is_gone(provisioned):
    from flows.verify import VerificationFailed, verify_lab

    emu, spec, result = provisioned
    access = result["cluster"]
    api = kube.api_client(access["endpoint"], access["ca_certificate"], Clients.from_env().access_token())
    k8s.CoreV1Api(api).delete_namespaced_service("echo-service", spec.echo.namespace)
    state = verify_lab(spec=spec, return_state=True)
    assert state.is_failed()
    with pytest.raises(VerificationFailed, match="service-answers"):
        state.result()
    arts = asyncio.run(artifacts_of(state.state_details.flow_run_id))
    verification = next(v for k, v in arts.items() if k.endswith("verification"))
    assert verification.startswith("# Verification: FAIL")


def test_verify_lab_without_a_lab_names_the_cluster(prefect_harness, lab_emulator):
    from flows.verify import verify_lab

    with pytest.raises(LabError, match="does not exist"):
        verify_lab(spec=apply_overrides(None, [LOCAL_NETWORK]))
