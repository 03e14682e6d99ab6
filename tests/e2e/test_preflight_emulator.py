"""Preflight against an emulated caller who lacks permissions: the CLI and the flows stop before any change.

The emulator's caller owns every project unless the admin API takes permissions away on one
(`POST /_emulator/projects/{p}/settings {"deniedPermissions": [...]}`): testIamPermissions then answers
only what is left, and Service Usage refuses to enable services without serviceusage.services.enable.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from click.testing import CliRunner
from google.api_core import exceptions as gexc

from gke_lab.cli import main
from gke_lab.overrides import apply_overrides
from tests.fixtures_emulator import NUMBER, PROJECT, EmulatorAdmin

pytestmark = [pytest.mark.e2e]

KMS_WRITES = ["cloudkms.keyRings.create", "cloudkms.cryptoKeys.create", "cloudkms.cryptoKeys.setIamPolicy"]
ENABLE = "serviceusage.services.enable"
LAB_SERVICES = " ".join(
    [
        "compute.googleapis.com",
        "container.googleapis.com",
        "cloudkms.googleapis.com",
        "iam.googleapis.com",
        "cloudresourcemanager.googleapis.com",
    ]
)


def deny(emu, permissions: list[str], project: str = PROJECT) -> dict:
    return EmulatorAdmin(emu.url).project_settings(project, {"deniedPermissions": permissions})


def mutating_requests(emu) -> list[dict]:
    return EmulatorAdmin(emu.url).mutations_since(0)


def no_flow(*args, **kwargs):
    raise AssertionError("the flow must not start after a failed preflight")


# --- the emulator models the caller ---------------------------------------------------------------------
def test_test_iam_permissions_answers_only_the_permissions_the_caller_holds(emulator_factory):
    emu = emulator_factory(projects={PROJECT: NUMBER})
    url = f"{emu.url}/v3/projects/{PROJECT}:testIamPermissions"
    asked = ["compute.networks.create", *KMS_WRITES]
    everything = httpx.post(url, json={"permissions": asked}, timeout=30).json()
    assert everything["permissions"] == asked

    assert deny(emu, KMS_WRITES)["deniedPermissions"] == sorted(KMS_WRITES)
    assert httpx.post(url, json={"permissions": asked}, timeout=30).json() == {
        "permissions": ["compute.networks.create"]
    }
    # nothing held: Google leaves the field out
    assert httpx.post(url, json={"permissions": KMS_WRITES[:1]}, timeout=30).json() == {}
    # wildcards are not permissions
    refused = httpx.post(url, json={"permissions": ["cloudkms.*"]}, timeout=30)
    assert refused.status_code == 400 and "wildcards" in refused.json()["error"]["message"]


def test_the_admin_switch_refuses_what_is_not_a_permission_list(emulator_factory):
    emu = emulator_factory(projects={PROJECT: NUMBER})
    for bad in ("cloudkms.keyRings.create", ["cloudkms.*"], [1]):
        resp = httpx.post(
            f"{emu.url}/_emulator/projects/{PROJECT}/settings", json={"deniedPermissions": bad}, timeout=30
        )
        assert resp.status_code == 400, bad


def test_a_denied_project_read_is_googles_403_naming_the_permission(emulator_factory):
    emu = emulator_factory(projects={PROJECT: NUMBER})
    deny(emu, ["resourcemanager.projects.get"])
    resp = httpx.get(f"{emu.url}/v3/projects/{PROJECT}", timeout=30)
    error = resp.json()["error"]
    assert resp.status_code == 403 and error["status"] == "PERMISSION_DENIED"
    assert error["message"].startswith("Permission 'resourcemanager.projects.get' denied on resource")
    info = next(d for d in error["details"] if d["@type"].endswith("ErrorInfo"))
    assert info["reason"] == "IAM_PERMISSION_DENIED"
    assert info["metadata"]["permission"] == "resourcemanager.projects.get"


def test_enabling_without_the_permission_is_refused_in_googles_shape(emulator_factory):
    from gke_lab.clients import Clients

    emu = emulator_factory(projects={PROJECT: NUMBER}, services_enabled=False)
    deny(emu, [ENABLE])
    parent = f"{emu.url}/v1/projects/{PROJECT}/services"
    for resp in (
        httpx.post(f"{parent}:batchEnable", json={"serviceIds": ["container.googleapis.com"]}, timeout=30),
        httpx.post(f"{parent}/container.googleapis.com:enable", json={}, timeout=30),
    ):
        error = resp.json()["error"]
        assert resp.status_code == 403 and error["status"] == "PERMISSION_DENIED"
        assert error["message"] == "Permission denied to enable service [container.googleapis.com]"
        info = next(d for d in error["details"] if d["@type"].endswith("ErrorInfo"))
        assert info["reason"] == "AUTH_PERMISSION_DENIED" and info["domain"] == "serviceusage.googleapis.com"
        assert info["metadata"] == {"permission": ENABLE, "service": "container.googleapis.com"}
    # the official client raises Forbidden (HTTP 403), and the service stays off
    usage = Clients.from_env().service_usage
    with pytest.raises(gexc.Forbidden, match="Permission denied to enable service"):
        usage.batch_enable_services(
            request={"parent": f"projects/{PROJECT}", "service_ids": ["compute.googleapis.com"]}
        )
    state = httpx.get(f"{parent}/container.googleapis.com", timeout=30).json()["state"]
    assert state == "DISABLED"
    # reading the services needs serviceusage.services.get
    deny(emu, ["serviceusage.services.get"])
    names = f"projects/{PROJECT}/services/compute.googleapis.com"
    assert httpx.get(f"{parent}:batchGet", params={"names": names}, timeout=30).status_code == 403


# --- gke-lab up / plan --live ----------------------------------------------------------------------------
def up_stops_at_preflight(monkeypatch) -> str:
    """`gke-lab up`: exit 3 and exactly one line, no traceback, the flow never started. The line."""
    monkeypatch.setattr("gke_lab.cli.lab.run_provision", no_flow)
    result = CliRunner().invoke(main, ["up"])
    assert result.exit_code == 3, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    return lines[0]


def test_up_with_missing_permissions_names_them_and_the_roles_that_grant_them(emulator_factory, monkeypatch):
    emu = emulator_factory(projects={PROJECT: NUMBER})
    deny(emu, [*KMS_WRITES, "container.clusters.create"])
    line = up_stops_at_preflight(monkeypatch)
    assert line == (
        "error: preflight: permissions: missing cloudkms.keyRings.create, cloudkms.cryptoKeys.create, "
        "cloudkms.cryptoKeys.setIamPolicy, container.clusters.create; "
        f"ask for roles/cloudkms.admin, roles/container.admin on {PROJECT}"
    )
    assert mutating_requests(emu) == []


def test_up_on_a_new_project_whose_services_the_caller_may_not_enable(emulator_factory, monkeypatch):
    emu = emulator_factory(projects={PROJECT: NUMBER}, services_enabled=False)
    deny(emu, [ENABLE])
    line = up_stops_at_preflight(monkeypatch)
    assert line == (
        f"error: preflight: services: {LAB_SERVICES.replace(' ', ', ')} disabled and the caller may not "
        "enable them; ask for roles/serviceusage.serviceUsageAdmin, or run "
        f"`gcloud services enable {LAB_SERVICES} --project {PROJECT}`"
    )
    assert mutating_requests(emu) == []


def test_up_proceeds_past_preflight_when_the_caller_may_enable(emulator_factory, monkeypatch):
    """The same new project, with the permission: the preflight passes and the flow would start."""
    emulator_factory(projects={PROJECT: NUMBER}, services_enabled=False)
    started = []
    monkeypatch.setattr(
        "gke_lab.cli.lab.run_provision", lambda *a, **k: started.append(a) or {"lab_card": "card"}
    )
    result = CliRunner().invoke(main, ["up", "-q"])
    assert result.exit_code == 0, result.output
    assert len(started) == 1


def test_plan_live_shows_the_failed_check_in_its_table(emulator_factory):
    emu = emulator_factory(projects={PROJECT: NUMBER})
    deny(emu, ["container.clusters.get"])
    result = CliRunner().invoke(main, ["plan", "--live"])
    assert result.exit_code == 3
    table = result.stdout.split("\n\n")[0].splitlines()
    assert table[0] == "Preflight"
    assert [row.split()[:2] for row in table[1:]] == [
        ["credentials", "ok"],
        ["project", "ok"],
        ["permissions", "FAILED"],
    ]
    assert result.stderr.strip() == (
        "error: preflight: permissions: missing container.clusters.get; "
        f"ask for roles/container.admin on {PROJECT}"
    )
    assert mutating_requests(emu) == []


# --- the flows started from the UI, REST or chat ---------------------------------------------------------
CASES = [
    pytest.param(
        {"services_enabled": True},
        KMS_WRITES,
        "permissions: missing cloudkms.keyRings.create, cloudkms.cryptoKeys.create, "
        f"cloudkms.cryptoKeys.setIamPolicy; ask for roles/cloudkms.admin on {PROJECT}",
        id="missing-permissions",
    ),
    pytest.param(
        {"services_enabled": False},
        [ENABLE],
        f"services: {LAB_SERVICES.replace(' ', ', ')} disabled and the caller may not enable them; "
        "ask for roles/serviceusage.serviceUsageAdmin",
        id="services-not-enableable",
    ),
]


def failed_message(state) -> str:
    assert state.is_failed(), state
    message = state.message or ""
    assert "Traceback" not in message and "\n" not in message.strip()
    return message


@pytest.mark.slow
@pytest.mark.parametrize(("settings", "denied", "cause"), CASES)
def test_provision_flow_fails_at_preflight_naming_the_cause(
    prefect_harness, emulator_factory, settings, denied, cause
):
    from flows.provision import provision_lab

    emu = emulator_factory(projects={PROJECT: NUMBER}, **settings)
    deny(emu, denied)
    state = provision_lab(spec=apply_overrides(None, []), return_state=True)
    assert f"PreflightError: {cause}" in failed_message(state)
    assert mutating_requests(emu) == []


@pytest.mark.slow
def test_teardown_flow_fails_at_preflight_naming_the_cause(prefect_harness, emulator_factory):
    from flows.teardown import teardown_lab

    emu = emulator_factory(projects={PROJECT: NUMBER})
    deny(emu, ["container.clusters.delete", "compute.networks.delete"])
    state = teardown_lab(identity={"project_id": PROJECT, "lab": "cluster"}, return_state=True)
    assert (
        "PreflightError: permissions: missing compute.networks.delete, container.clusters.delete; "
        f"ask for roles/compute.networkAdmin, roles/container.admin on {PROJECT}"
    ) in failed_message(state)
    assert mutating_requests(emu) == []


async def artifacts_of(flow_run_id) -> dict[str, str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {a.key: a.data for a in found if a.key}


@pytest.mark.slow
def test_plan_flow_publishes_the_preflight_and_fails_on_its_problem(prefect_harness, emulator_factory):
    from flows.plan import plan_lab

    emu = emulator_factory(projects={PROJECT: NUMBER})
    passed = plan_lab(spec=apply_overrides(None, []), return_state=True)
    assert passed.is_completed(), passed.message
    table = asyncio.run(artifacts_of(passed.state_details.flow_run_id))[f"cluster-{PROJECT}-preflight"]
    assert "| permissions | ok |" in table and "FAILED" not in table

    deny(emu, ["container.clusters.get"])
    state = plan_lab(spec=apply_overrides(None, []), return_state=True)
    assert (
        "PreflightError: permissions: missing container.clusters.get; "
        f"ask for roles/container.admin on {PROJECT}"
    ) in failed_message(state)
    table = asyncio.run(artifacts_of(state.state_details.flow_run_id))[f"cluster-{PROJECT}-preflight"]
    assert "| permissions | FAILED | missing container.clusters.get |" in table
    assert mutating_requests(emu) == []
