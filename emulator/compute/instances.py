"""VM instances: the admin API's test VMs and GKE's nodes, with their network interfaces."""

from __future__ import annotations

import ipaddress
from typing import Any

from emulator.clock import compute_time
from emulator.compute.common import check_name, plain, ref_name, region_of_zone
from emulator.compute.operations import OperationsMixin
from emulator.errors import already_exists, invalid, not_found
from emulator.store import Project, public


class InstancesMixin(OperationsMixin):
    """Instances, with interfaces in a network (networks.py) and one of its subnetworks (subnetworks.py)."""

    # ---- instances --------------------------------------------------------------------------
    def add_instance(
        self, project: Project, zone: str, body: dict[str, Any], *, check: bool = True
    ) -> dict[str, Any]:
        body = plain(body)
        name = check_name(body.get("name"))
        now = self.backend.clock.now()
        region = region_of_zone(zone)
        nics = []
        for i, nic in enumerate(body.get("networkInterfaces") or [{"network": "default"}]):
            net = self.network(project, nic.get("network") or "default")
            sub: dict[str, Any] | None
            if nic.get("subnetwork"):
                sub = self.subnet(project, region, nic["subnetwork"])
            else:
                sub = next(
                    (
                        s
                        for (r, _), s in project.subnetworks.items()
                        if r == region and s["network"] == net["selfLink"]
                    ),
                    None,
                )
                if sub is None:
                    raise invalid(
                        f"Invalid value for field 'resource.networkInterfaces[{i}].subnetwork': ''. "
                        f"Network '{net['name']}' has no subnetwork in region '{region}'."
                    )
            cidr = ipaddress.ip_network(sub["ipCidrRange"])
            used = sum(1 for (z, _), inst in project.instances.items() if region_of_zone(z) == region)
            nics.append(
                {
                    "kind": "compute#networkInterface",
                    "name": f"nic{i}",
                    "network": net["selfLink"],
                    "subnetwork": sub["selfLink"],
                    "networkIP": str(cidr.network_address + 2 + used),
                    "stackType": "IPV4_ONLY",
                }
            )
        if check and (zone, name) in project.instances:
            raise already_exists(
                f"The resource 'projects/{project.id}/zones/{zone}/instances/{name}' already exists"
            )
        inst = {
            "kind": "compute#instance",
            "id": project.new_id(),
            "creationTimestamp": compute_time(now),
            "name": name,
            "description": body.get("description", ""),
            "machineType": self.link(
                project,
                "zones",
                zone,
                "machineTypes",
                ref_name(body.get("machineType", "e2-medium"), "machineTypes"),
            ),
            "status": "RUNNING",
            "zone": self.link(project, "zones", zone),
            "networkInterfaces": nics,
            "selfLink": self.link(project, "zones", zone, "instances", name),
        }
        for key in ("tags", "labels", "metadata", "serviceAccounts"):
            if body.get(key):
                inst[key] = body[key]
        project.instances[(zone, name)] = inst
        return inst

    def get_instance(self, project: Project, zone: str, name: str) -> dict[str, Any]:
        with project.locked():
            inst = project.instances.get((zone, name))
            if inst is None:
                raise not_found(
                    f"The resource 'projects/{project.id}/zones/{zone}/instances/{name}' was not found"
                )
            return public(inst)

    def list_instances(self, project: Project, zone: str, query: dict[str, str]) -> dict[str, Any]:
        with project.locked():
            items = [public(i) for (z, _), i in project.instances.items() if z == zone]
        return self.list_response(project, "compute#instanceList", items, query, "zones", zone, "instances")
