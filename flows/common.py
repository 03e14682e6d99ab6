"""Plumbing every flow shares: the per-lab lock, run tags, the expiry stamp, credentials and artifacts.

Flow modules import these and only order tasks and publish.
"""

from __future__ import annotations

import re
from typing import Any

from prefect.artifacts import create_markdown_artifact
from prefect.client.orchestration import get_client
from prefect.context import FlowRunContext
from prefect.runtime import flow_run as runtime_flow_run

from flows.lab_lock import lab_lock, lock_name  # noqa: F401 - the flows' lock
from flows.params import resolve_spec
from gke_lab.clients import set_default_credentials
from gke_lab.identity import LabIdentity, identity_of
from gke_lab.spec import LabSpec


def spec_run_name(verb: str, params: dict[str, Any]) -> str:
    """`<verb> <lab>@<project>` for a run given a spec, blueprint or overrides."""
    try:
        spec = resolve_spec(params.get("spec"), params.get("blueprint"), params.get("overrides"))
        return f"{verb} {spec.lab}@{spec.project_id}"
    except Exception:  # noqa: BLE001 - the flow body reports a bad spec properly
        return f"{verb} (invalid spec)"


def tag_run(lab: LabSpec | LabIdentity) -> None:
    ctx = FlowRunContext.get()
    if ctx is None or ctx.flow_run is None:
        return
    ident = identity_of(lab)
    tags = sorted(set(ctx.flow_run.tags or []) | {f"lab:{ident.lab}", f"project:{ident.project_id}"})
    with get_client(sync_client=True) as client:
        client.update_flow_run(ctx.flow_run.id, tags=tags)


def run_stamp() -> float:
    """The time the expiry is counted from: the flow run's creation, stable across flow-level retries."""
    ctx = FlowRunContext.get()
    created = ctx.flow_run.created if ctx and ctx.flow_run else None
    if created is None:
        return float(runtime_flow_run.scheduled_start_time.timestamp())
    return float(int(created.timestamp()))


def use_credentials(credentials_block: str | None) -> None:
    """Resolve a prefect-gcp GcpCredentials block into google.auth credentials (never a parameter value)."""
    if not credentials_block:
        set_default_credentials(None)
        return
    from prefect_gcp import GcpCredentials

    set_default_credentials(GcpCredentials.load(credentials_block).get_credentials_from_service_account())


def artifact_key(lab: LabSpec | LabIdentity, what: str) -> str:
    ident = identity_of(lab)
    return re.sub(r"[^a-z0-9-]+", "-", f"{ident.lab}-{ident.project_id}-{what}".lower()).strip("-")


def publish(lab: LabSpec | LabIdentity, what: str, markdown: str, description: str) -> None:
    create_markdown_artifact(markdown=markdown, key=artifact_key(lab, what), description=description)
