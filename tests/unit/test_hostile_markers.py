"""Markers and expiries read back from the cloud are anyone's: the core never raises on them.

A planted marker whose lab name no spec could hold, or whose expiry no date can represent, is no
marker at all (foreign, never acted on); formatting any expiry value never raises.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gke_lab import expiry as exp
from gke_lab.ownership import Marker

MAX_EXPIRES = 253402300799  # 9999-12-31T23:59:59Z

GOOD = {"managed-by": "gke-lab", "gke-lab": "demo", "gke-lab-expires": "1700000000"}


@pytest.mark.parametrize(
    "lab",
    ["Not A Lab", "demo\n", "-demo", "demo-", "a" * 64, "Demo", "de mo", "dé", "", "1demo", "x/y", 7, None],
)
def test_a_marker_with_an_invalid_lab_name_is_foreign(lab):
    assert Marker.from_labels({**GOOD, "gke-lab": lab}) is None
    body = {"managed-by": "gke-lab", "lab": lab, "expires": 1}
    assert Marker.from_description("gke-lab:" + json.dumps(body)) is None


def test_the_planted_marker_of_the_report_is_foreign():
    assert Marker.from_description('gke-lab:{"managed-by":"gke-lab","lab":"Not A Lab","expires":1}') is None


@pytest.mark.parametrize("expires", ["-1", " 5", "1_000", "1" * 5000, "²", "99999999999999", "1e9", ""])
def test_a_label_expiry_that_is_not_plain_digits_of_a_date_is_foreign(expires):
    assert Marker.from_labels({**GOOD, "gke-lab-expires": expires}) is None


@pytest.mark.parametrize("expires", [-1, MAX_EXPIRES + 1, 10**30, True, 1.5, "1"])
def test_a_description_expiry_outside_any_date_is_foreign(expires):
    body = {"managed-by": "gke-lab", "lab": "demo", "expires": expires}
    assert Marker.from_description("gke-lab:" + json.dumps(body)) is None


def test_deeply_nested_description_is_foreign():
    assert Marker.from_description("gke-lab:" + "[" * 100_000) is None


def test_valid_markers_still_decode():
    assert Marker.from_labels(GOOD) == Marker("demo", 1700000000)
    assert Marker.from_labels({**GOOD, "gke-lab-expires": str(MAX_EXPIRES)}) == Marker("demo", MAX_EXPIRES)
    assert Marker.from_labels({**GOOD, "gke-lab-expires": "0"}) == Marker("demo", 0)
    long = "a" + "b" * 62
    assert Marker.from_description(Marker(long, 5).description()) == Marker(long, 5)
    assert Marker("demo", MAX_EXPIRES).expires_at.year == 9999


@given(st.integers())
def test_formatting_any_expiry_never_raises(value):
    assert isinstance(exp.Expiry(value, "label").describe(), str)
    assert isinstance(exp.Expiry(value, "createTime+ttl").describe(), str)
    assert isinstance(exp.format_unix(value), str)


def test_a_year_9999_expiry_is_formatted():
    assert exp.Expiry(10**15, "label").describe().startswith("unix time 1000000000000000")
    assert exp.Expiry(MAX_EXPIRES, "label").describe() == "9999-12-31 23:59:59 UTC"
    assert exp.Expiry(-(10**20), "label").describe().endswith("(out of range)")


@pytest.mark.parametrize("value", ["²", "1" * 5000, "-1", "1_0"])
def test_a_corrupt_expires_label_falls_back_to_create_time(value):
    found = exp.expiry_from({"gke-lab-expires": value}, "2026-01-01T00:00:00Z")
    assert found.source == "createTime+ttl"


@pytest.mark.parametrize("hours", [100_000_000, 8761, float("inf"), float("nan"), True])
def test_extend_past_a_year_is_refused(hours):
    with pytest.raises(ValueError, match="hours"):
        exp.extended(exp.Expiry(1_000, "label"), hours, 1_000)


def test_extend_cannot_push_a_lab_past_a_year_from_now():
    now = 1_000_000
    almost_a_year = exp.Expiry(now + 8000 * 3600, "label")
    with pytest.raises(ValueError, match="more than a year"):
        exp.extended(almost_a_year, 1000, now)
    assert exp.extended(almost_a_year, 760, now) == now + 8760 * 3600
