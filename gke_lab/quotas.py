"""Quotas before cost: what one lab takes from its project's regional Compute Engine quotas, what a project
has free (compute `regions.get`), and where a number of labs fit.

- `needs(spec)`: the lab's demand, offline: nodes (initial count per zone x zones), their vCPUs, boot disk GB
  and the external addresses of its Cloud NAT.
- `read(clients, project, region)`: the region's `quotas` (metric, limit, usage), or why they are unknown.
- `place(needs, quotas, count, load=...)`: one project per lab that fits, least-loaded first, and for the rest
  which quota blocks them, e.g. "project p: CPUS needs 6, 2 free of 24".

Google's rules behind the figures (https://cloud.google.com/compute/resource-usage):
- vCPUs count against the regional quota of the machine family: CPUS for E2, N1, F1 and G1, and a quota of
  its own (N2_CPUS, N2D_CPUS, C2_CPUS, ...) for the newer families.
- Preemptible and spot VMs count against PREEMPTIBLE_CPUS once the region grants that quota (a limit above
  0); until then they use the family's CPU quota like regular VMs
  (https://cloud.google.com/compute/docs/instances/preemptible).
- Boot disks: pd-standard against DISKS_TOTAL_GB; pd-balanced and pd-ssd against SSD_TOTAL_GB.
- Addresses: the nodes are private (no external IP, nothing counted). Cloud NAT with automatic allocation
  "creates a static (reserved) regional external IP address" for its NAT IPs
  (https://cloud.google.com/nat/docs/ports-and-addresses): one per gateway at the default 64 ports per VM
  (one address has 64,512 ports: enough for 1,008 VMs), counted in STATIC_ADDRESSES and IN_USE_ADDRESSES.
- Each node is one VM instance (INSTANCES).

Nothing here imports a Google client library at module level: the offline plan prices and sizes a lab
without them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from gke_lab import regions
from gke_lab.spec import LabSpec

if TYPE_CHECKING:
    from gke_lab.clients import Clients

CPUS = "CPUS"
PREEMPTIBLE_CPUS = "PREEMPTIBLE_CPUS"
DISKS_TOTAL_GB = "DISKS_TOTAL_GB"
SSD_TOTAL_GB = "SSD_TOTAL_GB"
IN_USE_ADDRESSES = "IN_USE_ADDRESSES"
STATIC_ADDRESSES = "STATIC_ADDRESSES"
INSTANCES = "INSTANCES"

# vCPUs of the shared-core types, whose names carry no count (https://cloud.google.com/compute/docs/machine-types
# and .../general-purpose-machines: e2-micro, e2-small and e2-medium have 2 vCPUs; f1-micro and g1-small 1).
SHARED_CORE_VCPUS: dict[str, int] = {
    "e2-micro": 2,
    "e2-small": 2,
    "e2-medium": 2,
    "f1-micro": 1,
    "g1-small": 1,
}

# The regional CPU quota of each machine family (https://cloud.google.com/compute/resource-usage#cpu_quota).
FAMILY_CPU_METRIC: dict[str, str] = {
    "e2": CPUS,
    "n1": CPUS,
    "f1": CPUS,
    "g1": CPUS,
    "n2": "N2_CPUS",
    "n2d": "N2D_CPUS",
    "c2": "C2_CPUS",
    "c2d": "C2D_CPUS",
    "c3": "C3_CPUS",
    "t2d": "T2D_CPUS",
    "t2a": "T2A_CPUS",
}

DISK_METRIC: dict[str, str] = {
    "pd-standard": DISKS_TOTAL_GB,
    "pd-balanced": SSD_TOTAL_GB,
    "pd-ssd": SSD_TOTAL_GB,
}

# Predefined types name their vCPUs last (e2-standard-4, n2-highmem-8); custom ones as FAMILY-custom-CPUS-MB
# or custom-CPUS-MB (N1), optionally with -ext.
_PREDEFINED = re.compile(
    r"(?P<family>[a-z][a-z0-9]*)-(standard|highmem|highcpu|megamem|ultramem)-(?P<cpus>\d+)"
)
_CUSTOM = re.compile(r"((?P<family>[a-z][a-z0-9]*)-)?custom-(?P<cpus>\d+)-\d+(-ext)?")


@dataclass(frozen=True)
class MachineShape:
    """What the quota sees of one machine type: its vCPUs and the family's CPU quota metric."""

    machine_type: str
    vcpus: int | None
    cpu_metric: str | None


