"""What a cluster adds to its VPC: GKE's own firewall rules and, for private clusters, the control-plane
peering and its route; they go with the cluster."""

from __future__ import annotations

import hashlib
from typing import Any

from emulator.compute.common import ref_name
from emulator.container.base import ContainerBase
from emulator.container.common import region_tag
from emulator.container.create_plan import CreatePlan
from emulator.store import Project


class VpcMixin(ContainerBase):
    def add_gke_network_resources(self, project: Project, cluster: dict[str, Any], plan: CreatePlan) -> None:
        """GKE's own firewall rules, and for private clusters the control-plane peering and its route."""
        name, chash, net = cluster["name"], cluster["_hash"], plan.network
        tag = cluster["_node_tag"]
        prefix = f"gke-{name}-{chash}"
        desc = ""
        self.compute.add_firewall_now(
            project,
            {
                "name": f"{prefix}-all",
                "network": net["selfLink"],
                "sourceRanges": [plan.pods_cidr],
                "targetTags": [tag],
                "priority": 1000,
                "description": desc,
                "allowed": [{"IPProtocol": p} for p in ("tcp", "udp", "icmp", "esp", "ah", "sctp")],
            },
        )
        self.compute.add_firewall_now(
            project,
            {
                "name": f"{prefix}-vms",
                "network": net["selfLink"],
                "sourceRanges": [plan.subnetwork["ipCidrRange"]],
                "targetTags": [tag],
                "priority": 1000,
                "description": desc,
                "allowed": [
                    {"IPProtocol": "icmp"},
                    {"IPProtocol": "tcp", "ports": ["1-65535"]},
                    {"IPProtocol": "udp", "ports": ["1-65535"]},
                ],
            },
        )
        if plan.private:
            self.compute.add_firewall_now(
                project,
                {
                    "name": f"{prefix}-master",
                    "network": net["selfLink"],
                    "sourceRanges": [plan.master_cidr],
                    "targetTags": [tag],
                    "priority": 1000,
                    "description": desc,
                    "allowed": [{"IPProtocol": "tcp", "ports": ["10250", "443"]}],
                },
            )
            peering = cluster["privateClusterConfig"]["peeringName"]
            net.setdefault("peerings", []).append(
                {
                    "name": peering,
                    "network": f"https://www.googleapis.com/compute/v1/projects/gke-prod-{region_tag(chash)}/global/"
                    f"networks/{peering[:-5]}-net",
                    "state": "ACTIVE",
                    "stateDetails": "[2025-01-01T00:00:00.000-00:00]: Connected.",
                    "autoCreateRoutes": True,
                    "exportCustomRoutes": False,
                    "importCustomRoutes": False,
                    "exchangeSubnetRoutes": True,
                    "exportSubnetRoutesWithPublicIp": True,
                    "importSubnetRoutesWithPublicIp": False,
                    "stackType": "IPV4_ONLY",
                }
            )
            self.compute.add_route(
                project,
                {
                    "name": f"peering-route-{hashlib.sha256(peering.encode()).hexdigest()[:16]}",
                    "network": net["selfLink"],
                    "destRange": plan.master_cidr,
                    "priority": 0,
                    "nextHopPeering": peering,
                    "description": "Auto generated route via peering [" + peering + "].",
                    "_peering_of": peering,
                },
                self.backend.clock.now(),
            )

    def remove_gke_network_resources(self, project: Project, cluster: dict[str, Any]) -> None:
        prefix = f"gke-{cluster['name']}-{cluster['_hash']}-"
        for fw in [n for n in project.firewalls if n.startswith(prefix)]:
            del project.firewalls[fw]
        peering = (cluster.get("privateClusterConfig") or {}).get("peeringName")
        if peering:
            net = project.networks.get(ref_name(cluster["_network_link"], "networks"))
            if net is not None:
                net["peerings"] = [p for p in net.get("peerings", []) if p["name"] != peering]
                if not net["peerings"]:
                    del net["peerings"]
            for rname in [n for n, r in project.routes.items() if r.get("_peering_of") == peering]:
                del project.routes[rname]
