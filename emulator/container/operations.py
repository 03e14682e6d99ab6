"""Cluster operations (CREATE_CLUSTER, DELETE_CLUSTER, SET_LABELS): one at a time per cluster."""

from __future__ import annotations

from typing import Any

from emulator.clock import rfc3339
from emulator.container.base import ContainerBase
from emulator.container.common import CONTAINER, resource_path
from emulator.errors import ApiError, failed_precondition, not_found
from emulator.store import Project, public


class OperationsMixin(ContainerBase):
    def check_not_busy(self, project: Project, cluster: dict[str, Any]) -> None:
        for op in project.cluster_ops.values():
            if op["_cluster"] == cluster["selfLink"] and op["status"] == "RUNNING":
                raise failed_precondition(f"Cluster is running incompatible operation {op['name']}.")

    def start_operation(
        self, project: Project, location: str, cluster: dict[str, Any], op_type: str, duration: float
    ) -> dict[str, Any]:
        now = self.backend.clock.now()
        name = f"operation-{int(now * 1000)}-{self.backend.token_hex(8)}"
        op = {
            "name": name,
            "zone": location,
            "operationType": op_type,
            "status": "RUNNING",
            "selfLink": f"{CONTAINER}/projects/{project.number}/locations/{location}/operations/{name}",
            "targetLink": f"{CONTAINER}/projects/{project.number}/locations/{location}/clusters/"
            f"{cluster['name']}",
            "startTime": rfc3339(now),
            "location": location,
            "_cluster": cluster["selfLink"],
            "_done_at": now + duration,
        }
        project.cluster_ops[name] = op
        return op

    def finish_operation(
        self, op: dict[str, Any], error: ApiError | None = None, at: float | None = None
    ) -> None:
        if op["status"] == "DONE":
            return
        op["status"] = "DONE"
        op["endTime"] = rfc3339(at or self.backend.clock.now())
        if error is not None:
            op["error"] = error.rpc_status()
            op["statusMessage"] = error.message

    def get_operation(self, project: Project, location: str, name: str) -> dict[str, Any]:
        with project.locked():
            op = project.cluster_ops.get(name)
            if op is None or (location != "-" and op["location"] != location):
                raise not_found(f"Not found: {resource_path(project, location, 'operations', name)}.")
            return public(op)

    def list_operations(self, project: Project, location: str) -> dict[str, Any]:
        with project.locked():
            items = [
                public(o)
                for o in project.cluster_ops.values()
                if location == "-" or o["location"] == location
            ]
        return {"operations": items} if items else {}
