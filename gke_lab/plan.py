"""The plan of a lab: what a provisioning run creates (offline) and what it would do now (live).

Built here, in the core, as typed rows; the command line and the plan flow only render them. The live
part is a loop over the resource modules' `assess` (the very decisions `ensure` acts on), so the plan
says what `up` does: a refusal is BLOCKED, a drift that stops the run is DIFFERS.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import TYPE_CHECKING, Any, cast

from gke_lab import cost, ipplan, quotas
from gke_lab.ownership import Marker, marker_for
from gke_lab.requests import (
    REQUIRED_SERVICES,
    build_cluster,
    compute_agent,
    gke_agent,
    project_bindings,
    upgrade_hold,
)
from gke_lab.spec import LabSpec

# The offline plan (`gke-lab plan --offline`) needs neither the resource modules nor the Google client
# libraries they import: the live part imports them when it runs.
if TYPE_CHECKING:
    from gke_lab.clients import Clients
    from gke_lab.resources.decision import Action, Decision

PROJECT_NUMBER_PLACEHOLDER = "<PROJECT_NUMBER>"


def live_actions() -> tuple[Action, ...]:
    """The order of the live table and of the JSON groups ("skip" rows are left out: the run does nothing)."""
    from gke_lab.resources.decision import Action

    return (Action.DELETE, Action.CREATE, Action.EXISTS, Action.UPDATE, Action.DIFFERS, Action.BLOCKED)


@dataclass(frozen=True)
class PlanRow:
    """One resource a provisioning run creates (or reuses), as the offline plan lists it."""

    kind: str
    name: str
    where: str
    action: str = "create"
    detail: str = ""


@dataclass(frozen=True)
class LivePlan:
    """The decisions for the live project, or why it could not be read, and the lab's quotas there."""

    decisions: tuple[Decision, ...] = ()
    error: str | None = None
    quota: quotas.QuotaReport | None = None

    def rows(self) -> list[Decision]:
        return [d for action in live_actions() for d in self.decisions if d.action is action]

    def to_dict(self) -> dict[str, Any]:
        if self.error is not None:
            return {"error": self.error}
        from gke_lab.resources.decision import Action

        groups: dict[str, list[dict[str, Any]]] = {str(action): [] for action in live_actions()}
        for d in self.rows():
            entry: dict[str, Any] = {"kind": d.kind, "name": d.name}
            if d.action is Action.BLOCKED:
                entry["reason"] = d.message
            elif d.action is Action.DIFFERS:
                entry["differences"] = [
                    {"field": x.field, "live": str(x.live), "spec": str(x.spec)} for x in d.differences
                ]
            elif d.action is Action.UPDATE:
                entry["detail"] = d.detail
            groups[str(d.action)].append(entry)
        return groups


@dataclass(frozen=True)
class Plan:
    spec: LabSpec
    ip_plan: ipplan.IpPlan
    rows: tuple[PlanRow, ...]
    warnings: tuple[str, ...]
    marker: Marker
    cost: cost.Cost
    live: LivePlan | None = field(default=None)

    @property
    def labels(self) -> dict[str, str]:
        return self.marker.labels()

    @property
    def description(self) -> str:
        return self.marker.description()

    @cached_property
    def cluster_request(self) -> dict[str, Any]:
        """The body of `clusters.create`, built when asked for: it needs the container client library."""
        body = build_cluster(self.spec, None, self.marker)
        return {
            "parent": self.spec.cluster_parent,
            "cluster": json.loads(type(body).to_json(body, use_integers_for_enums=False, indent=0)),
        }

    def with_live(self, live: LivePlan) -> Plan:
        return replace(self, live=live)

    def to_dict(self) -> dict[str, Any]:
        """The plan as one JSON object (what `gke-lab plan --json` prints and the plan flow returns)."""
        out: dict[str, Any] = {
            "spec": self.spec.model_dump(mode="json"),
            "ip_plan": self.ip_plan.to_dict(),
            "resources": [vars(r).copy() for r in self.rows],
            "warnings": list(self.warnings),
            "ownership": {"labels": dict(self.labels), "description": self.description},
            "cluster_request": self.cluster_request,
            "cost": self.cost.to_dict(),
        }
        if self.live is not None:
            out["live"] = self.live.to_dict()
            if self.live.quota is not None:
                out["quota"] = self.live.quota.to_dict()
        return out


# ------------------------------------------------------------------------------------------ offline


