"""plan_lab: a dry run. Validates the spec, publishes the IP plan and compares with the live project.

Read-only: only get/list calls reach the cloud, so it takes no lock. Same parameters as provision_lab.
It starts with the preflight (published as a table) and fails on its first problem, as `plan --live` does.
"""

from __future__ import annotations

from typing import Any

from prefect import flow
from prefect.runtime import flow_run as runtime_flow_run

from flows.common import publish, spec_run_name, use_credentials
from flows.hooks import notify_completion, notify_failure
from flows.params import resolve_spec
from gke_lab import cost, ipplan, preflight, reports
from gke_lab.plan import LivePlan, build_plan, live_detail, render_text
from gke_lab.preflight import PreflightError
from gke_lab.spec import LabSpec
from tasks import preflight as preflight_tasks
from tasks import project as project_tasks


def run_name() -> str:
    return spec_run_name("plan", runtime_flow_run.parameters or {})


def live_markdown(live: LivePlan) -> str:
    rows = [[str(d.action), d.kind, d.name, live_detail(d)] for d in live.rows()]
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
    publish(lab, "ip-plan", reports.ip_plan_markdown(ipplan.plan(lab)), "IP plan of the lab network")
    publish(lab, "cost", reports.cost_markdown(cost.hourly(lab)), "Hourly cost of the lab")
    # The same checks as `plan --live`, as a table; a failed check fails the run with its one line.
    try:
        checked = preflight_tasks.check(lab, "plan")
    except PreflightError as exc:
        publish(
            lab,
            "preflight",
            preflight.markdown(exc.checked),
            "Preflight: what the project lets the caller do",
        )
        raise
    publish(lab, "preflight", preflight.markdown(checked), "Preflight: what the project lets the caller do")
    live = project_tasks.live_plan(lab)
    plan = build_plan(lab).with_live(live)
    publish(lab, "plan", live_markdown(live), "What a provisioning run would do")
    if live.quota is not None:
        publish(
            lab, "quota", reports.quota_markdown(live.quota), "The lab's needs against the project's quotas"
        )
    print(render_text(plan))
    return plan.to_dict()
