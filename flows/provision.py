"""provision_lab: an empty project -> a private, CMEK-encrypted GKE cluster with a verified echo service.

The flow only orders tasks and publishes artifacts; every step is an idempotent ensure in tasks/.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger
from prefect.runtime import flow_run as runtime_flow_run

from flows.common import publish, run_stamp, spec_run_name, tag_run, use_credentials
from flows.hooks import notify_completion, notify_failure
from flows.lab_lock import lab_lock
from flows.params import resolve_spec
from flows.progress import tracked
from gke_lab import ipplan, progress, reports
from gke_lab.clients import target_description
from gke_lab.errors import LabError
from gke_lab.ownership import marker_for
from gke_lab.resources.crypto_key import WHICH
from gke_lab.spec import LabSpec
from tasks import audit as audit_tasks
from tasks import cluster as cluster_tasks
from tasks import iam as iam_tasks
from tasks import kms as kms_tasks
from tasks import network as network_tasks
from tasks import pools as pool_tasks
from tasks import preflight as preflight_tasks
from tasks import project as project_tasks
from tasks import workload as workload_tasks


def run_name() -> str:
    return spec_run_name("provision", runtime_flow_run.parameters or {})


@flow(
    name="provision-lab",
    flow_run_name=run_name,
    persist_result=True,
    log_prints=True,
    on_completion=[notify_completion],
    on_failure=[notify_failure],
    on_crashed=[notify_failure],
)
def provision_lab(
    spec: LabSpec | None = None,
    blueprint: str | None = None,
    overrides: list[str] | None = None,
    credentials_block: str | None = None,
) -> dict[str, Any]:
    """Provision a hardened GKE lab and verify it (idempotent: a finished lab is left untouched).

    Args:
        spec: The lab to provision (a LabSpec); empty = the default lab. Give either this or `blueprint`.
        blueprint: Name of a saved LabBlueprint block to use as the spec instead of `spec`.
        overrides: `PATH=VALUE` changes applied on top of the spec, e.g. `cluster.num_nodes=2`
            (values are YAML).
        credentials_block: Name of a prefect-gcp GcpCredentials block (default: Application Default
            Credentials).
    """
    log = get_run_logger()
    lab = resolve_spec(spec, blueprint, overrides)
    use_credentials(credentials_block)
    tag_run(lab)
    publish(lab, "ip-plan", reports.ip_plan_markdown(ipplan.plan(lab)), "IP plan of the lab network")
    target = target_description()
    log.info("provisioning lab %s in %s (%s)", lab.lab, lab.project_id, target)

    with tracked(lab, progress.PROVISION, "provision-lab") as tracker:
        with lab_lock(lab):
            tracker.start("preparing")
            # Read-only, but inside the lock: a run waiting for the lab's slot calls nothing.
            preflight_tasks.check(lab, "up")
            stamp = run_stamp()
            # First: a new project has its APIs disabled and its service agents missing.
            enabled = project_tasks.enable_services(lab)
            if enabled.enabled:
                log.info(
                    "enabled %s; service agents %s", ", ".join(enabled.enabled), ", ".join(enabled.agents)
                )
            number = project_tasks.project_number(lab.project_id, target)
            version = project_tasks.server_config(lab, target)
            if lab.delete_default_network:
                # Read-only guard before anything is created: refuse early, delete nothing.
                network_tasks.default_network_guard(lab)

            # Independent branches run concurrently.
            tracker.start("network, keys and service account")
            default_net = network_tasks.delete_default_network.submit(lab)
            vpc = network_tasks.vpc.submit(lab, stamp)
            subnet = network_tasks.subnet.submit(lab, stamp, vpc)  # type: ignore[call-overload]  # Prefect resolves the future argument
            nat = network_tasks.router_nat.submit(lab, stamp, subnet)
            ring = kms_tasks.ring.submit(lab)
            keys = [kms_tasks.key.submit(lab, stamp, which, ring) for which in WHICH]  # type: ignore[call-overload]  # Prefect resolves the future argument
            bindings = kms_tasks.bindings.submit(lab, number, keys)
            account = iam_tasks.account.submit(lab, stamp)
            roles = iam_tasks.roles.submit(lab, account)  # type: ignore[call-overload]  # Prefect resolves the future argument

            # Collect every step upstream first, so a failure surfaces with its own error rather than as
            # a downstream step that never ran.
            for step in (default_net, vpc, subnet, nat, ring, *keys, bindings, account, roles):
                step.result()
            nat_done, bindings_done, roles_done = nat.result(), bindings.result(), roles.result()
            tracker.start("cluster")
            access = cluster_tasks.cluster(lab, stamp, version.version, nat_done, bindings_done, roles_done)
            if access.recreated:
                log.warning("%s ended in ERROR on a key grant still propagating; recreated once", access.name)

            tracker.start("workload")
            workload = workload_tasks.deploy_echo(lab, access)
            tracker.start("verification")
            verification = workload_tasks.verify_echo(lab, access)
            checks = audit_tasks.audit_cluster(lab)
            impact = network_tasks.network_impact(lab)

        publish(
            lab,
            "vpc-impact",
            reports.vpc_impact_markdown(impact.firewalls, impact.routes),
            "Firewall rules and routes of the lab network",
        )
        publish(lab, "verification", reports.verification_markdown(verification), "Echo service verification")
        publish(lab, "cis-audit", reports.audit_markdown(checks), "CIS GKE checks of the live cluster")
        card = reports.lab_card_markdown(
            lab,
            endpoint=access.endpoint,
            expires=access.expires if access.expires is not None else marker_for(lab, stamp).expires,
            verification_passed=bool(verification.get("passed")),
            audit_summary={"passed": sum(1 for c in checks if c["passed"]), "total": len(checks)},
            target=target,
            version=access.version,
        )
        # How long each phase took against its estimate (the last one until now).
        card = card.rstrip() + "\n\n" + progress.timings_markdown(tracker.timings(include_current=True))
        publish(lab, "lab-card", card, "How to reach the lab")
        if not verification.get("passed"):
            failed = ", ".join(c["id"] for c in verification.get("checks", []) if not c["passed"])
            raise LabError(
                f"lab {lab.lab} is provisioned but its verification failed ({failed}); "
                "see the verification artifact",
                resource=lab.cluster_name,
            )
        if lab.pool:
            # Verified: only now may the pool hand the lab out (state absent -> ready).
            pool_tasks.mark_ready(lab)
    return {
        "lab": lab.lab,
        "project": lab.project_id,
        "cluster": access.model_dump(mode="json"),
        "workload": workload.model_dump(mode="json"),
        "verification": verification,
        "audit": checks,
        "lab_card": card,
    }