def resources(spec: LabSpec) -> list[PlanRow]:
    """What a provisioning run creates (or reuses), in order."""
    p, r = spec.project_id, spec.region
    c = spec.cluster
    zones = len(c.node_locations)
    net = spec.network
    rows: list[PlanRow] = [
        PlanRow("serviceusage.service", name, f"projects/{p}", "ensure", "enabled when disabled")
        for name in REQUIRED_SERVICES
    ]
    if spec.delete_default_network:
        rows.append(
            PlanRow(
                "compute.network",
                "default",
                f"projects/{p}",
                "delete",
                "only if nothing but its own rules use it",
            )
        )
    rows.append(
        PlanRow("compute.network", net.name, f"projects/{p}", detail=f"custom mode, {net.routing_mode}")
    )
    rows.append(
        PlanRow(
            "compute.subnetwork",
            net.subnet.name,
            r,
            detail=f"{net.subnet.cidr}; {net.pods_range.name}={net.pods_range.cidr}, "
            f"{net.services_range.name}={net.services_range.cidr}",
        )
    )
    if net.cloud_nat:
        rows.append(
            PlanRow("compute.router", net.router, r, detail=f"Cloud NAT {net.nat}, auto-allocated IPs")
        )
    rows.append(
        PlanRow("kms.keyRing", spec.kms.keyring, spec.kms_location, "ensure", "reused when it exists")
    )
    for key_id in (spec.kms.node_key, spec.kms.secrets_key):
        rows.append(
            PlanRow("kms.cryptoKey", key_id, spec.kms_location, "ensure", "ENCRYPT_DECRYPT, software")
        )
    role = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
    rows.append(
        PlanRow("kms.iamBinding", spec.kms.node_key, role, detail=compute_agent(PROJECT_NUMBER_PLACEHOLDER))
    )
    rows.append(
        PlanRow("kms.iamBinding", spec.kms.secrets_key, role, detail=gke_agent(PROJECT_NUMBER_PLACEHOLDER))
    )
    rows.append(
        PlanRow(
            "iam.serviceAccount", spec.node_service_account.name, f"projects/{p}", detail=spec.node_sa_email
        )
    )
    for binding_role, member in project_bindings(spec):
        rows.append(PlanRow("project.iamBinding", binding_role, f"projects/{p}", detail=member))
    rows.append(
        PlanRow(
            "container.cluster",
            c.name,
            r,
            detail=f"private, {zones} zones ({', '.join(c.node_locations)}), {c.num_nodes * zones} nodes "
            f"({c.autoscaling.min * zones}-{c.autoscaling.max * zones}), {c.machine_type}, "
            f"{channel_summary(spec)}",
        )
    )
    where = f"{c.name}/{spec.echo.namespace}"
    rows.append(
        PlanRow(
            "kubernetes.deployment",
            "echo-deployment",
            where,
            detail=f"{spec.echo.replicas} x {spec.echo.image}",
        )
    )
    rows.append(PlanRow("kubernetes.service", "echo-service", where, detail="ClusterIP 80 -> 8080"))
    return rows


NO_CHANNEL_REMOVAL = "2027-06-14"


def version_source(spec: LabSpec) -> str:
    """Where the cluster version comes from (resolved from serverConfig at run time)."""
    c = spec.cluster
    lists = f"serverConfig.channels[{c.release_channel}]" if c.release_channel else "validMasterVersions"
    return f"{c.version} from {lists}" if c.version else f"the default of {lists}"


def channel_summary(spec: LabSpec, marker: Marker | None = None) -> str:
    """Channel, version source and upgrade hold, as the plan, the audit and the lab card show them."""
    c = spec.cluster
    hold = upgrade_hold(spec, marker or marker_for(spec, time.time()))
    channel = f"channel {c.release_channel}" if c.release_channel else "no channel (legacy opt-in)"
    held = f"exclusion {hold.describe()}" if hold else "no upgrade hold"
    return f"{channel}, version: {version_source(spec)}, {held}"


def _google_registry(image: str) -> bool:
    host = image.split("/", 1)[0]
    return host == "gcr.io" or host.endswith((".gcr.io", "-docker.pkg.dev", ".pkg.dev"))


def build_plan(spec: LabSpec, now: float | None = None) -> Plan:
    """The offline plan: IP plan, resources, warnings, ownership marker and the cluster request body."""
    ip = ipplan.plan(spec)
    marker = marker_for(spec, time.time() if now is None else now)
    warnings = list(ip.warnings)
    if spec.cluster.release_channel is None:
        warnings.append(
            f"no release channel (cluster.legacy_no_channel) is deprecated and removed by GKE on "
            f"{NO_CHANNEL_REMOVAL}; new projects cannot use it: set cluster.release_channel"
        )
    if not spec.network.cloud_nat and not _google_registry(spec.echo.image):
        warnings.append(
            f"private nodes without Cloud NAT cannot pull {spec.echo.image}; set network.cloud_nat: true "
            "or use a Google registry image"
        )
    return Plan(
        spec=spec,
        ip_plan=ip,
        rows=tuple(resources(spec)),
        warnings=tuple(warnings),
        marker=marker,
        cost=cost.hourly(spec),
    )


