"""Markdown for the run's artifacts: IP plan, VPC impact, verification, CIS audit and the lab card.

Inputs are plain values (dicts, proto-plus messages or REST JSON); nothing here holds or prints a credential.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast


def _cell(value: Any) -> str:
    if value is None or value == "" or value == []:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (list, tuple)):
        return ", ".join(_cell(v) for v in value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={_cell(v)}" for k, v in value.items())
    return str(value).replace("|", "\\|").replace("\n", " ")


def table(headers: list[str], rows: Iterable[Iterable[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


def _plain(obj: Any) -> dict[str, Any]:
    """A dict from a proto-plus message (snake_case), a dataclass with to_dict, or REST JSON (camelCase)."""
    if isinstance(obj, Mapping):
        return dict(obj)
    to_dict = getattr(type(obj), "to_dict", None)
    if callable(to_dict):
        try:
            return cast(dict[str, Any], to_dict(obj))  # proto-plus: Message.to_dict(instance)
        except TypeError:
            return cast(dict[str, Any], obj.to_dict())
    return dict(vars(obj))


def _get(d: Mapping[str, Any], *names: str) -> Any:
    for name in names:
        if d.get(name) not in (None, "", []):
            return d[name]
    return None


def _basename(url: Any) -> str:
    return str(url).rstrip("/").rsplit("/", 1)[-1] if url else ""


# --- IP plan -----------------------------------------------------------------------------------------------
def ip_plan_markdown(plan: Any) -> str:
    p = _plain(plan)
    rows = [
        ["nodes (subnet primary range)", p["subnet_cidr"], f"{p['max_nodes_by_subnet']} nodes"],
        [
            "Pods (secondary range)",
            p["pods_cidr"],
            f"{p['max_nodes_by_pod_range']} nodes x /{p['pod_cidr_per_node_prefix']} per node",
        ],
        ["Services (secondary range)", p["services_cidr"], f"{p['max_services']} Services"],
    ]
    out = [
        "# IP plan",
        "",
        table(["range", "CIDR", "admits"], rows),
        "",
        f"- Max pods per node: {p['max_pods_per_node']} (each node gets a /{p['pod_cidr_per_node_prefix']})",
        f"- Node limit: **{p['max_nodes']}** (bound by the {p['binding_range']}); Pods: {p['max_pods']}",
        f"- Autoscaling maximum: {p['autoscaling_max_total']} nodes over {p['zones']} zone(s)",
    ]
    out += [f"- Warning: {w}" for w in p.get("warnings") or []]
    return "\n".join(out) + "\n"


# --- VPC impact --------------------------------------------------------------------------------------------
def _rules(items: Any) -> str:
    parts: list[str] = []
    for item in items or []:
        item = _plain(item)
        proto = _get(item, "I_p_protocol", "IPProtocol", "ip_protocol") or ""
        ports = item.get("ports") or []
        parts += [f"{proto}:{p}" for p in ports] if ports else [proto]
    return ",".join(parts)


def firewall_row(fw: Any) -> list[Any]:
    d = _plain(fw)
    source = _get(d, "source_ranges", "sourceRanges") or _get(d, "source_tags", "sourceTags")
    target = (
        _get(d, "target_tags", "targetTags") or _get(d, "destination_ranges", "destinationRanges") or "all"
    )
    allowed = _rules(_get(d, "allowed"))
    denied = _rules(_get(d, "denied"))
    action = allowed if allowed else (f"deny {denied}" if denied else "")
    return [d.get("name"), d.get("direction") or "INGRESS", source, action, target]


def next_hop(route: Mapping[str, Any]) -> str:
    if hop := _get(route, "next_hop_peering", "nextHopPeering"):
        return f"peering {hop}"
    if hop := _get(route, "next_hop_gateway", "nextHopGateway"):
        return _basename(hop)
    if hop := _get(route, "next_hop_ip", "nextHopIp"):
        return cast(str, hop)
    if hop := _get(route, "next_hop_instance", "nextHopInstance"):
        return f"instance {_basename(hop)}"
    if hop := _get(route, "next_hop_ilb", "nextHopIlb"):
        return f"ilb {_basename(hop)}"
    if hop := _get(route, "next_hop_network", "nextHopNetwork"):
        return f"network {_basename(hop)} (subnet route)"
    return ""


def route_row(route: Any) -> list[Any]:
    d = _plain(route)
    return [d.get("name"), _get(d, "dest_range", "destRange"), next_hop(d), _get(d, "tags") or "all"]


def vpc_impact_markdown(firewalls: Iterable[Any], routes: Iterable[Any], network: str | None = None) -> str:
    fw_rows = sorted((firewall_row(f) for f in firewalls), key=lambda r: str(r[0]))
    rt_rows = sorted((route_row(r) for r in routes), key=lambda r: str(r[0]))
    title = f"# VPC impact: {network}" if network else "# VPC impact"
    return (
        f"{title}\n\n## Firewall rules ({len(fw_rows)})\n\n"
        + table(["name", "direction", "source", "allow", "target tag / dest range"], fw_rows)
        + f"\n\n## Routes ({len(rt_rows)})\n\n"
        + table(["name", "dest range", "next hop", "tags"], rt_rows)
        + "\n"
    )


# --- verification and audit --------------------------------------------------------------------------------
def _mark(passed: bool) -> str:
    return "PASS" if passed else "FAIL"


def verification_markdown(report: Mapping[str, Any]) -> str:
    checks = report.get("checks", [])
    out = [
        f"# Verification: {_mark(report.get('passed', False))}",
        "",
        table(
            ["check", "result", "detail"], ([c["title"], _mark(c["passed"]), c.get("detail")] for c in checks)
        ),
    ]
    echo = report.get("echo_report")
    if echo:
        out += ["", f"## echoserver report (path {report.get('path', '/')})", "", "```"]
        for section, title in (
            ("client", "CLIENT VALUES"),
            ("server", "SERVER VALUES"),
            ("headers", "HEADERS"),
        ):
            out.append(f"{title}:")
            out += [f"{k}={v}" for k, v in echo.get(section, {}).items() if k.lower() != "authorization"]
        out += ["```"]
    if report.get("nodes"):
        out += [
            "",
            "## Nodes",
            "",
            table(["node", "zone", "ready"], ([n["name"], n["zone"], n["ready"]] for n in report["nodes"])),
        ]
    if report.get("pods"):
        out += [
            "",
            "## Pods",
            "",
            table(
                ["pod", "node", "zone", "phase", "ready"],
                ([p["name"], p["node"], p["zone"], p["phase"], p["ready"]] for p in report["pods"]),
            ),
        ]
    return "\n".join(out) + "\n"


def audit_markdown(checks: Sequence[Mapping[str, Any]]) -> str:
    passed = sum(1 for c in checks if c["passed"])
    rows = (
        [c["id"], c["title"], c["cis"], _mark(c["passed"]), f"`{c['field']}`", c.get("value")] for c in checks
    )
    return (
        f"# CIS GKE audit: {passed}/{len(checks)} checks pass\n\n"
        + table(["id", "check", "reference", "result", "field read", "value"], rows)
        + "\n"
    )


# --- lab card ----------------------------------------------------------------------------------------------
def expiry_text(expires: int | None, now: float | None = None) -> str:
    if not expires:
        return "never (ttl_hours: 0)"
    when = datetime.fromtimestamp(expires, UTC).strftime("%Y-%m-%d %H:%M UTC")
    left = expires - (time.time() if now is None else now)
    hours = left / 3600
    rel = f"in {hours:.1f} h" if left >= 0 else f"{-hours:.1f} h ago"
    return f"{when} ({rel}; unix {expires})"


def lab_card_markdown(
    spec: Any,
    *,
    endpoint: str,
    expires: int | None,
    verification_passed: bool | None = None,
    audit_summary: Mapping[str, Any] | None = None,
    target: str | None = None,
    now: float | None = None,
    version: str | None = None,
) -> str:
    project, region, name = spec.project_id, spec.region, spec.cluster.name
    context = f"gke_{project}_{region}_{name}"
    sets = f"--set project_id={project} --set region={region} --set lab={spec.lab} --set cluster.name={name}"
    rows = [
        ["project", project],
        ["lab", spec.lab],
        ["cluster", name],
        ["location", f"{region} (nodes in {', '.join(spec.cluster.node_locations)})"],
        ["endpoint", f"https://{endpoint}" if endpoint else "-"],
        ["authorized networks", [n.cidr for n in spec.cluster.master_authorized_networks]],
        ["expires", expiry_text(expires, now)],
        ["release channel", spec.cluster.release_channel or "none (legacy, removed 2027-06-14)"],
    ]
    if version:
        rows.append(["version", version])
    if spec.cluster.release_channel and spec.cluster.upgrade_hold:
        until = expiry_text(expires, now).split(" (")[0] if expires else "the minor version's end of support"
        rows.append(["upgrades held", f"{spec.cluster.upgrade_hold} until {until}"])
    if target:
        rows.append(["target", target])
    if verification_passed is not None:
        rows.append(["verification", _mark(verification_passed)])
    if audit_summary:
        rows.append(["CIS audit", f"{audit_summary['passed']}/{audit_summary['total']} checks pass"])
    out = [
        f"# Lab card: {spec.lab}",
        "",
        table(["", ""], rows),
        "",
        "## Connect",
        "",
        "```bash",
        f"gke-lab kubeconfig {sets}",
        f"kubectl --context {context} get deploy,svc,pods -n {spec.echo.namespace} -o wide",
        f"kubectl --context {context} get --raw "
        f"/api/v1/namespaces/{spec.echo.namespace}/services/echo-service:80/proxy/",
        "```",
        "",
        f"or: `gcloud container clusters get-credentials {name} --region {region} --project {project}`. "
        "kubectl authenticates with gke-gcloud-auth-plugin; "
        "your address must be inside the authorized networks.",
    ]
    return "\n".join(out) + "\n"


# --- cost and quota ----------------------------------------------------------------------------------------
def _usd(value: float | None) -> str:
    return "unknown" if value is None else f"${value:.4f}"


def cost_markdown(lab_cost: Any) -> str:
    """The lab's hourly cost (a `gke_lab.cost.Cost`): one row per item, its price's page, and the total."""
    rows = [
        [
            line.item,
            f"{line.quantity:g}",
            "not found" if line.price.usd is None else f"${line.price.usd:g} / {line.price.unit}",
            _usd(line.hourly),
            f"[{line.price.read_on}]({line.price.source})",
            line.note or line.price.note,
        ]
        for line in lab_cost.lines
    ]
    return (
        f"# Cost per hour: {lab_cost.summary()}\n\n"
        + table(["item", "quantity", "list price", "USD / hour", "read", "note"], rows)
        + "\n\nMonthly prices are divided by 730 hours, Google's hours per month.\n"
    )


def _amount(value: float | None) -> str | None:
    return None if value is None else f"{value:g}"


def quota_markdown(report: Any) -> str:
    """The lab's needs against its project's regional quotas (a `gke_lab.quotas.QuotaReport`)."""
    title = f"# Quota in {report.project} / {report.region}: {report.verdict()}"
    if not report.rows:
        return title + "\n"
    verdicts = {True: "fits", False: "**blocks**", None: "not reported"}
    rows = [
        [r.metric, _amount(r.need), _amount(r.free), _amount(r.limit), verdicts[r.fits]] for r in report.rows
    ]
    return f"{title}\n\n" + table(["metric", "need", "free", "limit", ""], rows) + "\n"


_TOKENISH = re.compile(r"(ya29\.[\w.-]+|Bearer\s+\S+)", re.I)


def contains_secret(text: str) -> bool:
    """A cheap guard for tests and callers: OAuth access tokens or bearer headers in text."""
    return bool(_TOKENISH.search(text))
