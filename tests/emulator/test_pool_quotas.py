"""Regional quotas: a new project's defaults through compute regions.get, usage from what exists, and GKE's
403 for a create that would exceed them; the admin route sets a project's limits."""

from __future__ import annotations

import httpx
import pytest
from google.api_core import exceptions as gexc
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import compute_v1

from tests.emulator.helpers import (
    PROJECT,
    REGION,
    build_cluster,
    make_clients,
    setup_prerequisites,
    wait_gke,
    wait_propagation,
)

PARENT = f"projects/{PROJECT}/locations/{REGION}"


def quotas(emu, region: str = REGION) -> dict[str, tuple[float, float]]:
    regions = compute_v1.RegionsClient(
        credentials=AnonymousCredentials(), client_options=ClientOptions(api_endpoint=emu.url)
    )
    got = regions.get(project=PROJECT, region=region)
    assert got.name == region and got.status == "UP"
    return {q.metric: (q.limit, q.usage) for q in got.quotas}


def set_limits(emu, body: dict) -> httpx.Response:
    return httpx.post(f"{emu.url}/_emulator/projects/{PROJECT}/quotas", json=body, timeout=30)


def test_a_new_project_has_the_default_regional_quotas(emulator_factory):
    emu = emulator_factory()
    assert quotas(emu) == {
        "CPUS": (24.0, 0.0),
        "DISKS_TOTAL_GB": (4096.0, 0.0),
        "SSD_TOTAL_GB": (500.0, 0.0),
        "STATIC_ADDRESSES": (8.0, 0.0),
        "IN_USE_ADDRESSES": (8.0, 0.0),
    }


def test_a_create_beyond_the_quota_is_refused_and_usage_follows_the_clusters(emulator_factory):
    emu = emulator_factory()
    c = make_clients(emu)
    try:
        setup_prerequisites(c)
        wait_propagation(emu)
        assert set_limits(emu, {"limits": {"CPUS": 2}, "region": REGION}).status_code == 200
        # the lab's cluster: one e2-medium (2 vCPUs) in each of two zones, 100 GB pd-standard boot disks
        with pytest.raises(gexc.Forbidden) as err:
            c.gke.create_cluster(parent=PARENT, cluster=build_cluster())
        assert err.value.response.json()["error"]["message"] == (
            'Insufficient regional quota to satisfy request: resource "CPUS": '
            "request requires '4.0' and is short '2.0'. project has a quota of '2.0' with '2.0' available. "
            "View and manage quotas at "
            f"https://console.cloud.google.com/iam-admin/quotas?usage=USED&project={PROJECT}."
        )
        assert err.value.response.json()["error"]["status"] == "PERMISSION_DENIED"
        assert list(c.gke.list_clusters(parent=PARENT).clusters) == []
        assert set_limits(emu, {"limits": {"CPUS": 4}}).status_code == 200  # every region; us-west1's 2 stays
        assert quotas(emu)["CPUS"] == (2.0, 0.0) and quotas(emu, "us-east1")["CPUS"] == (4.0, 0.0)
        assert (
            set_limits(emu, {"limits": {"CPUS": 4, "DISKS_TOTAL_GB": 150}, "region": REGION}).status_code
            == 200
        )
        with pytest.raises(gexc.Forbidden) as err:
            c.gke.create_cluster(parent=PARENT, cluster=build_cluster())
        assert "resource \"DISKS_TOTAL_GB\": request requires '200.0'" in err.value.message
        set_limits(emu, {"limits": {"DISKS_TOTAL_GB": 4096}, "region": REGION})
        op = c.gke.create_cluster(parent=PARENT, cluster=build_cluster())
        # reserved from the moment GKE accepts the create, before the nodes exist
        got = quotas(emu)
        assert got["CPUS"] == (4.0, 4.0) and got["DISKS_TOTAL_GB"] == (4096.0, 200.0)
        assert got["IN_USE_ADDRESSES"] == (8.0, 0.0)  # private nodes have no external address
        wait_gke(c, op)
        got = quotas(emu)
        assert got["CPUS"] == (4.0, 4.0)
        # the nodes now use the lab's Cloud NAT, whose automatic allocation reserved one external address
        assert got["STATIC_ADDRESSES"] == (8.0, 1.0) and got["IN_USE_ADDRESSES"] == (8.0, 1.0)
        wait_gke(c, c.gke.delete_cluster(name=f"{PARENT}/clusters/cluster"))
        got = quotas(emu)
        assert got["CPUS"] == (4.0, 0.0) and got["STATIC_ADDRESSES"] == (8.0, 0.0)
    finally:
        c.close()


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"limits": {}},
        {"limits": {"GPUS": 1}},
        {"limits": {"CPUS": -1}},
        {"limits": {"CPUS": "many"}},
        {"limits": {"CPUS": True}},
        {"limits": {"CPUS": 8}, "region": "Not A Region"},
    ],
)
def test_the_admin_route_refuses_bad_limits(emulator_factory, body):
    emu = emulator_factory()
    resp = set_limits(emu, body)
    assert resp.status_code == 400, resp.text
    assert quotas(emu)["CPUS"] == (24.0, 0.0)
