"""The article's way, replayed: its commands one after another through the official clients.

Each step is what the corresponding gcloud/kubectl command sends, waited on the way those tools wait:
compute operations through `operations.wait` (gcloud's compute waiter) followed by the GET gcloud does to
print the created resource; container operations polled with `operations.get` every 5 s (gcloud's
container poller); KMS, IAM and Resource Manager calls are synchronous. Every `add-iam-policy-binding` is
its own read-modify-write. Nothing runs in parallel, as when a person pastes the commands in order.

The article's environment is reproduced with the unavoidable modernisations of the reference (COS with
containerd, integrity monitoring with secure boot, no release channel while auto-upgrade is off, a
version the server offers) and with the operator's address (127.0.0.1/32) as the authorized network so
the echo check can reach the control plane. Like the article: no Cloud NAT and the echoserver image from
k8s.gcr.io (a Google registry that private nodes reach without NAT).

Usable as a script: `python -m bench.seed_replay --emulator http://127.0.0.1:8900`.
"""

from __future__ import annotations

import argparse
import base64
import json
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import grpc
import httpx
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1, container_v1, iam_admin_v1, kms_v1, resourcemanager_v3
from google.cloud.iam_admin_v1.services.iam.transports.grpc import IAMGrpcTransport
from google.iam.v1 import iam_policy_pb2, policy_pb2

from bench import reqlog

KMS_ROLE = "roles/cloudkms.cryptoKeyEncrypterDecrypter"
NODE_ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/monitoring.viewer")
ECHO_IMAGE = "k8s.gcr.io/echoserver:1.4"


@dataclass
class ReplayResult:
    wall_s: float
    requests: dict
    steps: list[dict] = field(default_factory=list)
    echo_report: str = ""

    def to_json(self) -> dict:
        return asdict(self)


class _Clients:
    """The official clients pointed at the emulator, as gcloud would be pointed at Google."""

    def __init__(self, url: str) -> None:
        info = httpx.get(f"{url}/_emulator/info", timeout=30).json()
        opts = ClientOptions(api_endpoint=url)
        creds = AnonymousCredentials()
        rest: dict[str, Any] = {"client_options": opts, "credentials": creds, "transport": "rest"}
        self.networks = compute_v1.NetworksClient(**rest)
        self.subnetworks = compute_v1.SubnetworksClient(**rest)
        self.firewalls = compute_v1.FirewallsClient(**rest)
        self.global_ops = compute_v1.GlobalOperationsClient(**rest)
        self.region_ops = compute_v1.RegionOperationsClient(**rest)
        self.kms = kms_v1.KeyManagementServiceClient(**rest)
        self.projects = resourcemanager_v3.ProjectsClient(**rest)
        self.container = container_v1.ClusterManagerClient(**rest)
        self._channel = grpc.insecure_channel(info["grpc_address"])
        self.iam = iam_admin_v1.IAMClient(transport=IAMGrpcTransport(channel=self._channel))

    def close(self) -> None:
        self._channel.close()


def _compute_wait(c: _Clients, op: compute_v1.Operation, project: str, region: str | None = None) -> None:
    """gcloud's compute waiter: `operations.wait` until DONE, then fail on an operation error."""
    while op.status != compute_v1.Operation.Status.DONE:
        if region:
            op = c.region_ops.wait(project=project, region=region, operation=op.name)
        else:
            op = c.global_ops.wait(project=project, operation=op.name)
    if op.error and op.error.errors:
        raise RuntimeError(f"operation {op.name} failed: {op.error.errors[0].message}")


def _container_wait(c: _Clients, op: container_v1.Operation, parent: str, poll_s: float) -> None:
    """gcloud's container poller: `operations.get` every `poll_s`, three consecutive failures tolerated."""
    name = f"{parent}/operations/{op.name}"
    failures = 0
    while op.status != container_v1.Operation.Status.DONE:
        time.sleep(poll_s)
        try:
            op = c.container.get_operation(name=name)
            failures = 0
        except gexc.GoogleAPICallError:
            failures += 1
            if failures > 3:
                raise
    if op.error and op.error.message:
        raise RuntimeError(f"operation {op.name} failed: {op.error.message}")


