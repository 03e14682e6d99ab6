"""Nodes: the Node objects, pod placement and pod address allocation."""

from __future__ import annotations

import hashlib
import ipaddress
import uuid


class _Nodes:
    """Node objects and scheduling."""

    def _add_node(self, node: dict, pod_range: ipaddress.IPv4Network | None) -> None:
        name, zone = node["name"], node["zone"]
        internal_ip = node.get("internal_ip") or ""
        region = zone.rsplit("-", 1)[0]
        if pod_range is not None:
            self._node_ranges[name] = pod_range
        labels = {
            "beta.kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/instance-type": self._machine_type,
            "beta.kubernetes.io/os": "linux",
            "cloud.google.com/gke-boot-disk": node.get("disk_type", "pd-standard"),
            "cloud.google.com/gke-container-runtime": "containerd",
            "cloud.google.com/gke-nodepool": node.get("pool", self._node_pool),
            "cloud.google.com/gke-os-distribution": "cos",
            "cloud.google.com/machine-family": self._machine_type.split("-")[0],
            "failure-domain.beta.kubernetes.io/region": region,
            "failure-domain.beta.kubernetes.io/zone": zone,
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "node.kubernetes.io/instance-type": self._machine_type,
            "topology.gke.io/zone": zone,
            "topology.kubernetes.io/region": region,
            "topology.kubernetes.io/zone": zone,
        }
        now = self._ts()
        addresses = [{"type": "InternalIP", "address": internal_ip}]
        external_ip = node.get("external_ip")
        if not external_ip and not self.private_nodes:
            # Public nodes get an ephemeral external address.
            digest = hashlib.sha256(f"{self.project}/{name}".encode()).digest()
            external_ip = f"35.{digest[0] % 64 + 184}.{digest[1]}.{digest[2] % 254 + 1}"
        if external_ip:
            addresses.append({"type": "ExternalIP", "address": external_ip})
        addresses += [
            {"type": "InternalDNS", "address": f"{name}.{zone}.c.{self.project}.internal"},
            {"type": "Hostname", "address": f"{name}.{zone}.c.{self.project}.internal"},
        ]

        def cond(ctype: str, status: str, reason: str, message: str) -> dict:
            return {
                "type": ctype,
                "status": status,
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
                "reason": reason,
                "message": message,
            }

        capacity = {"cpu": "2", "ephemeral-storage": "98831908Ki", "memory": "4015852Ki", "pods": "110"}
        allocatable = {
            "cpu": "940m",
            "ephemeral-storage": "47060071478",
            "memory": "2869996Ki",
            "pods": "110",
        }
        kubelet_version = "v" + self.version.split("-")[0]
        obj = {
            "metadata": self._meta(
                name,
                labels=labels,
                annotations={
                    "node.alpha.kubernetes.io/ttl": "0",
                    "container.googleapis.com/instance_id": str(self._rng.getrandbits(62)),
                },
            ),
            "spec": {"providerID": f"gce://{self.project}/{zone}/{name}"},
            "status": {
                "capacity": capacity,
                "allocatable": allocatable,
                "conditions": [
                    cond(
                        "MemoryPressure",
                        "False",
                        "KubeletHasSufficientMemory",
                        "kubelet has sufficient memory available",
                    ),
                    cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                    cond(
                        "PIDPressure",
                        "False",
                        "KubeletHasSufficientPID",
                        "kubelet has sufficient PID available",
                    ),
                    cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
                ],
                "addresses": addresses,
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "machineID": uuid.UUID(int=self._rng.getrandbits(128)).hex,
                    "systemUUID": str(uuid.UUID(int=self._rng.getrandbits(128))),
                    "bootID": str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
                    "kernelVersion": "6.6.56+",
                    "osImage": "Container-Optimized OS from Google",
                    "containerRuntimeVersion": "containerd://1.7.24",
                    "kubeletVersion": kubelet_version,
                    "kubeProxyVersion": kubelet_version,
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
            },
        }
        if pod_range is not None:
            obj["spec"].update({"podCIDR": str(pod_range), "podCIDRs": [str(pod_range)]})
        self._store[("", "nodes")][("", name)] = obj

    def _pick_node(self, dep_uid: str) -> str:
        """Spread a deployment's pods over zones first, then nodes (round-robin, like topology spreading)."""
        nodes = [n for n in self._store[("", "nodes")].values()]
        if not nodes:
            return ""
        per_node: dict[str, int] = {n["metadata"]["name"]: 0 for n in nodes}
        total: dict[str, int] = {n["metadata"]["name"]: 0 for n in nodes}
        for pod in self._store[("", "pods")].values():
            node = pod["spec"].get("nodeName", "")
            if node in total:
                total[node] += 1
                refs = pod["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == dep_uid for r in refs):
                    per_node[node] += 1
        zone_of = {
            n["metadata"]["name"]: n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes
        }
        per_zone: dict[str, int] = {}
        for node, count in per_node.items():
            per_zone[zone_of[node]] = per_zone.get(zone_of[node], 0) + count
        order = {n["metadata"]["name"]: i for i, n in enumerate(nodes)}
        return min(per_node, key=lambda n: (per_zone[zone_of[n]], per_node[n], total[n], order[n]))

    def _alloc_pod_ip(self, node: str) -> str:
        net = self._node_ranges.get(node)
        if net is None:
            return ""
        for offset in range(2, net.num_addresses - 1):  # .0 network, .1 the node's bridge
            ip = str(net.network_address + offset)
            if ip not in self._used_ips:
                self._used_ips.add(ip)
                return ip
        return ""
