"""The article's whole sequence through the official clients, asserting what Google would answer."""

from __future__ import annotations

import time

import pytest
from google.api_core import exceptions as gexc
from google.cloud import compute_v1, container_v1, iam_admin_v1, kms_v1

from tests.emulator.helpers import (
    ENCRYPTER,
    NETWORK,
    NODE_KEY,
    RING,
    SA_ID,
    SECRET_KEY,
    SUBNET,
    ZONES,
    add_binding,
    build_cluster,
    build_network,
    build_router,
    build_subnet,
    key_name,
    make_clients,
    network_link,
    wait_gke,
    wait_global,
    wait_region,
)
from tests.fixtures_emulator import PROJECT, REGION, EmulatorAdmin

CLUSTER = f"projects/{PROJECT}/locations/{REGION}/clusters/cluster"


@pytest.fixture
def article(emulator_factory):
    emu = emulator_factory(projects={PROJECT: 415104041262})
    c = make_clients(emu)
    yield emu, c
    c.close()


def test_article_sequence(article):
    emu, c = article

    # 0. a new project: number, default network with its four rules, service agents in the policy
    project = c.projects.get_project(name=f"projects/{PROJECT}")
    assert project.name == "projects/415104041262" and project.project_id == PROJECT
    assert c.projects.get_project(name="projects/415104041262").project_id == PROJECT
    number = "415104041262"
    default_rules = sorted(f.name for f in c.firewalls.list(project=PROJECT))
    assert default_rules == [
        "default-allow-icmp",
        "default-allow-internal",
        "default-allow-rdp",
        "default-allow-ssh",
    ]
    default_net = c.networks.get(project=PROJECT, network="default")
    assert default_net.auto_create_subnetworks is True
    assert any(s.endswith(f"/regions/{REGION}/subnetworks/default") for s in default_net.subnetworks)
    policy = c.projects.get_iam_policy(request={"resource": f"projects/{PROJECT}"})
    members = {m for b in policy.bindings for m in b.members}
    assert f"serviceAccount:service-{number}@compute-system.iam.gserviceaccount.com" in members
    assert f"serviceAccount:service-{number}@container-engine-robot.iam.gserviceaccount.com" in members

    # 1. the default network cannot go while its firewall rules exist; after they are deleted it can
    with pytest.raises(gexc.BadRequest) as err:
        c.networks.delete_unary(project=PROJECT, network="default")
    assert err.value.errors[0]["reason"] == "resourceInUseByAnotherResource"
    assert (
        "is already being used by 'projects/gke-detail/global/firewalls/default-allow-" in err.value.message
    )
    ops = [c.firewalls.delete_unary(project=PROJECT, firewall=name) for name in default_rules]
    assert all(op.status == compute_v1.Operation.Status.RUNNING for op in ops)
    assert c.global_ops.get(project=PROJECT, operation=ops[0].name).name == ops[0].name
    for op in ops:
        assert wait_global(c, op).status == compute_v1.Operation.Status.DONE
    delete = c.networks.delete_unary(project=PROJECT, network="default")
    done = wait_global(c, delete)
    assert done.status == compute_v1.Operation.Status.DONE and not done.error.errors
    with pytest.raises(gexc.NotFound):
        c.networks.get(project=PROJECT, network="default")

    # 2. custom-mode VPC and subnet with secondary ranges
    op = c.networks.insert_unary(project=PROJECT, network_resource=build_network())
    assert op.operation_type == "insert" and op.status == compute_v1.Operation.Status.RUNNING
    assert wait_global(c, op).target_link == network_link()
    with pytest.raises(gexc.Conflict):
        c.networks.insert_unary(project=PROJECT, network_resource=build_network())
    net = c.networks.get(project=PROJECT, network=NETWORK)
    assert net.routing_config.routing_mode == "GLOBAL" and net.auto_create_subnetworks is False
    wait_region(c, c.subnets.insert_unary(project=PROJECT, region=REGION, subnetwork_resource=build_subnet()))
    subnet = c.subnets.get(project=PROJECT, region=REGION, subnetwork=SUBNET)
    assert subnet.ip_cidr_range == "10.128.0.0/20"
    assert {(r.range_name, r.ip_cidr_range) for r in subnet.secondary_ip_ranges} == {
        ("gke-cluster-pods", "100.64.0.0/14"),
        ("gke-cluster-services", "100.68.0.0/20"),
    }
    wait_region(c, c.routers.insert_unary(project=PROJECT, region=REGION, router_resource=build_router()))
    assert c.routers.get(project=PROJECT, region=REGION, router="gke-router").nats[0].name == "gke-nat"

    # 3. KMS key ring and keys, version 1 primary
    parent = f"projects/{PROJECT}/locations/{REGION}"
    ring = c.kms.create_key_ring(parent=parent, key_ring_id=RING, key_ring={})
    assert ring.name == f"{parent}/keyRings/{RING}"
    with pytest.raises(gexc.Conflict):
        c.kms.create_key_ring(parent=parent, key_ring_id=RING, key_ring={})
    for key in (NODE_KEY, SECRET_KEY):
        created = c.kms.create_crypto_key(
            parent=ring.name,
            crypto_key_id=key,
            crypto_key=kms_v1.CryptoKey(
                purpose=kms_v1.CryptoKey.CryptoKeyPurpose.ENCRYPT_DECRYPT, labels={"managed-by": "gke-lab"}
            ),
        )
        assert created.primary.name == key_name(key) + "/cryptoKeyVersions/1"
        assert created.primary.state == kms_v1.CryptoKeyVersion.CryptoKeyVersionState.ENABLED
        assert created.labels["managed-by"] == "gke-lab"
    with pytest.raises(gexc.Conflict):
        c.kms.create_crypto_key(
            parent=ring.name,
            crypto_key_id=NODE_KEY,
            crypto_key=kms_v1.CryptoKey(purpose=kms_v1.CryptoKey.CryptoKeyPurpose.ENCRYPT_DECRYPT),
        )

    # 4. the service agents (named by project NUMBER) may use the keys
    compute_agent = f"serviceAccount:service-{number}@compute-system.iam.gserviceaccount.com"
    gke_agent = f"serviceAccount:service-{number}@container-engine-robot.iam.gserviceaccount.com"
    add_binding(c, key_name(NODE_KEY), ENCRYPTER, compute_agent, kms=True)
    add_binding(c, key_name(SECRET_KEY), ENCRYPTER, gke_agent, kms=True)
    key_policy = c.kms.get_iam_policy(request={"resource": key_name(SECRET_KEY)})
    assert [(b.role, list(b.members)) for b in key_policy.bindings] == [(ENCRYPTER, [gke_agent])]

    # 5. node service account and its project roles
    sa = c.iam.create_service_account(
        name=f"projects/{PROJECT}",
        account_id=SA_ID,
        service_account=iam_admin_v1.ServiceAccount(display_name=SA_ID),
    )
    assert sa.email == f"{SA_ID}@{PROJECT}.iam.gserviceaccount.com"
    assert c.iam.get_service_account(name=sa.name).display_name == SA_ID
    for role in ("roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/monitoring.viewer"):
        add_binding(c, f"projects/{PROJECT}", role, f"serviceAccount:{sa.email}", kms=False)
    policy = c.projects.get_iam_policy(request={"resource": f"projects/{PROJECT}"})
    assert {b.role for b in policy.bindings if f"serviceAccount:{sa.email}" in b.members} == {
        "roles/logging.logWriter",
        "roles/monitoring.metricWriter",
        "roles/monitoring.viewer",
    }

    # 6. the cluster: a version the server config offers, PROVISIONING then RUNNING
    time.sleep(emu.clock.duration("iam.propagation") + 0.05)
    config = c.gke.get_server_config(name=parent)
    assert config.default_cluster_version in config.valid_master_versions
    op = c.gke.create_cluster(parent=parent, cluster=build_cluster(version=config.default_cluster_version))
    assert op.operation_type == container_v1.Operation.Type.CREATE_CLUSTER
    assert op.status == container_v1.Operation.Status.RUNNING
    provisioning = c.gke.get_cluster(name=CLUSTER)
    assert provisioning.status == container_v1.Cluster.Status.PROVISIONING and not provisioning.endpoint
    with pytest.raises(gexc.Conflict):
        c.gke.create_cluster(parent=parent, cluster=build_cluster())
    done = wait_gke(c, op)
    assert done.status == container_v1.Operation.Status.DONE and not done.error.message
    assert [o.name for o in c.gke.list_operations(parent=parent).operations] == [op.name]

    # 7. get-credentials material and what GKE reports
    cluster = c.gke.get_cluster(name=CLUSTER)
    assert cluster.status == container_v1.Cluster.Status.RUNNING
    assert cluster.endpoint.startswith("127.0.0.1:") and cluster.master_auth.cluster_ca_certificate
    assert cluster.current_master_version == config.default_cluster_version
    assert cluster.current_node_count == 2 and list(cluster.locations) == ZONES
    assert cluster.node_pools[0].status == container_v1.NodePool.Status.RUNNING
    assert cluster.private_cluster_config.peering_name.endswith("-peer")
    assert cluster.self_link.endswith(f"/projects/{PROJECT}/locations/{REGION}/clusters/cluster")
    assert cluster.resource_labels["managed-by"] == "gke-lab" and cluster.label_fingerprint
    assert cluster.database_encryption.key_name == key_name(SECRET_KEY)
    assert [c_.name for c_ in c.gke.list_clusters(parent=parent).clusters] == ["cluster"]
    assert [c_.name for c_ in c.gke.list_clusters(parent=f"projects/{PROJECT}/locations/-").clusters] == [
        "cluster"
    ]
    nodes = [i for i in c.instances.list(project=PROJECT, zone=ZONES[0])]
    assert len(nodes) == 1 and nodes[0].name.startswith("gke-cluster-default-pool-")

    # 8. GKE's firewall rules and routes in the VPC (the article's listing)
    rules = {
        f.name: f
        for f in c.firewalls.list(request={"project": PROJECT, "filter": f'network="{network_link()}"'})
    }
    assert len(rules) == 3
    by_suffix = {name.rsplit("-", 1)[1]: rule for name, rule in rules.items()}
    h = next(iter(rules)).split("-")[2]
    assert set(rules) == {f"gke-cluster-{h}-{s}" for s in ("all", "vms", "master")} and len(h) == 8
    assert list(by_suffix["all"].source_ranges) == ["100.64.0.0/14"]
    assert {a.I_p_protocol for a in by_suffix["all"].allowed} == {"tcp", "udp", "icmp", "esp", "ah", "sctp"}
    assert list(by_suffix["vms"].source_ranges) == ["10.128.0.0/20"]
    assert {(a.I_p_protocol, tuple(a.ports)) for a in by_suffix["vms"].allowed} == {
        ("icmp", ()),
        ("tcp", ("1-65535",)),
        ("udp", ("1-65535",)),
    }
    assert list(by_suffix["master"].source_ranges) == ["172.16.0.0/28"]
    assert [(a.I_p_protocol, list(a.ports)) for a in by_suffix["master"].allowed] == [
        ("tcp", ["10250", "443"])
    ]
    assert all(list(r.target_tags) == [f"gke-cluster-{h}-node"] for r in rules.values())
    routes = [r for r in c.routes.list(project=PROJECT) if r.network == network_link()]
    dests = {r.dest_range for r in routes}
    assert {"0.0.0.0/0", "10.128.0.0/20", "100.64.0.0/14", "100.68.0.0/20", "172.16.0.0/28"} <= dests
    peering_route = next(r for r in routes if r.dest_range == "172.16.0.0/28")
    assert peering_route.name.startswith("peering-route-")
    assert peering_route.next_hop_peering == cluster.private_cluster_config.peering_name
    assert [p.name for p in c.networks.get(project=PROJECT, network=NETWORK).peerings] == [
        cluster.private_cluster_config.peering_name
    ]

    # the subnet and network are in use while the cluster exists
    with pytest.raises(gexc.BadRequest) as err:
        c.subnets.delete_unary(project=PROJECT, region=REGION, subnetwork=SUBNET)
    assert "is already being used by" in err.value.message
    with pytest.raises(gexc.BadRequest):
        c.networks.delete_unary(project=PROJECT, network=NETWORK)

    # labels: setResourceLabels with the fingerprint, stale fingerprint refused
    labels_op = c.gke.set_labels(
        request={
            "name": CLUSTER,
            "resource_labels": {**cluster.resource_labels, "gke-lab-expires": "1999999999"},
            "label_fingerprint": cluster.label_fingerprint,
        }
    )
    wait_gke(c, labels_op)
    relabelled = c.gke.get_cluster(name=CLUSTER)
    assert relabelled.resource_labels["gke-lab-expires"] == "1999999999"
    assert relabelled.label_fingerprint != cluster.label_fingerprint
    with pytest.raises(gexc.BadRequest):
        c.gke.set_labels(
            request={"name": CLUSTER, "resource_labels": {}, "label_fingerprint": cluster.label_fingerprint}
        )

    # 10. teardown: cluster delete (STOPPING, then gone with its rules, route and peering)
    delete = c.gke.delete_cluster(name=CLUSTER)
    assert delete.operation_type == container_v1.Operation.Type.DELETE_CLUSTER
    assert c.gke.get_cluster(name=CLUSTER).status == container_v1.Cluster.Status.STOPPING
    wait_gke(c, delete)
    with pytest.raises(gexc.NotFound):
        c.gke.get_cluster(name=CLUSTER)
    assert list(c.firewalls.list(project=PROJECT)) == []
    assert not any(r.dest_range == "172.16.0.0/28" for r in c.routes.list(project=PROJECT))
    assert not c.networks.get(project=PROJECT, network=NETWORK).peerings
    assert list(c.instances.list(project=PROJECT, zone=ZONES[0])) == []

    # NAT router and subnet block the network until they are gone
    with pytest.raises(gexc.BadRequest) as err:
        c.networks.delete_unary(project=PROJECT, network=NETWORK)
    assert "/routers/gke-router" in err.value.message
    wait_region(c, c.routers.delete_unary(project=PROJECT, region=REGION, router="gke-router"))
    with pytest.raises(gexc.BadRequest) as err:
        c.networks.delete_unary(project=PROJECT, network=NETWORK)
    assert f"/subnetworks/{SUBNET}" in err.value.message
    wait_region(c, c.subnets.delete_unary(project=PROJECT, region=REGION, subnetwork=SUBNET))
    wait_global(c, c.networks.delete_unary(project=PROJECT, network=NETWORK))
    assert [r for r in c.routes.list(project=PROJECT) if r.network == network_link()] == []

    # IAM and KMS teardown
    policy = c.projects.get_iam_policy(request={"resource": f"projects/{PROJECT}"})
    for b in policy.bindings:
        if f"serviceAccount:{sa.email}" in b.members:
            b.members.remove(f"serviceAccount:{sa.email}")
    c.projects.set_iam_policy(request={"resource": f"projects/{PROJECT}", "policy": policy})
    c.iam.delete_service_account(name=sa.name)
    with pytest.raises(gexc.NotFound):
        c.iam.get_service_account(name=sa.name)
    destroyed = c.kms.destroy_crypto_key_version(name=key_name(NODE_KEY) + "/cryptoKeyVersions/1")
    assert destroyed.state == kms_v1.CryptoKeyVersion.CryptoKeyVersionState.DESTROY_SCHEDULED
    assert destroyed.destroy_time.timestamp() > time.time() + 29 * 24 * 3600

    # the request log saw all of it, with mutating flags
    state = EmulatorAdmin(emu.url).project_state()
    assert state["clusters"] == [] and state["serviceAccounts"] == []
    log = EmulatorAdmin(emu.url).requests()
    apis = {e["api"] for e in log}
    assert {"compute", "container", "cloudkms", "cloudresourcemanager", "iam"} <= apis
    creates = [e for e in log if e["method"] == "POST" and e["path"].endswith("/clusters")]
    assert creates and all(e["mutating"] for e in creates)
    waits = [e for e in log if e["path"].endswith("/wait")]
    assert waits and not any(e["mutating"] for e in waits)
    assert not any(e["mutating"] for e in log if e["path"].endswith(":getIamPolicy"))
    grpc_create = [e for e in log if e["path"] == "/google.iam.admin.v1.IAM/CreateServiceAccount"]
    assert grpc_create[0]["method"] == "GRPC" and grpc_create[0]["mutating"] is True
    assert grpc_create[0]["body"]["accountId"] == SA_ID
