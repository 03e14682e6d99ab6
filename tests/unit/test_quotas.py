"""Quotas before cost: a lab's needs, a project's regional quotas (regions.get) and where labs fit."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from google.api_core import exceptions as gexc

from gke_lab import quotas
from gke_lab.errors import LabError
from gke_lab.spec import LabSpec


def spec(**cluster: object) -> LabSpec:
    base = LabSpec().model_dump(mode="json")
    base["cluster"].update(cluster)
    return LabSpec.model_validate(base)


def region(project: str, **limits_usage: tuple[float, float]) -> quotas.RegionQuotas:
    return quotas.parse(
        project,
        "us-west1",
        [{"metric": m, "limit": lim, "usage": use} for m, (lim, use) in limits_usage.items()],
    )


ROOMY = {
    "CPUS": (24, 0),
    "INSTANCES": (240, 0),
    "DISKS_TOTAL_GB": (4096, 0),
    "SSD_TOTAL_GB": (500, 0),
    "IN_USE_ADDRESSES": (8, 0),
    "STATIC_ADDRESSES": (8, 0),
}


# ------------------------------------------------------------------------------------------------ needs


def test_default_lab_needs_two_e2_medium_nodes_standard_disks_and_one_nat_address():
    lab = quotas.needs(LabSpec())
    assert (lab.nodes, lab.vcpus, lab.cpu_metric, lab.preemptible) == (2, 4, "CPUS", True)
    assert (lab.disk_metric, lab.disk_gb, lab.addresses) == ("DISKS_TOTAL_GB", 200, 1)
    assert lab.unknown is None


def test_nodes_are_per_zone_times_zones():
    lab = quotas.needs(
        spec(
            num_nodes=3,
            autoscaling={"min": 0, "max": 3},
            node_locations=["us-west1-a", "us-west1-b", "us-west1-c"],
        )
    )
    assert lab.nodes == 9
    assert lab.disk_gb == 900


@pytest.mark.parametrize(
    ("machine_type", "vcpus", "metric"),
    [
        ("e2-small", 2, "CPUS"),
        ("e2-standard-8", 8, "CPUS"),
        ("n1-highmem-4", 4, "CPUS"),
        ("n2-standard-16", 16, "N2_CPUS"),
        ("n2d-highcpu-32", 32, "N2D_CPUS"),
        ("c2-standard-4", 4, "C2_CPUS"),
        ("custom-6-23040", 6, "CPUS"),
        ("n2-custom-4-8192", 4, "N2_CPUS"),
    ],
)
def test_vcpus_and_cpu_metric_by_machine_type(machine_type, vcpus, metric):
    shape = quotas.machine_shape(machine_type)
    assert (shape.vcpus, shape.cpu_metric) == (vcpus, metric)


def test_without_node_locations_a_regional_cluster_runs_in_three_zones_of_its_region():
    lab = LabSpec()
    bare = lab.model_copy(update={"cluster": lab.cluster.model_copy(update={"node_locations": []})})
    assert quotas.node_zones(bare) == ["us-west1-a", "us-west1-b", "us-west1-c"]
    assert quotas.needs(bare).nodes == 3


def test_an_unknown_machine_type_is_not_guessed():
    lab = quotas.needs(spec(machine_type="zz9-plural-z"))
    assert lab.vcpus is None
    assert "zz9-plural-z" in (lab.unknown or "")


@pytest.mark.parametrize(
    ("disk_type", "metric"), [("pd-balanced", "SSD_TOTAL_GB"), ("pd-ssd", "SSD_TOTAL_GB")]
)
def test_ssd_backed_disks_count_against_ssd_quota(disk_type, metric):
    assert quotas.needs(spec(disk_type=disk_type)).disk_metric == metric


def test_private_nodes_without_nat_need_no_address():
    base = LabSpec().model_dump(mode="json")
    base["network"]["cloud_nat"] = False
    lab = quotas.needs(LabSpec.model_validate(base))
    assert lab.addresses == 0
    metrics = {n.metric for n in lab.amounts(region("p", **ROOMY))}
    assert "IN_USE_ADDRESSES" not in metrics and "STATIC_ADDRESSES" not in metrics


def test_preemptible_vcpus_use_preemptible_quota_only_where_granted():
    lab = quotas.needs(LabSpec())
    without = region("p", **ROOMY, PREEMPTIBLE_CPUS=(0, 0))
    granted = region("p", **ROOMY, PREEMPTIBLE_CPUS=(16, 0))
    assert lab.cpu_metric_in(without) == "CPUS"
    assert lab.cpu_metric_in(granted) == "PREEMPTIBLE_CPUS"
    on_demand = quotas.needs(spec(preemptible=False))
    assert on_demand.cpu_metric_in(granted) == "CPUS"


# ------------------------------------------------------------------------------------------------ read


class FakeRegions:
    def __init__(self, answer=None, error=None):
        self.answer, self.error, self.calls = answer, error, []

    def get(self, project, region):
        self.calls.append((project, region))
        if self.error is not None:
            raise self.error
        return self.answer


def fake_clients(regions: FakeRegions) -> SimpleNamespace:
    return SimpleNamespace(regions=regions)


def test_read_takes_metric_limit_and_usage_from_regions_get():
    answer = SimpleNamespace(
        quotas=[
            SimpleNamespace(metric="CPUS", limit=24.0, usage=6.0),
            SimpleNamespace(metric="IN_USE_ADDRESSES", limit=8.0, usage=1.0),
        ]
    )
    regions = FakeRegions(answer)
    got = quotas.read(fake_clients(regions), "proj-a", "us-west1")
    assert regions.calls == [("proj-a", "us-west1")]
    assert got.unknown is None
    assert got.quotas["CPUS"].free == 18
    assert got.quotas["IN_USE_ADDRESSES"] == quotas.Quota("IN_USE_ADDRESSES", 8.0, 1.0)


def test_read_of_a_region_the_api_does_not_serve_is_unknown_not_an_error():
    got = quotas.read(fake_clients(FakeRegions(error=gexc.NotFound("no such region"))), "p", "us-west1")
    assert got.quotas == {}
    assert "us-west1" in (got.unknown or "")


def test_read_without_quotas_in_the_answer_is_unknown():
    got = quotas.read(fake_clients(FakeRegions(SimpleNamespace(quotas=[]))), "p", "us-west1")
    assert got.unknown == "regions.get reported no quotas"


def test_read_refused_is_a_lab_error_naming_the_region():
    with pytest.raises(LabError, match="projects/p/regions/us-west1"):
        quotas.read(fake_clients(FakeRegions(error=gexc.Forbidden("denied"))), "p", "us-west1")


def test_hostile_quota_entries_are_left_out():
    got = quotas.parse(
        "p",
        "r",
        [
            {"metric": "CPUS", "limit": float("nan"), "usage": 0},
            {"metric": "INSTANCES", "limit": -1, "usage": 0},
            {"metric": "", "limit": 1, "usage": 0},
            {"metric": "SSD_TOTAL_GB", "limit": "lots", "usage": 0},
            {"metric": "IN_USE_ADDRESSES", "limit": True, "usage": 0},
            {"metric": "STATIC_ADDRESSES", "limit": 8, "usage": float("inf")},
            {"metric": "DISKS_TOTAL_GB", "limit": 4096, "usage": 100},
        ],
    )
    assert list(got.quotas) == ["DISKS_TOTAL_GB"]


# ------------------------------------------------------------------------------------------------ report


def test_report_rows_say_which_quota_blocks():
    lab = quotas.needs(LabSpec())
    rep = quotas.report(lab, region("proj-a", **{**ROOMY, "CPUS": (24, 22)}))
    rows = {r.metric: r for r in rep.rows}
    assert rows["CPUS"].fits is False and rows["DISKS_TOTAL_GB"].fits is True
    assert rep.blocked == ("project proj-a: CPUS needs 4, 2 free of 24",)
    assert rep.verdict() == "blocked: project proj-a: CPUS needs 4, 2 free of 24"


def test_report_of_unknown_quotas_says_so():
    rep = quotas.report(quotas.needs(LabSpec()), quotas.RegionQuotas("p", "us-west1", unknown="why"))
    assert rep.fits is None
    assert rep.verdict() == "quotas unknown: why"


def test_a_metric_the_region_does_not_report_does_not_block():
    rep = quotas.report(quotas.needs(LabSpec()), region("p", CPUS=(24, 0)))
    assert rep.fits is True
    assert {r.metric: r.fits for r in rep.rows}["INSTANCES"] is None


# ------------------------------------------------------------------------------------------------ place


def test_place_spreads_least_loaded_first():
    lab = quotas.needs(LabSpec())
    projects = {"a": region("a", **ROOMY), "b": region("b", **ROOMY)}
    placed = quotas.place(needs=lab, quotas=projects, count=3, load={"a": 2})  # the pool design's call
    assert placed.projects == ("b", "b", "a")
    assert placed.blocked == ()


def test_place_counts_what_it_already_placed_and_names_the_blocking_quota():
    lab = quotas.needs(LabSpec())  # 4 vCPUs, 1 NAT address each
    projects = {
        "a": region("a", **{**ROOMY, "CPUS": (24, 14)}),  # room for 2 labs
        "b": region("b", **{**ROOMY, "IN_USE_ADDRESSES": (8, 7)}),  # room for 1 lab
    }
    placed = quotas.place(lab, projects, 5)
    assert sorted(placed.projects) == ["a", "a", "b"]
    assert placed.blocked == (
        "project a: CPUS needs 4, 2 free of 24",
        "project b: IN_USE_ADDRESSES needs 1, 0 free of 8",
    )


def test_place_nothing_when_nothing_fits():
    lab = quotas.needs(spec(machine_type="e2-standard-32"))
    placed = quotas.place(lab, {"p": region("p", **ROOMY)}, 1)
    assert placed.projects == ()
    assert placed.blocked == ("project p: CPUS needs 64, 24 free of 24",)


def test_place_refuses_a_lab_whose_cpu_need_is_unknown():
    lab = quotas.needs(spec(machine_type="zz9-plural-z"))
    placed = quotas.place(lab, {"p": region("p", **ROOMY)}, 1)
    assert placed.projects == ()
    assert "zz9-plural-z" in placed.blocked[0]


def test_place_where_quotas_are_unknown_places_and_says_unchecked():
    lab = quotas.needs(LabSpec())
    placed = quotas.place(lab, {"p": quotas.RegionQuotas("p", "us-west1", unknown="no answer")}, 2)
    assert placed.projects == ("p", "p")
    assert placed.unchecked == ("project p: quotas unknown: no answer",)


def test_place_without_projects_says_so():
    assert quotas.place(quotas.needs(LabSpec()), {}, 1).blocked == ("no project to place labs in",)


def test_place_reserves_what_labs_in_flight_will_use_before_regions_get_reports_it():
    """A lab still provisioning holds no NAT address in regions.get yet: counted as if it did, so a second
    maintenance pass never places labs where the first pass's labs will not leave room (8 addresses, 7 in
    flight: one more fits, not eight)."""
    lab = quotas.needs(LabSpec())
    projects = {"a": region("a", **{**ROOMY, "CPUS": (100, 0)})}  # addresses are what runs out
    placed = quotas.place(lab, projects, 8, reserved={"a": 7})
    assert placed.projects == ("a",)
    assert placed.blocked == ("project a: IN_USE_ADDRESSES needs 1, 0 free of 8",)
