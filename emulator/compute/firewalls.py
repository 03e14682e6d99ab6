"""Firewall rules: the ones users insert and patch, and the ones Google adds at once (GKE, load balancers)."""

from __future__ import annotations

import ipaddress
from typing import Any

from emulator.clock import compute_time
from emulator.compute.common import check_name, plain
from emulator.compute.operations import OperationsMixin
from emulator.errors import already_exists, invalid, not_found, not_ready
from emulator.store import Project, public


class FirewallsMixin(OperationsMixin):
    """Firewall rules of a ready network (networks.py)."""

    # ---- firewalls --------------------------------------------------------------------------
    def new_firewall(self, project: Project, body: dict[str, Any], now: float) -> dict[str, Any]:
        direction = body.get("direction", "INGRESS")
        fw: dict[str, Any] = {
            "kind": "compute#firewall",
            "id": project.new_id(),
            "creationTimestamp": compute_time(now),
            "name": body["name"],
            "description": body.get("description", ""),
            "network": body["network"],
            "priority": int(body.get("priority", 1000)),
            "direction": direction,
            "logConfig": {"enable": False},
            "disabled": bool(body.get("disabled", False)),
            "selfLink": self.link(project, "global", "firewalls", body["name"]),
            "_pending": True,
        }
        for key in (
            "sourceRanges",
            "destinationRanges",
            "sourceTags",
            "targetTags",
            "sourceServiceAccounts",
            "targetServiceAccounts",
            "allowed",
            "denied",
        ):
            if body.get(key):
                fw[key] = body[key]
        if direction == "INGRESS" and not any(
            k in fw for k in ("sourceRanges", "sourceTags", "sourceServiceAccounts")
        ):
            fw["sourceRanges"] = ["0.0.0.0/0"]
        if direction == "EGRESS" and "destinationRanges" not in fw:
            fw["destinationRanges"] = ["0.0.0.0/0"]
        return fw

    def firewall(self, project: Project, name: str) -> dict[str, Any]:
        fw = project.firewalls.get(name)
        if fw is None:
            raise not_found(f"The resource 'projects/{project.id}/global/firewalls/{name}' was not found")
        return fw

    def get_firewall(self, project: Project, name: str) -> dict[str, Any]:
        with project.locked():
            return public(self.firewall(project, name))

    def list_firewalls(self, project: Project, query: dict[str, str]) -> dict[str, Any]:
        with project.locked():
            items = [public(f) for f in project.firewalls.values()]
        return self.list_response(project, "compute#firewallList", items, query, "global", "firewalls")

    def _validate_firewall(self, body: dict[str, Any]) -> None:
        if not body.get("allowed") and not body.get("denied"):
            raise invalid(
                "Invalid value for field 'resource': ''. A firewall rule needs at least one allowed or "
                "denied entry."
            )
        for i, rule in enumerate(body.get("allowed", []) + body.get("denied", [])):
            if not rule.get("IPProtocol"):
                raise invalid(f"Invalid value for field 'resource.allowed[{i}].IPProtocol': ''.")
        for key in ("sourceRanges", "destinationRanges"):
            for i, cidr in enumerate(body.get(key, [])):
                try:
                    ipaddress.ip_network(cidr, strict=False)
                except ValueError:
                    raise invalid(
                        f"Invalid value for field 'resource.{key}[{i}]': '{cidr}'. "
                        "Must be a valid IPV4 CIDR address range."
                    ) from None
        prio = int(body.get("priority", 1000))
        if not 0 <= prio <= 65535:
            raise invalid(
                f"Invalid value for field 'resource.priority': '{prio}'. Must be between 0 and 65535."
            )

    def insert_firewall(self, project: Project, body: dict[str, Any]) -> dict[str, Any]:
        body = plain(body)
        name = check_name(body.get("name"))
        self._validate_firewall(body)
        with project.locked():
            net = self.network(project, body.get("network") or "default", ready=True)
            if name in project.firewalls:
                raise already_exists(
                    f"The resource 'projects/{project.id}/global/firewalls/{name}' already exists"
                )
            body["network"] = net["selfLink"]
            fw = self.new_firewall(project, body, self.backend.clock.now())
            project.firewalls[name] = fw
            return self.start_operation(
                project,
                op_type="insert",
                target=fw,
                duration=self.backend.clock.duration("firewalls.insert"),
                effect=lambda: fw.pop("_pending", None),
            )

    def add_firewall_now(self, project: Project, body: dict[str, Any]) -> dict[str, Any]:
        """A rule created by Google itself (GKE, load balancers): present at once, no operation."""
        fw = self.new_firewall(project, body, self.backend.clock.now())
        fw.pop("_pending")
        project.firewalls[fw["name"]] = fw
        return fw

    def patch_firewall(self, project: Project, name: str, body: dict[str, Any]) -> dict[str, Any]:
        body = plain(body)
        with project.locked():
            fw = self.firewall(project, name)
            merged = {
                **public(fw),
                **{k: v for k, v in body.items() if k not in ("name", "network", "selfLink", "id")},
            }
            self._validate_firewall(merged)

            def apply() -> None:
                fw.update({k: v for k, v in merged.items() if not k.startswith("_")})

            return self.start_operation(
                project,
                op_type="patch",
                target=fw,
                duration=self.backend.clock.duration("firewalls.patch"),
                effect=apply,
            )

    def delete_firewall(self, project: Project, name: str) -> dict[str, Any]:
        with project.locked():
            fw = self.firewall(project, name)
            if fw.get("_deleting"):
                raise not_ready(f"projects/{project.id}/global/firewalls/{name}")
            fw["_deleting"] = True
            return self.start_operation(
                project,
                op_type="delete",
                target=fw,
                duration=self.backend.clock.duration("firewalls.delete"),
                effect=lambda: project.firewalls.pop(name, None),
            )
