"""The default spec is the article's environment: every value of its gcloud commands."""

from gke_lab.spec import LabSpec


def test_project_region_and_network_commands():
    s = LabSpec()
    assert (s.project_id, s.region) == ("gke-detail", "us-west1")
    assert s.delete_default_network is True  # gcloud compute networks delete default
    # gcloud compute networks create gke-network --bgp-routing-mode=global --subnet-mode=custom
    assert s.network.name == "gke-network"
    assert s.network.routing_mode == "GLOBAL"
    # gcloud compute networks subnets create gke-subnet --range 10.128.0.0/20 --secondary-range ...
    assert (s.network.subnet.name, s.network.subnet.cidr) == ("gke-subnet", "10.128.0.0/20")
    assert (s.network.pods_range.name, s.network.pods_range.cidr) == ("gke-cluster-pods", "100.64.0.0/14")
    assert (s.network.services_range.name, s.network.services_range.cidr) == (
        "gke-cluster-services",
        "100.68.0.0/20",
    )


def test_kms_and_iam_commands():
    s = LabSpec()
    assert (s.kms.keyring, s.kms.node_key, s.kms.secrets_key) == (
        "keyring-gke",
        "key-gke-node",
        "key-gke-secret",
    )
    assert s.kms_location == "us-west1"
    assert (
        s.key_name("node")
        == "projects/gke-detail/locations/us-west1/keyRings/keyring-gke/cryptoKeys/key-gke-node"
    )
    assert (
        s.key_name("secrets")
        == "projects/gke-detail/locations/us-west1/keyRings/keyring-gke/cryptoKeys/key-gke-secret"
    )
    assert s.node_service_account.name == "gke-node"
    assert s.node_sa_email == "gke-node@gke-detail.iam.gserviceaccount.com"
    assert s.node_service_account.roles == [
        "roles/logging.logWriter",
        "roles/monitoring.metricWriter",
        "roles/monitoring.viewer",
    ]


def test_cluster_command_flags():
    c = LabSpec().cluster
    assert c.name == "cluster"
    assert c.machine_type == "e2-medium"
    assert c.image_type == "COS_CONTAINERD"  # --image-type COS, modernised (Docker images are gone)
    assert c.disk_type == "pd-standard"
    assert c.disk_size_gb == 100
    assert c.preemptible is True
    assert c.num_nodes == 1
    assert (c.autoscaling.min, c.autoscaling.max) == (0, 2)
    assert c.max_pods_per_node == 110
    assert c.master_ipv4_cidr == "172.16.0.0/28"
    assert [(n.cidr, n.name) for n in c.master_authorized_networks] == [("203.0.113.7/32", "operator")]
    assert c.allow_public_control_plane is False
    assert c.network_policy and c.workload_identity and c.shielded_nodes and c.secure_boot
    assert c.integrity_monitoring is True  # modernised: gcloud now needs both shielded flags
    assert c.node_local_dns is True
    assert c.addons == ["HorizontalPodAutoscaling", "HttpLoadBalancing"]
    assert (c.auto_upgrade, c.auto_repair) == (True, True)  # channels require auto-upgrade
    assert c.release_channel == "REGULAR"  # new projects cannot create no-channel clusters
    assert c.legacy_no_channel is False
    assert c.upgrade_hold == "NO_MINOR_OR_NODE_UPGRADES"
    assert (c.max_surge, c.max_unavailable) == (1, 0)
    mw = c.maintenance_window
    assert (mw.start, mw.end, mw.recurrence) == (
        "2020-11-29T17:00:00Z",
        "2020-11-29T23:00:00Z",
        "FREQ=WEEKLY;BYDAY=SA,SU",
    )
    assert c.tags == ["gke-node"]
    assert c.node_locations == ["us-west1-a", "us-west1-b"]
    assert c.version is None


def test_derived_names():
    s = LabSpec()
    assert s.cluster_parent == "projects/gke-detail/locations/us-west1"
    assert s.cluster_name == "projects/gke-detail/locations/us-west1/clusters/cluster"
    assert s.network_path == "projects/gke-detail/global/networks/gke-network"
    assert s.subnet_path == "projects/gke-detail/regions/us-west1/subnetworks/gke-subnet"
    assert s.network_self_link.endswith("/compute/v1/projects/gke-detail/global/networks/gke-network")
    assert s.workload_pool == "gke-detail.svc.id.goog"
    assert s.keyring_name == "projects/gke-detail/locations/us-west1/keyRings/keyring-gke"
    assert s.concurrency_key == "gke-lab:gke-detail:cluster"
    assert s.kube_context == "gke_gke-detail_us-west1_cluster"
    assert s.node_sa_member == "serviceAccount:gke-node@gke-detail.iam.gserviceaccount.com"


def test_echo_and_lab_defaults():
    s = LabSpec()
    assert (s.echo.namespace, s.echo.image, s.echo.replicas) == (
        "default",
        "registry.k8s.io/echoserver:1.10",
        2,
    )
    assert s.lab == "cluster"
    assert s.ttl_hours == 8


def test_every_field_is_described_for_the_ui():
    schema = LabSpec.model_json_schema()
    missing = []

    def walk(props, where):
        for name, prop in props.items():
            if not prop.get("description") or not prop.get("title"):
                missing.append(f"{where}.{name}")

    walk(schema["properties"], "LabSpec")
    for def_name, definition in schema.get("$defs", {}).items():
        walk(definition.get("properties", {}), def_name)
    assert missing == []
    assert "us-west1" in schema["properties"]["region"]["enum"]


def test_region_catalogue():
    from gke_lab import regions

    assert regions.zones_of("us-west1") == ["us-west1-a", "us-west1-b", "us-west1-c"]
    assert regions.zones_of("atlantis1") == []
    assert regions.region_of("us-central1-f") == "us-central1"
    assert "europe-west1-b" in regions.all_zones()
    spec = LabSpec.from_data({"region": "europe-west1", "cluster": {"node_locations": ["europe-west1-b"]}})
    assert spec.cluster_parent == "projects/gke-detail/locations/europe-west1"
    assert spec.key_name("node").startswith("projects/gke-detail/locations/europe-west1/")


def test_key_lookup_names():
    import pytest

    s = LabSpec()
    assert s.key_id("node") == s.key_id("node_key") == "key-gke-node"
    assert s.key_id("secrets") == s.key_id("secret") == s.key_id("secrets_key") == "key-gke-secret"
    with pytest.raises(ValueError, match="accepted: node, secrets"):
        s.key_name("disk")
