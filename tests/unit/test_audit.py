"""CIS audit of the live Cluster object: a hardened cluster passes, each weakened field fails its check."""

from __future__ import annotations

import json

import pytest
from google.cloud import container_v1 as c

from gke_lab.audit import audit, summary

KEY = "projects/p/locations/us-west1/keyRings/keyring-gke/cryptoKeys/"


def hardened() -> c.Cluster:
    pool = c.NodePool(
        name="default-pool",
        config=c.NodeConfig(
            image_type="COS_CONTAINERD",
            service_account="gke-node@p.iam.gserviceaccount.com",
            boot_disk_kms_key=KEY + "key-gke-node",
            shielded_instance_config=c.ShieldedInstanceConfig(
                enable_secure_boot=True, enable_integrity_monitoring=True
            ),
        ),
        management=c.NodeManagement(auto_repair=True),
    )
    return c.Cluster(
        name="cluster",
        master_auth=c.MasterAuth(cluster_ca_certificate="Q0E="),
        node_pools=[pool],
        network_config=c.NetworkConfig(default_enable_private_nodes=True),
        private_cluster_config=c.PrivateClusterConfig(master_ipv4_cidr_block="172.16.0.0/28"),
        control_plane_endpoints_config=c.ControlPlaneEndpointsConfig(
            ip_endpoints_config=c.ControlPlaneEndpointsConfig.IPEndpointsConfig(
                enabled=True,
                enable_public_endpoint=True,
                authorized_networks_config=c.MasterAuthorizedNetworksConfig(
                    enabled=True,
                    cidr_blocks=[
                        c.MasterAuthorizedNetworksConfig.CidrBlock(
                            cidr_block="203.0.113.7/32", display_name="op"
                        )
                    ],
                ),
            )
        ),
        network_policy=c.NetworkPolicy(enabled=True, provider=c.NetworkPolicy.Provider.CALICO),
        addons_config=c.AddonsConfig(network_policy_config=c.NetworkPolicyConfig(disabled=False)),
        workload_identity_config=c.WorkloadIdentityConfig(workload_pool="p.svc.id.goog"),
        shielded_nodes=c.ShieldedNodes(enabled=True),
        release_channel=c.ReleaseChannel(channel=c.ReleaseChannel.Channel.REGULAR),
        database_encryption=c.DatabaseEncryption(
            state=c.DatabaseEncryption.State.ENCRYPTED, key_name=KEY + "key-gke-secret"
        ),
        logging_config=c.LoggingConfig(
            component_config=c.LoggingComponentConfig(
                enable_components=[
                    c.LoggingComponentConfig.Component.SYSTEM_COMPONENTS,
                    c.LoggingComponentConfig.Component.WORKLOADS,
                ]
            )
        ),
        monitoring_config=c.MonitoringConfig(
            component_config=c.MonitoringComponentConfig(
                enable_components=[c.MonitoringComponentConfig.Component.SYSTEM_COMPONENTS]
            )
        ),
    )


def by_id(checks: list[dict]) -> dict[str, dict]:
    return {x["id"]: x for x in checks}


def test_hardened_cluster_passes_every_check():
    checks = audit(hardened())
    failed = [x for x in checks if not x["passed"]]
    assert failed == []
    assert len(checks) >= 18
    for x in checks:
        assert x["cis"].startswith("CIS GKE Benchmark") and x["title"] and x["field"]
    json.dumps(checks)  # artifacts need plain JSON
    assert summary(checks) == {"total": len(checks), "passed": len(checks), "failed": []}


def _pool(cl: c.Cluster) -> c.NodeConfig:
    return cl.node_pools[0].config


def _weaken_authorized(cl: c.Cluster) -> None:
    cl.control_plane_endpoints_config.ip_endpoints_config.authorized_networks_config.enabled = False


def _open_to_world(cl: c.Cluster) -> None:
    cfg = cl.control_plane_endpoints_config.ip_endpoints_config.authorized_networks_config
    cfg.cidr_blocks.append(c.MasterAuthorizedNetworksConfig.CidrBlock(cidr_block="0.0.0.0/0"))


WEAKENINGS = {
    "private-nodes": lambda cl: setattr(cl.network_config, "default_enable_private_nodes", False),
    "authorized-networks": _weaken_authorized,
    "authorized-networks-not-public": _open_to_world,
    "network-policy": lambda cl: setattr(cl.network_policy, "enabled", False),
    "workload-identity": lambda cl: setattr(cl.workload_identity_config, "workload_pool", ""),
    "shielded-nodes": lambda cl: setattr(cl.shielded_nodes, "enabled", False),
    "secure-boot": lambda cl: setattr(_pool(cl).shielded_instance_config, "enable_secure_boot", False),
    "integrity-monitoring": lambda cl: setattr(
        _pool(cl).shielded_instance_config, "enable_integrity_monitoring", False
    ),
    "secrets-cmek": lambda cl: setattr(cl.database_encryption, "state", c.DatabaseEncryption.State.DECRYPTED),
    "boot-disk-cmek": lambda cl: setattr(_pool(cl), "boot_disk_kms_key", ""),
    "node-service-account": lambda cl: setattr(
        _pool(cl), "service_account", "123-compute@developer.gserviceaccount.com"
    ),
    "auto-repair": lambda cl: setattr(cl.node_pools[0].management, "auto_repair", False),
    "release-channel": lambda cl: setattr(cl, "release_channel", c.ReleaseChannel()),
    "cos-containerd": lambda cl: setattr(_pool(cl), "image_type", "UBUNTU_CONTAINERD"),
    "legacy-abac-disabled": lambda cl: setattr(cl.legacy_abac, "enabled", True),
    "basic-auth-disabled": lambda cl: setattr(cl.master_auth, "username", "admin"),
    "client-certificate-disabled": lambda cl: setattr(
        cl.master_auth, "client_certificate_config", c.ClientCertificateConfig(issue_client_certificate=True)
    ),
    "logging-enabled": lambda cl: setattr(
        cl, "logging_config", c.LoggingConfig(component_config=c.LoggingComponentConfig(enable_components=[]))
    ),
    "monitoring-enabled": lambda cl: setattr(
        cl,
        "monitoring_config",
        c.MonitoringConfig(component_config=c.MonitoringComponentConfig(enable_components=[])),
    ),
}


