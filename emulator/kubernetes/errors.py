"""Failures of the Kubernetes API, answered as the apiserver's Status objects."""

from __future__ import annotations

from emulator.kube_server import Response, status_error


class BadRequest(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class KubeApiError(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _qualified(resource: str, group: str) -> str:
    """How the apiserver names a resource in messages: ``deployments.apps``, ``services``."""
    return f"{resource}.{group}" if group else resource


def _details(name: str, resource: str, group: str) -> dict:
    """Status details naming the object; core resources leave the group out."""
    return {"name": name, "group": group, "kind": resource} if group else {"name": name, "kind": resource}


def not_found(resource: str, name: str, group: str = "") -> KubeApiError:
    return KubeApiError(
        status_error(
            404,
            "NotFound",
            f'{_qualified(resource, group)} "{name}" not found',
            _details(name, resource, group),
        )
    )


def already_exists(resource: str, name: str, group: str) -> KubeApiError:
    return KubeApiError(
        status_error(
            409,
            "AlreadyExists",
            f'{_qualified(resource, group)} "{name}" already exists',
            _details(name, resource, group),
        )
    )


def conflict(resource: str, name: str, group: str) -> KubeApiError:
    """409 Conflict: a write carried a stale resourceVersion."""
    return KubeApiError(
        status_error(
            409,
            "Conflict",
            f'Operation cannot be fulfilled on {_qualified(resource, group)} "{name}": '
            "the object has been modified; please apply your changes to the latest version and try again",
            {"name": name, "group": group, "kind": resource},
        )
    )


def namespace_terminating(resource: str, name: str, group: str, ns: str) -> KubeApiError:
    """403 Forbidden: no new objects in a namespace that is being deleted."""
    return KubeApiError(
        status_error(
            403,
            "Forbidden",
            f'{_qualified(resource, group)} "{name}" is forbidden: '
            f"unable to create new content in namespace {ns} because it is being terminated",
            {"name": name, "group": group, "kind": resource},
        )
    )


def invalid(kind: str, group: str, name: str, causes: list[tuple[str, str, str]]) -> KubeApiError:
    """422 Invalid; causes are (field, reason, message)."""
    text = "; ".join(f"{f}: {m}" for f, _, m in causes)
    if len(causes) > 1:
        text = "[" + ", ".join(f"{f}: {m}" for f, _, m in causes) + "]"
    details = {
        "name": name,
        "kind": kind,
        "causes": [{"reason": r, "message": m, "field": f} for f, r, m in causes],
    }
    if group:
        details["group"] = group
    return KubeApiError(
        status_error(422, "Invalid", f'{_qualified(kind, group)} "{name}" is invalid: {text}', details)
    )


def bad_request(message: str) -> KubeApiError:
    return KubeApiError(status_error(400, "BadRequest", message))
