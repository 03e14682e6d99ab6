"""Waiting for long-running operations.

Compute: the server-side long poll (`operations.wait`, answers at DONE or after ~2 minutes), looped; never
`ExtendedOperation.result()`, which polls compute.googleapis.com whatever endpoint the client uses.
Container: `get_operation` polled with an interval that grows with the elapsed time (2 %, clamped to 1-5 s),
so the poll adds about 1 % to a wait of any length, at one request a second at most.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from gke_lab import progress, retry
from gke_lab.clients import Clients
from gke_lab.errors import OperationError

# Each wait imports its client library: `gke-lab extend` waits on container operations only, and the
# compute library alone takes seconds to import.
if TYPE_CHECKING:
    from google.cloud import compute_v1, container_v1

MIN_INTERVAL = 1.0
MAX_INTERVAL = 5.0
INTERVAL_FRACTION = 0.02


def poll_interval(elapsed: float) -> float:
    return min(MAX_INTERVAL, max(MIN_INTERVAL, INTERVAL_FRACTION * elapsed))


def _verb(operation_type: str) -> str:
    """`insert` / `CREATE_CLUSTER` -> `creating`: what a progress line says a wait is for."""
    kind = operation_type.lower()
    for word, verb in (("insert", "creating"), ("create", "creating"), ("delete", "deleting")):
        if word in kind:
            return verb
    return "updating"


def _compute_error(op: compute_v1.Operation) -> str | None:
    if op.error and op.error.errors:
        return "; ".join(f"{e.code}: {e.message}" for e in op.error.errors)
    if op.http_error_status_code and op.http_error_status_code >= 400:
        return f"HTTP {op.http_error_status_code}: {op.http_error_message}"
    return None


def wait_compute(
    clients: Clients,
    op: compute_v1.Operation,
    *,
    project: str,
    region: str | None = None,
    resource: str,
    timeout: float = 1800.0,
) -> compute_v1.Operation:
    """Wait until a global or regional compute operation is DONE; raise OperationError if it failed."""
    from google.cloud import compute_v1

    deadline = time.monotonic() + timeout
    if op.status != compute_v1.Operation.Status.DONE:
        progress.note(f"{_verb(op.operation_type)} {resource.rsplit('/', 1)[-1]}")
    while op.status != compute_v1.Operation.Status.DONE:
        if time.monotonic() > deadline:
            raise OperationError(f"timed out waiting for {op.operation_type} on {resource} ({op.name})")
        name = op.name

        def wait(name: str = name) -> compute_v1.Operation:
            # Server-side long poll on our own operations client (ExtendedOperation.result() would poll
            # compute.googleapis.com whatever the endpoint).
            if region:
                return clients.region_operations.wait(project=project, region=region, operation=name)
            return clients.global_operations.wait(project=project, operation=name)

        op = retry.call(wait, resource=resource, action=f"wait for operation {name} on")
    error = _compute_error(op)
    if error:
        raise OperationError(f"{op.operation_type} on {resource} failed: {error}", resource=resource)
    return op


def wait_compute_pending(
    clients: Clients, *, project: str, region: str | None = None, resource: str, timeout: float = 1800.0
) -> None:
    """Wait for the operations still running on `resource` (`projects/P/.../NAME`).

    A retried insert that meets 409 may find its first attempt's operation still running (the first answer
    was lost): Compute refuses to use the resource until it is done (400 resourceNotReady), so the run waits
    for that operation as for its own."""
    from google.cloud import compute_v1

    def pending() -> list[compute_v1.Operation]:
        running = 'status != "DONE"'
        found: Iterable[compute_v1.Operation]
        if region:
            request = compute_v1.ListRegionOperationsRequest(project=project, region=region, filter=running)
            found = clients.region_operations.list(request=request)
        else:
            found = clients.global_operations.list(
                request=compute_v1.ListGlobalOperationsRequest(project=project, filter=running)
            )
        return [op for op in found if op.target_link.endswith("/" + resource)]

    for op in retry.call(pending, resource=resource, action="list the running operations of"):
        wait_compute(clients, op, project=project, region=region, resource=resource, timeout=timeout)


def wait_container(
    clients: Clients,
    op: container_v1.Operation,
    *,
    location_path: str,
    resource: str,
    timeout: float = 3600.0,
    sleep: Callable[[float], None] = time.sleep,
) -> container_v1.Operation:
    """Poll a container operation until DONE. `location_path` is `projects/P/locations/L`."""
    from google.cloud import container_v1

    name = f"{location_path}/operations/{op.name.rsplit('/', 1)[-1]}"
    start = time.monotonic()
    if op.status != container_v1.Operation.Status.DONE:
        progress.note(_verb(op.operation_type.name))
    while op.status != container_v1.Operation.Status.DONE:
        elapsed = time.monotonic() - start
        if elapsed > timeout:
            raise OperationError(
                f"timed out waiting for {op.operation_type.name} on {resource}", resource=resource
            )
        sleep(poll_interval(elapsed))
        op = retry.call(
            lambda: clients.container.get_operation(name=name), resource=resource, action=f"poll {name} for"
        )
    message = (
        op.error.message if op.error and (op.error.code or op.error.message) else ""
    ) or op.status_message
    if message:
        raise OperationError(f"{op.operation_type.name} on {resource} failed: {message}", resource=resource)
    return op
