"""`gke-lab plan` shows the lab's hourly cost (offline too) and, live, its quota rows; the plan flow's
artifacts are rendered from the same core objects."""

from __future__ import annotations

import json
from types import SimpleNamespace

from click.testing import CliRunner
from google.api_core import exceptions as gexc

from gke_lab import quotas, reports
from gke_lab.cli import main
from gke_lab.cost import hourly
from gke_lab.plan import LivePlan, build_plan, quota_report, render_text
from gke_lab.spec import LabSpec


def region_answer(**limits_usage: tuple[float, float]) -> SimpleNamespace:
    return SimpleNamespace(
        quotas=[SimpleNamespace(metric=m, limit=lim, usage=use) for m, (lim, use) in limits_usage.items()]
    )


class Regions:
    def __init__(self, answer=None, error=None):
        self.answer, self.error = answer, error

    def get(self, project, region):
        if self.error is not None:
            raise self.error
        return self.answer


def test_offline_plan_prints_the_cost_section():
    result = CliRunner().invoke(main, ["plan", "--offline"])
    assert result.exit_code == 0, result.output
    assert "Cost per hour (USD, list prices read " in result.stdout
    assert "GKE cluster management" in result.stdout
    assert "total: at least $" in result.stdout  # the node price is not in the table
    assert "Quota in project" not in result.stdout  # quotas need the live project


def test_plan_json_has_the_cost():
    result = CliRunner().invoke(main, ["plan", "--offline", "--json"])
    plan = json.loads(result.stdout)
    assert plan["cost"] == hourly(LabSpec()).to_dict()
    assert "quota" not in plan


def test_live_quota_rows_say_which_quota_blocks():
    spec = LabSpec()
    clients = SimpleNamespace(regions=Regions(region_answer(CPUS=(24, 22), DISKS_TOTAL_GB=(4096, 0))))
    report = quota_report(clients, spec)
    plan = build_plan(spec).with_live(LivePlan(quota=report))
    text = render_text(plan)
    title = "Quota in project gke-detail, region us-west1: blocked: "
    assert title + "project gke-detail: CPUS needs 4, 2 free of 24" in text
    assert [line.split() for line in text.splitlines() if line.strip().startswith("CPUS")] == [
        ["CPUS", "4", "2", "24", "BLOCKS"]
    ]
    assert plan.to_dict()["quota"]["blocked"] == ["project gke-detail: CPUS needs 4, 2 free of 24"]


def test_live_quota_that_fits():
    roomy = region_answer(
        CPUS=(24, 0),
        INSTANCES=(240, 0),
        DISKS_TOTAL_GB=(4096, 0),
        IN_USE_ADDRESSES=(8, 0),
        STATIC_ADDRESSES=(8, 0),
    )
    report = quota_report(SimpleNamespace(regions=Regions(roomy)), LabSpec())
    assert report.verdict() == "fits"
    assert "Quota in project gke-detail, region us-west1: fits" in render_text(
        build_plan(LabSpec()).with_live(LivePlan(quota=report))
    )


def test_quotas_the_target_does_not_report_are_unknown_not_a_failure():
    for error in (gexc.NotFound("no route"), gexc.Forbidden("denied"), RuntimeError("connection refused")):
        report = quota_report(SimpleNamespace(regions=Regions(error=error)), LabSpec())
        assert report.fits is None
        assert report.verdict().startswith("quotas unknown: ")
        text = render_text(build_plan(LabSpec()).with_live(LivePlan(quota=report)))
        assert "Quota in project gke-detail, region us-west1: quotas unknown: " in text


def test_flow_artifacts_render_the_same_objects():
    spec = LabSpec()
    cost_md = reports.cost_markdown(hourly(spec))
    assert cost_md.startswith("# Cost per hour: at least $")
    assert "[2026-12-03](https://cloud.google.com/kubernetes-engine/pricing)" in cost_md
    assert "730 hours" in cost_md
    report = quotas.report(
        quotas.needs(spec), quotas.parse("p", "us-west1", [{"metric": "CPUS", "limit": 8, "usage": 6}])
    )
    quota_md = reports.quota_markdown(report)
    assert quota_md.startswith("# Quota in p / us-west1: blocked: project p: CPUS needs 4, 2 free of 8")
    assert "| CPUS | 4 | 2 | 8 | **blocks** |" in quota_md
    unknown = reports.quota_markdown(
        quotas.QuotaReport("p", "us-west1", unknown="regions.get answered 404 for regions/us-west1")
    )
    why = "regions.get answered 404 for regions/us-west1"
    assert unknown == f"# Quota in p / us-west1: quotas unknown: {why}\n"
