"""Failures of the Kubernetes API, answered as the apiserver's Status objects."""

from __future__ import annotations

from emulator.kube_server import Response, status_error


class _BadRequest(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class _ApiError(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _not_found(resource: str, name: str, group: str = "") -> _ApiError:
    qualified = f"{resource}.{group}" if group else resource
    return _ApiError(
        status_error(
            404,
            "NotFound",
            f'{qualified} "{name}" not found',
            {"name": name, "group": group, "kind": resource} if group else {"name": name, "kind": resource},
        )
    )


def _invalid(kind: str, group: str, name: str, causes: list[tuple[str, str, str]]) -> _ApiError:
    """422 Invalid; causes are (field, reason, message)."""
    qualified = f"{kind}.{group}" if group else kind
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
    return _ApiError(status_error(422, "Invalid", f'{qualified} "{name}" is invalid: {text}', details))


def _bad_request(message: str) -> _ApiError:
    return _ApiError(status_error(400, "BadRequest", message))
