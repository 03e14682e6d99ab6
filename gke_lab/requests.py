"""LabSpec -> the exact API request bodies, as the official proto-plus types.

Tasks never build bodies by hand; they pass these to the clients. The cluster body follows the article's
`gcloud beta container clusters create` flag by flag, modernised: COS_CONTAINERD, no basic auth, secure
boot together with integrity monitoring, logging/monitoring component configs, private nodes through
network_config, the public endpoint's authorized networks through control_plane_endpoints_config, and a
release channel (new projects cannot create no-channel clusters) whose upgrades a maintenance exclusion holds
until the lab expires.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from gke_lab.ownership import Marker
from gke_lab.spec import LabSpec

# The client libraries' types are imported by the builders that use them: the offline plan and the
# resource names below need none of them, and together they take seconds to import.
if TYPE_CHECKING:
    from google.cloud import compute_v1, container_v1, kms_v1
    from google.cloud.iam_admin_v1 import types as iam_types

# The body of Service Usage's batchEnable: the APIs a lab calls (a new project has them all disabled).
REQUIRED_SERVICES = (
    "compute.googleapis.com",
    "container.googleapis.com",
    "cloudkms.googleapis.com",
    "iam.googleapis.com",
    "cloudresourcemanager.googleapis.com",
)
KMS_ROLE = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
NODE_POOL_NAME = "default-pool"
# gcloud's scopes for a node pool with a custom service account and no --scopes; IAM roles limit access.
NODE_OAUTH_SCOPES = (
    "https://www.googleapis.com/auth/cloud-platform",
    "https://www.googleapis.com/auth/userinfo.email",
)
NODE_METADATA = {"disable-legacy-endpoints": "true"}
HOLD_NAME = "gke-lab-hold"
# GKE's longest NO_UPGRADES exclusion; the NO_MINOR scopes may last until the minor version's end of support.
NO_UPGRADES_LIMIT = timedelta(days=30)


# ------------------------------------------------------------------------------------------ names


def cluster_parent(spec: LabSpec) -> str:
    return spec.cluster_parent


def cluster_name(spec: LabSpec) -> str:
    return spec.cluster_name


def key_ring_parent(spec: LabSpec) -> str:
    return spec.keyring_parent


def key_ring_name(spec: LabSpec) -> str:
    return spec.keyring_name


def key_names(spec: LabSpec) -> dict[str, str]:
    """{"node": full key name, "secrets": full key name}."""
    return {"node": spec.key_name("node"), "secrets": spec.key_name("secrets")}


def compute_agent(project_number: int | str) -> str:
    """The Compute Engine service agent (encrypts the node boot disks)."""
    return f"serviceAccount:service-{project_number}@compute-system.iam.gserviceaccount.com"


def gke_agent(project_number: int | str) -> str:
    """The GKE service agent (envelope-encrypts Secrets in etcd)."""
    return f"serviceAccount:service-{project_number}@container-engine-robot.iam.gserviceaccount.com"


# ------------------------------------------------------------------------------------------ compute


def build_network(spec: LabSpec, marker: Marker) -> compute_v1.Network:
    """`gcloud compute networks create NAME --bgp-routing-mode=... --subnet-mode=custom`."""
    from google.cloud import compute_v1

    return compute_v1.Network(
        name=spec.network.name,
        auto_create_subnetworks=False,
        routing_config=compute_v1.NetworkRoutingConfig(routing_mode=spec.network.routing_mode),
        description=marker.description(),
    )


def build_subnetwork(spec: LabSpec, marker: Marker) -> compute_v1.Subnetwork:
    """`gcloud compute networks subnets create` with the Pod and Service secondary ranges."""
    from google.cloud import compute_v1

    net = spec.network
    return compute_v1.Subnetwork(
        name=net.subnet.name,
        network=spec.network_self_link,
        region=spec.region,
        ip_cidr_range=net.subnet.cidr,
        secondary_ip_ranges=[
            compute_v1.SubnetworkSecondaryRange(
                range_name=net.pods_range.name, ip_cidr_range=net.pods_range.cidr
            ),
            compute_v1.SubnetworkSecondaryRange(
                range_name=net.services_range.name, ip_cidr_range=net.services_range.cidr
            ),
        ],
        # Private nodes reach Google APIs (and gcr.io / pkg.dev) without external addresses.
        private_ip_google_access=True,
        description=marker.description(),
    )


def build_router(spec: LabSpec, marker: Marker) -> compute_v1.Router:
    """A Cloud Router with Cloud NAT, so private nodes can pull images from public registries.

    No `region`: it is output only in a Router body (the region is in the URL).
    """
    from google.cloud import compute_v1

    return compute_v1.Router(
        name=spec.network.router,
        network=spec.network_self_link,
        description=marker.description(),
        nats=[
            compute_v1.RouterNat(
                name=spec.network.nat,
                nat_ip_allocate_option="AUTO_ONLY",
                source_subnetwork_ip_ranges_to_nat="ALL_SUBNETWORKS_ALL_IP_RANGES",
            )
        ],
    )


# ------------------------------------------------------------------------------------------ KMS


def build_key_ring() -> kms_v1.KeyRing:
    from google.cloud import kms_v1

    return kms_v1.KeyRing()


def build_crypto_key(spec: LabSpec, marker: Marker) -> kms_v1.CryptoKey:
    """`gcloud kms keys create KEY --purpose encryption` (symmetric, software), stamped with the marker."""
    from google.cloud import kms_v1

    return kms_v1.CryptoKey(
        purpose=kms_v1.CryptoKey.CryptoKeyPurpose.ENCRYPT_DECRYPT,
        version_template=kms_v1.CryptoKeyVersionTemplate(
            algorithm=kms_v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm.GOOGLE_SYMMETRIC_ENCRYPTION,
            protection_level=kms_v1.ProtectionLevel.SOFTWARE,
        ),
        labels=marker.labels(),
    )


def build_crypto_key_requests(spec: LabSpec, marker: Marker) -> list[kms_v1.CreateCryptoKeyRequest]:
    """One CreateCryptoKeyRequest per key (node disks, Secrets)."""
    from google.cloud import kms_v1

    return [
        kms_v1.CreateCryptoKeyRequest(
            parent=spec.keyring_name, crypto_key_id=key_id, crypto_key=build_crypto_key(spec, marker)
        )
        for key_id in (spec.kms.node_key, spec.kms.secrets_key)
    ]


def key_bindings(spec: LabSpec, project_number: int | str) -> dict[str, str]:
    """{key resource name: member} for the KMS_ROLE; the service agents are named by project NUMBER."""
    return {
        spec.key_name("node"): compute_agent(project_number),
        spec.key_name("secrets"): gke_agent(project_number),
    }


# ------------------------------------------------------------------------------------------ IAM


def build_service_account(spec: LabSpec, marker: Marker) -> iam_types.CreateServiceAccountRequest:
    """`gcloud iam service-accounts create gke-node --display-name=gke-node`, with the marker."""
    from google.cloud.iam_admin_v1 import types as iam_types

    return iam_types.CreateServiceAccountRequest(
        name=f"projects/{spec.project_id}",
        account_id=spec.node_service_account.name,
        service_account=iam_types.ServiceAccount(
            display_name=spec.node_service_account.name,
            description=marker.description(),
        ),
    )


def project_bindings(spec: LabSpec) -> list[tuple[str, str]]:
    """[(role, member)] granted on the project to the node service account."""
    return [(role, spec.node_sa_member) for role in spec.node_service_account.roles]


# ------------------------------------------------------------------------------------------ cluster


def _timestamp(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _addons(spec: LabSpec) -> container_v1.AddonsConfig:
    from google.cloud import container_v1

    c = spec.cluster
    chosen = set(c.addons)
    config = container_v1.AddonsConfig(
        http_load_balancing=container_v1.HttpLoadBalancing(disabled="HttpLoadBalancing" not in chosen),
        horizontal_pod_autoscaling=container_v1.HorizontalPodAutoscaling(
            disabled="HorizontalPodAutoscaling" not in chosen
        ),
        kubernetes_dashboard=container_v1.KubernetesDashboard(disabled=True),
        # The addon runs the policy controller; gcloud derives it from --addons, we from network_policy.
        network_policy_config=container_v1.NetworkPolicyConfig(disabled=not c.network_policy),
        dns_cache_config=container_v1.DnsCacheConfig(enabled=c.node_local_dns),
    )
    if "GcePersistentDiskCsiDriver" in chosen:
        config.gce_persistent_disk_csi_driver_config = container_v1.GcePersistentDiskCsiDriverConfig(
            enabled=True
        )
    if "GcpFilestoreCsiDriver" in chosen:
        config.gcp_filestore_csi_driver_config = container_v1.GcpFilestoreCsiDriverConfig(enabled=True)
    if "GcsFuseCsiDriver" in chosen:
        config.gcs_fuse_csi_driver_config = container_v1.GcsFuseCsiDriverConfig(enabled=True)
    if "ConfigConnector" in chosen:
        config.config_connector_config = container_v1.ConfigConnectorConfig(enabled=True)
    return config


def _node_pool(spec: LabSpec) -> container_v1.NodePool:
    from google.cloud import container_v1

    c = spec.cluster
    config = container_v1.NodeConfig(
        machine_type=c.machine_type,
        image_type=c.image_type,
        disk_type=c.disk_type,
        disk_size_gb=c.disk_size_gb,
        boot_disk_kms_key=spec.key_name("node"),
        metadata=dict(NODE_METADATA),
        service_account=spec.node_sa_email,
        oauth_scopes=list(NODE_OAUTH_SCOPES),
        preemptible=c.preemptible,
        tags=list(c.tags),
        shielded_instance_config=container_v1.ShieldedInstanceConfig(
            enable_secure_boot=c.secure_boot, enable_integrity_monitoring=c.integrity_monitoring
        ),
    )
    if c.workload_identity:
        config.workload_metadata_config = container_v1.WorkloadMetadataConfig(
            mode=container_v1.WorkloadMetadataConfig.Mode.GKE_METADATA
        )
    return container_v1.NodePool(
        name=NODE_POOL_NAME,
        initial_node_count=c.num_nodes,
        config=config,
        autoscaling=container_v1.NodePoolAutoscaling(
            enabled=True, min_node_count=c.autoscaling.min, max_node_count=c.autoscaling.max
        ),
        management=container_v1.NodeManagement(auto_upgrade=c.auto_upgrade, auto_repair=c.auto_repair),
        upgrade_settings=container_v1.NodePool.UpgradeSettings(
            max_surge=c.max_surge, max_unavailable=c.max_unavailable
        ),
    )


@dataclass(frozen=True)
class UpgradeHold:
    """The maintenance exclusion that holds a channel cluster's upgrades for the lab's life."""

    scope: str
    start: datetime
    end: datetime | None  # None: until the minor version's end of support

    def describe(self) -> str:
        until = self.end.strftime("%Y-%m-%d %H:%M UTC") if self.end else "the minor version's end of support"
        return f"{self.scope} until {until}"


def upgrade_hold(spec: LabSpec, marker: Marker, now: datetime | None = None) -> UpgradeHold | None:
    """From now until the lab expires, within GKE's limits; a lab that never expires: end of support."""
    c = spec.cluster
    if c.upgrade_hold is None or c.release_channel is None:
        return None
    start = (now or datetime.now(UTC)).replace(microsecond=0)
    end = marker.expires_at
    if c.upgrade_hold == "NO_UPGRADES":
        end = min(end or start + NO_UPGRADES_LIMIT, start + NO_UPGRADES_LIMIT)
    return UpgradeHold(c.upgrade_hold, start, end)