# ------------------------------------------------------------------------------------------ live


def _workload_decision(c: Clients, spec: LabSpec, decided: Decision, live: Any) -> Decision:
    """The echo workload follows the cluster: created with it, read through its API when it runs."""
    from gke_lab.resources import cluster, workload
    from gke_lab.resources.decision import Action, Blocker, Decision, skip

    if decided.action is Action.CREATE:
        return workload.assess(spec, None)
    if decided.stops:
        return skip(
            workload.KIND, workload.NAME, workload.resource_name(spec), "the run stops at the cluster"
        )
    try:
        api = workload.api_client(c, spec, cluster.access_of(live, spec))
        try:
            return workload.assess(spec, workload.read(api, spec))
        finally:
            api.close()  # type: ignore[no-untyped-call]  # kubernetes client is untyped
    except Exception as exc:  # noqa: BLE001 - the run would fail here the same way: report it
        return Decision(
            Action.BLOCKED,
            workload.KIND,
            workload.NAME,
            workload.resource_name(spec),
            blocker=Blocker.UNUSABLE,
            message=str(exc),
        )


def live_decisions(c: Clients, spec: LabSpec) -> list[Decision]:
    """What a provisioning run would do now, resource by resource. Read-only: only get/list calls.

    Behind an API that is not enabled yet (a new project) nothing of the lab can exist, and a read would
    be refused: those resources are assessed as missing, which is what the run finds after enabling.
    """
    from gke_lab.requests import key_bindings as requested_key_bindings
    from gke_lab.resources import (
        cluster,
        crypto_key,
        default_network,
        key_bindings,
        key_ring,
        network,
        project,
        router,
        service_account,
        services,
        subnetwork,
    )
    from gke_lab.resources import project_bindings as project_roles

    states = services.read(c, spec)
    off = set(states.disabled) if states.served else set()

    def live(api: str, read: Callable[[], Any]) -> Any:
        return None if f"{api}.googleapis.com" in off else read()

    number = project.project_number(c, spec.project_id)
    if "cloudkms.googleapis.com" in off:
        bindings = [
            key_bindings.assess(spec, key, member, None)
            for key, member in requested_key_bindings(spec, number).items()
        ]
    else:
        bindings = key_bindings.decisions(c, spec, number)
    wants_default = spec.delete_default_network
    decisions = [
        *services.assess(spec, states),
        default_network.assess(
            spec, live("compute", lambda: default_network.read(c, spec)) if wants_default else None
        ),
        network.assess(spec, live("compute", lambda: network.read(c, spec))),
        subnetwork.assess(spec, live("compute", lambda: subnetwork.read(c, spec))),
        router.assess(spec, live("compute", lambda: router.read(c, spec))),
        key_ring.assess(spec, live("cloudkms", lambda: key_ring.read(c, spec))),
        *(
            crypto_key.assess(
                spec,
                which,
                live("cloudkms", cast("Callable[[], Any]", lambda w=which: crypto_key.read(c, spec, w))),
            )
            for which in crypto_key.WHICH
        ),
        *bindings,
        service_account.assess(spec, live("iam", lambda: service_account.read(c, spec))),
        *project_roles.assess(spec, live("cloudresourcemanager", lambda: project_roles.read(c, spec))),
    ]
    live_cluster = live("container", lambda: cluster.read(c, spec))
    decided = cluster.assess(spec, live_cluster)
    decisions += [decided, _workload_decision(c, spec, decided, live_cluster)]
    return decisions


def quota_report(c: Clients, spec: LabSpec) -> quotas.QuotaReport:
    """The lab's needs against its project's regional quotas; a read that fails makes them unknown (the
    plan still answers: quotas inform the run, they are not a resource of it)."""
    try:
        region = quotas.read(c, spec.project_id, spec.region)
    except Exception as exc:  # noqa: BLE001 - reported in the quota section instead
        region = quotas.RegionQuotas(spec.project_id, spec.region, unknown=f"regions.get failed: {exc}")
    return quotas.report(quotas.needs(spec), region)


def read_live(c: Clients, spec: LabSpec) -> LivePlan:
    return LivePlan(decisions=tuple(live_decisions(c, spec)), quota=quota_report(c, spec))


# ------------------------------------------------------------------------------------------ rendering


def _n(value: int) -> str:
    return f"{value:,}"


