"""Service Usage: which APIs a project has enabled, enabling them (a long-running operation) and the
service agents Google creates on the way.

Paths are the ones the official client (google-cloud-service-usage, transport="rest") calls, from its
transports/rest_base.py: `GET /v1/{name=*/*/services/*}`, `GET /v1/{parent=*/*}/services:batchGet`,
`POST /v1/{name=*/*/services/*}:enable`, `POST /v1/{parent=*/*}/services:batchEnable`,
`GET /v1/{name=operations/*}`; plus v1beta1 `services.generateServiceIdentity`
(https://cloud.google.com/service-usage/docs/reference/rest/v1beta1/services/generateServiceIdentity).
"""

from __future__ import annotations

import re
from typing import Any

from emulator.errors import ApiError, failed_precondition, invalid, not_found
from emulator.gateway import SERVICE_TITLES
from emulator.resourcemanager import holds, require
from emulator.routing import Route, ServiceRoutes
from emulator.store import Backend, Project

V1 = "type.googleapis.com/google.api.serviceusage.v1."
V1BETA1 = "type.googleapis.com/google.api.serviceusage.v1beta1."
# A new project starts with these on; the lab's APIs (compute, container, cloudkms, iam,
# cloudresourcemanager) start disabled (https://cloud.google.com/service-usage/docs/enabled-service).
ALWAYS_ENABLED = ("serviceusage.googleapis.com",)
KNOWN = tuple(SERVICE_TITLES) + (
    "oslogin.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "artifactregistry.googleapis.com",
    "containerregistry.googleapis.com",
    "storage.googleapis.com",
)
# Enabling a service enables the services it depends on: Kubernetes Engine needs Compute Engine
# (https://cloud.google.com/kubernetes-engine/docs/how-to/enable-api -- "also enables Compute Engine API").
DEPENDENCIES = {"container.googleapis.com": ("compute.googleapis.com",)}
# batchEnable takes at most 20 services per request
# (https://cloud.google.com/service-usage/docs/reference/rest/v1/services/batchEnable).
BATCH_LIMIT = 20
_OPERATION_RE = re.compile(r"^acat\.p2-(\d+)-[0-9a-f]+$|^noop\.DONE_OPERATION$")


# Each method's permission on the project (https://cloud.google.com/service-usage/docs/access-control):
# enable and batchEnable need serviceusage.services.enable, get (and batchGet) .get, list .list.
ENABLE_PERMISSION = "serviceusage.services.enable"
API = "serviceusage.googleapis.com"


def enable_denied(service: str) -> ApiError:
    """Google's answer to enable/batchEnable from a caller without serviceusage.services.enable: 403
    PERMISSION_DENIED, "Permission denied to enable service [NAME]", with a PreconditionFailure and an
    ErrorInfo `AUTH_PERMISSION_DENIED` (domain serviceusage.googleapis.com) naming the permission and the
    service -- what `gcloud services enable` prints for such a caller (the permission each method needs:
    https://cloud.google.com/service-usage/docs/access-control; the fix:
    https://cloud.google.com/service-usage/docs/troubleshooting, "How do I fix permission denied errors?")."""
    return ApiError(
        403,
        f"Permission denied to enable service [{service}]",
        status="PERMISSION_DENIED",
        reason="forbidden",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.PreconditionFailure",
                "violations": [{"subject": "?error_code=110002", "type": "googleapis.com"}],
            },
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "AUTH_PERMISSION_DENIED",
                "domain": "serviceusage.googleapis.com",
                "metadata": {"permission": ENABLE_PERMISSION, "service": service},
            },
        ],
    )


def agent_roles(project: Project) -> dict[str, tuple[str, str]]:
    """service -> (its service agent, the role Google grants it when the service is enabled).

    https://cloud.google.com/iam/docs/service-agents: service-NUMBER@compute-system and
    service-NUMBER@container-engine-robot are created when Compute Engine / GKE are enabled (or by
    generateServiceIdentity) and are granted their service agent role on the project.
    """
    return {
        "compute.googleapis.com": (project.compute_agent, "roles/compute.serviceAgent"),
        "container.googleapis.com": (project.gke_agent, "roles/container.serviceAgent"),
    }