def _add_binding(get: Callable[[], Any], set_: Callable[[Any], Any], role: str, member: str) -> None:
    """`add-iam-policy-binding`: one read-modify-write with the etag (gcloud does not retry 409s)."""
    policy = get()
    for b in policy.bindings:
        if b.role == role:
            if member not in b.members:
                b.members.append(member)
            break
    else:
        policy.bindings.add(role=role, members=[member])
    set_(policy)


def article_cluster(project: str, region: str, version: str, authorized_cidr: str) -> container_v1.Cluster:
    """The article's `gcloud beta container clusters create` (reference §3/§4, modernised)."""
    ring = f"projects/{project}/locations/{region}/keyRings/keyring-gke"
    config = container_v1.NodeConfig(
        machine_type="e2-medium",
        image_type="COS_CONTAINERD",
        disk_type="pd-standard",
        disk_size_gb=100,
        boot_disk_kms_key=f"{ring}/cryptoKeys/key-gke-node",
        metadata={"disable-legacy-endpoints": "true"},
        service_account=f"gke-node@{project}.iam.gserviceaccount.com",
        oauth_scopes=[
            "https://www.googleapis.com/auth/cloud-platform",
            "https://www.googleapis.com/auth/userinfo.email",
        ],
        preemptible=True,
        tags=["gke-node"],
        shielded_instance_config=container_v1.ShieldedInstanceConfig(
            enable_secure_boot=True, enable_integrity_monitoring=True
        ),
    )
    pool = container_v1.NodePool(
        name="default-pool",
        initial_node_count=1,
        config=config,
        autoscaling=container_v1.NodePoolAutoscaling(enabled=True, min_node_count=0, max_node_count=2),
        management=container_v1.NodeManagement(auto_upgrade=False, auto_repair=True),
        upgrade_settings=container_v1.NodePool.UpgradeSettings(max_surge=1, max_unavailable=0),
    )
    authorized = container_v1.MasterAuthorizedNetworksConfig(
        enabled=True,
        cidr_blocks=[container_v1.MasterAuthorizedNetworksConfig.CidrBlock(cidr_block=authorized_cidr)],
    )
    comp = container_v1.LoggingComponentConfig.Component
    mcomp = container_v1.MonitoringComponentConfig.Component
    return container_v1.Cluster(
        name="cluster",
        initial_cluster_version=version,
        master_auth=container_v1.MasterAuth(),
        logging_config=container_v1.LoggingConfig(
            component_config=container_v1.LoggingComponentConfig(
                enable_components=[comp.SYSTEM_COMPONENTS, comp.WORKLOADS]
            )
        ),
        monitoring_config=container_v1.MonitoringConfig(
            component_config=container_v1.MonitoringComponentConfig(
                enable_components=[mcomp.SYSTEM_COMPONENTS]
            )
        ),
        network=f"projects/{project}/global/networks/gke-network",
        subnetwork=f"projects/{project}/regions/{region}/subnetworks/gke-subnet",
        locations=[f"{region}-a", f"{region}-b"],
        node_pools=[pool],
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
                enabled=True, enable_public_endpoint=True, authorized_networks_config=authorized
            )
        ),
        network_policy=container_v1.NetworkPolicy(
            enabled=True, provider=container_v1.NetworkPolicy.Provider.CALICO
        ),
        addons_config=container_v1.AddonsConfig(
            horizontal_pod_autoscaling=container_v1.HorizontalPodAutoscaling(disabled=False),
            http_load_balancing=container_v1.HttpLoadBalancing(disabled=False),
            kubernetes_dashboard=container_v1.KubernetesDashboard(disabled=True),
            network_policy_config=container_v1.NetworkPolicyConfig(disabled=False),
            dns_cache_config=container_v1.DnsCacheConfig(enabled=True),
        ),
        maintenance_policy=container_v1.MaintenancePolicy(
            window=container_v1.MaintenanceWindow(
                recurring_window=container_v1.RecurringTimeWindow(
                    window=container_v1.TimeWindow(
                        start_time="2020-11-29T17:00:00Z", end_time="2020-11-29T23:00:00Z"
                    ),
                    recurrence="FREQ=WEEKLY;BYDAY=SA,SU",
                )
            )
        ),
        database_encryption=container_v1.DatabaseEncryption(
            state=container_v1.DatabaseEncryption.State.ENCRYPTED,
            key_name=f"{ring}/cryptoKeys/key-gke-secret",
        ),
        workload_identity_config=container_v1.WorkloadIdentityConfig(workload_pool=f"{project}.svc.id.goog"),
        shielded_nodes=container_v1.ShieldedNodes(enabled=True),
        release_channel=container_v1.ReleaseChannel(channel=container_v1.ReleaseChannel.Channel.UNSPECIFIED),
    )