def machine_shape(machine_type: str) -> MachineShape:
    """vCPUs and CPU metric of a machine type; None where this table cannot tell (nothing is guessed)."""
    if machine_type in SHARED_CORE_VCPUS:
        family = machine_type.split("-", 1)[0]
        return MachineShape(machine_type, SHARED_CORE_VCPUS[machine_type], FAMILY_CPU_METRIC.get(family))
    match = _PREDEFINED.fullmatch(machine_type) or _CUSTOM.fullmatch(machine_type)
    if match is None:
        return MachineShape(machine_type, None, None)
    family = match.group("family") or "n1"
    cpus = int(match.group("cpus"))
    return MachineShape(machine_type, cpus if cpus > 0 else None, FAMILY_CPU_METRIC.get(family))


# "By default, GKE replicates each node pool across three zones of the control plane's region"
# (https://cloud.google.com/kubernetes-engine/docs/concepts/regional-clusters).
DEFAULT_REGIONAL_ZONES = 3


def node_zones(spec: LabSpec) -> list[str]:
    """The zones that run nodes: `node_locations`, or (none given) the region's zones as GKE picks them."""
    return list(spec.cluster.node_locations) or regions.zones_of(spec.region)[:DEFAULT_REGIONAL_ZONES]


def node_count(spec: LabSpec) -> int:
    """Nodes at creation: `num_nodes` in each node zone (GKE counts nodes per zone)."""
    return spec.cluster.num_nodes * len(node_zones(spec))


def nat_addresses(spec: LabSpec) -> int:
    """External addresses the lab's Cloud NAT allocates automatically (none without NAT)."""
    return 1 if spec.network.cloud_nat else 0


# ------------------------------------------------------------------------------------------------ needs


@dataclass(frozen=True)
class Need:
    metric: str
    amount: float


@dataclass(frozen=True)
class QuotaNeeds:
    """One lab's demand on its region's quotas. `vcpus` is None when the machine type is not known here."""

    region: str
    machine_type: str
    nodes: int
    vcpus_per_node: int | None
    cpu_metric: str | None
    preemptible: bool
    disk_metric: str
    disk_gb: int
    addresses: int

    @property
    def vcpus(self) -> int | None:
        return None if self.vcpus_per_node is None else self.vcpus_per_node * self.nodes

    @property
    def unknown(self) -> str | None:
        """Why the CPU need cannot be told, or None."""
        if self.vcpus_per_node is None or self.cpu_metric is None:
            return (
                f"the vCPUs or CPU quota of machine type {self.machine_type!r} are not known "
                "(gke_lab/quotas.py SHARED_CORE_VCPUS / FAMILY_CPU_METRIC)"
            )
        return None

    def cpu_metric_in(self, region: RegionQuotas) -> str | None:
        """The metric the vCPUs count against in this region (preemptible quota only where it is granted)."""
        if self.preemptible:
            granted = region.quotas.get(PREEMPTIBLE_CPUS)
            if granted is not None and granted.limit > 0:
                return PREEMPTIBLE_CPUS
        return self.cpu_metric

    def amounts(self, region: RegionQuotas) -> tuple[Need, ...]:
        """The lab's need per metric in this region (the CPU line only when it is known)."""
        out: list[Need] = []
        metric = self.cpu_metric_in(region)
        if metric is not None and self.vcpus is not None:
            out.append(Need(metric, self.vcpus))
        out.append(Need(INSTANCES, self.nodes))
        out.append(Need(self.disk_metric, self.disk_gb))
        if self.addresses:
            out += [Need(IN_USE_ADDRESSES, self.addresses), Need(STATIC_ADDRESSES, self.addresses)]
        return tuple(out)


def needs(spec: LabSpec) -> QuotaNeeds:
    """What one lab of this spec takes from the quotas of its project's region."""
    c = spec.cluster
    shape = machine_shape(c.machine_type)
    nodes = node_count(spec)
    return QuotaNeeds(
        region=spec.region,
        machine_type=c.machine_type,
        nodes=nodes,
        vcpus_per_node=shape.vcpus,
        cpu_metric=shape.cpu_metric,
        preemptible=c.preemptible,
        disk_metric=DISK_METRIC[c.disk_type],
        disk_gb=nodes * c.disk_size_gb,
        addresses=nat_addresses(spec),
    )