def render_text(plan: Plan) -> str:
    ip, spec = plan.ip_plan, plan.spec
    binds = "pod range" if ip.binding_range == "pods_range" else "subnet"
    rows = [
        ("subnet (nodes)", ip.subnet_cidr, f"{_n(ip.max_nodes_by_subnet)} nodes"),
        (
            "pods",
            ip.pods_cidr,
            f"{_n(ip.max_nodes_by_pod_range)} nodes (/{ip.pod_cidr_per_node_prefix} per node, "
            f"{ip.max_pods_per_node} pods each)",
        ),
        ("services", ip.services_cidr, f"{_n(ip.max_services)} services"),
        ("control plane", spec.cluster.master_ipv4_cidr, "/28 peered"),
    ]
    lines = [f"Lab {spec.lab!r} in project {spec.project_id}, region {spec.region}", "", "IP plan"]
    w0, w1 = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    lines.append(f"  {'range':<{w0}}  {'CIDR':<{w1}}  limit")
    lines += [f"  {a:<{w0}}  {b:<{w1}}  {c}" for a, b, c in rows]
    lines.append(
        f"  effective: {_n(ip.max_nodes)} nodes ({binds} binds), {_n(ip.max_pods)} pods, "
        f"{_n(ip.max_services)} services; autoscaling up to {_n(ip.autoscaling_max_total)} nodes"
    )
    lines += ["", f"Would create in {spec.network.name} / {spec.project_id}"]
    res = plan.rows
    wk = max(len(r.kind) for r in res)
    wn = max(len(r.name) for r in res)
    wa = max(len(r.action) for r in res)
    for r in res:
        detail = f"  {r.detail}" if r.detail else ""
        lines.append(f"  {r.action:<{wa}}  {r.kind:<{wk}}  {r.name:<{wn}}  [{r.where}]{detail}")
    lines += ["", *render_cost(plan.cost)]
    if plan.live is not None:
        lines += ["", *render_live(plan.live)]
        if plan.live.quota is not None:
            lines += ["", *render_quota(plan.live.quota)]
    if plan.warnings:
        lines.append("")
        lines += [f"warning: {w}" for w in plan.warnings]
    return "\n".join(lines)


def live_detail(decision: Decision) -> str:
    """The last column of a live row: the differences, the refusal, or what the run does."""
    if decision.differences:
        return "; ".join(f"{d.field}: live {d.live} != spec {d.spec}" for d in decision.differences)
    return decision.message or decision.detail


def render_live(live: LivePlan) -> list[str]:
    """The live decisions as a table: what a run would delete, create, leave, update, or stop at."""
    if live.error is not None:
        return [f"Live state not read: {live.error}"]
    rows = [(str(d.action), d.kind, d.name, live_detail(d)) for d in live.rows()]
    if not rows:
        return ["Live state: nothing to compare"]
    wa, wk, wn = (max(len(r[i]) for r in rows) for i in range(3))
    lines = ["Live state (what a run would do now)"]
    lines += [f"  {a:<{wa}}  {k:<{wk}}  {n:<{wn}}  {d}".rstrip() for a, k, n, d in rows]
    return lines


def _usd(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}"


def render_cost(lab_cost: cost.Cost) -> list[str]:
    """The lab's hourly cost, line by line, with the price table's date."""
    rows = [
        (line.item, quotas.number(line.quantity), _usd(line.hourly), line.note or line.price.note)
        for line in lab_cost.lines
    ]
    wi, wq, wu = (max(len(r[i]) for r in rows) for i in range(3))
    read_on = lab_cost.lines[0].price.read_on if lab_cost.lines else ""
    lines = [f"Cost per hour (USD, list prices read {read_on}; gke_lab/prices.py names the pages)"]
    lines += [f"  {i:<{wi}}  {q:>{wq}}  {u:>{wu}}  {n}".rstrip() for i, q, u, n in rows]
    lines.append(f"  total: {lab_cost.summary()}")
    return lines


def render_quota(report: quotas.QuotaReport) -> list[str]:
    """The lab's needs against the project's regional quotas, and whether it fits."""
    title = f"Quota in project {report.project}, region {report.region}: {report.verdict()}"
    if not report.rows:
        return [title]
    rows = [
        (
            r.metric,
            quotas.number(r.need),
            "-" if r.free is None else quotas.number(r.free),
            "-" if r.limit is None else quotas.number(r.limit),
            {True: "fits", False: "BLOCKS", None: "not reported"}[r.fits],
        )
        for r in report.rows
    ]
    widths = [max(len(r[i]) for r in [("metric", "need", "free", "limit", ""), *rows]) for i in range(4)]
    lines = [title]
    for row in [("metric", "need", "free", "limit", ""), *rows]:
        lines.append(
            "  " + "  ".join(f"{v:<{w}}" for v, w in zip(row[:4], widths, strict=True)) + f"  {row[4]}"
        )
    return [line.rstrip() for line in lines]