def _create_cluster(c: _Clients, parent: str, cluster: container_v1.Cluster, poll_s: float) -> None:
    """`clusters create`. A person whose create is refused while a fresh grant propagates runs it again;
    the replay does the same after a poll interval, so the article's order is not penalised twice."""
    for _attempt in range(60):
        try:
            op = c.container.create_cluster(parent=parent, cluster=cluster)
        except (gexc.Forbidden, gexc.FailedPrecondition, gexc.BadRequest) as err:
            if "kms" not in str(err).lower() and "permission" not in str(err).lower():
                raise
            time.sleep(poll_s)
            continue
        _container_wait(c, op, parent, poll_s)
        return
    raise RuntimeError("cluster create kept failing while IAM grants propagated")


def _kube(endpoint: str, ca_b64: str, tmpdir: str, token: str):
    from kubernetes import client as k8s

    ca_path = f"{tmpdir}/ca.pem"
    with open(ca_path, "wb") as fh:
        fh.write(base64.b64decode(ca_b64))
    cfg = k8s.Configuration(
        host=f"https://{endpoint}",
        ssl_ca_cert=ca_path,
        api_key={"authorization": token},
        api_key_prefix={"authorization": "Bearer"},
    )
    cfg.safe_chars_for_path_param = "/:"
    return k8s.ApiClient(cfg)


def _echo(api_client, rollout_poll_s: float, timeout_s: float) -> str:
    """`kubectl apply` of the article's Deployment and Service, `rollout status`, then the curl."""
    from kubernetes import client as k8s

    apps, core = k8s.AppsV1Api(api_client), k8s.CoreV1Api(api_client)
    labels = {"app": "echo-server"}
    apps.create_namespaced_deployment(
        "default",
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "echo-deployment", "labels": labels},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "containers": [
                            {
                                "name": "echo-server",
                                "image": ECHO_IMAGE,
                                "ports": [{"containerPort": 8080, "name": "http-port"}],
                            }
                        ]
                    },
                },
            },
        },
    )
    core.create_namespaced_service(
        "default",
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "echo-service"},
            "spec": {
                "type": "ClusterIP",
                "selector": labels,
                "ports": [{"port": 80, "targetPort": 8080, "protocol": "TCP"}],
            },
        },
    )
    deadline = time.monotonic() + timeout_s
    while True:
        dep = apps.read_namespaced_deployment("echo-deployment", "default")
        status = dep.status
        if status and (status.ready_replicas or 0) >= 2 and (status.available_replicas or 0) >= 2:
            break
        if time.monotonic() > deadline:
            raise TimeoutError("echo-deployment never became ready")
        time.sleep(rollout_poll_s)
    while True:
        try:
            resp = core.connect_get_namespaced_service_proxy_with_path(
                "echo-service:80", "default", "", _preload_content=False
            )
            body = resp.data.decode()
            if "CLIENT VALUES" in body:
                return body
        except Exception:
            if time.monotonic() > deadline:
                raise
        if time.monotonic() > deadline:
            raise TimeoutError("echo-service never answered")
        time.sleep(rollout_poll_s)


