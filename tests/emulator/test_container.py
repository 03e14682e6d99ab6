"""GKE: synchronous refusals, IAM propagation, the boot-disk key failure, operations and labels."""

from __future__ import annotations

import time

import pytest
from google.api_core import exceptions as gexc
from google.cloud import container_v1

from emulator.server import Emulator
from tests.emulator.helpers import (
    ENCRYPTER,
    SA_ID,
    SECRET_KEY,
    add_binding,
    build_cluster,
    key_name,
    make_clients,
    setup_prerequisites,
    wait_gke,
    wait_propagation,
)
from tests.fixtures_emulator import PROJECT, REGION

PARENT = f"projects/{PROJECT}/locations/{REGION}"
CLUSTER = f"{PARENT}/clusters/cluster"


@pytest.fixture(scope="module")
def ready():
    """One project with every prerequisite in place (refusals below never mutate it)."""
    emu = Emulator(latency_scale=0.01, new_projects="legacy").start()
    c = make_clients(emu)
    setup_prerequisites(c)
    wait_propagation(emu)
    yield emu, c
    c.close()
    emu.stop()


def _pool(cluster: container_v1.Cluster) -> container_v1.NodePool:
    return cluster.node_pools[0]


def _mutations():
    def network(cl):
        cl.network = f"projects/{PROJECT}/global/networks/missing-net"

    def subnet(cl):
        cl.subnetwork = f"projects/{PROJECT}/regions/{REGION}/subnetworks/missing-subnet"

    def pods_range(cl):
        cl.ip_allocation_policy.cluster_secondary_range_name = "no-such-range"

    def services_range(cl):
        cl.ip_allocation_policy.services_secondary_range_name = "no-such-range"

    def master_overlap(cl):
        cl.private_cluster_config.master_ipv4_cidr_block = "10.128.0.0/28"

    def master_secondary_overlap(cl):
        cl.private_cluster_config.master_ipv4_cidr_block = "100.64.0.0/28"

    def master_size(cl):
        cl.private_cluster_config.master_ipv4_cidr_block = "172.16.0.0/24"

    def version(cl):
        cl.initial_cluster_version = "1.17.12-gke.1504"

    def channel(cl):
        cl.release_channel = container_v1.ReleaseChannel(channel=container_v1.ReleaseChannel.Channel.REGULAR)

    def no_channel(cl):  # without a channel field GKE enrols the cluster in REGULAR
        cl.release_channel = None

    def service_account(cl):
        _pool(cl).config.service_account = f"missing@{PROJECT}.iam.gserviceaccount.com"

    def zone(cl):
        cl.locations = ["us-east1-b"]

    def image(cl):
        _pool(cl).config.image_type = "COS"

    def key_region(cl):
        cl.database_encryption.key_name = cl.database_encryption.key_name.replace(REGION, "us-east1")

    def authorized(cl):
        man = cl.control_plane_endpoints_config.ip_endpoints_config.authorized_networks_config
        man.cidr_blocks[0].cidr_block = "203.0.113.7/16"

    return [
        (network, 'Network "missing-net" does not exist'),
        (subnet, 'subnetworks/missing-subnet" does not exist'),
        (pods_range, 'Secondary range "no-such-range" (ip_allocation_policy.cluster_secondary_range_name)'),
        (
            services_range,
            'Secondary range "no-such-range" (ip_allocation_policy.services_secondary_range_name)',
        ),
        (master_overlap, 'conflicts with range 10.128.0.0/20 of subnetwork "gke-subnet"'),
        (master_secondary_overlap, "conflicts with range 100.64.0.0/14"),
        (master_size, "must be a /28"),
        (version, 'Master version "1.17.12-gke.1504" is unsupported'),
        (channel, "Auto_upgrade must be true when release_channel REGULAR is set"),
        (no_channel, "Auto_upgrade must be true when release_channel REGULAR is set"),
        (service_account, f'Service account "missing@{PROJECT}.iam.gserviceaccount.com" does not exist'),
        (zone, 'zone "us-east1-b" is not in region "us-west1"'),
        (image, 'image type "COS" is not supported'),
        (key_region, "must match the cluster's region"),
        (authorized, "cidr_blocks[0].cidr_block"),
    ]


