"""Cost you can see: the hourly cost of a lab from the price table, unknown prices shown as unknown."""

from __future__ import annotations

import re

import pytest

from gke_lab import cost, prices
from gke_lab.spec import LabSpec


def spec(cloud_nat: bool = True, **cluster: object) -> LabSpec:
    base = LabSpec().model_dump(mode="json")
    base["cluster"].update(cluster)
    base["network"]["cloud_nat"] = cloud_nat
    return LabSpec.model_validate(base)


def lines(c: cost.Cost) -> dict[str, cost.CostLine]:
    return {line.item.split(":")[0]: line for line in c.lines}


def test_every_price_names_its_google_page_and_the_date_read():
    for line in cost.hourly(LabSpec()).lines:
        assert line.price.source.startswith("https://cloud.google.com/"), line
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", line.price.read_on)
        if line.price.usd is None:
            assert "not found" in line.price.note


def test_cluster_fee_is_ten_cents_an_hour():
    assert lines(cost.hourly(LabSpec()))["GKE cluster management"].hourly == pytest.approx(0.10)


def test_monthly_prices_are_spread_over_730_hours():
    got = lines(cost.hourly(spec(num_nodes=1, disk_size_gb=100, disk_type="pd-standard")))
    assert got["boot disks"].quantity == 200  # 2 zones x 1 node x 100 GB
    assert got["boot disks"].hourly == pytest.approx(200 * 0.04 / 730)
    assert got["KMS key versions (software)"].hourly == pytest.approx(2 * 0.06 / 730)


def test_ssd_disks_cost_more_than_standard_ones():
    standard = lines(cost.hourly(spec(disk_type="pd-standard")))["boot disks"].hourly
    ssd = lines(cost.hourly(spec(disk_type="pd-ssd")))["boot disks"].hourly
    assert ssd == pytest.approx(standard * 0.17 / 0.04)


def test_nat_gateway_per_vm_then_capped():
    small = lines(cost.hourly(spec(num_nodes=2)))["Cloud NAT gateway"]
    assert small.hourly == pytest.approx(4 * 0.0014)
    big = lines(cost.hourly(spec(num_nodes=20, autoscaling={"min": 0, "max": 20})))[
        "Cloud NAT gateway"
    ]  # 40 VMs
    assert big.hourly == pytest.approx(0.044)
    assert lines(cost.hourly(spec()))["Cloud NAT external IP addresses"].hourly == pytest.approx(0.005)


def test_nat_data_processing_is_left_out_and_said_so():
    line = lines(cost.hourly(spec()))["Cloud NAT data processing"]
    assert line.hourly == 0.0
    assert "left out" in line.note


def test_without_nat_there_is_no_nat_line():
    assert not any("NAT" in item for item in lines(cost.hourly(spec(cloud_nat=False))))


def test_node_price_not_found_is_unknown_and_the_total_says_at_least():
    c = cost.hourly(LabSpec())
    nodes = lines(c)["nodes"]
    assert nodes.hourly is None and nodes.quantity == 2
    assert not c.complete
    assert c.unpriced == ("nodes: e2-medium (spot/preemptible)",)
    assert c.total == pytest.approx(sum(line.hourly for line in c.lines if line.hourly is not None))
    assert c.summary().startswith(f"at least ${c.total:.4f}/h")


def test_preemptible_and_on_demand_nodes_are_looked_up_apart():
    assert "on-demand" in lines(cost.hourly(spec(preemptible=False)))["nodes"].item
    assert "spot/preemptible" in lines(cost.hourly(spec(preemptible=True)))["nodes"].item


def test_a_known_machine_price_is_multiplied_by_the_nodes(monkeypatch):
    monkeypatch.setattr(
        prices, "machine_hour", lambda machine, preemptible: prices.Price(0.01, "VM-hour", "x")
    )
    c = cost.hourly(spec(num_nodes=3, autoscaling={"min": 0, "max": 3}))
    assert lines(c)["nodes"].hourly == pytest.approx(6 * 0.01)
    assert c.complete
    assert c.summary() == f"${c.total:.4f}/h"


def test_to_dict_is_plain_json():
    d = cost.hourly(LabSpec()).to_dict()
    assert d["complete"] is False
    assert {line["item"] for line in d["lines"]} >= {"GKE cluster management", "KMS key versions (software)"}


def test_summary_for_an_idle_pool_multiplies_and_keeps_the_caveat():
    c = cost.hourly(LabSpec())
    assert c.summary(3).startswith(f"at least ${c.total * 3:.4f}/h for 3 labs (no price for: nodes")