def run_replay(
    url: str,
    project: str = "gke-detail",
    region: str = "us-west1",
    container_poll_s: float = 5.0,
    rollout_poll_s: float = 0.5,
    authorized_cidr: str = "127.0.0.1/32",
    timeout_s: float = 3600.0,
) -> ReplayResult:
    """Replay the article against the emulator at `url`; wall time and the request log's counts."""
    c = _Clients(url)
    since = reqlog.last_seq(url)
    steps: list[dict] = []
    t0 = time.monotonic()

    def step(name: str, fn: Callable[[], Any]) -> Any:
        start = time.monotonic()
        out = fn()
        steps.append({"step": name, "seconds": round(time.monotonic() - start, 3)})
        return out

    parent = f"projects/{project}/locations/{region}"
    ring = f"{parent}/keyRings/keyring-gke"
    try:
        # 1. gcloud compute networks delete default (after the console-style removal of its firewall rules)
        def delete_default() -> None:
            rules = [f for f in c.firewalls.list(project=project) if f.network.endswith("/networks/default")]
            for rule in rules:
                _compute_wait(c, c.firewalls.delete_unary(project=project, firewall=rule.name), project)
            _compute_wait(c, c.networks.delete_unary(project=project, network="default"), project)

        step("networks delete default", delete_default)

        # 2. networks create, subnets create (gcloud prints the created resource: a GET after the wait)
        def create_network() -> None:
            net = compute_v1.Network(
                name="gke-network",
                auto_create_subnetworks=False,
                routing_config=compute_v1.NetworkRoutingConfig(routing_mode="GLOBAL"),
            )
            _compute_wait(c, c.networks.insert_unary(project=project, network_resource=net), project)
            c.networks.get(project=project, network="gke-network")

        step("networks create gke-network", create_network)

        def create_subnet() -> None:
            sub = compute_v1.Subnetwork(
                name="gke-subnet",
                network=f"https://www.googleapis.com/compute/v1/projects/{project}/global/networks/gke-network",
                ip_cidr_range="10.128.0.0/20",
                region=region,
                secondary_ip_ranges=[
                    compute_v1.SubnetworkSecondaryRange(
                        range_name="gke-cluster-pods", ip_cidr_range="100.64.0.0/14"
                    ),
                    compute_v1.SubnetworkSecondaryRange(
                        range_name="gke-cluster-services", ip_cidr_range="100.68.0.0/20"
                    ),
                ],
            )
            op = c.subnetworks.insert_unary(project=project, region=region, subnetwork_resource=sub)
            _compute_wait(c, op, project, region)
            c.subnetworks.get(project=project, region=region, subnetwork="gke-subnet")

        step("networks subnets create gke-subnet", create_subnet)

        # 3. kms keyrings create, keys create x2 (synchronous)
        step(
            "kms keyrings create",
            lambda: c.kms.create_key_ring(
                parent=parent, key_ring_id="keyring-gke", key_ring=kms_v1.KeyRing()
            ),
        )
        for key in ("key-gke-node", "key-gke-secret"):
            crypto_key = kms_v1.CryptoKey(
                purpose=kms_v1.CryptoKey.CryptoKeyPurpose.ENCRYPT_DECRYPT,
                version_template=kms_v1.CryptoKeyVersionTemplate(
                    algorithm=kms_v1.CryptoKeyVersion.CryptoKeyVersionAlgorithm.GOOGLE_SYMMETRIC_ENCRYPTION,
                    protection_level=kms_v1.ProtectionLevel.SOFTWARE,
                ),
            )
            step(
                f"kms keys create {key}",
                lambda key=key, ck=crypto_key: c.kms.create_crypto_key(
                    parent=ring, crypto_key_id=key, crypto_key=ck
                ),
            )

        # 4. key bindings for the service agents (the person looks the project NUMBER up first)
        number = step(
            "projects describe", lambda: c.projects.get_project(name=f"projects/{project}").name.split("/")[1]
        )
        agents = {
            "key-gke-node": f"serviceAccount:service-{number}@compute-system.iam.gserviceaccount.com",
            "key-gke-secret": (
                f"serviceAccount:service-{number}@container-engine-robot.iam.gserviceaccount.com"
            ),
        }
        for key, member in agents.items():
            res = f"{ring}/cryptoKeys/{key}"
            step(
                f"kms keys add-iam-policy-binding {key}",
                lambda res=res, member=member: _add_binding(
                    lambda: c.kms.get_iam_policy(request={"resource": res}),
                    lambda p: c.kms.set_iam_policy(request={"resource": res, "policy": p}),
                    KMS_ROLE,
                    member,
                ),
            )

        # 5. the node service account and its three project roles, one command each
        step(
            "iam service-accounts create gke-node",
            lambda: c.iam.create_service_account(
                name=f"projects/{project}",
                account_id="gke-node",
                service_account=iam_admin_v1.ServiceAccount(display_name="gke-node"),
            ),
        )
        sa_member = f"serviceAccount:gke-node@{project}.iam.gserviceaccount.com"
        for role in NODE_ROLES:

            def get_project_policy() -> policy_pb2.Policy:
                req = iam_policy_pb2.GetIamPolicyRequest(resource=f"projects/{project}")
                req.options.requested_policy_version = 3
                return c.projects.get_iam_policy(request=req)

            step(
                f"projects add-iam-policy-binding {role}",
                lambda role=role, get=get_project_policy: _add_binding(
                    get,
                    lambda p: c.projects.set_iam_policy(
                        request={"resource": f"projects/{project}", "policy": p}
                    ),
                    role,
                    sa_member,
                ),
            )

        # 6. clusters create (version: the server's default; the article's 1.17 is long gone)
        version = c.container.get_server_config(name=parent).default_cluster_version
        cluster = article_cluster(project, region, version, authorized_cidr)
        step("container clusters create", lambda: _create_cluster(c, parent, cluster, container_poll_s))

        # 7. get-credentials, kubectl apply, rollout status, curl through the Service
        live = step(
            "container clusters get-credentials",
            lambda: c.container.get_cluster(name=f"{parent}/clusters/cluster"),
        )
        with tempfile.TemporaryDirectory() as tmp:
            # get-credentials: a token from the emulator's token endpoint (its clusters accept no other)
            grant = {"grant_type": "refresh_token", "refresh_token": "replay", "client_id": "replay"}
            token = httpx.post(f"{url}/token", data=grant, timeout=30).json()["access_token"]
            api_client = _kube(live.endpoint, live.master_auth.cluster_ca_certificate, tmp, token)
            try:
                report = step(
                    "kubectl apply + rollout + curl", lambda: _echo(api_client, rollout_poll_s, timeout_s)
                )
            finally:
                api_client.close()
        wall = time.monotonic() - t0
    finally:
        c.close()
    return ReplayResult(
        wall_s=round(wall, 3),
        requests=reqlog.summarize(reqlog.requests_since(url, since)),
        steps=steps,
        echo_report=report,
    )


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emulator", required=True, help="emulator base URL, e.g. http://127.0.0.1:8900")
    ap.add_argument("--project", default="gke-detail")
    ap.add_argument("--region", default="us-west1")
    ap.add_argument("--container-poll", type=float, default=5.0, help="seconds between container op polls")
    args = ap.parse_args(argv)
    res = run_replay(args.emulator, args.project, args.region, container_poll_s=args.container_poll)
    print(json.dumps(res.to_json(), indent=2))


if __name__ == "__main__":
    main()
