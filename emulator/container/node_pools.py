"""Node pools: their JSON and node names at create, and the node VMs created part-way through the create,
when the Compute Engine service agent must be able to use the boot-disk key."""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from emulator.container.base import ContainerBase
from emulator.container.common import CONTAINER, KEY_RE
from emulator.container.create_plan import CreatePlan
from emulator.errors import ApiError
from emulator.store import Project

DEFAULT_SCOPES = [
    "https://www.googleapis.com/auth/devstorage.read_only",
    "https://www.googleapis.com/auth/logging.write",
    "https://www.googleapis.com/auth/monitoring",
    "https://www.googleapis.com/auth/service.management.readonly",
    "https://www.googleapis.com/auth/servicecontrol",
    "https://www.googleapis.com/auth/trace.append",
]


class NodePoolsMixin(ContainerBase):
    def build_node_pools(
        self,
        project: Project,
        location: str,
        name: str,
        chash: str,
        node_tag: str,
        spec: dict[str, Any],
        plan: CreatePlan,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(node pools as stored, with a private `_count` of nodes; the nodes with their zones and IPs)."""
        nodes: list[dict[str, Any]] = []
        base = ipaddress.ip_network(plan.subnetwork["ipCidrRange"]).network_address
        used = len(project.instances)
        pools_out = []
        for pool in plan.node_pools:
            count = int(pool.get("initialNodeCount", 0)) or int(
                pool.get("autoscaling", {}).get("minNodeCount", 0)
            )
            config = dict(pool.get("config", {}))
            config.setdefault("machineType", "e2-medium")
            config.setdefault("diskSizeGb", 100)
            config.setdefault("diskType", "pd-balanced")
            config.setdefault("imageType", "COS_CONTAINERD")
            config.setdefault("serviceAccount", "default")
            config.setdefault("oauthScopes", DEFAULT_SCOPES)
            config.setdefault("metadata", {"disable-legacy-endpoints": "true"})
            pool_hash = hashlib.sha256(f"{chash}/{pool['name']}".encode()).hexdigest()[:8]
            for zone in plan.zones:
                for i in range(count):
                    suffix = hashlib.sha256(f"{pool_hash}/{zone}/{i}".encode()).hexdigest()[:4]
                    node = {
                        "name": f"gke-{name[:14]}-{pool['name'][:12]}-{pool_hash}-{suffix}",
                        "zone": zone,
                        "internal_ip": str(base + 2 + used + len(nodes)),
                        "pool": pool["name"],
                        "tags": list(config.get("tags", [])) + [node_tag],
                    }
                    nodes.append(node)
            out = dict(pool)
            out.update(
                {
                    "config": config,
                    "initialNodeCount": count,
                    "locations": list(plan.zones),
                    "version": plan.version,
                    "status": "PROVISIONING",
                    "podIpv4CidrSize": 24 if plan.max_pods_per_node > 64 else 25,
                    "maxPodsConstraint": pool.get(
                        "maxPodsConstraint", {"maxPodsPerNode": str(plan.max_pods_per_node)}
                    ),
                    "networkConfig": {
                        "podRange": spec.get("ipAllocationPolicy", {}).get("clusterSecondaryRangeName", ""),
                        "podIpv4CidrBlock": plan.pods_cidr,
                    },
                    "selfLink": f"{CONTAINER}/projects/{project.id}/locations/{location}/clusters/{name}/"
                    "nodePools/"
                    f"{pool['name']}",
                    "instanceGroupUrls": [
                        f"https://www.googleapis.com/compute/v1/projects/{project.id}/zones/{z}/instanceGroupManagers/"
                        f"gke-{name[:14]}-{pool['name'][:12]}-{pool_hash}-grp"
                        for z in plan.zones
                    ],
                    "management": pool.get("management", {"autoUpgrade": True, "autoRepair": True}),
                    "_count": count * len(plan.zones),
                }
            )
            pools_out.append(out)
        return pools_out, nodes

    def create_nodes(
        self,
        project: Project,
        location: str,
        name: str,
        op: dict[str, Any],
        plan: CreatePlan,
    ) -> None:
        cluster = project.clusters.get((location, name))
        if cluster is None or cluster.get("status") != "PROVISIONING":
            return
        for key in plan.boot_disk_keys:
            m = KEY_RE.match(key)
            key_project = (
                project
                if m and m.group(1) in (project.id, str(project.number))
                else self.backend.find_project(m.group(1) if m else "")
            )
            if key_project is None or not self.kms.grant_effective(
                key_project, key, f"serviceAccount:{project.compute_agent}"
            ):
                message = (
                    f"Google Compute Engine: Cloud KMS error when using key {key}: Permission "
                    f"'cloudkms.cryptoKeyVersions.useToEncrypt' denied on resource '{key}' "
                    "(or it may not exist) "
                    f'for the Compute Engine service agent "{project.compute_agent}".'
                )
                error = ApiError(403, message, status="PERMISSION_DENIED")
                cluster["status"] = "ERROR"
                cluster["statusMessage"] = message
                cluster["conditions"] = [
                    {"code": "CLOUD_KMS_KEY_ERROR", "message": message, "canonicalCode": "PERMISSION_DENIED"}
                ]
                for pool in cluster["nodePools"]:
                    pool["status"] = "ERROR"
                    pool["statusMessage"] = message
                self.finish_operation(op, error, project.event_time)
                self.stop_kube(project, location, name)
                return
        for node in cluster["_nodes"]:
            inst = self.compute.add_instance(
                project,
                node["zone"],
                {
                    "name": node["name"],
                    "machineType": "e2-medium",
                    "networkInterfaces": [
                        {"network": cluster["_network_link"], "subnetwork": cluster["_subnet_link"]}
                    ],
                    "tags": {"items": node["tags"]},
                    "labels": {
                        "goog-gke-node": "",
                        "goog-k8s-cluster-name": name,
                        "goog-k8s-cluster-location": location,
                        "goog-k8s-node-pool-name": node["pool"],
                    },
                },
                check=False,
            )
            inst["networkInterfaces"][0]["networkIP"] = node["internal_ip"]
            inst["_cluster"] = cluster["selfLink"]
