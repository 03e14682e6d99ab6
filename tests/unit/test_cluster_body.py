"""The Cluster body built from the default spec, field by field against the reference request
(gcloud's 2020 body, modernised: COS_CONTAINERD, no basic auth, both shielded flags, component
logging/monitoring, network_config private nodes, control-plane endpoint authorized networks,
release channel REGULAR with node auto-upgrade and a NO_MINOR_OR_NODE_UPGRADES exclusion until the lab
expires). Written by hand from the reference, not generated from the builder."""

import json
from datetime import UTC, datetime

from google.cloud import container_v1

from gke_lab.ownership import Marker
from gke_lab.requests import build_cluster, build_create_cluster_request
from gke_lab.spec import LabSpec

KEYS = "projects/gke-detail/locations/us-west1/keyRings/keyring-gke/cryptoKeys/"

EXPECTED = {
    "name": "cluster",
    "masterAuth": {},
    "loggingConfig": {"componentConfig": {"enableComponents": ["SYSTEM_COMPONENTS", "WORKLOADS"]}},
    "monitoringConfig": {"componentConfig": {"enableComponents": ["SYSTEM_COMPONENTS"]}},
    "network": "projects/gke-detail/global/networks/gke-network",
    "subnetwork": "projects/gke-detail/regions/us-west1/subnetworks/gke-subnet",
    "locations": ["us-west1-a", "us-west1-b"],
    "nodePools": [
        {
            "name": "default-pool",
            "initialNodeCount": 1,
            "config": {
                "machineType": "e2-medium",
                "imageType": "COS_CONTAINERD",
                "diskType": "pd-standard",
                "diskSizeGb": 100,
                "bootDiskKmsKey": KEYS + "key-gke-node",
                "metadata": {"disable-legacy-endpoints": "true"},
                "serviceAccount": "gke-node@gke-detail.iam.gserviceaccount.com",
                "oauthScopes": [
                    "https://www.googleapis.com/auth/cloud-platform",
                    "https://www.googleapis.com/auth/userinfo.email",
                ],
                "preemptible": True,
                "tags": ["gke-node"],
                "shieldedInstanceConfig": {"enableSecureBoot": True, "enableIntegrityMonitoring": True},
                "workloadMetadataConfig": {"mode": "GKE_METADATA"},
            },
            "autoscaling": {"enabled": True, "maxNodeCount": 2},
            "management": {"autoUpgrade": True, "autoRepair": True},
            "upgradeSettings": {"maxSurge": 1},
        }
    ],
    "ipAllocationPolicy": {
        "useIpAliases": True,
        "clusterSecondaryRangeName": "gke-cluster-pods",
        "servicesSecondaryRangeName": "gke-cluster-services",
    },
    "defaultMaxPodsConstraint": {"maxPodsPerNode": "110"},
    "networkConfig": {"defaultEnablePrivateNodes": True},
    "privateClusterConfig": {"enablePrivateNodes": True, "masterIpv4CidrBlock": "172.16.0.0/28"},
    "controlPlaneEndpointsConfig": {
        "ipEndpointsConfig": {
            "enabled": True,
            "enablePublicEndpoint": True,
            "authorizedNetworksConfig": {
                "enabled": True,
                "cidrBlocks": [{"displayName": "operator", "cidrBlock": "203.0.113.7/32"}],
            },
        }
    },
    "networkPolicy": {"provider": "CALICO", "enabled": True},
    "addonsConfig": {
        "httpLoadBalancing": {},
        "horizontalPodAutoscaling": {},
        "kubernetesDashboard": {"disabled": True},
        "networkPolicyConfig": {},
        "dnsCacheConfig": {"enabled": True},
    },
    "maintenancePolicy": {
        "window": {
            "recurringWindow": {
                "window": {"startTime": "2020-11-29T17:00:00Z", "endTime": "2020-11-29T23:00:00Z"},
                "recurrence": "FREQ=WEEKLY;BYDAY=SA,SU",
            },
            # Upgrades held from creation until the lab's expiry (the marker below).
            "maintenanceExclusions": {
                "gke-lab-hold": {
                    "startTime": "2023-11-14T14:13:20Z",
                    "endTime": "2023-11-14T22:13:20Z",
                    "maintenanceExclusionOptions": {"scope": "NO_MINOR_OR_NODE_UPGRADES"},
                }
            },
        }
    },
    "databaseEncryption": {"keyName": KEYS + "key-gke-secret", "state": "ENCRYPTED"},
    "workloadIdentityConfig": {"workloadPool": "gke-detail.svc.id.goog"},
    "shieldedNodes": {"enabled": True},
    "releaseChannel": {"channel": "REGULAR"},  # new projects cannot create no-channel clusters
    "resourceLabels": {"managed-by": "gke-lab", "gke-lab": "cluster", "gke-lab-expires": "1700000000"},
}