def _exclusions(hold: UpgradeHold | None) -> dict[str, container_v1.TimeWindow]:
    from google.cloud import container_v1

    if hold is None:
        return {}
    ExclusionOptions = container_v1.MaintenanceExclusionOptions
    options = ExclusionOptions(scope=ExclusionOptions.Scope[hold.scope])  # type: ignore[misc]  # proto-plus enums are indexable by name
    if hold.end is None:
        options.end_time_behavior = ExclusionOptions.EndTimeBehavior.UNTIL_END_OF_SUPPORT  # type: ignore[assignment]  # proto-plus enum members are typed as plain ints
        return {
            HOLD_NAME: container_v1.TimeWindow(start_time=hold.start, maintenance_exclusion_options=options)
        }
    window = container_v1.TimeWindow(
        start_time=hold.start, end_time=hold.end, maintenance_exclusion_options=options
    )
    return {HOLD_NAME: window}


# The pool label's key (gke_lab.pools.LABEL_POOL; that module reads clusters, this one only builds them).
POOL_LABEL = "gke-lab-pool"


def cluster_labels(spec: LabSpec, marker: Marker) -> dict[str, str]:
    """The cluster's labels: the ownership marker, and the pool's name when the lab belongs to a pool."""
    labels = marker.labels()
    if spec.pool is not None:
        labels[POOL_LABEL] = spec.pool
    return labels


