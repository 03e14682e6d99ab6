"""Services: rules, ClusterIP and NodePort allocation, load balancers."""

from __future__ import annotations

import hashlib
import ipaddress

from emulator.kube_server import status_error
from emulator.kubernetes.errors import KubeApiError, invalid
from emulator.kubernetes.validation import _DNS1035_LABEL, _DNS1035_MSG, port_number_causes


class _Services:
    """Service hooks and their load balancers."""

    def _validate_service(self, obj: dict, old: dict | None) -> None:
        name = obj["metadata"]["name"]
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        causes: list[tuple[str, str, str]] = []
        if not _DNS1035_LABEL.match(name) or len(name) > 63:
            causes.append(("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {_DNS1035_MSG}'))
        stype = spec.get("type", "ClusterIP")
        if stype not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
            causes.append(
                (
                    "spec.type",
                    "FieldValueNotSupported",
                    f'Unsupported value: "{stype}": supported values: "ClusterIP", "ExternalName", '
                    '"LoadBalancer", "NodePort"',
                )
            )
        ports = spec.get("ports") or []
        if not ports and stype != "ExternalName":
            causes.append(("spec.ports", "FieldValueRequired", "Required value"))
        names = set()
        for i, port in enumerate(ports):
            p = f"spec.ports[{i}]"
            if not isinstance(port, dict):
                causes.append((p, "FieldValueInvalid", "Invalid value: must be an object"))
                continue
            num = port.get("port")
            causes += port_number_causes(num, f"{p}.port")
            if len(ports) > 1 and not port.get("name"):
                causes.append((f"{p}.name", "FieldValueRequired", "Required value"))
            if port.get("name") in names:
                causes.append((f"{p}.name", "FieldValueDuplicate", f'Duplicate value: "{port.get("name")}"'))
            names.add(port.get("name"))
            proto = port.get("protocol", "TCP")
            if proto not in ("TCP", "UDP", "SCTP"):
                causes.append(
                    (
                        f"{p}.protocol",
                        "FieldValueNotSupported",
                        f'Unsupported value: "{proto}": supported values: "SCTP", "TCP", "UDP"',
                    )
                )
        if old is not None:
            old_ip = old["spec"].get("clusterIP")
            new_ip = spec.get("clusterIP")
            if new_ip not in (None, "", old_ip):
                causes.append(
                    (
                        "spec.clusterIPs[0]",
                        "FieldValueInvalid",
                        f'Invalid value: []string{{"{new_ip}"}}: may not change once set',
                    )
                )
        if causes:
            raise invalid("Service", "", name, causes)

    def _alloc_cluster_ip(self) -> str:
        # Random addresses from the upper (dynamic) part of the range, as the apiserver's allocator hands out;
        # the lower part is for fixed addresses such as kube-dns.
        net = self._svc_net
        size = net.num_addresses
        low = min(max(16, size // 16), size - 2)
        free = size - 1 - low
        start = self._rng.randrange(free) if free > 0 else 0
        for i in range(max(free, 0)):
            ip = str(net.network_address + low + (start + i) % free)
            if ip not in self._used_cluster_ips:
                self._used_cluster_ips.add(ip)
                return ip
        raise KubeApiError(
            status_error(
                500, "InternalError", "Internal error occurred: failed to allocate a serviceIP: range is full"
            )
        )

    def _alloc_node_port(self) -> int:
        for _ in range(1000):
            port = self._rng.randint(30000, 32767)
            if port not in self._used_node_ports:
                self._used_node_ports.add(port)
                return port
        raise KubeApiError(
            status_error(500, "InternalError", "Internal error occurred: failed to allocate a nodePort")
        )

    def _default_service(self, obj: dict, old: dict | None) -> None:
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec["type"] != "ExternalName":
            if old is not None and old["spec"].get("clusterIP"):
                spec["clusterIP"] = old["spec"]["clusterIP"]
            elif spec.get("clusterIP") and spec["clusterIP"] != "None":
                ip = spec["clusterIP"]
                try:
                    in_range = ipaddress.ip_address(ip) in self._svc_net
                except ValueError:
                    in_range = False
                if not in_range or ip in self._used_cluster_ips:
                    reason = (
                        "provided IP is already allocated"
                        if in_range
                        else (
                            f"the provided IP ({ip}) is not in the valid range. "
                            f"The range of valid IPs is {self._svc_net}"
                        )
                    )
                    raise invalid(
                        "Service",
                        "",
                        obj["metadata"]["name"],
                        [
                            (
                                "spec.clusterIPs",
                                "FieldValueInvalid",
                                f'Invalid value: []string{{"{ip}"}}: failed to allocate IP {ip}: {reason}',
                            )
                        ],
                    )
                self._used_cluster_ips.add(ip)
            elif spec.get("clusterIP") != "None":
                spec["clusterIP"] = self._alloc_cluster_ip()
            spec["clusterIPs"] = [spec["clusterIP"]]
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        old_ports = {
            (p.get("port"), p.get("protocol", "TCP")): p
            for p in (old or {}).get("spec", {}).get("ports") or []
        }
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
            if spec["type"] in ("NodePort", "LoadBalancer"):
                prev = old_ports.get((port.get("port"), port["protocol"]), {}).get("nodePort")
                if not port.get("nodePort"):
                    port["nodePort"] = prev or self._alloc_node_port()
            else:
                # Type-dependent fields are dropped when the type no longer uses them.
                self._used_node_ports.discard(port.pop("nodePort", None) or 0)
        if spec["type"] in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
        else:
            spec.pop("externalTrafficPolicy", None)
        if spec["type"] == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
            obj["metadata"].setdefault("finalizers", ["service.kubernetes.io/load-balancer-cleanup"])
        else:
            spec.pop("allocateLoadBalancerNodePorts", None)
        if old is None or obj.get("status") is None:
            obj["status"] = {"loadBalancer": {}}

    def _after_write_service(self, obj: dict, old: dict | None, callbacks) -> None:
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        was_lb = old is not None and old["spec"].get("type") == "LoadBalancer"
        is_lb = obj["spec"].get("type") == "LoadBalancer"
        if is_lb:
            ports = [
                {
                    "name": p.get("name", ""),
                    "protocol": p.get("protocol", "TCP"),
                    "port": p.get("port"),
                    "nodePort": p.get("nodePort"),
                    "targetPort": p.get("targetPort"),
                }
                for p in obj["spec"].get("ports") or []
            ]
            old_ports = [
                (p.get("protocol"), p.get("port")) for p in (old or {}).get("spec", {}).get("ports") or []
            ]
            if not was_lb or old_ports != [(p["protocol"], p["port"]) for p in ports]:
                callbacks.append(lambda: self._on_lb(ns, name, ports))
                self._lb_ready[(ns, name)] = self._now() + self._lb_delay()
                self._event(
                    obj,
                    "Normal",
                    "EnsuringLoadBalancer",
                    "Ensuring load balancer",
                    self._now(),
                    kind="Service",
                    source="service-controller",
                )
        elif was_lb:
            callbacks.append(lambda: self._on_lb_deleted(ns, name))
            self._lb_ready.pop((ns, name), None)
            obj["status"] = {"loadBalancer": {}}
            obj["metadata"].pop("finalizers", None)

    def _lb_delay(self) -> float:
        try:
            return max(0.0, float(self._delay("loadBalancer.ready")))
        except Exception:
            return self._safe_delay("endpoints.ready")

    def _release_service(self, svc: dict, callbacks) -> None:
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        self._used_cluster_ips.discard(svc["spec"].get("clusterIP", ""))
        for port in svc["spec"].get("ports") or []:
            self._used_node_ports.discard(port.get("nodePort") or 0)
        if svc["spec"].get("type") == "LoadBalancer":
            self._lb_ready.pop((ns, name), None)
            callbacks.append(lambda: self._on_lb_deleted(ns, name))

    def _lb_ip(self, ns: str, name: str) -> str:
        digest = hashlib.sha256(f"{self.project}/{self.name}/{ns}/{name}".encode()).digest()
        return f"34.{digest[0] % 160 + 16}.{digest[1]}.{digest[2] % 254 + 1}"
