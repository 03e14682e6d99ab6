"""verify_lab: re-verify an existing lab (cluster -> echo verification -> CIS audit -> artifacts).

Read-only: it never creates or changes anything, so it takes no lock. Same parameters as provision_lab.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run as runtime_flow_run

from flows.common import publish, spec_run_name, use_credentials
from flows.hooks import notify_completion, notify_failure
from flows.params import resolve_spec
from gke_lab import reports
from gke_lab.audit import summary
from gke_lab.clients import target_description
from gke_lab.errors import LabError
from gke_lab.spec import LabSpec
from tasks import audit as audit_tasks
from tasks import network as network_tasks
from tasks import workload as workload_tasks


def run_name() -> str:
    return spec_run_name("verify", runtime_flow_run.parameters or {})


class VerificationFailed(LabError):
    """At least one verification check failed (the report artifact says which)."""


@flow(
    name="verify-lab",
    flow_run_name=run_name,
    log_prints=True,
    on_completion=[notify_completion],
    on_failure=[notify_failure],
    on_crashed=[notify_failure],
)
def verify_lab(
    spec: LabSpec | None = None,
    blueprint: str | None = None,
    overrides: list[str] | None = None,
    credentials_block: str | None = None,
) -> dict[str, Any]:
    """Re-verify a lab: echo service through the API proxy, nodes and pods, CIS audit; publish the reports.

    Args:
        spec: The lab to verify (a LabSpec); empty = the default lab. Give either this or `blueprint`.
        blueprint: Name of a saved LabBlueprint block to use as the spec instead of `spec`.
        overrides: `PATH=VALUE` changes applied on top of the spec, e.g. `cluster.num_nodes=2`
            (values are YAML).
        credentials_block: Name of a prefect-gcp GcpCredentials block (default: Application Default
            Credentials).
    """
    log = get_run_logger()
    lab = resolve_spec(spec, blueprint, overrides)
    use_credentials(credentials_block)
    target = target_description()
    log.info("verifying lab %s in %s (%s)", lab.lab, lab.project_id, target)

    access = audit_tasks.cluster_access(lab)
    if access.status != "RUNNING" or not access.endpoint:
        raise LabError(f"{lab.cluster_name} is {access.status}; nothing to verify", resource=lab.cluster_name)
    if access.lab != lab.lab:
        raise LabError(f"{lab.cluster_name} is not labelled for lab {lab.lab!r}", resource=lab.cluster_name)
    checks_future = audit_tasks.audit_cluster.submit(lab)
    impact_future = network_tasks.network_impact.submit(lab)
    verification = workload_tasks.verify_echo(lab, access)
    checks = checks_future.result()
    impact = impact_future.result()

    publish(lab, "verification", reports.verification_markdown(verification), "Echo service verification")
    publish(lab, "cis-audit", reports.audit_markdown(checks), "CIS GKE checks of the live cluster")
    publish(
        lab,
        "vpc-impact",
        reports.vpc_impact_markdown(impact.firewalls, impact.routes, network=lab.network.name),
        "Firewall rules and routes of the lab network",
    )
    card = reports.lab_card_markdown(
        lab,
        endpoint=access.endpoint,
        expires=access.expires,
        verification_passed=bool(verification["passed"]),
        audit_summary=summary(checks),
        target=target,
    )
    publish(lab, "lab-card", card, "How to reach the lab")
    result = {"lab": lab.lab, "project": lab.project_id, "verification": verification, "audit": checks}
    if not verification["passed"]:
        failed = [c["id"] for c in verification["checks"] if not c["passed"]]
        raise VerificationFailed(f"lab {lab.lab}: verification failed: {', '.join(failed)}", resource=lab.lab)
    return result
