"""API call handling in one place: "404 -> none", "409 -> the existing one", "404 on delete -> gone".

Every read, create and delete of a Google resource goes through these three functions, so the rules
are written once: transient failures (429, 5xx, etag conflicts) are retried with backoff by
`gke_lab.retry`, a permanent failure raises a `LabError` naming the resource, and the idempotency
rules of DESIGN.md hold everywhere:

- `get_or_none`: a read; 404 answers None.
- `create_or_existing`: a create; a 409 "already exists" (a retried create whose first attempt went
  through, or a resource someone else made) answers None, and the caller reads the resource back and
  checks its owner with `gke_lab.ownership.require_owner`, so nothing is adopted.
- `delete_or_gone`: a delete; 404 is success and answers None. Compute's 400 resourceNotReady (an
  operation on the resource still runs: typically this delete's first attempt, whose answer was lost) is
  retried until the resource is gone.
- `list_or_empty`: every item of a (paged) list; a missing parent (404) is an empty list.

`is_missing` and `is_existing` are the predicates for callers that classify an error themselves (the
Kubernetes client raises its own exception type, which is recognised here too).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from gke_lab import retry
from gke_lab.errors import is_already_exists, is_not_found, is_transient

T = TypeVar("T")


def _kubernetes_status(exc: BaseException) -> int | None:
    """The HTTP status of a kubernetes.client.ApiException (or of its subclasses such as
    NotFoundException), without importing the Kubernetes client here."""
    if any(cls.__name__ == "ApiException" for cls in type(exc).__mro__):
        return getattr(exc, "status", None)
    return None


def is_missing(exc: BaseException) -> bool:
    """404 from a Google client or from the Kubernetes client."""
    return is_not_found(exc) or _kubernetes_status(exc) == 404


def is_not_ready(exc: BaseException) -> bool:
    """Compute's 400 resourceNotReady: another operation on the resource is still running."""
    errors = getattr(exc, "errors", None) or ()
    return any(isinstance(e, dict) and e.get("reason") == "resourceNotReady" for e in errors)


def is_existing(exc: BaseException) -> bool:
    """409 "already exists" from a Google client, or 409 from the Kubernetes client on a create."""
    return is_already_exists(exc) or _kubernetes_status(exc) == 409


def _answer_none_on(
    fn: Callable[[], T], predicate: Callable[[BaseException], bool]
) -> Callable[[], T | None]:
    def attempt() -> T | None:
        try:
            return fn()
        except Exception as exc:
            if predicate(exc):
                return None
            raise

    return attempt


def get_or_none(
    fn: Callable[[], T],
    *,
    resource: str,
    retryable: Callable[[BaseException], bool] = is_transient,
    backoff: retry.Backoff = retry.DEFAULT,
) -> T | None:
    """Read a resource; None when it does not exist (404). Transient errors are retried."""
    return retry.call(
        _answer_none_on(fn, is_missing),
        resource=resource,
        action="read",
        retryable=retryable,
        backoff=backoff,
    )


def create_or_existing(
    fn: Callable[[], T],
    *,
    resource: str,
    retryable: Callable[[BaseException], bool] = is_transient,
    backoff: retry.Backoff = retry.DEFAULT,
) -> T | None:
    """Create a resource; None when it already exists (409), so the caller reads it back and checks
    its owner. The answer of the call (an operation, or the created resource) otherwise."""
    return retry.call(
        _answer_none_on(fn, is_existing),
        resource=resource,
        action="create",
        retryable=retryable,
        backoff=backoff,
    )


def delete_or_gone(
    fn: Callable[[], T],
    *,
    resource: str,
    retryable: Callable[[BaseException], bool] = is_transient,
    backoff: retry.Backoff = retry.DEFAULT,
) -> T | None:
    """Delete a resource; None when it was already gone (404), else the call's answer (an operation)."""
    return retry.call(
        _answer_none_on(fn, is_missing),
        resource=resource,
        action="delete",
        retryable=lambda exc: retryable(exc) or is_not_ready(exc),
        backoff=backoff,
    )


def list_or_empty(
    fn: Callable[[], Iterable[T]],
    *,
    resource: str,
    retryable: Callable[[BaseException], bool] = is_transient,
    backoff: retry.Backoff = retry.DEFAULT,
) -> list[T]:
    """All items of a list call (pages included); [] when the parent does not exist (404)."""
    items = retry.call(
        _answer_none_on(lambda: list(fn()), is_missing),
        resource=resource,
        action="list",
        retryable=retryable,
        backoff=backoff,
    )
    return items or []
