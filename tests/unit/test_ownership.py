from datetime import UTC, datetime

from gke_lab.ownership import Marker, expiry, marker_for
from gke_lab.spec import LabSpec


def test_labels_and_description_round_trip():
    m = Marker("lab-a", 1700000000)
    assert m.labels() == {"managed-by": "gke-lab", "gke-lab": "lab-a", "gke-lab-expires": "1700000000"}
    assert m.description() == 'gke-lab:{"managed-by":"gke-lab","lab":"lab-a","expires":1700000000}'
    assert Marker.from_labels(m.labels()) == m
    assert Marker.from_description(m.description()) == m


def test_foreign_or_corrupt_markers_are_not_ours():
    assert Marker.from_labels(None) is None
    assert Marker.from_labels({"gke-lab": "x"}) is None
    assert Marker.from_labels({"managed-by": "terraform", "gke-lab": "x"}) is None
    assert Marker.from_labels({"managed-by": "gke-lab", "gke-lab": "x", "gke-lab-expires": "soon"}) is None
    assert Marker.from_description("") is None
    assert Marker.from_description("a network someone made") is None
    assert Marker.from_description("gke-lab:{not json") is None
    assert Marker.from_description('gke-lab:{"managed-by":"other","lab":"x","expires":0}') is None
    assert Marker.from_description('gke-lab:{"managed-by":"gke-lab","lab":"","expires":0}') is None
    assert Marker.from_description('gke-lab:{"managed-by":"gke-lab","lab":"x","expires":"1"}') is None


def test_expiry_and_marker_for_spec():
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert expiry(0, now) == 0
    assert expiry(8, now) == int(now.timestamp()) + 8 * 3600
    m = marker_for(LabSpec(), now)
    assert m == Marker("cluster", int(now.timestamp()) + 8 * 3600)
    assert not m.expired(now)
    assert m.expired(m.expires)
    assert not Marker("x", 0).expired(10**12)
    assert m.expires_at == datetime(2026, 1, 1, 8, tzinfo=UTC)