def build_cluster(
    spec: LabSpec, version: str | None, marker: Marker, now: datetime | None = None
) -> container_v1.Cluster:
    """The Cluster of `clusters.create`; `version`: the resolved one (None: the spec's or the default)."""
    from google.cloud import container_v1

    c = spec.cluster
    window = c.maintenance_window
    cluster = container_v1.Cluster(
        name=c.name,
        initial_cluster_version=version or c.version or "",
        master_auth=container_v1.MasterAuth(),  # no basic auth, no client certificate
        logging_config=container_v1.LoggingConfig(
            component_config=container_v1.LoggingComponentConfig(
                enable_components=[
                    container_v1.LoggingComponentConfig.Component.SYSTEM_COMPONENTS,
                    container_v1.LoggingComponentConfig.Component.WORKLOADS,
                ]
            )
        ),
        monitoring_config=container_v1.MonitoringConfig(
            component_config=container_v1.MonitoringComponentConfig(
                enable_components=[container_v1.MonitoringComponentConfig.Component.SYSTEM_COMPONENTS]
            )
        ),
        network=spec.network_path,
        subnetwork=spec.subnet_path,
        locations=sorted(c.node_locations),
        node_pools=[_node_pool(spec)],
        ip_allocation_policy=container_v1.IPAllocationPolicy(
            use_ip_aliases=True,
            cluster_secondary_range_name=spec.network.pods_range.name,
            services_secondary_range_name=spec.network.services_range.name,
        ),
        default_max_pods_constraint=container_v1.MaxPodsConstraint(max_pods_per_node=c.max_pods_per_node),
        network_config=container_v1.NetworkConfig(default_enable_private_nodes=True),
        private_cluster_config=container_v1.PrivateClusterConfig(
            enable_private_nodes=True, master_ipv4_cidr_block=c.master_ipv4_cidr
        ),
        control_plane_endpoints_config=container_v1.ControlPlaneEndpointsConfig(
            ip_endpoints_config=container_v1.ControlPlaneEndpointsConfig.IPEndpointsConfig(
                enabled=True,
                enable_public_endpoint=True,
                authorized_networks_config=container_v1.MasterAuthorizedNetworksConfig(
                    enabled=True,
                    cidr_blocks=[
                        container_v1.MasterAuthorizedNetworksConfig.CidrBlock(
                            display_name=n.name, cidr_block=n.cidr
                        )
                        for n in c.master_authorized_networks
                    ],
                ),
            )
        ),
        addons_config=_addons(spec),
        maintenance_policy=container_v1.MaintenancePolicy(
            window=container_v1.MaintenanceWindow(
                recurring_window=container_v1.RecurringTimeWindow(
                    window=container_v1.TimeWindow(
                        start_time=_timestamp(window.start), end_time=_timestamp(window.end)
                    ),
                    recurrence=window.recurrence,
                ),
                maintenance_exclusions=_exclusions(upgrade_hold(spec, marker, now)),
            )
        ),
        database_encryption=container_v1.DatabaseEncryption(
            state=container_v1.DatabaseEncryption.State.ENCRYPTED, key_name=spec.key_name("secrets")
        ),
        shielded_nodes=container_v1.ShieldedNodes(enabled=c.shielded_nodes),
        release_channel=container_v1.ReleaseChannel(
            channel=container_v1.ReleaseChannel.Channel[c.release_channel] if c.release_channel else 0  # type: ignore[misc]  # proto-plus enums are indexable by name
        ),
        resource_labels=cluster_labels(spec, marker),
    )
    if c.network_policy:
        cluster.network_policy = container_v1.NetworkPolicy(
            provider=container_v1.NetworkPolicy.Provider.CALICO, enabled=True
        )
    if c.workload_identity:
        cluster.workload_identity_config = container_v1.WorkloadIdentityConfig(
            workload_pool=spec.workload_pool
        )
    return cluster


def build_create_cluster_request(
    spec: LabSpec, version: str | None, marker: Marker
) -> container_v1.CreateClusterRequest:
    from google.cloud import container_v1

    return container_v1.CreateClusterRequest(
        parent=spec.cluster_parent, cluster=build_cluster(spec, version, marker)
    )
