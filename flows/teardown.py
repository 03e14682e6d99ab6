"""teardown_lab: remove a lab in dependency order, only what carries its marker; publish the outcome.

The lab is named by a spec (or a blueprint plus overrides), or by its identity (project and lab name, as
the reaper finds it): then its resources are found by their markers alone.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run as runtime_flow_run

from flows.common import publish, spec_run_name, tag_run, use_credentials
from flows.hooks import notify_completion, notify_failure
from flows.lab_lock import lab_lock
from flows.params import resolve_spec
from flows.progress import tracked
from gke_lab import progress
from gke_lab.clients import target_description
from gke_lab.errors import LabError
from gke_lab.identity import LabIdentity
from gke_lab.spec import LabSpec, SpecError
from gke_lab.teardown import PHASES, Report
from tasks import preflight as preflight_tasks
from tasks.teardown import teardown_phase

__all__ = ["LabIdentity", "teardown_lab"]


def run_name() -> str:
    params = runtime_flow_run.parameters or {}
    ident = params.get("identity")
    if ident:
        data = ident if isinstance(ident, dict) else ident.model_dump()
        return f"teardown {data.get('lab')}@{data.get('project_id')}"
    return spec_run_name("teardown", params)


def resolve_target(
    spec: LabSpec | None,
    blueprint: str | None,
    overrides: list[str] | None,
    identity: LabIdentity | dict[str, Any] | None,
) -> tuple[LabIdentity, LabSpec | None]:
    """(the lab's identity, its spec or None). Validated before any cloud call."""
    if identity is not None:
        if spec is not None or blueprint or overrides:
            raise SpecError(
                [("identity", "give either a lab identity or a spec/blueprint/overrides, not both")]
            )
        ident = identity if isinstance(identity, LabIdentity) else LabIdentity.model_validate(identity)
        return ident, None
    lab = resolve_spec(spec, blueprint, overrides)
    return LabIdentity.from_spec(lab), lab


@flow(
    name="teardown-lab",
    flow_run_name=run_name,
    persist_result=True,
    log_prints=True,
    on_completion=[notify_completion],
    on_failure=[notify_failure],
    on_crashed=[notify_failure],
)
def teardown_lab(
    spec: LabSpec | None = None,
    blueprint: str | None = None,
    overrides: list[str] | None = None,
    identity: LabIdentity | None = None,
    credentials_block: str | None = None,
    destroy_keys: bool = False,
    dry_run: bool = False,
) -> dict[str, Any]:
    """Tear a lab down (idempotent: a lab that is already gone is success with nothing to do).

    Args:
        spec: The lab to tear down (a LabSpec); empty = the default lab. Give either this or `blueprint`.
        blueprint: Name of a saved LabBlueprint block to use as the spec instead of `spec`.
        overrides: `PATH=VALUE` changes applied on top of the spec, e.g. `cluster.num_nodes=2`
            (values are YAML).
        identity: A lab found by the reaper or `gke-lab list` (project, lab name, regions), instead of a
            spec; only what carries the lab's marker is deleted.
        credentials_block: Name of a prefect-gcp GcpCredentials block (default: Application Default
            Credentials).
        destroy_keys: Also schedule destruction of the lab's KMS key versions (data encrypted with them
            becomes unreadable); by default the keys are kept.
        dry_run: Only report what would be deleted and what would be kept; change nothing.
    """
    log = get_run_logger()
    ident, lab_spec = resolve_target(spec, blueprint, overrides, identity)
    use_credentials(credentials_block)
    tag_run(ident)
    mode = "dry run of the teardown of" if dry_run else "tearing down"
    log.info("%s lab %s in %s (%s)", mode, ident.lab, ident.project_id, target_description())

    with tracked(ident, progress.TEARDOWN, "teardown-lab") as tracker:
        report = Report(ident.project_id, ident.lab, dry_run)
        with lab_lock(ident):  # never races a provision (or another teardown) of the same lab
            tracker.start(PHASES[0].name)
            # Read-only, inside the lock like the provision's: what the project lets the caller do.
            preflight_tasks.check(ident if lab_spec is None else lab_spec, "down")
            for phase in PHASES:
                tracker.start(phase.name)
                rows = teardown_phase(phase.name, ident, lab_spec, destroy_keys=destroy_keys, dry_run=dry_run)
                report.add(rows)
                if phase.blocks(rows):
                    break

        publish(ident, "teardown", report.markdown(), "Teardown outcome: deleted, kept and why")
        for row in report.rows:
            log.info("%s %s %s: %s %s", row.phase, row.kind, row.name, row.action, row.reason)
        problem = report.problem()
        if problem:
            raise LabError(problem)
        return report.to_dict()
