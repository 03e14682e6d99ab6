"""The cluster create plan: small rules, each deciding one part of a typed, frozen plan."""

from __future__ import annotations

import dataclasses

import pytest

from emulator.container import create_plan
from emulator.container.server_config import CHANNELS, DEFAULT_VERSION
from emulator.errors import ApiError
from tests.fixtures_emulator import PROJECT, REGION


def test_a_legacy_top_level_node_config_becomes_the_default_pool():
    pools = create_plan.node_pools({"initialNodeCount": 2, "nodeConfig": {"machineType": "e2-small"}})
    assert pools == ({"name": "default-pool", "initialNodeCount": 2, "config": {"machineType": "e2-small"}},)
    with pytest.raises(ApiError, match="initial_node_count must be greater than zero"):
        create_plan.node_pools({})


def test_no_channel_means_regular_and_a_channel_needs_auto_upgrade():
    pools = ({"name": "pool"},)
    assert create_plan.release({}, pools) == (DEFAULT_VERSION, "REGULAR")
    assert create_plan.release({"releaseChannel": {"channel": "STABLE"}}, pools)[0] in CHANNELS["STABLE"]
    no_upgrade = ({"name": "pool", "management": {"autoUpgrade": False}},)
    with pytest.raises(ApiError, match="Auto_upgrade must be true"):
        create_plan.release({"releaseChannel": {"channel": "REGULAR"}}, no_upgrade)


def test_authorized_networks_are_open_unless_enabled_and_limited_by_count():
    disabled = {"masterAuthorizedNetworksConfig": {"enabled": False}}
    assert create_plan.authorized_networks(disabled, private=False) == ({"enabled": False}, None)
    modern = {
        "controlPlaneEndpointsConfig": {
            "ipEndpointsConfig": {
                "authorizedNetworksConfig": {"enabled": True, "cidrBlocks": [{"cidrBlock": "203.0.113.7/32"}]}
            }
        }
    }
    assert create_plan.authorized_networks(modern, private=True)[1] == ("203.0.113.7/32",)
    many = {
        "masterAuthorizedNetworksConfig": {
            "enabled": True,
            "cidrBlocks": [{"cidrBlock": f"203.0.113.{i}/32"} for i in range(51)],
        }
    }
    with pytest.raises(ApiError, match="at most 50 CIDR blocks"):
        create_plan.authorized_networks(many, private=False)


def test_the_plan_for_a_default_network_cluster_is_typed_and_frozen(emulator):
    project = emulator.backend.project(PROJECT)
    spec = {"name": "c", "initialNodeCount": 1}
    with project.locked():
        plan = create_plan.plan_create(emulator.container, project, REGION, REGION, spec)
    assert plan.network["name"] == "default" and plan.subnetwork["name"] == "default"
    assert plan.zones == (f"{REGION}-a", f"{REGION}-b", f"{REGION}-c")
    assert not plan.private and plan.master_cidr is None and plan.authorized_cidrs is None
    assert plan.max_pods_per_node == 110 and plan.boot_disk_keys == ()
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.version = "1.0"  # type: ignore[misc]


def test_a_private_plan_needs_a_control_plane_range(emulator):
    project = emulator.backend.project(PROJECT)
    spec = {
        "name": "c",
        "initialNodeCount": 1,
        "privateClusterConfig": {"enablePrivateNodes": True},
        "ipAllocationPolicy": {"useIpAliases": True},
    }
    with project.locked(), pytest.raises(ApiError, match="master_ipv4_cidr_block"):
        create_plan.plan_create(emulator.container, project, REGION, REGION, spec)
