"""extend_lab: move a lab's expiry later (what `/lab extend NAME 2h` and `gke-lab extend` do)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run as runtime_flow_run

from flows.common import lab_lock, use_credentials
from flows.hooks import notify_completion, notify_failure
from gke_lab import reaping
from gke_lab.clients import Clients
from gke_lab.identity import LabIdentity


def run_name() -> str:
    params = runtime_flow_run.parameters or {}
    return f"extend {params.get('lab', '?')}@{params.get('project_id', '?')}"


@flow(
    name="extend-lab",
    flow_run_name=run_name,
    log_prints=True,
    on_completion=[notify_completion],
    on_failure=[notify_failure],
    on_crashed=[notify_failure],
)
def extend_lab(
    project_id: str,
    lab: str,
    hours: float,
    locations: list[str] | None = None,
    credentials_block: str | None = None,
) -> dict[str, Any]:
    """Move the lab's `gke-lab-expires` label `hours` past the later of now and its current expiry.

    Args:
        project_id: Project of the lab.
        lab: Lab name (the `gke-lab` label of its resources).
        hours: Hours to add, counted from now or from the current expiry, whichever is later.
        locations: Cluster locations to look in (default: all).
        credentials_block: Name of a prefect-gcp GcpCredentials block (default: Application Default
            Credentials).
    """
    if hours <= 0:
        raise ValueError(f"hours: must be a positive number of hours, got {hours}")
    log = get_run_logger()
    use_credentials(credentials_block)
    identity = LabIdentity(project_id=project_id, lab=lab)  # refuses a malformed name before any call
    with lab_lock(identity):  # the same one-slot limit provision and teardown hold
        done = reaping.extend_lab(
            Clients.from_env(), project_id, lab, hours, locations=list(locations or ["-"])
        )
    rows = "\n".join(f"| `{e.resource}` | {e.old or '(none)'} | {e.new} |" for e in done)
    create_markdown_artifact(
        markdown=f"## Lab `{lab}` extended by {hours} h\n\n"
        f"| resource | old expiry | new expiry |\n|---|---|---|\n{rows}\n",
        description="New expiry of the lab",
    )
    for e in done:
        log.info("%s: gke-lab-expires %s -> %s", e.resource, e.old or "(none)", e.new)
    return {"lab": lab, "project_id": project_id, "expires": int(done[0].new) if done else None}
