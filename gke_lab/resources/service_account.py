"""The node service account (least privilege), marked through its description."""

from __future__ import annotations

import time

from google.cloud import iam_admin_v1
from pydantic import BaseModel, ConfigDict

from gke_lab import calls
from gke_lab.clients import Clients
from gke_lab.ownership import Marker
from gke_lab.requests import build_service_account
from gke_lab.resources.converge import converge
from gke_lab.resources.decision import Decision, create, exists, not_owned
from gke_lab.spec import LabSpec

KIND = "iam.serviceAccount"
FIX = "Choose another node_service_account.name."


class ServiceAccountResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    email: str
    created: bool
    created_at: float | None = None  # when this run created it (IAM knows a new account only after a while)


def read(c: Clients, spec: LabSpec) -> iam_admin_v1.ServiceAccount | None:
    name = spec.node_sa_resource
    return calls.get_or_none(lambda: c.iam.get_service_account(name=name), resource=name)


def assess(spec: LabSpec, live: iam_admin_v1.ServiceAccount | None) -> Decision:
    name, resource = spec.node_sa_email, spec.node_sa_resource
    if live is None:
        return create(KIND, name, resource)
    blocked = not_owned(KIND, name, resource, Marker.from_description(live.description), spec.lab, FIX)
    return blocked or exists(KIND, name, resource)


def ensure(c: Clients, spec: LabSpec, marker: Marker) -> ServiceAccountResult:
    request = build_service_account(spec, marker)
    live, created = converge(
        lambda: read(c, spec),
        lambda live: assess(spec, live),
        lambda: calls.create_or_existing(
            lambda: c.iam.create_service_account(request=request), resource=spec.node_sa_resource
        ),
    )
    return ServiceAccountResult(
        email=live.email or spec.node_sa_email, created=created, created_at=time.time() if created else None
    )
