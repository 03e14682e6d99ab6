"""Which labs the reaper ends, and why every other cluster or lab is left alone.

A lab is reaped when its cluster carries `managed-by=gke-lab` and its expiry has passed (the label, or
createTime + TTL when the label is missing or corrupt; never "now"). A lab whose cluster is gone is an
orphan: reaped only when its own markers' expiry has passed, so a lab still being provisioned (network
created, cluster not yet) is never touched. Unlabelled clusters and excluded labs are never touched.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from functools import partial
from typing import Any

from gke_lab import expiry as exp
from gke_lab import inventory as inv
from gke_lab.clients import Clients

REAP = "reap"
SKIP = "skip"


@dataclass
class Decision:
    project_id: str
    lab: str  # the lab name, or "-" for a cluster that belongs to no lab
    action: str  # reap | skip
    reason: str
    cluster: str = ""  # location/name of the cluster, if any
    regions: list[str] = field(default_factory=list)
    expires: str = ""


@dataclass
class Plan:
    decisions: list[Decision] = field(default_factory=list)

    @property
    def to_reap(self) -> list[Decision]:
        return [d for d in self.decisions if d.action == REAP]

    def to_dict(self) -> dict[str, list[dict[str, Any]]]:
        return {"decisions": [asdict(d) for d in self.decisions]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Plan:
        return cls([Decision(**d) for d in data["decisions"]])


def decide(
    labs: list[inv.Lab],
    unmarked_clusters: list[inv.Resource],
    *,
    now: float,
    exclude: Iterable[str] = (),
    default_ttl_hours: float = exp.DEFAULT_TTL_HOURS,
) -> list[Decision]:
    excluded = set(exclude)
    out: list[Decision] = []
    for c in unmarked_clusters:
        out.append(Decision("", "-", SKIP, _unmarked(c), c.ref))  # the caller fills in the project
    for lab in labs:
        base = partial(Decision, project_id=lab.project, lab=lab.lab, regions=lab.regions)
        cluster = ", ".join(c.ref for c in lab.clusters)
        if lab.lab in excluded:
            out.append(base(action=SKIP, reason="excluded", cluster=cluster))
            continue
        if lab.clusters:
            expiries = [exp.expiry_from(c.labels, c.create_time, default_ttl_hours) for c in lab.clusters]
            # Several clusters of one lab: the lab lives as long as its longest-lived cluster.
            if any(e.at is None for e in expiries):
                never = next(e for e in expiries if e.at is None)
                reason = (
                    "never expires" if never.source == "label" else "expiry unknown (no label, no createTime)"
                )
                out.append(base(action=SKIP, reason=reason, cluster=cluster))
                continue
            latest = max(expiries, key=lambda e: e.at or 0)
            if latest.passed(now):
                out.append(
                    base(
                        action=REAP,
                        reason=f"expired at {latest.describe()}",
                        cluster=cluster,
                        expires=latest.describe(),
                    )
                )
            else:
                out.append(
                    base(
                        action=SKIP,
                        reason=f"not expired (expires {latest.describe()})",
                        cluster=cluster,
                        expires=latest.describe(),
                    )
                )
            continue
        # No cluster: an orphan, or a lab whose cluster is still to be created.
        marker_expires = lab.marker_expires
        if not marker_expires:
            out.append(base(action=SKIP, reason="no cluster; markers never expire"))
            continue
        when = exp.Expiry(marker_expires, "label")
        if when.passed(now):
            kinds = ", ".join(sorted({r.kind for r in lab.others}))
            out.append(
                base(
                    action=REAP,
                    reason=f"orphan: no cluster, markers ({kinds}) expired at {when.describe()}",
                    expires=when.describe(),
                )
            )
        else:
            out.append(
                base(
                    action=SKIP,
                    reason=f"no cluster yet; markers expire {when.describe()} (may still be provisioning)",
                    expires=when.describe(),
                )
            )
    return out


def _unmarked(c: inv.Resource) -> str:
    if c.labels.get("managed-by") == "gke-lab":
        return "labelled managed-by=gke-lab but without a lab name: owner unknown"
    return "not managed by gke-lab (no managed-by=gke-lab label)"


def _foreign(project: str, found: list[inv.Resource]) -> list[Decision]:
    """Markers that name no valid lab: anyone can plant one, so they are reported and never acted on."""
    out = []
    for r in found:
        lab = r.marker.lab if r.marker is not None else "-"
        reason = f"marker names {lab!r}, which is not a valid lab name: belongs to no lab, never acted on"
        out.append(Decision(project, lab, SKIP, f"{r.kind} {r.ref}: {reason}"))
    return out


def find(
    clients: Clients,
    projects: Iterable[str],
    locations: Iterable[str] = ("-",),
    exclude: Iterable[str] = (),
    *,
    default_ttl_hours: float = exp.DEFAULT_TTL_HOURS,
    now: float | None = None,
) -> Plan:
    """Scan each project and decide. Clusters are looked for in every location (`-`) to tell an orphan
    from a lab whose cluster lives elsewhere; only labs with a cluster in `locations` or orphans are reaped.
    """
    now = time.time() if now is None else now
    locations = list(locations) or ["-"]
    decisions: list[Decision] = []
    for project in projects:
        regions = [inv.region_of(loc) for loc in locations if loc != "-"]
        scan = inv.scan_labs(clients, project, ("-",), regions)
        labs = scan.labs
        decisions += _foreign(project, scan.foreign)
        unmarked = [c for c in inv.clusters(clients, project, ("-",)) if c.marker is None]
        in_scope = [lab for lab in labs if not lab.clusters or _in_locations(lab, locations)]
        out_of_scope = [lab for lab in labs if lab not in in_scope]
        unmarked = [c for c in unmarked if "-" in locations or c.location in locations]
        for d in decide(in_scope, unmarked, now=now, exclude=exclude, default_ttl_hours=default_ttl_hours):
            d.project_id = d.project_id or project
            decisions.append(d)
        for lab in out_of_scope:
            decisions.append(
                Decision(project, lab.lab, SKIP, "cluster outside the reaped locations", _refs(lab.clusters))
            )
    return Plan(decisions)


def _in_locations(lab: inv.Lab, locations: list[str]) -> bool:
    return "-" in locations or any(c.location in locations for c in lab.clusters)


def _refs(resources: list[inv.Resource]) -> str:
    return ", ".join(r.ref for r in resources)


def escape_cell(text: str) -> str:
    """Text safe inside one markdown table cell: names and reasons come from markers anyone can write."""
    text = " ".join(str(text).split())  # no line breaks: a newline would end the row
    for char in "\\`*_[]<>|#":
        text = text.replace(char, "\\" + char)
    return text


def markdown(plan: Plan, outcomes: dict[str, str] | None = None, *, dry_run: bool = False) -> str:
    """The reaper's report: one row per lab or cluster; `outcomes` maps project/lab to the teardown result."""
    outcomes = outcomes or {}
    title = "# Reaper report" + (" (dry run: nothing was deleted)" if dry_run else "")
    lines = [
        title,
        "",
        "| project | lab | cluster | decision | why | teardown |",
        "|---|---|---|---|---|---|",
    ]
    for d in plan.decisions:
        result = outcomes.get(f"{d.project_id}/{d.lab}", "-") if d.action == REAP else "-"
        decision = (
            "would reap" if dry_run and d.action == REAP else ("reaped" if d.action == REAP else "skipped")
        )
        cells = (d.project_id, d.lab, d.cluster or "-", decision, d.reason, result)
        lines.append("| " + " | ".join(escape_cell(c) for c in cells) + " |")
    if not plan.decisions:
        lines.append("| - | - | - | nothing found | no cluster or lab marker in scope | - |")
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------------------------------------ extend