def _wire(cluster: container_v1.Cluster) -> dict:
    return json.loads(
        container_v1.Cluster.to_json(
            cluster, use_integers_for_enums=False, always_print_fields_with_no_presence=False
        )
    )


def test_cluster_body_matches_reference_field_by_field():
    created = datetime(2023, 11, 14, 14, 13, 20, tzinfo=UTC)  # 8 hours (the default TTL) before expiry
    body = _wire(build_cluster(LabSpec(), None, Marker("cluster", 1700000000), now=created))
    assert sorted(body) == sorted(EXPECTED)
    for key, value in EXPECTED.items():
        assert body[key] == value, key


def test_create_request_parent_and_pinned_version():
    spec = LabSpec.from_data({"cluster": {"version": "1.30.5-gke.1014001"}})
    req = build_create_cluster_request(spec, None, Marker("cluster", 0))
    assert req.parent == "projects/gke-detail/locations/us-west1"
    assert req.cluster.initial_cluster_version == "1.30.5-gke.1014001"
    # a version resolved from the server config wins over the spec's alias
    assert build_cluster(spec, "1.31.1-gke.2", Marker("cluster", 0)).initial_cluster_version == "1.31.1-gke.2"


def test_cluster_body_follows_the_spec():
    spec = LabSpec.from_data(
        {
            "cluster": {
                "network_policy": False,
                "workload_identity": False,
                "node_local_dns": False,
                "addons": ["HttpLoadBalancing", "GcePersistentDiskCsiDriver"],
                "release_channel": "REGULAR",
                "auto_upgrade": True,
                "node_locations": ["us-west1-c", "us-west1-a"],
                "num_nodes": 2,
                "autoscaling": {"min": 1, "max": 3},
            }
        }
    )
    body = _wire(build_cluster(spec, None, Marker("cluster", 0)))
    assert "networkPolicy" not in body
    assert body["addonsConfig"]["networkPolicyConfig"] == {"disabled": True}
    assert body["addonsConfig"]["horizontalPodAutoscaling"] == {"disabled": True}
    assert body["addonsConfig"]["gcePersistentDiskCsiDriverConfig"] == {"enabled": True}
    assert body["addonsConfig"]["dnsCacheConfig"] == {}
    assert "workloadIdentityConfig" not in body
    assert "workloadMetadataConfig" not in body["nodePools"][0]["config"]
    assert body["releaseChannel"] == {"channel": "REGULAR"}
    assert body["locations"] == ["us-west1-a", "us-west1-c"]
    pool = body["nodePools"][0]
    assert pool["initialNodeCount"] == 2
    assert pool["autoscaling"] == {"enabled": True, "minNodeCount": 1, "maxNodeCount": 3}
    assert pool["management"] == {"autoRepair": True, "autoUpgrade": True}


def test_rest_wire_sends_enums_as_integers():
    # container REST requests carry enums as integers (`$alt=json;enum-encoding=int`)
    cluster = build_cluster(LabSpec(), None, Marker("cluster", 0))
    wire = json.loads(container_v1.Cluster.to_json(cluster, always_print_fields_with_no_presence=False))
    assert wire["databaseEncryption"]["state"] == 1
    assert wire["networkPolicy"]["provider"] == 1


def test_lab_without_expiry_holds_until_end_of_support():
    now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    body = _wire(build_cluster(LabSpec(), None, Marker("cluster", 0), now=now))
    hold = body["maintenancePolicy"]["window"]["maintenanceExclusions"]["gke-lab-hold"]
    assert hold == {
        "startTime": "2026-12-03T09:00:00Z",
        "maintenanceExclusionOptions": {
            "scope": "NO_MINOR_OR_NODE_UPGRADES",
            "endTimeBehavior": "UNTIL_END_OF_SUPPORT",
        },
    }


def test_no_upgrades_hold_is_capped_at_thirty_days():
    now = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
    spec = LabSpec.from_data({"cluster": {"upgrade_hold": "NO_UPGRADES"}})
    body = _wire(build_cluster(spec, None, Marker("cluster", 0), now=now))
    hold = body["maintenancePolicy"]["window"]["maintenanceExclusions"]["gke-lab-hold"]
    assert hold["endTime"] == "2027-01-02T09:00:00Z"
    assert hold["maintenanceExclusionOptions"] == {}  # NO_UPGRADES is scope 0, the proto default


def test_legacy_no_channel_sends_no_channel_and_no_hold():
    spec = LabSpec.from_data(
        {"cluster": {"release_channel": None, "legacy_no_channel": True, "auto_upgrade": False}}
    )
    body = _wire(build_cluster(spec, None, Marker("cluster", 0)))
    assert body["releaseChannel"] == {}
    assert "maintenanceExclusions" not in body["maintenancePolicy"]["window"]
    assert body["nodePools"][0]["management"] == {"autoRepair": True}