# ------------------------------------------------------------------------------------------------ read


@dataclass(frozen=True)
class Quota:
    metric: str
    limit: float
    usage: float

    @property
    def free(self) -> float:
        return max(self.limit - self.usage, 0.0)


@dataclass(frozen=True)
class RegionQuotas:
    """A project's quotas in one region, as `regions.get` reports them; `unknown` says why there are none."""

    project: str
    region: str
    quotas: Mapping[str, Quota] = field(default_factory=dict)
    unknown: str | None = None


def _field(entry: object, name: str) -> object:
    """A field of a proto-plus message (the client's answer) or of a dict (REST JSON, tests)."""
    return entry.get(name) if isinstance(entry, Mapping) else getattr(entry, name, None)


def _amount(value: object) -> float | None:
    """A finite, non-negative quota figure; an unset one (proto default) is 0; anything else None."""
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        figure = float(value)
    except ValueError:
        return None
    return figure if math.isfinite(figure) and figure >= 0 else None


def parse(project: str, region: str, entries: Iterable[object]) -> RegionQuotas:
    """Quota entries (objects or dicts with metric, limit, usage) -> RegionQuotas. An entry that is not a
    finite, non-negative number pair is left out: an answer we cannot read is no quota we can rely on."""
    found: dict[str, Quota] = {}
    for entry in entries:
        metric, limit, usage = (_field(entry, name) for name in ("metric", "limit", "usage"))
        if not isinstance(metric, str) or not metric:
            continue
        limit_value, usage_value = _amount(limit), _amount(usage)
        if limit_value is None or usage_value is None:
            continue
        found[metric] = Quota(metric, limit_value, usage_value)
    if not found:
        return RegionQuotas(project, region, unknown="regions.get reported no quotas")
    return RegionQuotas(project, region, found)


def read(clients: Clients, project: str, region: str) -> RegionQuotas:
    """The project's quotas in the region (compute `regions.get`). A 404 (a region the API does not serve)
    answers unknown quotas; other errors are raised as `LabError`s by `gke_lab.calls`."""
    from gke_lab.calls import get_or_none

    answer = get_or_none(
        lambda: clients.regions.get(project=project, region=region),
        resource=f"projects/{project}/regions/{region}",
    )
    if answer is None:
        return RegionQuotas(project, region, unknown=f"regions.get answered 404 for regions/{region}")
    return parse(project, region, getattr(answer, "quotas", None) or ())


# ------------------------------------------------------------------------------------------------ rows


@dataclass(frozen=True)
class QuotaRow:
    """One metric the lab needs, against what the project has."""

    metric: str
    need: float
    limit: float | None
    usage: float | None

    @property
    def free(self) -> float | None:
        return None if self.limit is None or self.usage is None else max(self.limit - self.usage, 0.0)

    @property
    def fits(self) -> bool | None:
        """None when the region does not report the metric (then it does not limit the lab)."""
        return None if self.free is None else self.need <= self.free


@dataclass(frozen=True)
class QuotaReport:
    """The quota section of `plan --live`: the lab's needs against one project's region."""

    project: str
    region: str
    rows: tuple[QuotaRow, ...] = ()
    unknown: str | None = None

    @property
    def blocked(self) -> tuple[str, ...]:
        if self.unknown is not None:
            return ()
        return tuple(
            f"project {self.project}: {r.metric} needs {number(r.need)}, {number(r.free or 0)} free of "
            f"{number(r.limit or 0)}"
            for r in self.rows
            if r.fits is False
        )

    @property
    def fits(self) -> bool | None:
        return None if self.unknown is not None else not self.blocked

    def verdict(self) -> str:
        if self.unknown is not None:
            return f"quotas unknown: {self.unknown}"
        return "fits" if self.fits else "blocked: " + "; ".join(self.blocked)

    def to_dict(self) -> dict[str, object]:
        return {
            "project": self.project,
            "region": self.region,
            "fits": self.fits,
            "unknown": self.unknown,
            "blocked": list(self.blocked),
            "rows": [
                {
                    "metric": r.metric,
                    "need": r.need,
                    "limit": r.limit,
                    "usage": r.usage,
                    "free": r.free,
                    "fits": r.fits,
                }
                for r in self.rows
            ],
        }


