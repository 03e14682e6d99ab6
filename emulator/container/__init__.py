"""GKE: one module per part of the cluster API, combined into the service (moto's shape).

| module | part |
|---|---|
| `clusters.py` | create, get, list, delete, resource labels |
| `create_plan.py` | GKE's synchronous create checks as rules building one typed `CreatePlan` |
| `node_pools.py` | node pools and their node VMs (where the boot-disk key is used) |
| `vpc.py` | GKE's own firewall rules, control-plane peering and its route |
| `control_plane.py` | each cluster's Kubernetes API server |
| `load_balancers.py` | the firewall rule of each LoadBalancer Service |
| `operations.py` | cluster operations |
| `server_config.py` | versions, release channels, image types |
| `common.py`, `base.py` | names, locations, labels, range picking; the services a cluster touches |
"""

from __future__ import annotations

from emulator.container.clusters import ClustersMixin
from emulator.container.load_balancers import LoadBalancersMixin
from emulator.container.server_config import ServerConfigMixin, server_config_json
from emulator.routing import Route, ServiceRoutes

__all__ = ["ContainerService", "server_config_json"]


class ContainerService(ClustersMixin, LoadBalancersMixin, ServerConfigMixin):
    """The GKE backend: every part's methods on one object, as the routes call them."""

    def routes(self) -> ServiceRoutes:
        return ServiceRoutes(
            api="container",
            service="container.googleapis.com",
            prefix="/v1/projects/{project}/locations/{location}",
            routes=(
                # each method's permission as its reference page names it, e.g.
                # https://cloud.google.com/kubernetes-engine/docs/reference/rest/v1/projects.locations.clusters/get
                # getServerConfig's page names no permission: a named user needs container.clusters.list here
                # rather than nothing, so that the emulator is never more lenient than Google
                Route("GET", "/serverConfig", self.server_config, permission="container.clusters.list"),
                Route("POST", "/clusters", self.create_cluster, permission="container.clusters.create"),
                Route("GET", "/clusters", self.list_clusters, permission="container.clusters.list"),
                Route("GET", "/clusters/{name}", self.get_cluster, permission="container.clusters.get"),
                Route(
                    "DELETE", "/clusters/{name}", self.delete_cluster, permission="container.clusters.delete"
                ),
                Route(
                    "POST",
                    "/clusters/{name}:setResourceLabels",
                    self.set_resource_labels,
                    permission="container.clusters.update",
                ),
                Route("GET", "/operations", self.list_operations, permission="container.operations.list"),
                Route("GET", "/operations/{name}", self.get_operation, permission="container.operations.get"),
            ),
        )
