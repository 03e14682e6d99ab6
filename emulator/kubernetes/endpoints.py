"""Endpoints and load balancer status derived from services and pods."""

from __future__ import annotations

from emulator.kubernetes.selectors import equality_requirements, labels_match


class _Endpoints:
    """The endpoints controller and the service controller's status."""

    def _pod_serving(self, key: tuple[str, str], now: float) -> bool:
        rt = self._pods_rt.get(key)
        return rt is not None and rt.ready_at is not None and now >= rt.ready_at + rt.endpoints_delay

    def _selected_pods(self, svc: dict) -> list[tuple[tuple[str, str], dict]]:
        selector = svc["spec"].get("selector")
        if not selector:
            return []
        ns = svc["metadata"]["namespace"]
        reqs = equality_requirements(selector)
        return [
            (k, p)
            for k, p in sorted(self._store[("", "pods")].items())
            if k[0] == ns and labels_match(p["metadata"].get("labels") or {}, reqs)
        ]

    @staticmethod
    def _resolve_target_port(pod: dict, target: object) -> int | None:
        if isinstance(target, int):
            return target
        if isinstance(target, str) and target.isdigit():
            return int(target)
        for c in pod["spec"].get("containers") or []:
            for p in c.get("ports") or []:
                if p.get("name") == target:
                    return p.get("containerPort")
        return None

    def _refresh_service(self, key: tuple[str, str], svc: dict, now: float) -> None:
        ns, name = key
        if svc["spec"].get("type") == "LoadBalancer":
            ready_at = self._lb_ready.get(key)
            want = {"loadBalancer": {}}
            if ready_at is not None and now >= ready_at:
                want = {"loadBalancer": {"ingress": [{"ip": self._lb_ip(ns, name), "ipMode": "VIP"}]}}
            if svc.get("status") != want:
                svc["status"] = want
                svc["metadata"]["resourceVersion"] = self._next_rv()
                if want["loadBalancer"]:
                    self._event(
                        svc,
                        "Normal",
                        "EnsuredLoadBalancer",
                        "Ensured load balancer",
                        ready_at or now,
                        kind="Service",
                        source="service-controller",
                    )
        if not svc["spec"].get("selector"):
            return
        ready, not_ready = [], []
        for pkey, pod in self._selected_pods(svc):
            ip = pod["status"].get("podIP")
            if not ip:
                continue
            addr = {
                "ip": ip,
                "nodeName": pod["spec"].get("nodeName", ""),
                "targetRef": {
                    "kind": "Pod",
                    "namespace": ns,
                    "name": pod["metadata"]["name"],
                    "uid": pod["metadata"]["uid"],
                },
            }
            (ready if self._pod_serving(pkey, now) else not_ready).append((addr, pod))
        subsets = []
        if ready or not_ready:
            sample = (ready + not_ready)[0][1]
            ports = []
            for sp in svc["spec"].get("ports") or []:
                tp = self._resolve_target_port(sample, sp.get("targetPort", sp.get("port")))
                if tp is None:
                    continue
                ep = {"port": tp, "protocol": sp.get("protocol", "TCP")}
                if sp.get("name"):
                    ep["name"] = sp["name"]
                ports.append(ep)
            subset: dict = {}
            if ready:
                subset["addresses"] = [a for a, _ in ready]
            if not_ready:
                subset["notReadyAddresses"] = [a for a, _ in not_ready]
            subset["ports"] = ports
            if ports:
                subsets.append(subset)
        store = self._store[("", "endpoints")]
        current = store.get(key)
        if current is None:
            current = {
                "metadata": self._meta(name, ns, labels=dict(svc["metadata"].get("labels") or {})),
            }
            store[key] = current
        if subsets and current.get("subsets") != subsets:
            current["subsets"] = subsets
            current["metadata"]["resourceVersion"] = self._next_rv()
        elif not subsets and "subsets" in current:
            current.pop("subsets")
            current["metadata"]["resourceVersion"] = self._next_rv()
