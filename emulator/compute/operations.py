"""Global, regional and zonal operations: every insert, patch and delete is one, DONE after its profile
duration (or with an error); `wait` is Compute's server-side long poll."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from emulator.clock import compute_time
from emulator.compute.base import ComputeBase
from emulator.errors import ApiError, not_found
from emulator.store import Project, public

# Operation `wait` returns at DONE or after this many (real) seconds, like Compute's ~2 minute deadline.
WAIT_DEADLINE_S = 120.0


def operation_scope(region: str | None, zone: str | None) -> tuple[str, ...]:
    """Where an operation lives: ("regions", r), ("zones", z) or ("global",)."""
    return ("regions", region) if region else ("zones", zone) if zone else ("global",)


class OperationsMixin(ComputeBase):
    """Operations: each mutating call of the other kinds starts one with the effect to run when DONE."""

    def start_operation(
        self,
        project: Project,
        *,
        op_type: str,
        target: dict[str, Any],
        duration: float,
        effect: Callable[[], object],
        region: str | None = None,
        zone: str | None = None,
    ) -> dict[str, Any]:
        now = self.backend.clock.now()
        name = f"operation-{int(now * 1000)}-{self.backend.token_hex(13)}"
        scope = operation_scope(region, zone)
        op: dict[str, Any] = {
            "kind": "compute#operation",
            "id": project.new_id(),
            "name": name,
            "operationType": op_type,
            "targetLink": target["selfLink"],
            "targetId": target.get("id", ""),
            "status": "RUNNING",
            "user": "user@example.com",
            "progress": 0,
            "insertTime": compute_time(now),
            "startTime": compute_time(now),
            "selfLink": self.link(project, *scope, "operations", name),
            "_done_at": now + duration,
            "_scope": scope,
        }
        if region:
            op["region"] = self.link(project, "regions", region)
        if zone:
            op["zone"] = self.link(project, "zones", zone)
        project.operations[name] = op

        def finish() -> None:
            try:
                effect()
            except ApiError as exc:  # an operation can end DONE with an error
                op["error"] = {"errors": [{"code": exc.reason.upper(), "message": exc.message}]}
                op["httpErrorStatusCode"] = exc.code
                op["httpErrorMessage"] = exc.status.replace("_", " ")
            op["status"] = "DONE"
            op["progress"] = 100
            op["endTime"] = compute_time(project.event_time or self.backend.clock.now())

        project.schedule(op["_done_at"], finish)
        return public(op)

    def _find_op(self, project: Project, scope: tuple[str, ...], name: str) -> dict[str, Any]:
        op = project.operations.get(name)
        if op is None or tuple(op["_scope"]) != scope:
            raise not_found(
                f"The resource 'projects/{project.id}/{'/'.join(scope)}/operations/{name}' was not found"
            )
        return op

    def get_operation(
        self, project: Project, operation: str, region: str | None = None, zone: str | None = None
    ) -> dict[str, Any]:
        with project.locked():
            return public(self._find_op(project, operation_scope(region, zone), operation))

    def wait_operation(
        self, project: Project, operation: str, region: str | None = None, zone: str | None = None
    ) -> dict[str, Any]:
        scope, name = operation_scope(region, zone), operation
        deadline = time.monotonic() + WAIT_DEADLINE_S
        while True:
            with project.locked():
                op = self._find_op(project, scope, name)
                if op["status"] == "DONE":
                    return public(op)
                remaining = op["_done_at"] - self.backend.clock.now()
            left = deadline - time.monotonic()
            if left <= 0:
                with project.locked():
                    return public(self._find_op(project, scope, name))
            time.sleep(max(0.001, min(remaining, left, 0.25)))

    def list_operations(
        self, project: Project, query: dict[str, str], region: str | None = None, zone: str | None = None
    ) -> dict[str, Any]:
        scope = operation_scope(region, zone)
        with project.locked():
            items = [public(o) for o in project.operations.values() if tuple(o["_scope"]) == scope]
        return self.list_response(project, "compute#operationList", items, query, *scope, "operations")
