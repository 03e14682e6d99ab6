"""What a new GKE cluster holds before anyone writes to it."""

from __future__ import annotations

from emulator.kubernetes.objects import KINDS, SYSTEM_NAMESPACES


class _Bootstrap:
    """System namespaces, nodes, the kubernetes service and kube-system workloads."""

    def _bootstrap(self, nodes: list[dict]) -> None:
        for ns in SYSTEM_NAMESPACES:
            self._store[("", "namespaces")][("", ns)] = self._namespace_object(ns)
        self._bootstrap_rbac()
        # Each node gets an equal slice of the pod range (GKE gives /24 per node for 110 pods).
        bits = max(0, (max(1, len(nodes)) - 1).bit_length())
        new_prefix = min(30, max(self._pod_net.prefixlen + bits, 24))
        subnets = self._pod_net.subnets(new_prefix=max(new_prefix, self._pod_net.prefixlen))
        for node in nodes:
            self._add_node(node, next(subnets, None))  # None: the pod range is too small for this node
        # The default "kubernetes" service owns the first service address.
        first = str(self._svc_net.network_address + 1)
        self._used_cluster_ips.add(first)
        svc = {
            "metadata": self._meta(
                "kubernetes", "default", labels={"component": "apiserver", "provider": "kubernetes"}
            ),
            "spec": {
                "ports": [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": 443}],
                "clusterIP": first,
                "clusterIPs": [first],
                "type": "ClusterIP",
                "sessionAffinity": "None",
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
                "internalTrafficPolicy": "Cluster",
            },
            "status": {"loadBalancer": {}},
        }
        self._store[("", "services")][("default", "kubernetes")] = svc
        # Its endpoints are the control plane's own (private) address.
        master_ip = self._control_plane_ip() or self._host
        self._store[("", "endpoints")][("default", "kubernetes")] = {
            "metadata": self._meta(
                "kubernetes", "default", labels={"endpointslice.kubernetes.io/skip-mirror": "true"}
            ),
            "subsets": [
                {
                    "addresses": [{"ip": master_ip}],
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP"}],
                }
            ],
        }
        self._system_workloads(len(nodes))

    def _system_workloads(self, node_count: int) -> None:
        """What GKE runs in kube-system from the start (the Deployments; DaemonSets are not modelled)."""
        kube_dns_ip = str(self._svc_net.network_address + 10)
        system = [
            ("kube-dns", 2, "gke.gcr.io/k8s-dns-kube-dns:1.26.4-gke.1", [("dns", 10053, "UDP")]),
            ("konnectivity-agent", max(1, node_count), "gke.gcr.io/proxy-agent:v0.31.1-gke.1", []),
            (
                "metrics-server-v1.33.0",
                1,
                "gke.gcr.io/metrics-server:v0.7.2-gke.9",
                [("https", 10250, "TCP")],
            ),
        ]
        deployments = KINDS[("apps", "deployments")]
        for name, replicas, image, ports in system:
            labels = {"k8s-app": name.split("-v1.")[0]}
            container = {"name": name.split("-v1.")[0], "image": image}
            if ports:
                container["ports"] = [
                    {"name": n, "containerPort": p, "protocol": proto} for n, p, proto in ports
                ]
            body = {
                "metadata": {
                    "name": name,
                    "labels": {**labels, "addonmanager.kubernetes.io/mode": "Reconcile"},
                },
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"priorityClassName": "system-cluster-critical", "containers": [container]},
                    },
                },
            }
            self._create(deployments, "kube-system", body, {}, [])
        services = KINDS[("", "services")]
        for name, app, ip, ports in [
            ("kube-dns", "kube-dns", kube_dns_ip, [("dns", 53, 10053, "UDP"), ("dns-tcp", 53, 10053, "TCP")]),
            ("metrics-server", "metrics-server", "", [("https", 443, "https", "TCP")]),
        ]:
            spec: dict = {
                "selector": {"k8s-app": app},
                "ports": [
                    {"name": n, "port": p, "targetPort": t, "protocol": proto} for n, p, t, proto in ports
                ],
            }
            if ip:
                spec["clusterIP"] = ip
            body = {"metadata": {"name": name, "labels": {"k8s-app": app}}, "spec": spec}
            self._create(services, "kube-system", body, {}, [])
