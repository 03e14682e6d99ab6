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
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status or _CANONICAL.get(code, "UNKNOWN")
        self.reason = reason or _REASON.get(code, "unknown")
        self.domain = domain

    def to_json(self) -> dict[str, Any]:
        return {
            "error": {
                "code": self.code,
                "message": self.message,
                "errors": [{"message": self.message, "domain": self.domain, "reason": self.reason}],
                "status": self.status,
            }
        }

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
