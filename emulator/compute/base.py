"""What every Compute resource kind shares: the backend, self links and the list response."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator.compute.common import BASE
from emulator.compute.filters import page
from emulator.store import Backend, Project


class ComputeBase:
    """The backend and links every kind uses; the kinds are mixins combined in compute/__init__.py."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    if TYPE_CHECKING:  # what the kinds use from each other, defined in the module named

        def network(self, project: Project, ref: str, *, ready: bool = False) -> dict[str, Any]:
            raise NotImplementedError  # networks.py

        def subnet(self, project: Project, region: str, ref: str, *, ready: bool = False) -> dict[str, Any]:
            raise NotImplementedError  # subnetworks.py

        def new_subnet(
            self, project: Project, region: str, body: dict[str, Any], now: float
        ) -> dict[str, Any]:
            raise NotImplementedError  # subnetworks.py

        def subnet_ready(self, project: Project, region: str, name: str) -> None:
            raise NotImplementedError  # subnetworks.py

        def network_user_paths(self, project: Project, link: str) -> list[str]:
            raise NotImplementedError  # network_users.py

        def new_firewall(self, project: Project, body: dict[str, Any], now: float) -> dict[str, Any]:
            raise NotImplementedError  # firewalls.py

        def add_route(
            self,
            project: Project,
            body: dict[str, Any],
            now: float,
            *,
            system: bool = False,
            subnet: str | None = None,
        ) -> dict[str, Any]:
            raise NotImplementedError  # routes.py

    # ---- links ------------------------------------------------------------------------------
    @staticmethod
    def link(project: Project, *parts: str) -> str:
        return "/".join([BASE, "projects", project.id, *parts])

    def network_link(self, project: Project, name: str) -> str:
        return self.link(project, "global", "networks", name)

    def subnet_link(self, project: Project, region: str, name: str) -> str:
        return self.link(project, "regions", region, "subnetworks", name)

    def list_response(
        self, project: Project, kind: str, items: list[dict[str, Any]], query: dict[str, str], *parts: str
    ) -> dict[str, Any]:
        chunk, nxt = page(items, query)
        out: dict[str, Any] = {
            "kind": kind,
            "id": "projects/" + project.id + "/" + "/".join(parts),
            "items": chunk,
            "selfLink": self.link(project, *parts),
        }
        if not chunk:
            del out["items"]
        if nxt:
            out["nextPageToken"] = nxt
        return out
