"""`gke-lab plan --live` against the emulator: the cost section, and a quota section that says
"quotas unknown" (never a failure) when the target does not answer regions.get."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from gke_lab.cli import main
from gke_lab.cost import hourly
from gke_lab.spec import LabSpec
from tests.fixtures_emulator import NUMBER, PROJECT, EmulatorAdmin

pytestmark = [pytest.mark.e2e]

REGION_GET = {"api": "compute", "method": "GET", "path_regex": r"/regions/us-west1$", "count": 100}


def mutating(emu) -> list[dict]:
    return EmulatorAdmin(emu.url).mutations_since(0)


@pytest.mark.parametrize(
    ("status", "reason"),
    [(404, "regions.get answered 404 for regions/us-west1"), (403, "regions.get failed: ")],
)
def test_plan_live_says_quotas_unknown_when_regions_get_is_not_answered(emulator_factory, status, reason):
    emu = emulator_factory(projects={PROJECT: NUMBER})
    EmulatorAdmin(emu.url).configure_faults({"rules": [{**REGION_GET, "status": status}]})
    result = CliRunner().invoke(main, ["plan", "--live"])
    assert result.exit_code == 0, result.output
    assert f"Quota in project {PROJECT}, region us-west1: quotas unknown: {reason}" in result.stdout
    assert "Cost per hour (USD" in result.stdout
    assert "Live state (what a run would do now)" in result.stdout
    assert "Traceback" not in result.output
    assert mutating(emu) == []


def test_plan_live_json_carries_cost_and_quota(emulator_factory):
    emu = emulator_factory(projects={PROJECT: NUMBER})
    EmulatorAdmin(emu.url).configure_faults({"rules": [{**REGION_GET, "status": 404}]})
    result = CliRunner().invoke(main, ["plan", "--live", "--json"])
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)
    assert plan["cost"] == hourly(LabSpec()).to_dict()
    assert plan["quota"]["project"] == PROJECT
    assert plan["quota"]["fits"] is None
    assert plan["quota"]["unknown"] == "regions.get answered 404 for regions/us-west1"
    assert mutating(emu) == []


async def artifacts_of(flow_run_id) -> dict[str, str]:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {a.key: a.data for a in found if a.key}


@pytest.mark.slow
def test_plan_flow_publishes_cost_and_quota(prefect_harness, emulator_factory):
    import asyncio

    from flows.plan import plan_lab
    from gke_lab import reports
    from gke_lab.overrides import apply_overrides

    emu = emulator_factory(projects={PROJECT: NUMBER})
    EmulatorAdmin(emu.url).configure_faults({"rules": [{**REGION_GET, "status": 404}]})
    state = plan_lab(spec=apply_overrides(None, []), return_state=True)
    assert state.is_completed(), state.message
    artifacts = asyncio.run(artifacts_of(state.state_details.flow_run_id))
    assert artifacts[f"cluster-{PROJECT}-cost"] == reports.cost_markdown(hourly(LabSpec()))
    assert artifacts[f"cluster-{PROJECT}-quota"] == (
        f"# Quota in {PROJECT} / us-west1: quotas unknown: regions.get answered 404 for regions/us-west1\n"
    )
    result = state.result()
    assert result["cost"] == hourly(LabSpec()).to_dict()
    assert result["quota"]["unknown"] == "regions.get answered 404 for regions/us-west1"
    assert mutating(emu) == []


def test_plan_live_reads_the_emulators_quotas_and_names_the_one_that_blocks(emulator_factory):
    """The emulator reports a new project's default quotas through regions.get: the default lab fits; with
    the CPU limit lowered below its nodes' vCPUs, the plan says CPUS blocks it (and changes nothing)."""
    emu = emulator_factory(projects={PROJECT: NUMBER})
    fits = CliRunner().invoke(main, ["plan", "--live"])
    assert fits.exit_code == 0, fits.output
    assert f"Quota in project {PROJECT}, region us-west1: fits" in fits.stdout
    EmulatorAdmin(emu.url).set_quotas(PROJECT, {"CPUS": 2})
    blocked = CliRunner().invoke(main, ["plan", "--live", "--json"])
    assert blocked.exit_code == 0, blocked.output
    quota = json.loads(blocked.stdout)["quota"]
    assert quota["fits"] is False
    cpus = next(row for row in quota["rows"] if row["metric"] == "CPUS")
    assert cpus["limit"] == 2 and cpus["fits"] is False and cpus["need"] > 2
    assert mutating(emu) == []
