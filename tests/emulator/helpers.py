"""Official clients pointed at an emulator, and the article's request bodies built with them."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import grpc
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1, container_v1, iam_admin_v1, kms_v1, resourcemanager_v3
from google.cloud.iam_admin_v1.services.iam.transports import IAMGrpcTransport

from emulator.server import Emulator
from tests.fixtures_emulator import PROJECT, REGION

ZONES = ["us-west1-a", "us-west1-b"]
NETWORK = "gke-network"
SUBNET = "gke-subnet"
RING = "keyring-gke"
NODE_KEY = "key-gke-node"
SECRET_KEY = "key-gke-secret"
SA_ID = "gke-node"
ENCRYPTER = "roles/cloudkms.cryptoKeyEncrypterDecrypter"


@dataclass
class Clients:
    networks: compute_v1.NetworksClient
    subnets: compute_v1.SubnetworksClient
    firewalls: compute_v1.FirewallsClient
    routes: compute_v1.RoutesClient
    routers: compute_v1.RoutersClient
    instances: compute_v1.InstancesClient
    global_ops: compute_v1.GlobalOperationsClient
    region_ops: compute_v1.RegionOperationsClient
    kms: kms_v1.KeyManagementServiceClient
    gke: container_v1.ClusterManagerClient
    projects: resourcemanager_v3.ProjectsClient
    iam: iam_admin_v1.IAMClient
    channel: grpc.Channel

    def close(self) -> None:
        self.channel.close()


def make_clients(emu: Emulator) -> Clients:
    opts = ClientOptions(api_endpoint=emu.url)
    creds = AnonymousCredentials()
    rest: dict[str, Any] = {"client_options": opts, "credentials": creds}
    channel = grpc.insecure_channel(emu.grpc_address)
    return Clients(
        networks=compute_v1.NetworksClient(**rest),
        subnets=compute_v1.SubnetworksClient(**rest),
        firewalls=compute_v1.FirewallsClient(**rest),
        routes=compute_v1.RoutesClient(**rest),
        routers=compute_v1.RoutersClient(**rest),
        instances=compute_v1.InstancesClient(**rest),
        global_ops=compute_v1.GlobalOperationsClient(**rest),
        region_ops=compute_v1.RegionOperationsClient(**rest),
        kms=kms_v1.KeyManagementServiceClient(transport="rest", **rest),
        gke=container_v1.ClusterManagerClient(transport="rest", **rest),
        projects=resourcemanager_v3.ProjectsClient(transport="rest", **rest),
        iam=iam_admin_v1.IAMClient(transport=IAMGrpcTransport(channel=channel)),
        channel=channel,
    )


def wait_global(c: Clients, op: compute_v1.Operation, project: str = PROJECT) -> compute_v1.Operation:
    while op.status != compute_v1.Operation.Status.DONE:
        op = c.global_ops.wait(project=project, operation=op.name)
    return op


def wait_region(c: Clients, op: compute_v1.Operation, project: str = PROJECT, region: str = REGION):
    while op.status != compute_v1.Operation.Status.DONE:
        op = c.region_ops.wait(project=project, region=region, operation=op.name)
    return op


def wait_gke(
    c: Clients,
    op: container_v1.Operation,
    project: str = PROJECT,
    location: str = REGION,
    timeout: float = 120.0,
) -> container_v1.Operation:
    name = f"projects/{project}/locations/{location}/operations/{op.name}"
    deadline = time.monotonic() + timeout
    while op.status != container_v1.Operation.Status.DONE:
        assert time.monotonic() < deadline, f"operation {op.name} still {op.status.name}"
        time.sleep(0.05)
        op = c.gke.get_operation(name=name)
    return op


def key_name(key: str, project: str = PROJECT) -> str:
    return f"projects/{project}/locations/{REGION}/keyRings/{RING}/cryptoKeys/{key}"


def network_link(project: str = PROJECT, name: str = NETWORK) -> str:
    return f"https://www.googleapis.com/compute/v1/projects/{project}/global/networks/{name}"


def build_network(name: str = NETWORK) -> compute_v1.Network:
    return compute_v1.Network(
        name=name,
        auto_create_subnetworks=False,
        routing_config=compute_v1.NetworkRoutingConfig(routing_mode="GLOBAL"),
        description='gke-lab:{"managed-by":"gke-lab","lab":"cluster","expires":0}',
    )


def build_subnet(
    project: str = PROJECT,
    name: str = SUBNET,
    cidr: str = "10.128.0.0/20",
    pods: str = "100.64.0.0/14",
    services: str = "100.68.0.0/20",
) -> compute_v1.Subnetwork:
    return compute_v1.Subnetwork(
        name=name,
        network=network_link(project),
        ip_cidr_range=cidr,
        region=REGION,
        secondary_ip_ranges=[
            compute_v1.SubnetworkSecondaryRange(range_name="gke-cluster-pods", ip_cidr_range=pods),
            compute_v1.SubnetworkSecondaryRange(range_name="gke-cluster-services", ip_cidr_range=services),
        ],
    )


def build_router(project: str = PROJECT) -> compute_v1.Router:
    return compute_v1.Router(
        name="gke-router",
        network=network_link(project),
        nats=[
            compute_v1.RouterNat(
                name="gke-nat",
                nat_ip_allocate_option="AUTO_ONLY",
                source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
            )
        ],
    )


def build_cluster(
    project: str = PROJECT, *, version: str = "", authorized: str = "127.0.0.1/32", **overrides: Any
) -> container_v1.Cluster:
    """The article's cluster with today's fields (gke-api.md §3/§4, modernised)."""
    man = container_v1.MasterAuthorizedNetworksConfig(
        enabled=True,
        cidr_blocks=[
            container_v1.MasterAuthorizedNetworksConfig.CidrBlock(
                cidr_block=authorized, display_name="operator"
            )
        ],
    )
    cluster = container_v1.Cluster(
        name="cluster",
        initial_cluster_version=version,
        master_auth=container_v1.MasterAuth(),
        network=f"projects/{project}/global/networks/{NETWORK}",
        subnetwork=f"projects/{project}/regions/{REGION}/subnetworks/{SUBNET}",
        locations=ZONES,
        release_channel=container_v1.ReleaseChannel(channel=container_v1.ReleaseChannel.Channel.UNSPECIFIED),
        node_pools=[
            container_v1.NodePool(
                name="default-pool",
                initial_node_count=1,
                config=container_v1.NodeConfig(
                    machine_type="e2-medium",
                    image_type="COS_CONTAINERD",
                    disk_type="pd-standard",
                    disk_size_gb=100,
                    boot_disk_kms_key=key_name(NODE_KEY, project),
                    metadata={"disable-legacy-endpoints": "true"},
                    service_account=f"{SA_ID}@{project}.iam.gserviceaccount.com",
                    oauth_scopes=["https://www.googleapis.com/auth/cloud-platform"],
                    preemptible=True,
                    tags=["gke-node"],
                    shielded_instance_config=container_v1.ShieldedInstanceConfig(
                        enable_secure_boot=True, enable_integrity_monitoring=True
                    ),
                ),
                autoscaling=container_v1.NodePoolAutoscaling(
                    enabled=True, min_node_count=0, max_node_count=2
                ),
                management=container_v1.NodeManagement(auto_upgrade=False, auto_repair=True),
                upgrade_settings=container_v1.NodePool.UpgradeSettings(max_surge=1, max_unavailable=0),
            )
        ],
        ip_allocation_policy=container_v1.IPAllocationPolicy(
            use_ip_aliases=True,
            cluster_secondary_range_name="gke-cluster-pods",
            services_secondary_range_name="gke-cluster-services",
        ),
        default_max_pods_constraint=container_v1.MaxPodsConstraint(max_pods_per_node=110),
        network_config=container_v1.NetworkConfig(default_enable_private_nodes=True),
        private_cluster_config=container_v1.PrivateClusterConfig(
            enable_private_nodes=True, master_ipv4_cidr_block="172.16.0.0/28"
        ),
        control_plane_endpoints_config=container_v1.ControlPlaneEndpointsConfig(
            ip_endpoints_config=container_v1.ControlPlaneEndpointsConfig.IPEndpointsConfig(
                enabled=True, enable_public_endpoint=True, authorized_networks_config=man
            )
        ),
        network_policy=container_v1.NetworkPolicy(
            provider=container_v1.NetworkPolicy.Provider.CALICO, enabled=True
        ),
        addons_config=container_v1.AddonsConfig(
            network_policy_config=container_v1.NetworkPolicyConfig(disabled=False),
            dns_cache_config=container_v1.DnsCacheConfig(enabled=True),
        ),
        database_encryption=container_v1.DatabaseEncryption(
            state=container_v1.DatabaseEncryption.State.ENCRYPTED, key_name=key_name(SECRET_KEY, project)
        ),
        workload_identity_config=container_v1.WorkloadIdentityConfig(workload_pool=f"{project}.svc.id.goog"),
        shielded_nodes=container_v1.ShieldedNodes(enabled=True),
        resource_labels={"managed-by": "gke-lab", "gke-lab": "cluster", "gke-lab-expires": "0"},
    )
    for key, value in overrides.items():
        setattr(cluster, key, value)
    return cluster


def add_binding(c: Clients, resource: str, role: str, member: str, *, kms: bool) -> None:
    """Read-modify-write with the etag, as gcloud add-iam-policy-binding does."""
    if kms:
        policy = c.kms.get_iam_policy(request={"resource": resource})
    else:
        policy = c.projects.get_iam_policy(
            request={"resource": resource, "options": {"requested_policy_version": 3}}
        )
    for b in policy.bindings:
        if b.role == role:
            if member not in b.members:
                b.members.append(member)
            break
    else:
        policy.bindings.add(role=role, members=[member])
    if kms:
        c.kms.set_iam_policy(request={"resource": resource, "policy": policy})
    else:
        c.projects.set_iam_policy(request={"resource": resource, "policy": policy})


def project_number(c: Clients, project: str = PROJECT) -> str:
    return c.projects.get_project(name=f"projects/{project}").name.split("/")[1]


def setup_prerequisites(
    c: Clients,
    project: str = PROJECT,
    *,
    grant_compute: bool = True,
    grant_gke: bool = True,
    nat: bool = True,
) -> str:
    """VPC, subnet, NAT, keys, key bindings and the node service account. Returns the project number."""
    wait_global(c, c.networks.insert_unary(project=project, network_resource=build_network()), project)
    wait_region(
        c,
        c.subnets.insert_unary(project=project, region=REGION, subnetwork_resource=build_subnet(project)),
        project,
    )
    if nat:
        wait_region(
            c,
            c.routers.insert_unary(project=project, region=REGION, router_resource=build_router(project)),
            project,
        )
    parent = f"projects/{project}/locations/{REGION}"
    c.kms.create_key_ring(parent=parent, key_ring_id=RING, key_ring={})
    for key in (NODE_KEY, SECRET_KEY):
        c.kms.create_crypto_key(
            parent=f"{parent}/keyRings/{RING}",
            crypto_key_id=key,
            crypto_key=kms_v1.CryptoKey(purpose=kms_v1.CryptoKey.CryptoKeyPurpose.ENCRYPT_DECRYPT),
        )
    number = project_number(c, project)
    if grant_compute:
        add_binding(
            c,
            key_name(NODE_KEY, project),
            ENCRYPTER,
            f"serviceAccount:service-{number}@compute-system.iam.gserviceaccount.com",
            kms=True,
        )
    if grant_gke:
        add_binding(
            c,
            key_name(SECRET_KEY, project),
            ENCRYPTER,
            f"serviceAccount:service-{number}@container-engine-robot.iam.gserviceaccount.com",
            kms=True,
        )
    c.iam.create_service_account(
        name=f"projects/{project}",
        account_id=SA_ID,
        service_account=iam_admin_v1.ServiceAccount(display_name=SA_ID),
    )
    return number


def wait_propagation(emu: Emulator) -> None:
    time.sleep(emu.clock.duration("iam.propagation") + 0.05)
