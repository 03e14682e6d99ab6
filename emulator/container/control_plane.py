"""Each cluster's Kubernetes API server: built and started in the background during the create, stopped
off the project lock."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from emulator.container.base import ContainerBase
from emulator.container.create_plan import CreatePlan
from emulator.kube_server import is_mutating
from emulator.kubernetes.authz import AUTHENTICATED, Access
from emulator.kubernetes.images import runs_containerd2
from emulator.resourcemanager import caller_holds
from emulator.store import Project


class ControlPlaneMixin(ContainerBase):
    def make_kube(
        self, project: Project, location: str, region: str, cluster: dict[str, Any], plan: CreatePlan
    ) -> Any:
        net_link = cluster["_network_link"]
        name = cluster["name"]

        def log(entry: dict[str, Any]) -> None:
            self.log({**entry, "api": "kubernetes", "project": project.id})

        def fault(method: str, path: str, served: int | None = None) -> Any:
            """Asked before serving (a refusal) and after, with the status served (a lost response)."""
            if self.faults is None:
                return None
            mutating = is_mutating(method, path)
            return self.faults.decide(
                "kubernetes", method, path, project.id, mutating=mutating, served=served
            )

        extra: dict[str, Any] = {"fault": fault, "lost_response": fault}
        if self.tokens is not None:
            extra["authenticate"] = self.tokens.valid
            extra["access"] = lambda token: self.kube_access(project, token)

        return self.kube_class()(
            project=project.id,
            location=location,
            name=name,
            nodes=[
                {"name": n["name"], "zone": n["zone"], "internal_ip": n["internal_ip"]}
                for n in cluster["_nodes"]
            ],
            pod_cidr=plan.pods_cidr,
            service_cidr=plan.services_cidr,
            authorized_cidrs=None if plan.authorized_cidrs is None else list(plan.authorized_cidrs),
            private_nodes=plan.private,
            has_egress=lambda: (not plan.private) or self.compute.has_nat(project, net_link, region),
            delay=lambda what: self.backend.clock.duration(what),
            log=log,
            on_load_balancer=lambda ns, svc, ports: self.load_balancer_created(
                project, location, name, ns, svc, ports
            ),
            on_load_balancer_deleted=lambda ns, svc: self.load_balancer_deleted(
                project, location, name, ns, svc
            ),
            version=plan.version,
            # a legacy project keeps the emulator's earlier leniency: schema 1 images pull on every node
            refuses_schema1=not project.legacy and runs_containerd2(plan.version),
            master_ipv4_cidr=plan.master_cidr,
            machine_type=plan.node_pools[0].get("config", {}).get("machineType", "e2-medium"),
            node_pool=plan.node_pools[0]["name"],
            **extra,
        )

    def kube_access(self, project: Project, token: str) -> Access | None:
        """Who a cluster's bearer token stands for, and what the project's IAM policy grants it there."""
        caller = self.tokens.caller(token) if self.tokens is not None else None
        if caller is None:
            return None

        def iam(permission: str) -> bool:
            with project.locked():
                return caller_holds(project, caller, permission)

        return Access(caller.email, (AUTHENTICATED,), iam)

    def stop_kube(self, project: Project, location: str, name: str) -> None:
        kube = project.kube.pop((location, name), None)
        cluster = project.clusters.get((location, name))
        boot = cluster.pop("_kube_boot", None) if cluster is not None else None
        if boot is not None:
            threading.Thread(target=lambda: safe_stop(boot.result()), daemon=True).start()
        if kube is not None:
            # never stop a server while holding the project lock: its threads may be waiting for it
            threading.Thread(target=safe_stop, args=(kube,), daemon=True).start()


class KubeBoot:
    """Builds and starts a cluster's Kubernetes API server on its own thread."""

    def __init__(self, make: Callable[[], Any]) -> None:
        self.kube: Any = None
        self.error: BaseException | None = None
        self._make = make
        self._thread = threading.Thread(target=self._run, daemon=True, name="kube-boot")
        self._thread.start()

    def _run(self) -> None:
        try:
            kube = self._make()
            kube.start()
            self.kube = kube
        except Exception as exc:  # reported through the CREATE_CLUSTER operation
            self.error = exc

    def result(self, timeout: float = 60.0) -> Any:
        self._thread.join(timeout)
        return self.kube


def safe_stop(kube: Any) -> None:
    if kube is None:
        return
    try:
        kube.stop()
    except Exception:  # stopping a half-started server must not crash the emulator
        pass