@pytest.mark.parametrize("check_id", sorted(WEAKENINGS))
def test_each_weakened_field_fails_only_its_check(check_id):
    cl = hardened()
    WEAKENINGS[check_id](cl)
    checks = by_id(audit(cl))
    assert checks[check_id]["passed"] is False, checks[check_id]
    others = [k for k, v in checks.items() if not v["passed"] and k != check_id]
    # Opening to 0.0.0.0/0 is a single weakening; disabling networks also makes the list moot.
    allowed = {"authorized-networks": {"authorized-networks-not-public"}}.get(check_id, set())
    assert set(others) <= allowed


def test_every_check_has_a_weakening():
    assert set(by_id(audit(hardened()))) == set(WEAKENINGS)


def test_reports_field_path_and_value():
    cl = hardened()
    _open_to_world(cl)
    x = by_id(audit(cl))["authorized-networks-not-public"]
    assert x["field"] == (
        "control_plane_endpoints_config.ip_endpoints_config.authorized_networks_config.cidr_blocks"
    )
    assert x["value"] == ["203.0.113.7/32", "0.0.0.0/0"]
    assert by_id(audit(cl))["secrets-cmek"]["value"] == {
        "state": "ENCRYPTED",
        "key_name": KEY + "key-gke-secret",
    }


def test_legacy_fields_are_read():
    """A cluster described only with the 2020 fields (as older clusters still are) is audited correctly."""
    cl = hardened()
    cl.network_config = c.NetworkConfig()
    cl.private_cluster_config = c.PrivateClusterConfig(enable_private_nodes=True)
    cl.control_plane_endpoints_config = c.ControlPlaneEndpointsConfig()
    cl.master_authorized_networks_config = c.MasterAuthorizedNetworksConfig(
        enabled=True, cidr_blocks=[c.MasterAuthorizedNetworksConfig.CidrBlock(cidr_block="10.0.0.0/8")]
    )
    cl.logging_config = c.LoggingConfig()
    cl.monitoring_config = c.MonitoringConfig()
    cl.logging_service = "logging.googleapis.com/kubernetes"
    cl.monitoring_service = "monitoring.googleapis.com/kubernetes"
    checks = by_id(audit(cl))
    assert [k for k, v in checks.items() if not v["passed"]] == []
    assert checks["private-nodes"]["field"] == "private_cluster_config.enable_private_nodes"
    assert checks["authorized-networks"]["field"] == "master_authorized_networks_config.enabled"
    assert checks["logging-enabled"]["field"] == "logging_service"

    cl.logging_service = "none"
    cl.master_authorized_networks_config.cidr_blocks.append(
        c.MasterAuthorizedNetworksConfig.CidrBlock(cidr_block="0.0.0.0/0")
    )
    checks = by_id(audit(cl))
    assert not checks["logging-enabled"]["passed"]
    assert not checks["authorized-networks-not-public"]["passed"]


def test_password_is_never_reported():
    cl = hardened()
    cl.master_auth.username = "admin"
    cl.master_auth.password = "s3cr3t-pw"
    checks = audit(cl)
    assert "s3cr3t-pw" not in json.dumps(checks)
    assert not by_id(checks)["basic-auth-disabled"]["passed"]


def test_the_cluster_body_of_the_default_spec_passes():
    from gke_lab.overrides import apply_overrides
    from gke_lab.ownership import marker_for
    from gke_lab.requests import build_cluster
    from gke_lab.spec import LabSpec

    spec = LabSpec()
    assert summary(audit(build_cluster(spec, "1.30.5-gke.1014001", marker_for(spec, 0))))["failed"] == []

    weak = apply_overrides(
        spec,
        [
            "cluster.network_policy=false",
            "cluster.workload_identity=false",
            "cluster.allow_public_control_plane=true",
            "cluster.master_authorized_networks=[{cidr: 0.0.0.0/0, name: world}]",
        ],
    )
    failed = summary(audit(build_cluster(weak, "1.30.5-gke.1014001", marker_for(weak, 0))))["failed"]
    assert set(failed) == {"network-policy", "workload-identity", "authorized-networks-not-public"}


def test_release_channel_check_shows_channel_version_and_exclusion():
    from datetime import UTC, datetime

    from gke_lab.ownership import marker_for
    from gke_lab.requests import build_cluster
    from gke_lab.spec import LabSpec

    spec = LabSpec()
    marker = marker_for(spec, datetime(2026, 12, 3, 9, 0, tzinfo=UTC).timestamp())
    body = build_cluster(spec, "1.33.5-gke.1201000", marker, now=datetime(2026, 12, 3, 9, 0, tzinfo=UTC))
    check = by_id(audit(body))["release-channel"]
    assert check["passed"] is True
    assert check["value"] == {
        "channel": "REGULAR",
        "version": "1.33.5-gke.1201000",
        "exclusions": ["gke-lab-hold: NO_MINOR_OR_NODE_UPGRADES until 2026-12-03T17:00:00+00:00"],
    }