@dataclass
class Extension:
    resource: str
    old: str
    new: str


def extend_lab(
    clients: Clients,
    project: str,
    lab: str,
    hours: float,
    *,
    locations: Iterable[str] = ("-",),
    default_ttl_hours: float = exp.DEFAULT_TTL_HOURS,
    now: float | None = None,
) -> list[Extension]:
    """Move `gke-lab-expires` N hours past the later of now and the current expiry: on the lab's
    cluster(s) (setResourceLabels with the label fingerprint) and on the KMS keys it owns."""
    from gke_lab.cluster_labels import change_labels
    from gke_lab.errors import LabError

    now = time.time() if now is None else now
    clusters = [c for c in inv.clusters(clients, project, locations) if c.owned_by(lab)]
    if not clusters:
        raise LabError(f"no cluster of lab {lab!r} in project {project}", resource=f"projects/{project}")
    current = max(
        (exp.expiry_from(c.labels, c.create_time, default_ttl_hours) for c in clusters),
        key=lambda e: e.at or 0,
    )
    new_value = exp.extended(current, hours, now)
    done: list[Extension] = []
    for c in clusters:
        name = f"projects/{project}/locations/{c.location}/clusters/{c.name}"
        changed = change_labels(clients, name, partial(_with_expiry, value=new_value))
        if changed is None:
            raise LabError(f"{name} disappeared while its expiry was being moved", resource=name)
        done.append(Extension(name, changed.before.get(exp.EXPIRES_LABEL, ""), str(new_value)))
    regions = {inv.region_of(c.location) for c in clusters}
    done += stamp_key_expiry(clients, project, lab, regions, new_value)
    return done


def _with_expiry(labels: dict[str, str], value: int) -> dict[str, str]:
    return {**labels, exp.EXPIRES_LABEL: str(value)}


def stamp_key_expiry(
    clients: Clients, project: str, lab: str, regions: Iterable[str], value: int
) -> list[Extension]:
    """Write `gke-lab-expires=value` on the KMS keys `lab` owns in `regions` (the keys outlive the lab's
    other resources; their expiry follows the cluster's so `list` and the reaper agree)."""
    from google.cloud import kms_v1
    from google.protobuf import field_mask_pb2

    from gke_lab import retry

    done: list[Extension] = []
    for key in inv.crypto_keys(clients, project, regions):
        if not key.owned_by(lab):
            continue
        labels = dict(key.labels)
        old = labels.get(exp.EXPIRES_LABEL, "")
        labels[exp.EXPIRES_LABEL] = str(value)
        retry.call(
            partial(
                clients.kms.update_crypto_key,
                crypto_key=kms_v1.CryptoKey(name=key.name, labels=labels),
                update_mask=field_mask_pb2.FieldMask(paths=["labels"]),
            ),
            resource=key.name,
            action="update labels of",
        )
        done.append(Extension(key.name, old, str(value)))
    return done
