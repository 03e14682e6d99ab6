"""LoadBalancer Services: the firewall rule GKE opens for each, called from the cluster's Kubernetes API."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from emulator.container.base import ContainerBase
from emulator.store import Project


class LoadBalancersMixin(ContainerBase):
    @staticmethod
    def lb_rule_name(project: Project, location: str, cluster: str, namespace: str, service: str) -> str:
        """The firewall rule of a LoadBalancer Service: `k8s-fw-a<hash>` from the legacy service controller;
        on current versions GKE's L4 controller (backend-service based) names it
        `k8s2-<cluster uid>-<namespace>-<service>-<hash>`
        (https://cloud.google.com/kubernetes-engine/docs/concepts/firewall-rules#service-fws)."""
        digest = hashlib.sha256(
            f"{project.id}/{location}/{cluster}/{namespace}/{service}".encode()
        ).hexdigest()
        if project.legacy:
            return f"k8s-fw-a{digest[:31]}"
        return f"k8s2-{digest[:8]}-{namespace[:12]}-{service[:12]}-{digest[8:16]}"

    def load_balancer_created(
        self,
        project: Project,
        location: str,
        cluster_name: str,
        namespace: str,
        service: str,
        ports: list[dict[str, Any]],
    ) -> None:
        with project.locked():
            cluster = project.clusters.get((location, cluster_name))
            if cluster is None:
                return
            rule = self.lb_rule_name(project, location, cluster_name, namespace, service)
            allowed: dict[str, list[str]] = {}
            for p in ports:
                allowed.setdefault(str(p.get("protocol", "TCP")).lower(), []).append(str(p.get("port")))
            body = {
                "name": rule,
                "network": cluster["_network_link"],
                "sourceRanges": ["0.0.0.0/0"],
                "targetTags": [cluster["_node_tag"]],
                "allowed": [{"IPProtocol": proto, "ports": ps} for proto, ps in allowed.items()],
                "description": json.dumps({"kubernetes.io/service-name": f"{namespace}/{service}"}),
            }
            project.firewalls.pop(rule, None)
            self.compute.add_firewall_now(project, body)

    def load_balancer_deleted(
        self, project: Project, location: str, cluster_name: str, namespace: str, service: str
    ) -> None:
        with project.locked():
            project.firewalls.pop(
                self.lb_rule_name(project, location, cluster_name, namespace, service), None
            )
