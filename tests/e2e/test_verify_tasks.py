"""The Prefect tasks deploy_echo / verify_echo against an emulated cluster API, as the flows call them."""

from __future__ import annotations

import pytest
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

from gke_lab.echo import ImagePullError
from gke_lab.kube import ControlPlaneUnreachable
from gke_lab.overrides import apply_overrides
from gke_lab.resources.cluster import ClusterAccess
from gke_lab.spec import LabSpec
from tasks.workload import deploy_echo, verify_echo
from tests.e2e.test_verify_kube import start_cluster

pytestmark = pytest.mark.e2e


@pytest.fixture
def token_env(emulator):
    # Aimed at an emulator, the client factory asks the emulator's token endpoint for the bearer token.
    return emulator


@flow
def deploy_and_verify(spec: LabSpec, access: ClusterAccess) -> dict:
    deployed = deploy_echo(spec, access)
    return {"deployed": deployed, "verification": verify_echo(spec, access)}


def access_of(cluster) -> ClusterAccess:
    return ClusterAccess(
        name="cluster",
        location="us-west1",
        endpoint=cluster.endpoint,
        ca_certificate=cluster.ca_certificate_b64,
        status="RUNNING",
    )


def spec_for(**changes) -> LabSpec:
    return apply_overrides(LabSpec(), [f"{k}={v}" for k, v in changes.items()])


async def task_run_counts(flow_run_id) -> dict[str, int]:
    async with get_client() as client:
        runs = await client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
        )
    return {r.name.rsplit("-", 1)[0]: r.run_count for r in runs}


def test_tasks_deploy_and_verify(prefect_harness, token_env):
    cluster = start_cluster(authorized=["127.0.0.1/32"])
    try:
        result = deploy_and_verify(
            spec_for(**{"cluster.master_authorized_networks": "[{cidr: 127.0.0.1/32}]"}), access_of(cluster)
        )
    finally:
        cluster.stop()
    assert result["deployed"].deployment == "created"
    assert result["deployed"].rollout["available"] == 2
    assert result["verification"]["passed"], result["verification"]["checks"]


def test_permanent_diagnostics_are_not_retried(prefect_harness, token_env):
    import asyncio

    cluster = start_cluster(authorized=None, egress=False)
    try:
        state = deploy_and_verify(spec_for(), access_of(cluster), return_state=True)
    finally:
        cluster.stop()
    assert state.is_failed()
    with pytest.raises(ImagePullError, match="Cloud NAT"):
        state.result()
    counts = asyncio.run(task_run_counts(state.state_details.flow_run_id))
    assert counts["deploy-echo"] == 1  # a diagnosis is final: no task retry

    cluster = start_cluster(authorized=["203.0.113.7/32"])
    try:
        state = deploy_and_verify(spec_for(), access_of(cluster), return_state=True)
    finally:
        cluster.stop()
    with pytest.raises(ControlPlaneUnreachable, match="master authorized networks"):
        state.result()
    counts = asyncio.run(task_run_counts(state.state_details.flow_run_id))
    assert counts["deploy-echo"] == 1
