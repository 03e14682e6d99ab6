"""plan_lab: a dry run. Validates the spec, publishes the IP plan and compares with the live project.

Read-only: only get/list calls reach the cloud, so it takes no lock. Same parameters as provision_lab.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.runtime import flow_run as runtime_flow_run

from flows.common import publish, spec_run_name, use_credentials
from flows.hooks import notify_completion, notify_failure
from flows.params import resolve_spec
from gke_lab import ipplan, reports
from gke_lab.cli.plan import build_plan, render_text
from gke_lab.spec import LabSpec
from tasks import project as project_tasks


def run_name() -> str:
    return spec_run_name("plan", runtime_flow_run.parameters or {})


def live_markdown(live: dict[str, Any]) -> str:
    rows = []
    for status in ("delete", "create", "exists", "differs", "blocked"):
        for item in live.get(status, []):
            detail = item.get("reason") or "; ".join(
                f"{d['field']}: live {d['live']}, spec {d['spec']}" for d in item.get("differences", [])
            )
            rows.append([status, item["kind"], item["name"], detail])
    return "# Live plan\n\n" + reports.table(["action", "kind", "name", "detail"], rows) + "\n"


@flow(
    name="plan-lab",
    flow_run_name=run_name,
    log_prints=True,
    on_completion=[notify_completion],
    on_failure=[notify_failure],
    on_crashed=[notify_failure],
)
def plan_lab(
    spec: LabSpec | None = None,
    blueprint: str | None = None,
    overrides: list[str] | None = None,
    credentials_block: str | None = None,
) -> dict[str, Any]:
    """Validate the spec, show the IP plan and what a provisioning run would create, exists or differs.

    Args:
        spec: The lab to plan (a LabSpec); empty = the default lab. Give either this or `blueprint`.
        blueprint: Name of a saved LabBlueprint block to use as the spec instead of `spec`.
        overrides: `PATH=VALUE` changes applied on top of the spec, e.g. `cluster.num_nodes=2`
            (values are YAML).
        credentials_block: Name of a prefect-gcp GcpCredentials block (default: Application Default
            Credentials).
    """
    lab = resolve_spec(spec, blueprint, overrides)
    use_credentials(credentials_block)
    plan = build_plan(lab)
    publish(lab, "ip-plan", reports.ip_plan_markdown(ipplan.plan(lab)), "IP plan of the lab network")
    plan["live"] = project_tasks.live_state(lab)
    publish(lab, "plan", live_markdown(plan["live"]), "What a provisioning run would do")
    print(render_text(plan))
    return plan
