"""The lab subnet with the Pod and Service secondary ranges, in the lab VPC."""

from __future__ import annotations

from google.cloud import compute_v1
from pydantic import BaseModel, ConfigDict

from gke_lab import calls
from gke_lab.clients import Clients
from gke_lab.ownership import Marker
from gke_lab.requests import build_subnetwork
from gke_lab.resources.compute import insert_and_wait, network_name, uses_network
from gke_lab.resources.converge import converge
from gke_lab.resources.decision import Decision, Difference, create, differs_or_exists, not_owned
from gke_lab.resources.network import FIX
from gke_lab.spec import LabSpec

KIND = "compute.subnetwork"


class SubnetworkResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    name: str
    self_link: str
    created: bool


def read(c: Clients, spec: LabSpec) -> compute_v1.Subnetwork | None:
    return calls.get_or_none(
        lambda: c.subnetworks.get(
            project=spec.project_id, region=spec.region, subnetwork=spec.network.subnet.name
        ),
        resource=spec.subnet_path,
    )


def differences(spec: LabSpec, live: compute_v1.Subnetwork) -> list[Difference]:
    """Fields fixed at creation (for gke-lab) that differ from the spec."""
    found: list[Difference] = []
    if live.ip_cidr_range != spec.network.subnet.cidr:
        found.append(Difference("ip_cidr_range", live.ip_cidr_range, spec.network.subnet.cidr))
    ranges = {r.range_name: r.ip_cidr_range for r in live.secondary_ip_ranges}
    for wanted in (spec.network.pods_range, spec.network.services_range):
        if ranges.get(wanted.name) != wanted.cidr:
            found.append(
                Difference(f"secondary_ip_ranges[{wanted.name}]", ranges.get(wanted.name), wanted.cidr)
            )
    if not uses_network(live.network, spec.network.name):
        found.append(Difference("network", network_name(live.network), spec.network.name))
    return found


def assess(spec: LabSpec, live: compute_v1.Subnetwork | None) -> Decision:
    net = spec.network
    name, resource = net.subnet.name, spec.subnet_path
    if live is None:
        return create(
            KIND,
            name,
            resource,
            f"{net.subnet.cidr}; {net.pods_range.name}={net.pods_range.cidr}, "
            f"{net.services_range.name}={net.services_range.cidr}",
        )
    blocked = not_owned(KIND, name, resource, Marker.from_description(live.description), spec.lab, FIX)
    return blocked or differs_or_exists(KIND, name, resource, differences(spec, live))


def ensure(c: Clients, spec: LabSpec, marker: Marker) -> SubnetworkResult:
    body = build_subnetwork(spec, marker)
    live, created = converge(
        lambda: read(c, spec),
        lambda live: assess(spec, live),
        lambda: insert_and_wait(
            c,
            lambda: c.subnetworks.insert_unary(
                project=spec.project_id, region=spec.region, subnetwork_resource=body
            ),
            project=spec.project_id,
            region=spec.region,
            resource=spec.subnet_path,
        ),
    )
    return SubnetworkResult(name=spec.network.subnet.name, self_link=live.self_link, created=created)
