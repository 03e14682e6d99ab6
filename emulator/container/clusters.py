"""Clusters: create (checked by the create plan, then run as a CREATE_CLUSTER operation), get, list,
delete and resource labels.

A create is validated synchronously like GKE (400/403/409); GKE's firewall rules, the control-plane peering
and its route appear at once (vpc.py); nodes are created at NODE_CREATION_FRACTION of the profile
(node_pools.py); the cluster is RUNNING with its Kubernetes endpoint at the end (control_plane.py).
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import Any

from google.cloud import container_v1

from emulator.clock import rfc3339
from emulator.container.common import (
    CLUSTER_NAME_RE,
    CONTAINER,
    check_labels,
    label_fingerprint,
    region_of_location,
    resource_path,
)
from emulator.container.control_plane import ControlPlaneMixin, KubeBoot
from emulator.container.create_plan import CreatePlan, plan_create
from emulator.container.node_pools import NodePoolsMixin
from emulator.container.operations import OperationsMixin
from emulator.container.vpc import VpcMixin
from emulator.errors import ApiError, already_exists, failed_precondition, invalid
from emulator.latency import NODE_CREATION_FRACTION
from emulator.messages import normalize
from emulator.store import Project, public


class ClustersMixin(OperationsMixin, NodePoolsMixin, VpcMixin, ControlPlaneMixin):
    # ---- reads ------------------------------------------------------------------------------
    def get_cluster(self, project: Project, location: str, name: str) -> dict[str, Any]:
        with project.locked():
            return public(self.find_cluster(project, location, name))

    def list_clusters(self, project: Project, location: str) -> dict[str, Any]:
        with project.locked():
            items = [
                public(c)
                for (loc, _), c in sorted(project.clusters.items())
                if location == "-" or loc == location
            ]
        return {"clusters": items} if items else {}

    # ---- create -----------------------------------------------------------------------------
    def create_cluster(self, project: Project, location: str, body: Any) -> dict[str, Any]:
        spec = normalize(container_v1.Cluster, (body or {}).get("cluster") or {})
        region = region_of_location(location)
        name = spec.get("name", "")
        if not CLUSTER_NAME_RE.fullmatch(name):
            raise invalid(
                f'Invalid value for field "cluster.name": "{name}". Cluster names must start with a '
                "lowercase letter, contain only lowercase letters, digits and hyphens, end with a letter "
                "or digit and be at most 40 characters long."
            )
        with project.locked():
            if (location, name) in project.clusters:
                raise already_exists(f"Already exists: {resource_path(project, location, 'clusters', name)}.")
            plan = plan_create(self, project, location, region, spec)
            return self._start_create(project, location, region, spec, plan)

    def _start_create(
        self, project: Project, location: str, region: str, spec: dict[str, Any], plan: CreatePlan
    ) -> dict[str, Any]:
        now = self.backend.clock.now()
        name = spec["name"]
        chash = hashlib.sha256(f"{project.id}/{location}/{name}/{now}".encode()).hexdigest()[:8]
        net, sub = plan.network, plan.subnetwork
        node_tag = f"gke-{name}-{chash}-node"
        pools_out, nodes = self.build_node_pools(project, location, name, chash, node_tag, spec, plan)
        labels = spec.get("resourceLabels", {})
        cluster = dict(spec)
        cluster.update(
            {
                "nodePools": [public(p) for p in pools_out],
                "locations": list(plan.zones),
                "zone": location,
                "location": location,
                "network": net["name"],
                "subnetwork": sub["name"],
                "networkConfig": {
                    **spec.get("networkConfig", {}),
                    "network": f"projects/{project.id}/global/networks/{net['name']}",
                    "subnetwork": f"projects/{project.id}/regions/{region}/subnetworks/{sub['name']}",
                },
                "status": "PROVISIONING",
                "selfLink": f"{CONTAINER}/projects/{project.id}/locations/{location}/clusters/{name}",
                "createTime": rfc3339(now),
                "initialClusterVersion": plan.version,
                "currentMasterVersion": plan.version,
                "currentNodeVersion": plan.version,
                "releaseChannel": {"channel": plan.channel},
                **({"maintenancePolicy": spec["maintenancePolicy"]} if spec.get("maintenancePolicy") else {}),
                "clusterIpv4Cidr": plan.pods_cidr,
                "servicesIpv4Cidr": plan.services_cidr,
                "ipAllocationPolicy": {
                    **spec.get("ipAllocationPolicy", {}),
                    "clusterIpv4Cidr": plan.pods_cidr,
                    "clusterIpv4CidrBlock": plan.pods_cidr,
                    "servicesIpv4Cidr": plan.services_cidr,
                    "servicesIpv4CidrBlock": plan.services_cidr,
                    "stackType": "IPV4",
                },
                "defaultMaxPodsConstraint": {"maxPodsPerNode": str(plan.max_pods_per_node)},
                "labelFingerprint": label_fingerprint(labels),
                "id": hashlib.sha256(f"{chash}/id".encode()).hexdigest()[:32],
                "currentNodeCount": 0,
                "etag": chash,
                "_subnet_link": sub["selfLink"],
                "_network_link": net["selfLink"],
                "_hash": chash,
                "_nodes": nodes,
                "_master": plan.master_cidr,
                "_node_tag": node_tag,
            }
        )
        authorized = plan.authorized_networks
        if authorized is not None:
            cluster["masterAuthorizedNetworksConfig"] = authorized
            ip_ep = cluster.setdefault("controlPlaneEndpointsConfig", {}).setdefault("ipEndpointsConfig", {})
            ip_ep["authorizedNetworksConfig"] = authorized
            ip_ep.setdefault("enabled", True)
        enc = cluster.get("databaseEncryption")
        if enc and enc.get("state") == "ENCRYPTED":
            enc["currentState"] = "CURRENT_STATE_ENCRYPTED"
        if plan.private and plan.master_cidr:
            pcc = cluster.setdefault("privateClusterConfig", {})
            pcc["enablePrivateNodes"] = True
            cluster["networkConfig"]["defaultEnablePrivateNodes"] = True
            master = ipaddress.ip_network(plan.master_cidr)
            pcc["privateEndpoint"] = str(master.network_address + 2)
            pcc["peeringName"] = f"gke-n{hashlib.sha256(chash.encode()).hexdigest()[:18]}-{chash[:4]}-peer"
        project.clusters[(location, name)] = cluster
        self.add_gke_network_resources(project, cluster, plan)
        op = self.start_operation(
            project, location, cluster, "CREATE_CLUSTER", self.backend.clock.duration("clusters.create")
        )
        # the control plane boots in the background (TLS keys, server thread) while the operation runs
        boot = KubeBoot(lambda: self.make_kube(project, location, region, cluster, plan))
        cluster["_kube_boot"] = boot
        duration = op["_done_at"] - now
        project.schedule(
            now + duration * NODE_CREATION_FRACTION,
            lambda: self.create_nodes(project, location, name, op, plan),
        )
        project.schedule(op["_done_at"], lambda: self._running(project, location, name, op, pools_out))
        return public(op)

    def _running(
        self, project: Project, location: str, name: str, op: dict[str, Any], pools: list[dict[str, Any]]
    ) -> None:
        cluster = project.clusters.get((location, name))
        if cluster is None or cluster.get("status") != "PROVISIONING":
            return
        boot = cluster.pop("_kube_boot", None)
        kube = boot.result() if boot is not None else None
        if kube is None:
            error = ApiError(500, f"Internal error: the control plane failed to start: {boot and boot.error}")
            cluster["status"] = "ERROR"
            cluster["statusMessage"] = error.message
            self.finish_operation(op, error, project.event_time)
            return
        project.kube[(location, name)] = kube
        cluster["endpoint"] = kube.endpoint
        cluster.setdefault("masterAuth", {})["clusterCaCertificate"] = kube.ca_certificate_b64
        if cluster.get("privateClusterConfig") is not None:
            cluster["privateClusterConfig"]["publicEndpoint"] = kube.endpoint.rsplit(":", 1)[0]
        cluster["status"] = "RUNNING"
        total = 0
        for pool, spec in zip(cluster["nodePools"], pools, strict=True):
            pool["status"] = "RUNNING"
            total += spec["_count"]
        cluster["currentNodeCount"] = total
        self.finish_operation(op, at=project.event_time)

    # ---- delete / labels --------------------------------------------------------------------
    def delete_cluster(self, project: Project, location: str, name: str) -> dict[str, Any]:
        with project.locked():
            cluster = self.find_cluster(project, location, name)
            self.check_not_busy(project, cluster)
            cluster["status"] = "STOPPING"
            op = self.start_operation(
                project, location, cluster, "DELETE_CLUSTER", self.backend.clock.duration("clusters.delete")
            )

            def gone() -> None:
                self._remove(project, location, name)
                self.finish_operation(op, at=project.event_time)

            project.schedule(op["_done_at"], gone)
            return public(op)

    def _remove(self, project: Project, location: str, name: str) -> None:
        cluster = project.clusters.pop((location, name), None)
        if cluster is None:
            return
        if project.legacy:
            self.remove_gke_network_resources(project, cluster)
        else:
            # GKE's firewall rules and the control-plane peering still refer to the network (and the
            # subnetwork is still in use) for a while after the delete operation ends, so an eager network
            # delete gets 400 resourceInUseByAnotherResource
            # (https://github.com/hashicorp/terraform-provider-google/issues/5423).
            path = f"projects/{project.id}/locations/{location}/clusters/{name}"
            project.lingering[cluster["_subnet_link"]] = path

            def leftovers_gone() -> None:
                self.remove_gke_network_resources(project, cluster)
                if project.lingering.get(cluster["_subnet_link"]) == path:
                    del project.lingering[cluster["_subnet_link"]]

            due = (project.event_time or self.backend.clock.now()) + self.backend.clock.duration(
                "clusters.leftovers"
            )
            project.schedule(due, leftovers_gone)
        for key in [k for k, i in project.instances.items() if i.get("_cluster") == cluster["selfLink"]]:
            del project.instances[key]
        self.stop_kube(project, location, name)

    def set_resource_labels(self, project: Project, location: str, name: str, body: Any) -> dict[str, Any]:
        body = body or {}
        labels = body.get("resourceLabels") or {}
        check_labels(labels)
        with project.locked():
            cluster = self.find_cluster(project, location, name)
            # labelFingerprint is required and must be the current one: "You must always provide an
            # up-to-date fingerprint hash when updating or changing labels"
            # (https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters/setResourceLabels);
            # an empty or stale one is answered 400 FAILED_PRECONDITION with this message
            # (https://github.com/crossplane-contrib/provider-gcp/issues/477).
            fingerprint = body.get("labelFingerprint") or ""
            expected = cluster.get("labelFingerprint", "")
            if fingerprint != expected:
                raise failed_precondition(
                    "Labels could not be set due to fingerprint mismatch; try again with the proper "
                    f'fingerprint: incorrect fingerprint supplied was "{fingerprint}", the expected one is '
                    f'"{expected}".'
                )
            self.check_not_busy(project, cluster)
            op = self.start_operation(
                project, location, cluster, "SET_LABELS", self.backend.clock.duration("clusters.update")
            )

            def apply() -> None:
                cluster["resourceLabels"] = dict(labels)
                cluster["labelFingerprint"] = label_fingerprint(labels)
                self.finish_operation(op, at=project.event_time)

            project.schedule(op["_done_at"], apply)
            return public(op)
