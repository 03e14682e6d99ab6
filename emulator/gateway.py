"""One gateway that both transports (REST in http.py, gRPC in iam_grpc.py) call for every API request.

It resolves the project the request names, answers an injected fault instead of serving (or serves and then
loses the answer: a lost response), calls the service, maps what it raised to Google's error (an unexpected
exception becomes a 500, never a hang or a gRPC UNKNOWN), and writes one request-log entry; a 500's entry
carries the traceback, a lost response's entry the status it was served with (`served`) besides the one the
client got. The transports only parse their wire format and render the outcome (`drop`: close the connection
without an answer).
"""

from __future__ import annotations

import socket
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

from emulator.errors import ApiError, service_disabled
from emulator.faults import FaultInjector
from emulator.requestlog import RequestLog, is_mutating
from emulator.resourcemanager import caller_holds, iam_permission_denied
from emulator.store import Backend, Project
from emulator.tokens import OPERATOR_CALLER, Caller, TokenRegistry


@dataclass(frozen=True)
class Call:
    api: str  # compute, container, cloudkms, cloudresourcemanager, iam
    method: str  # the HTTP verb, or GRPC
    path: str  # the URL path, or /package.Service/Method
    project: str | None  # the project ID or number the request names, if any
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None  # as the request log shows it
    service: str = ""  # the API the project must have enabled, e.g. compute.googleapis.com ("" for none)
    token: str | None = None  # the request's bearer token, if it sent one
    permission: str = ""  # the IAM permission a named user needs ("" refuses named users, "*" allows all)


@dataclass(frozen=True)
class Outcome:
    status: int
    result: Any = None
    error: ApiError | None = None
    drop: bool = False  # a lost response: close the connection without answering


def drop_connection(handler: BaseHTTPRequestHandler) -> None:
    """A lost response on either HTTP server: the request took effect, then the connection closes."""
    handler.close_connection = True
    try:
        handler.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass


def internal_error(exc: BaseException) -> ApiError:
    return ApiError(500, f"Internal error: {exc}", status="INTERNAL", reason="backendError")


# Titles Google uses in its SERVICE_DISABLED message for the APIs a lab calls.
SERVICE_TITLES = {
    "compute.googleapis.com": "Compute Engine API",
    "container.googleapis.com": "Kubernetes Engine API",
    "cloudkms.googleapis.com": "Cloud Key Management Service (KMS) API",
    "iam.googleapis.com": "Identity and Access Management (IAM) API",
    "cloudresourcemanager.googleapis.com": "Cloud Resource Manager API",
    "serviceusage.googleapis.com": "Service Usage API",
}


class Gateway:
    def __init__(
        self, backend: Backend, faults: FaultInjector, log: RequestLog, tokens: TokenRegistry | None = None
    ) -> None:
        self.backend = backend
        self.faults = faults
        self.log = log
        self.tokens = tokens

    def call(self, call: Call, handler: Callable[[Project | None, Caller], Any]) -> Outcome:
        start = time.time()
        project_id = call.project
        trace: str | None = None
        mutating = is_mutating(call.method, call.path)
        try:
            project = self.backend.project(project_id) if project_id else None
            if project is not None:
                project_id = project.id
            fault = self.faults.decide(call.api, call.method, call.path, project_id, mutating=mutating)
            if fault is not None:
                raise fault.error(call.api)
            caller = self.authenticate(call)
            if project is not None and call.service:
                self.check_enabled(project, call.service)
            if not caller.operator:
                self.authorize(project, caller, call)
            outcome = Outcome(200, handler(project, caller))
        except ApiError as exc:
            outcome = Outcome(exc.code, error=exc)
        except Exception as exc:  # a bug here must look like a 500, not a hang
            trace = traceback.format_exc()
            print(trace, file=sys.stderr, end="")
            outcome = Outcome(500, error=internal_error(exc))
        entry: dict[str, Any] = {
            "api": call.api,
            "method": call.method,
            "path": call.path,
            "query": call.query,
            "body": call.body,
            "status": outcome.status,
            "start": start,
            "end": time.time(),
            "project": project_id,
        }
        if trace is not None:
            entry["error"] = outcome.error.message if outcome.error else ""
            entry["trace"] = trace
        fault = self.faults.decide(
            call.api, call.method, call.path, project_id, mutating=mutating, served=outcome.status
        )
        if fault is not None:
            # Served, then the answer is lost: the client sees a 503 (or a closed connection) whatever
            # the service did, and a retry meets the effect of this request.
            entry["served"] = outcome.status
            entry["lost_response"] = "dropped" if fault.drop else fault.status
            lost = fault.error(call.api)
            outcome = Outcome(lost.code, error=lost, drop=fault.drop)
            entry["status"] = 0 if fault.drop else outcome.status
        self.log.append(entry)
        return outcome

    def authenticate(self, call: Call) -> Caller:
        """Who sent the request. No token: the operator (the product's clients are anonymous on the emulator,
        as with Google's own emulators); a token the token endpoint issued and not expired: whom it stands
        for; any other token: Google's 401 UNAUTHENTICATED (https://cloud.google.com/apis/design/errors)."""
        if not call.token:
            return OPERATOR_CALLER
        caller = self.tokens.caller(call.token) if self.tokens is not None else OPERATOR_CALLER
        if caller is None:
            raise ApiError(
                401,
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                "or other valid authentication credential.",
                status="UNAUTHENTICATED",
                reason="authError",
            )
        return caller

    def authorize(self, project: Project | None, caller: Caller, call: Call) -> None:
        """A named user needs the route's IAM permission on the project, through the project's IAM policy."""
        if call.permission == "*":
            return
        with_permission = call.permission or f"{call.api}.unlisted"
        if project is not None and call.permission:
            with project.locked():
                if caller_holds(project, caller, call.permission):
                    return
        if project is None:
            raise ApiError(403, "The caller does not have permission", status="PERMISSION_DENIED")
        if call.api == "container":
            # GKE names the permission and the resource, e.g. `Required "container.clusters.get"
            # permission(s) for "projects/p/locations/l/clusters/c".`
            resource = call.path.removeprefix("/v1/").split(":", 1)[0]
            raise ApiError(
                403,
                f'Required "{with_permission}" permission(s) for "{resource}".',
                status="PERMISSION_DENIED",
                reason="forbidden",
            )
        raise iam_permission_denied(project, with_permission, f"{call.api}.googleapis.com")

    def check_enabled(self, project: Project, service: str) -> None:
        """Google answers every call to an API the project has not enabled with 403 SERVICE_DISABLED."""
        with project.locked():  # an enable operation that is due completes first
            enabled = service in project.enabled_services
        if not enabled:
            raise service_disabled(service, SERVICE_TITLES.get(service, service), project.number)
