"""Error types the product raises and the one place where Google API errors are classified.

Transient: 429, 5xx, ABORTED / etag conflicts (409 that is not "already exists"), and a permission error that
is IAM propagation shortly after our own grant (decided by the caller, who knows when it granted). Everything
else is permanent: it surfaces at once as a `LabError` carrying the API's message and the resource named.
"""

from __future__ import annotations

from typing import Any

import requests
from google.api_core import exceptions as gexc


class LabError(Exception):
    """A failure the user must act on; the message names the resource and says what to do."""

    def __init__(self, message: str, *, resource: str | None = None) -> None:
        super().__init__(message)
        self.resource = resource


class ApiError(LabError):
    """A permanent error returned by a Google API for a named resource."""

    def __init__(self, resource: str, action: str, cause: BaseException) -> None:
        code = getattr(cause, "code", None)
        status = error_status(cause)
        detail = api_message(cause)
        label = f"HTTP {code}" if isinstance(code, int) else (status or type(cause).__name__)
        super().__init__(f"{action} {resource} failed ({label}): {detail}", resource=resource)
        self.action = action
        self.code = code
        self.status = status
        self.__cause__ = cause


class OperationError(LabError):
    """A long-running operation finished (DONE) with an error."""


class NotOwnedError(LabError):
    """A resource with the lab's name exists but does not carry this lab's ownership marker."""


class DriftError(LabError):
    """An existing lab resource differs from the spec in a field that cannot be changed in place."""

    def __init__(self, resource: str, differences: list[tuple[str, Any, Any]]) -> None:
        lines = "; ".join(f"{field}: live={live!r}, spec={want!r}" for field, live, want in differences)
        super().__init__(
            f"{resource} exists but differs from the spec in fields that cannot be changed in place: "
            f"{lines}. "
            "Tear the lab down (gke-lab down) or align the spec with the live resource.",
            resource=resource,
        )
        self.differences = differences


class RefusedError(LabError):
    """The run refuses a destructive step because it could destroy something the lab does not own."""


class DiagnosticError(LabError):
    """A failure with a known cause the user can fix (e.g. authorized networks, Cloud NAT)."""


def _payload(exc: BaseException) -> dict[str, Any]:
    response = getattr(exc, "response", None)
    if response is None or not hasattr(response, "json"):
        return {}
    try:
        body = response.json()
    except Exception:  # noqa: BLE001 - a non-JSON body carries no status
        return {}
    if isinstance(body, list):
        body = next((item for item in body if isinstance(item, dict)), {})
    return body.get("error", {}) if isinstance(body, dict) else {}


def error_status(exc: BaseException) -> str | None:
    """The canonical status name (ALREADY_EXISTS, ABORTED, ...) when the error carries one."""
    status = _payload(exc).get("status")
    if status:
        return str(status)
    grpc_code = getattr(exc, "grpc_status_code", None)
    return grpc_code.name if grpc_code is not None else None


def _reasons(exc: BaseException) -> set[str]:
    reasons = {str(e.get("reason", "")) for e in getattr(exc, "errors", ()) or () if isinstance(e, dict)}
    reason = getattr(exc, "reason", None)
    if reason:
        reasons.add(str(reason))
    return reasons


def api_message(exc: BaseException) -> str:
    message = getattr(exc, "message", None)
    return str(message) if message else str(exc)


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, gexc.NotFound)


def is_already_exists(exc: BaseException) -> bool:
    if isinstance(exc, gexc.AlreadyExists):
        return True
    if isinstance(exc, gexc.Conflict) and not isinstance(exc, gexc.Aborted):
        return error_status(exc) == "ALREADY_EXISTS" or "alreadyExists" in _reasons(exc)
    return False


def is_etag_conflict(exc: BaseException) -> bool:
    if isinstance(exc, gexc.Aborted):
        return True
    if isinstance(exc, gexc.Conflict) and not is_already_exists(exc):
        return True  # a 409 that is not "already exists" is the concurrent-change conflict
    return False


def is_permission_denied(exc: BaseException) -> bool:
    return isinstance(exc, gexc.PermissionDenied | gexc.Forbidden) and not _is_rate_limit(exc)


def is_service_disabled(exc: BaseException) -> bool:
    """Google's 403 for an API not enabled in the project (ErrorInfo reason SERVICE_DISABLED), raised as
    is or as the cause of our LabError."""
    for error in (exc, exc.__cause__):
        if error is None:
            continue
        text = str(error)
        if (
            getattr(error, "reason", None) == "SERVICE_DISABLED"
            or "SERVICE_DISABLED" in text
            or "has not been used in project" in text
        ):
            return True
    return False


def _is_rate_limit(exc: BaseException) -> bool:
    # Compute has historically answered rate limits with 403 rateLimitExceeded.
    return bool(_reasons(exc) & {"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"})


def is_transient(exc: BaseException) -> bool:
    """Retry-worthy on its own (propagation-shaped permission errors are decided by the caller)."""
    if isinstance(exc, LabError):
        return False
    if isinstance(exc, gexc.TooManyRequests | gexc.ResourceExhausted):
        return True
    if isinstance(exc, gexc.ServerError | gexc.ServiceUnavailable | gexc.DeadlineExceeded):
        return True
    code = getattr(exc, "code", None)
    if isinstance(exc, gexc.GoogleAPICallError) and isinstance(code, int) and (code >= 500 or code == 429):
        return True
    if is_etag_conflict(exc):
        return True
    if _is_rate_limit(exc):
        return True
    # Connection-level failures (reset, refused while the server restarts) are transient too.
    return isinstance(exc, requests.ConnectionError | ConnectionError | gexc.RetryError)


def permanent(exc: BaseException, resource: str, action: str) -> LabError:
    """The exception to raise for a non-transient failure; LabErrors pass through unchanged."""
    if isinstance(exc, LabError):
        return exc
    return ApiError(resource, action, exc)