@pytest.mark.parametrize(("mutate", "fragment"), _mutations(), ids=lambda v: getattr(v, "__name__", ""))
def test_create_refused_synchronously(ready, mutate, fragment):
    emu, c = ready
    cluster = build_cluster()
    mutate(cluster)
    before = len(emu.log.since(0))
    with pytest.raises(gexc.BadRequest) as err:
        c.gke.create_cluster(parent=PARENT, cluster=cluster)
    assert fragment in err.value.message
    assert err.value.response.json()["error"]["status"] in ("INVALID_ARGUMENT", "FAILED_PRECONDITION")
    with pytest.raises(gexc.NotFound):
        c.gke.get_cluster(name=CLUSTER)
    assert len(emu.log.since(0)) == before + 2  # the refused create and the get; nothing else happened


def test_server_config_and_version_aliases(ready):
    _, c = ready
    config = c.gke.get_server_config(name=PARENT)
    assert config.default_cluster_version.startswith("1.33.")
    assert {ch.channel.name for ch in config.channels} >= {"RAPID", "REGULAR", "STABLE"}
    assert all("-gke." in v for v in config.valid_master_versions)
    assert "COS_CONTAINERD" in config.valid_image_types


def test_secrets_key_binding_must_have_propagated(emulator):
    c = make_clients(emulator)
    try:
        number = setup_prerequisites(c, grant_gke=False)
        add_binding(
            c,
            key_name(SECRET_KEY),
            ENCRYPTER,
            f"serviceAccount:service-{number}@container-engine-robot.iam.gserviceaccount.com",
            kms=True,
        )
        with pytest.raises(gexc.Forbidden) as err:  # granted, but not effective yet
            c.gke.create_cluster(parent=PARENT, cluster=build_cluster())
        message = err.value.message
        assert key_name(SECRET_KEY) in message
        assert f"service-{number}@container-engine-robot.iam.gserviceaccount.com" in message
        assert err.value.response.json()["error"]["status"] == "PERMISSION_DENIED"
        wait_propagation(emulator)
        op = c.gke.create_cluster(parent=PARENT, cluster=build_cluster())
        assert op.status == container_v1.Operation.Status.RUNNING
        with pytest.raises(gexc.Conflict):
            c.gke.create_cluster(parent=PARENT, cluster=build_cluster())
        with pytest.raises(gexc.BadRequest) as err:  # GKE refuses a delete while the create runs
            c.gke.delete_cluster(name=CLUSTER)
        assert f"incompatible operation {op.name}" in err.value.message
        assert wait_gke(c, op).error.code == 0
    finally:
        c.close()


def test_boot_disk_key_without_binding_fails_when_nodes_are_created(emulator_factory):
    emu = emulator_factory(latency_scale=0.002)
    c = make_clients(emu)
    try:
        number = setup_prerequisites(c, grant_compute=False)
        wait_propagation(emu)
        op = c.gke.create_cluster(parent=PARENT, cluster=build_cluster())
        done = wait_gke(c, op)
        assert done.status == container_v1.Operation.Status.DONE
        assert done.error.code == 7  # PERMISSION_DENIED
        assert f"service-{number}@compute-system.iam.gserviceaccount.com" in done.error.message
        assert done.status_message == done.error.message
        cluster = c.gke.get_cluster(name=CLUSTER)
        assert cluster.status == container_v1.Cluster.Status.ERROR
        assert cluster.conditions[0].code == container_v1.StatusCondition.Code.CLOUD_KMS_KEY_ERROR
        assert not cluster.endpoint
        assert list(c.instances.list(project=PROJECT, zone=f"{REGION}-a")) == []
        # an ERROR cluster can be deleted, with GKE's rules and route
        wait_gke(c, c.gke.delete_cluster(name=CLUSTER))
        assert not [f for f in c.firewalls.list(project=PROJECT) if f.name.startswith("gke-cluster-")]
    finally:
        c.close()


