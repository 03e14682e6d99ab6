"""`gke-lab plan`: validate a spec and show the IP plan and what a provisioning run would create.

The plan is built by plain functions (`build_plan`, `render_text`) so other faces can reuse it; a live
mode that compares with the project's current state plugs in through `set_live_hook`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import click

from gke_lab import ipplan
from gke_lab.cli import main
from gke_lab.ownership import marker_for
from gke_lab.requests import build_cluster, compute_agent, gke_agent, project_bindings
from gke_lab.spec import LabSpec, SpecError, format_errors
from gke_lab.spec_file import load_spec

PROJECT_NUMBER_PLACEHOLDER = "<PROJECT_NUMBER>"

LiveHook = Callable[[LabSpec, dict[str, Any]], dict[str, Any]]
_live_hook: LiveHook | None = None


def resources(spec: LabSpec) -> list[dict[str, str]]:
    """What a provisioning run creates (or reuses), in order."""
    p, r = spec.project_id, spec.region
    c = spec.cluster
    zones = len(c.node_locations)
    out: list[dict[str, str]] = []

    def add(kind: str, name: str, where: str, action: str = "create", detail: str = "") -> None:
        out.append({"kind": kind, "name": name, "where": where, "action": action, "detail": detail})

    if spec.delete_default_network:
        add(
            "compute.network",
            "default",
            f"projects/{p}",
            "delete",
            "only if nothing but its own rules use it",
        )
    add(
        "compute.network",
        spec.network.name,
        f"projects/{p}",
        detail=f"custom mode, {spec.network.routing_mode}",
    )
    add(
        "compute.subnetwork",
        spec.network.subnet.name,
        r,
        detail=f"{spec.network.subnet.cidr}; {spec.network.pods_range.name}={spec.network.pods_range.cidr}, "
        f"{spec.network.services_range.name}={spec.network.services_range.cidr}",
    )
    if spec.network.cloud_nat:
        add(
            "compute.router",
            spec.network.router,
            r,
            detail=f"Cloud NAT {spec.network.nat}, auto-allocated IPs",
        )
    add("kms.keyRing", spec.kms.keyring, spec.kms_location, "ensure", "reused when it exists")
    for which in ("node", "secrets"):
        add("kms.cryptoKey", spec.key_id(which), spec.kms_location, "ensure", "ENCRYPT_DECRYPT, software")
    add(
        "kms.iamBinding",
        spec.kms.node_key,
        "roles/cloudkms.cryptoKeyEncrypterDecrypter",
        detail=compute_agent(PROJECT_NUMBER_PLACEHOLDER),
    )
    add(
        "kms.iamBinding",
        spec.kms.secrets_key,
        "roles/cloudkms.cryptoKeyEncrypterDecrypter",
        detail=gke_agent(PROJECT_NUMBER_PLACEHOLDER),
    )
    add("iam.serviceAccount", spec.node_service_account.name, f"projects/{p}", detail=spec.node_sa_email)
    for role, member in project_bindings(spec):
        add("project.iamBinding", role, f"projects/{p}", detail=member)
    add(
        "container.cluster",
        c.name,
        r,
        detail=f"private, {zones} zones ({', '.join(c.node_locations)}), {c.num_nodes * zones} nodes "
        f"({c.autoscaling.min * zones}-{c.autoscaling.max * zones}), {c.machine_type}, "
        f"version {c.version or 'default'}",
    )
    add(
        "kubernetes.deployment",
        "echo-deployment",
        f"{c.name}/{spec.echo.namespace}",
        detail=f"{spec.echo.replicas} x {spec.echo.image}",
    )
    add(
        "kubernetes.service", "echo-service", f"{c.name}/{spec.echo.namespace}", detail="ClusterIP 80 -> 8080"
    )
    return out


def build_plan(spec: LabSpec, now: float | None = None) -> dict[str, Any]:
    """The plan as one JSON-able object: spec, ip_plan, resources, warnings and the cluster request body."""
    ip = ipplan.plan(spec)
    marker = marker_for(spec, time.time() if now is None else now)
    cluster = build_cluster(spec, None, marker)
    warnings = list(ip.warnings)
    if not spec.network.cloud_nat and not _google_registry(spec.echo.image):
        warnings.append(
            f"private nodes without Cloud NAT cannot pull {spec.echo.image}; set network.cloud_nat: true "
            "or use a Google registry image"
        )
    return {
        "spec": spec.model_dump(mode="json"),
        "ip_plan": ip.to_dict(),
        "resources": resources(spec),
        "warnings": warnings,
        "ownership": {"labels": marker.labels(), "description": marker.description()},
        "cluster_request": {
            "parent": spec.cluster_parent,
            "cluster": json.loads(type(cluster).to_json(cluster, use_integers_for_enums=False, indent=0)),
        },
    }


def _google_registry(image: str) -> bool:
    host = image.split("/", 1)[0]
    return host == "gcr.io" or host.endswith((".gcr.io", "-docker.pkg.dev", ".pkg.dev"))


def _n(value: int) -> str:
    return f"{value:,}"


def render_text(plan: dict[str, Any]) -> str:
    ip, spec = plan["ip_plan"], plan["spec"]
    net = spec["network"]
    binds = "pod range" if ip["binding_range"] == "pods_range" else "subnet"
    rows = [
        ("subnet (nodes)", ip["subnet_cidr"], f"{_n(ip['max_nodes_by_subnet'])} nodes"),
        (
            "pods",
            ip["pods_cidr"],
            f"{_n(ip['max_nodes_by_pod_range'])} nodes (/{ip['pod_cidr_per_node_prefix']} per node, "
            f"{ip['max_pods_per_node']} pods each)",
        ),
        ("services", ip["services_cidr"], f"{_n(ip['max_services'])} services"),
        ("control plane", spec["cluster"]["master_ipv4_cidr"], "/28 peered"),
    ]
    lines = [f"Lab {spec['lab']!r} in project {spec['project_id']}, region {spec['region']}", "", "IP plan"]
    w0, w1 = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    lines.append(f"  {'range':<{w0}}  {'CIDR':<{w1}}  limit")
    lines += [f"  {a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
    lines.append(
        f"  effective: {_n(ip['max_nodes'])} nodes ({binds} binds), {_n(ip['max_pods'])} pods, "
        f"{_n(ip['max_services'])} services; autoscaling up to {_n(ip['autoscaling_max_total'])} nodes"
    )
    lines += ["", f"Would create in {net['name']} / {spec['project_id']}"]
    res = plan["resources"]
    wk = max(len(r["kind"]) for r in res)
    wn = max(len(r["name"]) for r in res)
    wa = max(len(r["action"]) for r in res)
    for r in res:
        detail = f"  {r['detail']}" if r["detail"] else ""
        lines.append(f"  {r['action']:<{wa}}  {r['kind']:<{wk}}  {r['name']:<{wn}}  [{r['where']}]{detail}")
    if plan.get("live"):
        lines += ["", *render_live(plan["live"])]
    if plan["warnings"]:
        lines.append("")
        lines += [f"warning: {w}" for w in plan["warnings"]]
    return "\n".join(lines)


def render_live(live: dict[str, Any]) -> list[str]:
    """The live diff as a table: what a run would create, what exists, what differs or blocks it."""
    if "error" in live:
        return [f"Live state not read: {live['error']}"]
    rows: list[tuple[str, str, str, str]] = []
    for action in ("delete", "create", "exists", "differs", "blocked"):
        for entry in live.get(action, []):
            detail = entry.get("reason", "")
            if entry.get("differences"):
                detail = "; ".join(
                    f"{d['field']}: live {d['live']} != spec {d['spec']}" for d in entry["differences"]
                )
            rows.append((action, entry["kind"], entry["name"], detail))
    if not rows:
        return ["Live state: nothing to compare"]
    wa, wk, wn = (max(len(r[i]) for r in rows) for i in range(3))
    lines = ["Live state (what a run would do now)"]
    lines += [f"  {a:<{wa}}  {k:<{wk}}  {n:<{wn}}  {d}".rstrip() for a, k, n, d in rows]
    return lines


def set_live_hook(hook: LiveHook, help_text: str = "Compare with the project's live state.") -> None:
    """Adds `--live` to `gke-lab plan`; `hook(spec, plan)` returns the plan extended with the live diff."""
    global _live_hook
    _live_hook = hook
    if not any(p.name == "live" for p in plan_command.params):
        plan_command.params.append(
            click.Option(["--live/--offline"], default=None, help=help_text + _LIVE_DEFAULT_HELP)
        )


_LIVE_DEFAULT_HELP = (
    " Default: live when a target is configured (GKE_LAB_EMULATOR_HOST, or Application Default Credentials)."
)


def target_reachable() -> bool:
    """Whether to read live state without being asked: an emulator is named, or ADC are configured.

    Looks at configuration only (no network call, no metadata-server probe); a target that cannot be
    read is reported by the live hook and the static plan is still printed."""
    if os.environ.get("GKE_LAB_EMULATOR_HOST") or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS"):
        return True
    config = os.environ.get("CLOUDSDK_CONFIG") or os.path.join(os.path.expanduser("~"), ".config", "gcloud")
    return os.path.exists(os.path.join(config, "application_default_credentials.json"))


def fail_spec(exc: SpecError) -> None:
    """Field-named errors on stderr, exit code 2 (the CLI's answer to a bad spec)."""
    click.echo("invalid lab spec:", err=True)
    for line in format_errors(exc):
        click.echo(f"  {line}", err=True)
    sys.exit(2)


@main.command("plan")
@click.option("--spec", "spec_path", metavar="FILE", help="Lab spec YAML (default: the built-in spec).")
@click.option(
    "--set", "overrides", multiple=True, metavar="PATH=VALUE", help="Override a field (YAML value)."
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of tables.")
def plan_command(
    spec_path: str | None, overrides: tuple[str, ...], as_json: bool, live: bool | None = None
) -> None:
    """Validate the spec; print the IP plan and what a run would create."""
    try:
        spec = load_spec(spec_path, list(overrides))
    except SpecError as exc:
        fail_spec(exc)
        return
    plan = build_plan(spec)
    if _live_hook is not None and (live if live is not None else target_reachable()):
        plan = _live_hook(spec, plan)
    click.echo(json.dumps(plan, indent=2) if as_json else render_text(plan))
