"""What every container module shares: the services a cluster touches and the cluster lookup."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from emulator.compute import ComputeService
from emulator.container.common import resource_path
from emulator.errors import ApiError, not_found
from emulator.store import Backend, Project


class ContainerBase:
    """The backend and the other services; the modules are mixins combined in container/__init__.py."""

    def __init__(
        self,
        backend: Backend,
        compute: ComputeService,
        kms: Any,
        iam: Any,
        log: Callable[[dict[str, Any]], object],
        kube_factory: Callable[..., Any] | None = None,
        faults: Any = None,
        tokens: Any = None,
    ) -> None:
        self.backend = backend
        self.compute = compute
        self.kms = kms
        self.iam = iam
        self.log = log
        self.kube_factory = kube_factory
        # The emulator's fault injector and token registry, which every cluster's Kubernetes API uses too.
        self.faults = faults
        self.tokens = tokens

    if TYPE_CHECKING:  # what the modules use from each other, defined in the module named

        def finish_operation(
            self, op: dict[str, Any], error: ApiError | None = None, at: float | None = None
        ) -> None:
            raise NotImplementedError  # operations.py

        def stop_kube(self, project: Project, location: str, name: str) -> None:
            raise NotImplementedError  # control_plane.py

        def load_balancer_created(
            self,
            project: Project,
            location: str,
            cluster_name: str,
            namespace: str,
            service: str,
            ports: list[dict[str, Any]],
        ) -> None:
            raise NotImplementedError  # load_balancers.py

        def load_balancer_deleted(
            self, project: Project, location: str, cluster_name: str, namespace: str, service: str
        ) -> None:
            raise NotImplementedError  # load_balancers.py

    def kube_class(self) -> Callable[..., Any]:
        if self.kube_factory is None:
            from emulator.kubernetes import KubeCluster

            self.kube_factory = KubeCluster
        return self.kube_factory

    def find_cluster(self, project: Project, location: str, name: str) -> dict[str, Any]:
        cluster = project.clusters.get((location, name))
        if cluster is None:
            raise not_found(f"Not found: {resource_path(project, location, 'clusters', name)}.")
        return cluster