def report(lab: QuotaNeeds, region: RegionQuotas) -> QuotaReport:
    """The lab's needs against one region's quotas, row by row."""
    if region.unknown is not None:
        return QuotaReport(region.project, region.region, unknown=region.unknown)
    if lab.unknown is not None:
        return QuotaReport(region.project, region.region, unknown=lab.unknown)
    rows = []
    for need in lab.amounts(region):
        quota = region.quotas.get(need.metric)
        rows.append(
            QuotaRow(
                need.metric,
                need.amount,
                None if quota is None else quota.limit,
                None if quota is None else quota.usage,
            )
        )
    return QuotaReport(region.project, region.region, tuple(rows))


def number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


# ------------------------------------------------------------------------------------------------ place


@dataclass(frozen=True)
class Placement:
    """Where `count` labs go: one project per lab that fits, in order; `blocked` says which quota stops the
    rest; `unchecked` names projects whose quotas could not be read (labs are placed there unchecked)."""

    projects: tuple[str, ...]
    blocked: tuple[str, ...] = ()
    unchecked: tuple[str, ...] = ()


def _first_shortfall(lab: QuotaNeeds, region: RegionQuotas, taken: Mapping[str, float]) -> str | None:
    """Why one more lab does not fit in this project now (after `taken` by labs placed in this call)."""
    for need in lab.amounts(region):
        quota = region.quotas.get(need.metric)
        if quota is None:
            continue
        free = max(quota.free - taken.get(need.metric, 0.0), 0.0)
        if need.amount > free:
            return (
                f"project {region.project}: {need.metric} needs {number(need.amount)}, {number(free)} free "
                f"of {number(quota.limit)}"
            )
    return None


def place(
    needs: QuotaNeeds,
    quotas: Mapping[str, RegionQuotas],
    count: int,
    *,
    load: Mapping[str, int] | None = None,
    reserved: Mapping[str, int] | None = None,
) -> Placement:
    """Spread `count` labs over the projects of `quotas`, least-loaded first (labs it already has in `load`,
    plus those placed here; ties keep the mapping's order), each only where all its needs still fit.

    `reserved`: labs per project still being made. regions.get reports what exists, and a lab in flight
    has not made all of it yet (its NAT address counts once a node uses it), so their needs are counted
    as taken: a second pass must not place labs into room the first pass's labs will fill. A lab whose
    cluster already counts is then counted twice, which can only delay a placement, never exceed a quota.
    """
    load = dict(load or {})
    order = list(quotas)
    if needs.unknown is not None:
        return Placement((), tuple(f"project {p}: {needs.unknown}" for p in order))
    taken: dict[str, dict[str, float]] = {p: {} for p in order}
    for project, labs in (reserved or {}).items():
        if project in taken and labs > 0:
            for need in needs.amounts(quotas[project]):
                taken[project][need.metric] = taken[project].get(need.metric, 0.0) + need.amount * labs
    unchecked = tuple(f"project {p}: quotas unknown: {quotas[p].unknown}" for p in order if quotas[p].unknown)
    placed: list[str] = []
    blocked: tuple[str, ...] = ()
    if not order and count > 0:
        return Placement((), ("no project to place labs in",))
    for _ in range(max(count, 0)):
        reasons: dict[str, str] = {}
        choice = None
        for project in sorted(order, key=lambda p: (load.get(p, 0), order.index(p))):
            region = quotas[project]
            shortfall = None if region.unknown else _first_shortfall(needs, region, taken[project])
            if shortfall is None:
                choice = project
                break
            reasons[project] = shortfall
        if choice is None:
            blocked = tuple(reasons[p] for p in order)
            break
        placed.append(choice)
        load[choice] = load.get(choice, 0) + 1
        for need in needs.amounts(quotas[choice]):
            taken[choice][need.metric] = taken[choice].get(need.metric, 0.0) + need.amount
    return Placement(tuple(placed), blocked, unchecked)
