"""IP planner figures (the article's ranges) and properties over random prefixes."""

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gke_lab import validation
from gke_lab.ipplan import RESERVED_PER_SUBNET, plan, plan_ranges, pod_cidr_prefix
from gke_lab.overrides import apply_overrides
from gke_lab.spec import LabSpec, SpecError


def test_article_figures():
    p = plan(LabSpec())
    assert p.max_nodes_by_subnet == 4092
    assert p.max_nodes_by_pod_range == 1024
    assert p.max_nodes == 1024
    assert p.binding_range == "pods_range"
    assert p.max_pods == 112640
    assert p.max_services == 4096
    assert p.pod_cidr_per_node_prefix == 24
    assert p.autoscaling_max_total == 4
    assert p.warnings == []


@pytest.mark.parametrize(
    "pods,prefix",
    [
        (8, 28),
        (9, 27),
        (16, 27),
        (17, 26),
        (32, 26),
        (33, 25),
        (64, 25),
        (65, 24),
        (110, 24),
        (111, 23),
        (256, 23),
    ],
)
def test_pod_cidr_per_node(pods, prefix):
    assert pod_cidr_prefix(pods) == prefix


@pytest.mark.parametrize("bad", [7, 257, 0])
def test_pod_cidr_out_of_range(bad):
    with pytest.raises(ValueError):
        pod_cidr_prefix(bad)


def test_subnet_binds_when_smaller():
    p = plan_ranges("10.0.0.0/24", "100.64.0.0/14", "100.68.0.0/20", 110)
    assert (p.max_nodes_by_subnet, p.max_nodes_by_pod_range, p.max_nodes) == (252, 1024, 252)
    assert p.binding_range == "subnet"
    assert p.max_pods == 252 * 110


def test_warns_when_autoscaling_exceeds_limit():
    # A spec with this shortfall is refused by validation (tests/unit/test_capacity_validation.py);
    # the planner itself still names it.
    p = plan_ranges(
        "10.128.0.0/20", "100.64.0.0/22", "100.68.0.0/20", 110, zones=3, autoscaling_max_per_zone=3
    )
    assert p.max_nodes == 4 and p.autoscaling_max_total == 9
    assert len(p.warnings) == 1 and "9 nodes" in p.warnings[0] and "4" in p.warnings[0]


@settings(deadline=None)  # the machine is shared: no timing limits
@given(
    subnet_prefix=st.integers(8, 29),
    pod_prefix=st.integers(8, 28),
    service_prefix=st.integers(16, 27),
    max_pods=st.integers(8, 256),
)
def test_limits_never_exceed_range_sizes(subnet_prefix, pod_prefix, service_prefix, max_pods):
    p = plan_ranges(
        _cidr(10 << 24, subnet_prefix),
        _cidr(100 << 24, pod_prefix),
        _cidr(192 << 24, service_prefix),
        max_pods,
    )
    subnet_size = 2 ** (32 - subnet_prefix)
    pod_size = 2 ** (32 - pod_prefix)
    per_node = 2 ** (32 - pod_cidr_prefix(max_pods))
    assert 0 <= p.max_nodes_by_subnet <= subnet_size - RESERVED_PER_SUBNET
    assert p.max_nodes_by_pod_range * per_node <= pod_size
    assert p.max_nodes == min(p.max_nodes_by_subnet, p.max_nodes_by_pod_range)
    assert p.max_pods == p.max_nodes * max_pods <= pod_size
    assert p.max_services == 2 ** (32 - service_prefix)
    # a per-node range holds at least twice the pods (GKE's headroom for churn)
    assert per_node >= 2 * max_pods or max_pods > 128


def _cidr(draw_base: int, prefix: int) -> str:
    return str(ipaddress.IPv4Network((draw_base, prefix), strict=False))


@settings(deadline=None)
@given(
    a=st.one_of(st.integers(0, 2**32 - 1), st.integers(0x0A000000, 0x0AFFFFFF)),
    b=st.one_of(st.integers(0, 2**32 - 1), st.integers(0x0A000000, 0x0AFFFFFF)),
    pa=st.integers(8, 24),
    pb=st.integers(16, 27),
)
def test_spec_never_accepts_overlapping_ranges(a, b, pa, pb):
    pods, services = _cidr(a, pa), _cidr(b, pb)
    overrides = [f"network.pods_range.cidr={pods}", f"network.services_range.cidr={services}"]
    ranges = [ipaddress.IPv4Network(x) for x in ("10.128.0.0/20", pods, services, "172.16.0.0/28")]
    overlapping = any(x.overlaps(y) for i, x in enumerate(ranges) for y in ranges[i + 1 :])
    # Ranges outside private/shared space, and a Pod range too small for the autoscaling maximum (2 per
    # zone x 2 zones, one /24 each) are refused for their own reasons (named on their own fields).
    outside = [r for r in ranges[1:3] if not any(r.subnet_of(space) for space in validation.SUBNET_SPACE)]
    too_small = 2 ** max(24 - pa, -1) < 4
    try:
        spec = apply_overrides(None, overrides)
    except SpecError as exc:
        paths = {path for path, _ in exc.problems}
        assert overlapping or outside or too_small, exc.problems
        allowed = {"network.pods_range.cidr", "network.services_range.cidr", "cluster.master_ipv4_cidr"}
        assert paths <= allowed | ({"cluster.num_nodes", "cluster.autoscaling.max"} if too_small else set())
        if not (outside or too_small):
            assert overlapping
    else:
        assert not overlapping and not outside and not too_small
        nets = [
            ipaddress.IPv4Network(c) for c in (spec.network.pods_range.cidr, spec.network.services_range.cidr)
        ]
        assert not nets[0].overlaps(nets[1])
