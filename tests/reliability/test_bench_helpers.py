"""The yardsticks the benchmarks and this suite rely on: critical paths and inventory comparison."""

from __future__ import annotations

import pytest

from bench import inventory
from bench.profile import PROFILE, Step, critical_path, provision_critical_path, teardown_critical_path


def test_provision_critical_path_is_keys_propagation_cluster_rollout():
    seconds, chain = provision_critical_path(1.0)
    expected = sum(
        PROFILE[k]
        for k in ("keyRings.create", "cryptoKeys.create", "setIamPolicy", "iam.propagation")
        + ("clusters.create", "pod.ready", "endpoints.ready")
    )
    assert seconds == pytest.approx(expected)
    assert chain[0].startswith("C.") and "cluster.create" in chain and chain[-1] == "echo.endpoints.ready"
    assert provision_critical_path(0.25)[0] == pytest.approx(expected * 0.25)


def test_teardown_critical_path_follows_the_network_chain():
    seconds, chain = teardown_critical_path(1.0)
    assert chain[0] == "cluster.delete" and chain[-1] == "network.delete"
    assert seconds == pytest.approx(240 + 8 + 10)


def test_critical_path_takes_the_longest_branch():
    dag = (Step("a", "networks.insert"), Step("b", "setIamPolicy"), Step("c", "firewalls.insert", ("a", "b")))
    assert critical_path(dag) == (pytest.approx(18.0), ["a", "c"])


def _state(**project) -> dict:
    return {"projects": {"p-1": {"number": 1, **project}}}


def test_inventory_normalises_per_run_names_and_finds_duplicates():
    a = _state(
        firewalls=[{"name": "gke-cluster-0a1b2c3d-all"}, {"name": "default-allow-ssh"}],
        clusters=[{"name": "cluster"}],
        kubernetes={
            "cluster": {
                "deployments": [{"metadata": {"name": "echo"}, "spec": {"replicas": 1}}],
                "pods": [{"metadata": {"namespace": "default", "name": "echo-7d9f8b6c5d-abcde"}}],
            }
        },
        iamPolicy={"bindings": [{"role": "roles/viewer", "members": ["user:a@example.com"]}]},
    )
    b = _state(
        firewalls=[{"name": "gke-cluster-99887766-all"}, {"name": "default-allow-ssh"}],
        clusters=[{"name": "cluster"}],
        kubernetes={
            "cluster": {
                "deployments": [{"metadata": {"name": "echo"}, "spec": {"replicas": 1}}],
                "pods": [{"metadata": {"namespace": "default", "name": "echo-5c4b3a2d1e-zyxwv"}}],
            }
        },
        iamPolicy={"bindings": [{"role": "roles/viewer", "members": ["user:a@example.com"]}]},
    )
    assert inventory.snapshot(a, "p-1") == inventory.snapshot(b, "p-1")
    assert inventory.duplicates(a, "p-1") == []

    doubled = _state(
        networks=[{"name": "gke-network"}, {"name": "gke-network"}],
        firewalls=[{"name": f"gke-cluster-{h}-all"} for h in ("0a1b2c3d", "99887766")],
        iamPolicy={
            "bindings": [
                {"role": "roles/viewer", "members": ["user:a@example.com", "user:a@example.com"]},
                {"role": "roles/viewer", "members": ["user:b@example.com"]},
            ]
        },
    )
    found = inventory.duplicates(doubled, "p-1")
    # the network twice, a member twice, a role bound twice, GKE rules without a cluster
    assert len(found) == 4, found


def test_left_behind_ignores_reused_keys_but_not_bindings():
    before = _state(networks=[{"name": "default"}], iamPolicy={"bindings": []})
    after = _state(
        networks=[{"name": "gke-network"}],
        cryptoKeys=[{"name": "projects/p-1/locations/us-west1/keyRings/r/cryptoKeys/k"}],
        iamPolicy={
            "bindings": [{"role": "roles/logging.logWriter", "members": ["serviceAccount:n@p-1.iam"]}]
        },
    )
    left = inventory.left_behind(before, after, "p-1")
    assert left == [
        "binding roles/logging.logWriter serviceAccount:n@<project>.iam on project",
        "networks gke-network",
    ]
