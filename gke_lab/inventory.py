"""What a project holds that gke-lab labs own, read live from the APIs.

Every resource is classified against a lab: owned by it (carries its marker), owned by another lab, or
unmarked. Only the first kind may ever be deleted; the other two are reported with the reason they stay.
Labels carry the marker on clusters and KMS keys; the structured description on networks, subnets,
firewall rules, routers and service accounts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from google.cloud import kms_v1
from pydantic import ValidationError

from gke_lab import calls, retry
from gke_lab.clients import Clients
from gke_lab.identity import LabIdentity
from gke_lab.ownership import LABEL_LAB, LABEL_MANAGED_BY, MANAGED_BY, Marker, owner_reason

GLOBAL = "global"


@dataclass
class Resource:
    kind: str  # cluster, network, subnetwork, firewall, router, service_account, crypto_key, iam_binding
    name: str  # short name; e-mail for service accounts; full resource name for keys
    location: str  # "global", a region, a zone or a cluster location
    marker: Marker | None
    network: str | None = None  # short network name for subnets, firewall rules, routers, clusters
    create_time: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    raw: Any = field(default=None, repr=False, compare=False)

    def owned_by(self, lab: str) -> bool:
        """Carries `lab`'s marker (else `ownership.owner_reason` says why it is not the lab's)."""
        return owner_reason(self.marker, lab) is None

    @property
    def ref(self) -> str:
        return self.name if self.location == GLOBAL else f"{self.location}/{self.name}"


def short(url_or_name: str | None) -> str | None:
    """The last path segment of a self link or resource name."""
    if not url_or_name:
        return None
    return url_or_name.rstrip("/").rsplit("/", 1)[-1]


def region_of(location: str) -> str:
    """us-west1-a -> us-west1; a region stays itself."""
    parts = location.split("-")
    return "-".join(parts[:2]) if len(parts) >= 3 else location


def label_marker(labels: dict[str, str]) -> Marker | None:
    """Ownership from labels. A corrupt `gke-lab-expires` does not disown a resource: the lab is still
    named by `managed-by` + `gke-lab`, and its expiry falls back to createTime + TTL (gke_lab.expiry)."""
    marker = Marker.from_labels(labels)
    if marker is None and labels.get(LABEL_MANAGED_BY) == MANAGED_BY and labels.get(LABEL_LAB):
        marker = Marker(lab=labels[LABEL_LAB], expires=0)
    return marker


def _description_marker(description: str | None) -> Marker | None:
    return Marker.from_description(description or "")


# ------------------------------------------------------------------------------------------------ lists


def clusters(clients: Clients, project: str, locations: Iterable[str] = ("-",)) -> list[Resource]:
    found: dict[tuple[str, str], Resource] = {}
    for location in locations:
        parent = f"projects/{project}/locations/{location}"
        response = calls.list_or_empty(
            lambda parent=parent: clients.container.list_clusters(parent=parent).clusters, resource=parent
        )
        for c in response:
            labels = dict(c.resource_labels)
            found[(c.location, c.name)] = Resource(
                kind="cluster",
                name=c.name,
                location=c.location,
                marker=label_marker(labels),
                network=short(c.network) or None,
                create_time=c.create_time or None,
                labels=labels,
                raw=c,
            )
    return list(found.values())


def _described(kind: str, item: Any, location: str, network: str | None = None) -> Resource:
    """A Compute Engine resource: its ownership marker is in its description."""
    return Resource(
        kind=kind,
        name=item.name,
        location=location,
        marker=_description_marker(item.description),
        network=network,
        create_time=item.creation_timestamp or None,
        raw=item,
    )


def networks(clients: Clients, project: str) -> list[Resource]:
    items = calls.list_or_empty(
        lambda: clients.networks.list(project=project), resource=f"projects/{project}/global/networks"
    )
    return [_described("network", n, GLOBAL) for n in items]


def subnetworks(clients: Clients, project: str, regions: Iterable[str]) -> list[Resource]:
    out = []
    for region in sorted(set(regions)):
        items = calls.list_or_empty(
            lambda region=region: clients.subnetworks.list(project=project, region=region),
            resource=f"projects/{project}/regions/{region}/subnetworks",
        )
        out += [_described("subnetwork", item, region, short(item.network)) for item in items]
    return out


def firewalls(clients: Clients, project: str) -> list[Resource]:
    items = calls.list_or_empty(
        lambda: clients.firewalls.list(project=project), resource=f"projects/{project}/global/firewalls"
    )
    return [_described("firewall", f, GLOBAL, short(f.network)) for f in items]


def routers(clients: Clients, project: str, regions: Iterable[str]) -> list[Resource]:
    out = []
    for region in sorted(set(regions)):
        items = calls.list_or_empty(
            lambda region=region: clients.routers.list(project=project, region=region),
            resource=f"projects/{project}/regions/{region}/routers",
        )
        out += [_described("router", item, region, short(item.network)) for item in items]
    return out


def service_accounts(clients: Clients, project: str) -> list[Resource]:
    items = calls.list_or_empty(
        lambda: clients.iam.list_service_accounts(name=f"projects/{project}"),
        resource=f"projects/{project}/serviceAccounts",
    )
    return [
        Resource(
            kind="service_account",
            name=a.email,
            location=GLOBAL,
            marker=_description_marker(a.description),
            raw=a,
        )
        for a in items
    ]


def crypto_keys(clients: Clients, project: str, regions: Iterable[str]) -> list[Resource]:
    out = []
    for region in sorted(set(regions)):
        parent = f"projects/{project}/locations/{region}"
        rings = calls.list_or_empty(
            lambda parent=parent: clients.kms.list_key_rings(parent=parent), resource=f"{parent}/keyRings"
        )
        for ring in rings:
            keys = calls.list_or_empty(
                lambda ring=ring: clients.kms.list_crypto_keys(parent=ring.name), resource=ring.name
            )
            for k in keys:
                labels = dict(k.labels)
                out.append(
                    Resource(
                        kind="crypto_key",
                        name=k.name,
                        location=region,
                        marker=label_marker(labels),
                        labels=labels,
                        create_time=k.create_time or None,
                        raw=k,
                    )
                )
    return out


def key_versions_to_destroy(clients: Clients, key_name: str) -> list[kms_v1.CryptoKeyVersion]:
    """Versions that still hold key material (ENABLED or DISABLED)."""
    live = {
        kms_v1.CryptoKeyVersion.CryptoKeyVersionState.ENABLED,
        kms_v1.CryptoKeyVersion.CryptoKeyVersionState.DISABLED,
    }
    versions = calls.list_or_empty(
        lambda: clients.kms.list_crypto_key_versions(parent=key_name),
        resource=f"{key_name}/cryptoKeyVersions",
    )
    return [v for v in versions if v.state in live]


def project_bindings_of(clients: Clients, project: str, member: str) -> list[str]:
    """Roles on the project policy that name `member`."""
    policy = retry.call(
        lambda: clients.projects.get_iam_policy(request={"resource": f"projects/{project}"}),
        resource=f"projects/{project}",
        action="get IAM policy of",
    )
    return sorted({b.role for b in policy.bindings if member in b.members})


# ------------------------------------------------------------------------------------------------ a lab


@dataclass
class Inventory:
    project: str
    resources: list[Resource]

    def of_kind(self, kind: str) -> list[Resource]:
        return [r for r in self.resources if r.kind == kind]

    def owned_by(self, lab: str) -> list[Resource]:
        return [r for r in self.resources if r.owned_by(lab)]

    def labs(self) -> set[str]:
        return {r.marker.lab for r in self.resources if r.marker is not None}


def scan(
    clients: Clients,
    project: str,
    *,
    regions: Iterable[str] = (),
    locations: Iterable[str] = ("-",),
    kinds: Iterable[str] | None = None,
) -> Inventory:
    """Everything of the lab-relevant kinds in `project` (marked or not), for classification.

    Regional kinds (subnets, routers, keys) are listed in `regions` plus the regions of clusters found and
    of the subnets that marked networks reference.
    """
    want = set(
        kinds or ("cluster", "network", "subnetwork", "firewall", "router", "service_account", "crypto_key")
    )
    regions = set(regions)
    out: list[Resource] = []
    if "cluster" in want:
        found = clusters(clients, project, locations)
        regions |= {region_of(c.location) for c in found if c.marker is not None}
        out += found
    if want & {"network", "subnetwork", "router", "crypto_key"}:
        nets = networks(clients, project)
        for n in nets:
            if n.marker is not None:
                regions |= {_region_of_url(u) for u in n.raw.subnetworks}
        regions.discard("")
        if "network" in want:
            out += nets
    if "subnetwork" in want:
        out += subnetworks(clients, project, regions)
    if "firewall" in want:
        out += firewalls(clients, project)
    if "router" in want:
        out += routers(clients, project, regions)
    if "service_account" in want:
        out += service_accounts(clients, project)
    if "crypto_key" in want:
        out += crypto_keys(clients, project, regions)
    return Inventory(project, out)


def _region_of_url(url: str) -> str:
    parts = url.split("/")
    return parts[parts.index("regions") + 1] if "regions" in parts else ""


# ------------------------------------------------------------------------------------------------ labs


@dataclass
class Lab:
    """One lab found in a project: its cluster(s) and its other marked resources."""

    identity: LabIdentity  # the regions its resources live in are `regions`, found from them
    clusters: list[Resource] = field(default_factory=list)
    others: list[Resource] = field(default_factory=list)  # marked networks, subnets, routers, SAs, rules

    @property
    def project(self) -> str:
        return self.identity.project_id

    @property
    def lab(self) -> str:
        return self.identity.lab

    @property
    def regions(self) -> list[str]:
        found = {region_of(c.location) for c in self.clusters}
        found |= {r.location for r in self.others if r.location != GLOBAL}
        return sorted(found)

    @property
    def target(self) -> LabIdentity:
        """The identity with the regions its resources were found in (what a teardown acts on)."""
        return self.identity.model_copy(update={"regions": tuple(self.regions)})

    @property
    def marker_expires(self) -> int | None:
        """The latest expiry stamped on the non-cluster markers; 0 = never; None = no such marker."""
        values = [r.marker.expires for r in self.others if r.marker is not None]
        if not values:
            return None
        return 0 if 0 in values else max(values)


@dataclass
class LabScan:
    """The labs of a project, and the marked resources whose marker names no valid lab."""

    labs: list[Lab]
    # Anyone who can write a description can plant a marker: one that names no valid lab (say
    # "Not A Lab") belongs to no lab, is reported as foreign and never acted on.
    foreign: list[Resource] = field(default_factory=list)


def scan_labs(
    clients: Clients, project: str, locations: Iterable[str] = ("-",), regions: Iterable[str] = ()
) -> LabScan:
    """Every lab with a marked resource in `project`, grouped by lab name (keys excluded: they are reused)."""
    kinds = ("cluster", "network", "subnetwork", "firewall", "router", "service_account")
    found = scan(clients, project, regions=regions, locations=locations, kinds=kinds)
    labs: dict[str, Lab] = {}
    foreign: list[Resource] = []
    for r in found.resources:
        if r.marker is None:
            continue
        if r.marker.lab not in labs:
            try:
                identity = LabIdentity(project_id=project, lab=r.marker.lab)
            except ValidationError:
                foreign.append(r)
                continue
            labs[r.marker.lab] = Lab(identity)
        lab = labs[r.marker.lab]
        (lab.clusters if r.kind == "cluster" else lab.others).append(r)
    return LabScan([labs[name] for name in sorted(labs)], foreign)


def find_labs(
    clients: Clients, project: str, locations: Iterable[str] = ("-",), regions: Iterable[str] = ()
) -> list[Lab]:
    """Every valid lab with a marked resource in `project` (see `scan_labs`)."""
    return scan_labs(clients, project, locations, regions).labs