def test_operations_and_labels(emulator_factory):
    emu = emulator_factory(latency_scale=0.002)
    c = make_clients(emu)
    try:
        setup_prerequisites(c)
        wait_propagation(emu)
        op = c.gke.create_cluster(parent=PARENT, cluster=build_cluster(version="1.33"))
        got = c.gke.get_operation(name=f"{PARENT}/operations/{op.name}")
        assert got.operation_type == container_v1.Operation.Type.CREATE_CLUSTER
        assert got.target_link.endswith("/clusters/cluster") and got.self_link.endswith(op.name)
        with pytest.raises(gexc.NotFound):
            c.gke.get_operation(name=f"{PARENT}/operations/operation-missing")
        wait_gke(c, op)
        cluster = c.gke.get_cluster(name=CLUSTER)
        assert cluster.current_master_version == "1.33.5-gke.1201000"  # the alias resolved to the newest 1.33
        assert _pool(cluster).config.service_account == f"{SA_ID}@{PROJECT}.iam.gserviceaccount.com"
        assert cluster.default_max_pods_constraint.max_pods_per_node == 110
        # both the modern and the deprecated authorized-networks fields describe the same config
        modern = cluster.control_plane_endpoints_config.ip_endpoints_config.authorized_networks_config
        assert (
            modern.enabled
            and cluster.master_authorized_networks_config.cidr_blocks[0].cidr_block == "127.0.0.1/32"
        )
        labels = {
            "managed-by": "gke-lab",
            "gke-lab": "cluster",
            "gke-lab-expires": str(int(time.time()) + 60),
        }
        op = c.gke.set_labels(
            request={
                "name": CLUSTER,
                "resource_labels": labels,
                "label_fingerprint": cluster.label_fingerprint,
            }
        )
        assert op.operation_type == container_v1.Operation.Type.SET_LABELS
        wait_gke(c, op)
        assert dict(c.gke.get_cluster(name=CLUSTER).resource_labels) == labels
        with pytest.raises(gexc.BadRequest):
            c.gke.set_labels(request={"name": CLUSTER, "resource_labels": {"Bad Key": "x"}})
        with pytest.raises(gexc.NotFound):
            c.gke.get_cluster(name=f"{PARENT}/clusters/missing")
        with pytest.raises(gexc.NotFound):
            c.gke.delete_cluster(name=f"{PARENT}/clusters/missing")
    finally:
        c.close()


def test_legacy_private_and_authorized_fields_are_accepted(emulator_factory):
    emu = emulator_factory(latency_scale=0.002)
    c = make_clients(emu)
    try:
        setup_prerequisites(c)
        wait_propagation(emu)
        cluster = build_cluster()
        man = cluster.control_plane_endpoints_config.ip_endpoints_config.authorized_networks_config
        cluster.control_plane_endpoints_config = None
        cluster.network_config = None
        cluster.master_authorized_networks_config = man
        wait_gke(c, c.gke.create_cluster(parent=PARENT, cluster=cluster))
        got = c.gke.get_cluster(name=CLUSTER)
        assert got.status == container_v1.Cluster.Status.RUNNING
        assert (
            got.network_config.default_enable_private_nodes
            and got.private_cluster_config.enable_private_nodes
        )
        modern = got.control_plane_endpoints_config.ip_endpoints_config.authorized_networks_config
        assert [b.cidr_block for b in modern.cidr_blocks] == ["127.0.0.1/32"]
        assert any(f.name.endswith("-master") for f in c.firewalls.list(project=PROJECT))
    finally:
        c.close()
