"""Google-shaped API errors, shared by the REST and gRPC front ends."""

from __future__ import annotations

from typing import Any

# HTTP status -> (canonical status, compute reason)
_CANONICAL = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    409: "ALREADY_EXISTS",
    412: "FAILED_PRECONDITION",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_REASON = {
    400: "invalid",
    401: "required",
    403: "forbidden",
    404: "notFound",
    409: "alreadyExists",
    412: "conditionNotMet",
    429: "rateLimitExceeded",
    500: "backendError",
    501: "notImplemented",
    503: "backendError",
    504: "deadlineExceeded",
}
# canonical status -> numeric google.rpc.Code
RPC_CODES = {
    "OK": 0,
    "CANCELLED": 1,
    "UNKNOWN": 2,
    "INVALID_ARGUMENT": 3,
    "DEADLINE_EXCEEDED": 4,
    "NOT_FOUND": 5,
    "ALREADY_EXISTS": 6,
    "PERMISSION_DENIED": 7,
    "RESOURCE_EXHAUSTED": 8,
    "FAILED_PRECONDITION": 9,
    "ABORTED": 10,
    "OUT_OF_RANGE": 11,
    "UNIMPLEMENTED": 12,
    "INTERNAL": 13,
    "UNAVAILABLE": 14,
    "DATA_LOSS": 15,
    "UNAUTHENTICATED": 16,
}


class ApiError(Exception):
    """An error answered to the client in Google's JSON error shape (or as a gRPC status)."""

    def __init__(
        self,
        code: int,
        message: str,
        *,
        status: str | None = None,
        reason: str | None = None,
        domain: str = "global",
        details: list[dict[str, Any]] | None = None,
        extended_help: str | None = None,
    ) -> None:
        super().__init__(message)
        self.details = details or []
        self.extended_help = extended_help
        self.code = code
        self.message = message
        self.status = status or _CANONICAL.get(code, "UNKNOWN")
        self.reason = reason or _REASON.get(code, "unknown")
        self.domain = domain

    def to_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {"message": self.message, "domain": self.domain, "reason": self.reason}
        if self.extended_help:
            item["extendedHelp"] = self.extended_help
        out: dict[str, Any] = {
            "code": self.code,
            "message": self.message,
            "errors": [item],
            "status": self.status,
        }
        if self.details:
            out["details"] = [dict(d) for d in self.details]
        return {"error": out}

    def rpc_status(self) -> dict[str, Any]:
        return {"code": RPC_CODES.get(self.status, 2), "message": self.message}


def not_found(message: str, reason: str = "notFound") -> ApiError:
    return ApiError(404, message, reason=reason)


def already_exists(message: str) -> ApiError:
    return ApiError(409, message, status="ALREADY_EXISTS", reason="alreadyExists")


def invalid(message: str, reason: str = "invalid") -> ApiError:
    return ApiError(400, message, status="INVALID_ARGUMENT", reason=reason)


def failed_precondition(message: str, reason: str = "failedPrecondition") -> ApiError:
    return ApiError(400, message, status="FAILED_PRECONDITION", reason=reason)


def in_use(resource: str, user: str) -> ApiError:
    return ApiError(
        400,
        f"The {resource.split('/')[-2][:-1]} resource '{resource}' is already being used by '{user}'",
        status="INVALID_ARGUMENT",
        reason="resourceInUseByAnotherResource",
    )


def not_ready(resource: str) -> ApiError:
    return ApiError(
        400,
        f"The resource '{resource}' is not ready",
        status="FAILED_PRECONDITION",
        reason="resourceNotReady",
    )


def permission_denied(message: str) -> ApiError:
    return ApiError(403, message, status="PERMISSION_DENIED", reason="forbidden")


def aborted(message: str) -> ApiError:
    return ApiError(409, message, status="ABORTED", reason="aborted")


def service_disabled(service: str, title: str, project_number: int) -> ApiError:
    """A call to an API the project has not enabled.

    The ErrorInfo (reason SERVICE_DISABLED, domain googleapis.com, metadata service/consumer) is Google's
    documented shape: google/api/error_reason.proto, ErrorReason.SERVICE_DISABLED
    (https://cloud.google.com/php/docs/reference/common-protos/latest/Api.ErrorReason); the message and the
    accessNotConfigured item are what every Google REST API answers in that case.
    """
    console = f"https://console.developers.google.com/apis/api/{service}/overview?project={project_number}"
    message = (
        f"{title} has not been used in project {project_number} before or it is disabled. Enable it by "
        f"visiting {console} then retry. If you enabled this API recently, wait a few minutes for the action "
        "to propagate to our systems and retry."
    )
    return ApiError(
        403,
        message,
        status="PERMISSION_DENIED",
        reason="accessNotConfigured",
        domain="usageLimits",
        extended_help="https://console.developers.google.com",
        details=[
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "SERVICE_DISABLED",
                "domain": "googleapis.com",
                "metadata": {
                    "service": service,
                    "consumer": f"projects/{project_number}",
                    "activationUrl": console,
                    "serviceTitle": title,
                    "containerInfo": str(project_number),
                },
            },
            {
                "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
                "locale": "en-US",
                "message": message,
            },
            {
                "@type": "type.googleapis.com/google.rpc.Help",
                "links": [{"description": "Google developers console API activation", "url": console}],
            },
        ],
    )