def enable_now(project: Project, services: list[str], now: float) -> None:
    """Turn services on, create their service agents and grant the agents' roles (under the lock)."""
    agents = agent_roles(project)
    for service in services:
        project.enabled_services.add(service)
        if service in agents:
            email, role = agents[service]
            project.agents.add(email)
            project.policy.grant(role, f"serviceAccount:{email}", now)
        if service == "compute.googleapis.com":
            # the Compute Engine default service account comes with the API, as an editor
            project.policy.grant("roles/editor", f"serviceAccount:{project.compute_default_sa}", now)


def seed_services(project: Project) -> None:
    """A new project's services: all of them for a legacy project, only Service Usage for today's."""
    project.enabled_services.update(ALWAYS_ENABLED)
    if project.defaults == "legacy":
        enable_now(project, list(SERVICE_TITLES), project.backend.clock.now())


class ServiceUsageService:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    # ---- resources --------------------------------------------------------------------------
    def _service_json(self, project: Project, service: str) -> dict[str, Any]:
        return {
            "name": f"projects/{project.number}/services/{service}",
            "parent": f"projects/{project.number}",
            "config": {"name": service, "title": SERVICE_TITLES.get(service, service)},
            "state": "ENABLED" if service in project.enabled_services else "DISABLED",
        }

    def _known(self, service: str) -> str:
        if service not in KNOWN:
            raise failed_precondition(
                f"Not found or permission denied for service(s): {service}.",
                reason="SERVICE_CONFIG_NOT_FOUND_OR_PERMISSION_DENIED",
            )
        return service

    def get_service(self, project: Project, service: str) -> dict[str, Any]:
        require(project, "serviceusage.services.get", API)
        with project.locked():
            return self._service_json(project, self._known(service))

    def batch_get(self, project: Project, query: dict[str, str]) -> dict[str, Any]:
        names = [n for n in (query.get("names") or "").split(",") if n]
        if not names:
            raise invalid("names must not be empty.")
        if len(names) > 30:
            raise invalid("At most 30 services can be retrieved in one batchGet request.")
        require(project, "serviceusage.services.get", API)
        services = []
        with project.locked():
            for name in names:
                m = re.match(r"^projects/([^/]+)/services/([^/]+)$", name)
                if not m or self.backend.find_project(m.group(1)) is not project:
                    raise invalid(
                        f"Invalid service name '{name}': expected projects/{project.number}/services/NAME."
                    )
                services.append(self._service_json(project, self._known(m.group(2))))
        return {"services": services}

    def list_services(self, project: Project, query: dict[str, str]) -> dict[str, Any]:
        only_enabled = (query.get("filter") or "").replace(" ", "") == "state:ENABLED"
        require(project, "serviceusage.services.list", API)
        with project.locked():
            items = [self._service_json(project, s) for s in KNOWN]
        if only_enabled:
            items = [s for s in items if s["state"] == "ENABLED"]
        return {"services": items} if items else {}

    # ---- enabling ---------------------------------------------------------------------------
    def enable(self, project: Project, service: str) -> dict[str, Any]:
        return self._start_enable(project, [self._known(service)], single=True)

    def batch_enable(self, project: Project, body: Any) -> dict[str, Any]:
        ids = (body or {}).get("serviceIds") or [] if isinstance(body, dict) else []
        if not ids:
            raise invalid("serviceIds must not be empty.")
        if len(ids) > BATCH_LIMIT:
            raise invalid(f"At most {BATCH_LIMIT} services can be enabled in one batchEnable request.")
        return self._start_enable(project, [self._known(s) for s in ids], single=False)

    def _start_enable(self, project: Project, services: list[str], *, single: bool) -> dict[str, Any]:
        with project.locked():
            # refused whether or not the services are already on: the permission is checked first
            if not holds(project, ENABLE_PERMISSION):
                raise enable_denied(services[0])
            wanted = list(dict.fromkeys(d for s in services for d in (*DEPENDENCIES.get(s, ()), s)))
            now = self.backend.clock.now()
            pending = [s for s in wanted if s not in project.enabled_services]
            # nothing to do: Google answers a finished no-op operation at once
            name = (
                f"operations/acat.p2-{project.number}-{self.backend.token_hex(16)}"
                if pending
                else "operations/noop.DONE_OPERATION"
            )
            op: dict[str, Any] = {
                "name": name,
                "metadata": {
                    "@type": V1 + "OperationMetadata",
                    "resourceNames": [f"services/{s}" for s in services],
                },
                "_project": project.id,
                "_services": services,
                "_single": single,
            }
            if not pending:
                self._finish(project, op)
                return _public(op)
            project.service_operations[name] = op

            def done() -> None:
                enable_now(project, pending, project.event_time or self.backend.clock.now())
                self._finish(project, op)

            project.schedule(now + self.backend.clock.duration("services.enable"), done)
            return _public(op)

    def _finish(self, project: Project, op: dict[str, Any]) -> None:
        services = [self._service_json(project, s) for s in op["_services"]]
        op["done"] = True
        if op["_single"]:
            op["response"] = {"@type": V1 + "EnableServiceResponse", "service": services[0]}
        else:
            op["response"] = {"@type": V1 + "BatchEnableServicesResponse", "services": services}

    def get_operation(self, project: Project | None, operation: str) -> dict[str, Any]:
        m = _OPERATION_RE.match(operation)
        if not m:
            raise not_found(f"Operation 'operations/{operation}' not found.")
        if m.group(1) is None:
            return {"name": "operations/noop.DONE_OPERATION", "done": True, "response": {}}
        owner = self.backend.find_project(m.group(1))
        if owner is None:
            raise not_found(f"Operation 'operations/{operation}' not found.")
        with owner.locked():
            op = owner.service_operations.get(f"operations/{operation}")
            if op is None:
                raise not_found(f"Operation 'operations/{operation}' not found.")
            return _public(op)

    def generate_service_identity(self, project: Project, service: str) -> dict[str, Any]:
        """v1beta1: create the service's agent now (without enabling the service or granting its role)."""
        self._known(service)
        with project.locked():
            agent = agent_roles(project).get(service)
            identity: dict[str, Any] = {}
            if agent is not None:
                project.agents.add(agent[0])
                identity = {"email": agent[0], "uniqueId": str(100000000000000000000 + project.number)}
            return {
                "name": "operations/noop.DONE_OPERATION",
                "done": True,
                "response": {"@type": V1BETA1 + "ServiceIdentity", **identity},
            }

    def routes(self) -> list[ServiceRoutes]:
        return [
            ServiceRoutes(
                api="serviceusage",
                service="serviceusage.googleapis.com",
                prefix="/v1/projects/{project}/services",
                routes=(
                    Route("GET", "", self.list_services),
                    Route("GET", ":batchGet", self.batch_get),
                    Route("POST", ":batchEnable", self.batch_enable),
                    Route("GET", "/{service}", self.get_service),
                    Route("POST", "/{service}:enable", self.enable),
                ),
            ),
            ServiceRoutes(
                api="serviceusage",
                prefix="/v1beta1/projects/{project}/services",
                service="serviceusage.googleapis.com",
                routes=(Route("POST", "/{service}:generateServiceIdentity", self.generate_service_identity),),
            ),
            ServiceRoutes(
                api="serviceusage",
                prefix="",
                routes=(
                    Route("GET", "/v1/operations/{operation}", self.get_operation),
                    Route("GET", "/v1beta1/operations/{operation}", self.get_operation),
                ),
            ),
        ]


def _public(op: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in op.items() if not k.startswith("_")}
