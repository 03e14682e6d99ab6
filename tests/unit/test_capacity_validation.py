"""Capacity against the autoscaling maximum is validation, not a plan warning (issue 13, case 7)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from gke_lab.cli import main
from gke_lab.ipplan import plan_ranges
from gke_lab.overrides import apply_overrides
from gke_lab.spec import SpecError

THREE_ZONES = "cluster.node_locations=[us-west1-a, us-west1-b, us-west1-c]"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        # /22 of Pods at 110 pods per node (/24 each) holds 4 nodes; 3 per zone x 3 zones is 9.
        (["network.pods_range.cidr=100.64.0.0/22", "cluster.autoscaling.max=3", THREE_ZONES], "holds only 4"),
        # the default /14 holds 1,024 nodes at /24 each: 600 per zone x 2 zones is 1,200.
        (["cluster.autoscaling.max=600", "network.subnet.cidr=10.128.0.0/16"], "holds only 1024"),
        # 256 pods per node take a /23 each: a /20 holds 8 nodes, 5 x 2 zones is 10.
        (
            [
                "network.pods_range.cidr=100.64.0.0/20",
                "cluster.max_pods_per_node=256",
                "cluster.autoscaling.max=5",
            ],
            "/23",
        ),
    ],
)
def test_pod_range_shortfall_is_refused_naming_the_field(overrides, message):
    with pytest.raises(SpecError) as raised:
        apply_overrides(None, overrides)
    text = str(raised.value)
    assert "cluster.autoscaling.max" in text and "network.pods_range.cidr" in text and message in text


def test_pod_range_that_holds_the_maximum_is_accepted():
    # /22 holds 4 nodes: 2 per zone x 2 zones fits exactly.
    spec = apply_overrides(None, ["network.pods_range.cidr=100.64.0.0/22", "cluster.autoscaling.max=2"])
    assert spec.cluster.autoscaling.max == 2
    # fewer pods per node, smaller per-node ranges: 32 pods -> /26, 16 per /22, so 8 per zone fit.
    spec = apply_overrides(
        None,
        [
            "network.pods_range.cidr=100.64.0.0/22",
            "cluster.max_pods_per_node=32",
            "cluster.autoscaling.max=8",
        ],
    )
    assert spec.cluster.max_pods_per_node == 32


def test_cli_plan_exits_2_naming_the_field(tmp_path):
    path = tmp_path / "lab.yaml"
    path.write_text("lab: team-a\nnetwork:\n  pods_range: {name: pods, cidr: 100.64.0.0/22}\n")
    result = CliRunner().invoke(
        main, ["plan", "--spec", str(path), "--set", "cluster.autoscaling.max=3", "--json"]
    )
    assert result.exit_code == 2, result.output
    assert "cluster.autoscaling.max" in result.stderr and "network.pods_range.cidr" in result.stderr
    assert "Traceback" not in result.output


def test_plan_ranges_still_reports_the_shortfall_as_a_figure():
    p = plan_ranges(
        "10.128.0.0/20", "100.64.0.0/22", "100.68.0.0/20", 110, zones=3, autoscaling_max_per_zone=3
    )
    assert p.max_nodes == 4 and p.autoscaling_max_total == 9 and p.binding_range == "pods_range"
    assert len(p.warnings) == 1 and "9 nodes" in p.warnings[0]
