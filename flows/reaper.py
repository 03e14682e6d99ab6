"""reap_expired_labs: end every lab whose expiry has passed, as teardown subflows, and report why."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact

from flows.common import use_credentials
from flows.hooks import notify_completion, notify_failure
from flows.teardown import teardown_lab
from gke_lab import reaper_config, reaping
from gke_lab.errors import LabError
from gke_lab.expiry import DEFAULT_TTL_HOURS
from gke_lab.identity import LabIdentity
from gke_lab.teardown import Report
from tasks.teardown import find_expired_labs


@flow(
    name="reap-expired-labs",
    persist_result=True,
    log_prints=True,
    on_completion=[notify_completion],
    on_failure=[notify_failure],
    on_crashed=[notify_failure],
)
def reap_expired_labs(
    projects: list[str] | None = None,
    locations: list[str] | None = None,
    dry_run: bool = False,
    exclude: list[str] | None = None,
    default_ttl_hours: float = DEFAULT_TTL_HOURS,
    destroy_keys: bool = False,
    credentials_block: str | None = None,
) -> dict[str, Any]:
    """Tear down expired labs in `projects` (clusters in `locations`, `-` = all) and their orphans.

    Unlabelled clusters, unexpired labs and `exclude`d labs are never touched. `default_ttl_hours` is the
    TTL counted from the cluster's createTime when its expiry label is missing or corrupt.

    Args:
        projects: Project IDs to look for expired labs in (default: GKE_LAB_REAPER_PROJECTS in the
            worker's environment, comma-separated; with neither, the reaper does nothing and says so).
        locations: Cluster locations to look in (default: all, `-`).
        dry_run: Only report which labs would be torn down; change nothing.
        exclude: Lab names never to reap.
        default_ttl_hours: TTL in hours counted from the cluster's createTime when its expiry label is
            missing or corrupt.
        destroy_keys: Also schedule destruction of the reaped labs' KMS key versions.
        credentials_block: Name of a prefect-gcp GcpCredentials block (default: Application Default
            Credentials).
    """
    log = get_run_logger()
    projects = list(projects or reaper_config.configured_projects())
    if not projects:
        log.warning(reaper_config.NOTHING_CONFIGURED)
        create_markdown_artifact(
            markdown=f"# Reaper\n\n{reaper_config.NOTHING_CONFIGURED}.\n",
            key="reaper-report",
            description="Labs reaped and skipped, and why",
        )
        return {"decisions": [], "outcomes": {}, "dry_run": dry_run, "note": reaper_config.NOTHING_CONFIGURED}
    use_credentials(credentials_block)
    plan = find_expired_labs(list(projects), list(locations or ["-"]), list(exclude or []), default_ttl_hours)
    outcomes: dict[str, str] = {}
    for d in plan.to_reap:
        # Each lab on its own: one lab's failure is reported and the others are still reaped.
        outcomes[f"{d.project_id}/{d.lab}"] = _reap_one(d, credentials_block, destroy_keys, dry_run)
    for d in plan.decisions:
        if d.action == reaping.SKIP:
            log.info("skipped %s (%s): %s", d.lab, d.cluster or d.project_id, d.reason)
    create_markdown_artifact(
        markdown=reaping.markdown(plan, outcomes, dry_run=dry_run),
        key="reaper-report",
        description="Labs reaped and skipped, and why",
    )
    failed = [k for k, v in outcomes.items() if v.startswith("failed")]
    if failed:
        raise LabError(f"the teardown of {', '.join(failed)} failed; the next reaper run retries")
    return {**plan.to_dict(), "outcomes": outcomes, "dry_run": dry_run}


def _reap_one(d: reaping.Decision, credentials_block: str | None, destroy_keys: bool, dry_run: bool) -> str:
    """The outcome of one lab's teardown subflow, as a line of the report (never raises)."""
    log = get_run_logger()
    try:
        identity = LabIdentity(project_id=d.project_id, lab=d.lab, regions=tuple(d.regions))
        log.info("%s lab %s in %s: %s", "would reap" if dry_run else "reaping", d.lab, d.project_id, d.reason)
        state = teardown_lab(
            identity=identity,
            credentials_block=credentials_block,
            destroy_keys=destroy_keys,
            dry_run=dry_run,
            return_state=True,
        )
        if not state.is_completed():
            return f"failed: {state.message or state.name}"
        done = len(Report.from_dict(state.result()).removed)
    except Exception as exc:  # noqa: BLE001 - reported in the outcome; the next lab still goes
        log.exception("reaping lab %s in %s failed", d.lab, d.project_id)
        return f"failed: {type(exc).__name__}: {exc}"
    return f"{'dry run: ' if dry_run else ''}{done} resource(s) {'to delete' if dry_run else 'removed'}"
