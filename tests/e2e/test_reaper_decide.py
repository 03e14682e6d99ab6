"""The reaper's decisions and the expiry rules, without a cloud: which labs go, which stay and why."""

from __future__ import annotations

import pytest

from gke_lab import expiry as exp
from gke_lab import reaping
from gke_lab.identity import LabIdentity
from gke_lab.inventory import Lab, Resource, label_marker
from gke_lab.ownership import Marker

PROJECT = "reaper-tests"
NOW = 1_800_000_000
CREATED = "2027-01-15T08:00:00Z"  # 1_800_000_000 is 2027-01-15T08:00:00Z


def cluster(lab: str | None, labels: dict[str, str] | None = None, created: str | None = CREATED) -> Resource:
    labels = labels if labels is not None else Marker(lab or "x", NOW - 10).labels()
    return Resource(
        "cluster", f"c-{lab}", "us-west1", label_marker(labels), labels=labels, create_time=created
    )


def network(lab: str, expires: int) -> Resource:
    return Resource("network", f"net-{lab}", "global", Marker(lab, expires))


def test_expiry_label_wins_and_zero_means_never():
    assert exp.expiry_from({"gke-lab-expires": "123"}, CREATED) == exp.Expiry(123, "label")
    never = exp.expiry_from({"gke-lab-expires": "0"}, CREATED)
    assert never.at is None and not never.passed(NOW)


@pytest.mark.parametrize("corrupt", [None, "", "soon", "-5", "1.5e9"])
def test_missing_or_corrupt_label_falls_back_to_create_time_plus_ttl(corrupt):
    labels = {} if corrupt is None else {"gke-lab-expires": corrupt}
    e = exp.expiry_from(labels, CREATED, ttl_hours=2)
    assert e == exp.Expiry(NOW + 7200, "createTime+ttl")
    assert not e.passed(NOW + 7199) and e.passed(NOW + 7200)


def test_no_label_and_no_create_time_is_never_now():
    e = exp.expiry_from({}, None)
    assert e.at is None and not e.passed(NOW + 10**9)


def test_extend_moves_from_the_later_of_now_and_expiry():
    assert exp.extended(exp.Expiry(NOW + 100, "label"), 1, NOW) == NOW + 100 + 3600
    assert exp.extended(exp.Expiry(NOW - 100, "label"), 1, NOW) == NOW + 3600
    with pytest.raises(ValueError, match="never expires"):
        exp.extended(exp.Expiry(None, "label"), 1, NOW)
    with pytest.raises(ValueError, match="hours"):
        exp.extended(exp.Expiry(NOW, "label"), 0, NOW)


def test_corrupt_expiry_label_keeps_ownership():
    labels = {"managed-by": "gke-lab", "gke-lab": "a", "gke-lab-expires": "garbage"}
    assert label_marker(labels).lab == "a"
    assert label_marker({"gke-lab": "a"}) is None
    assert label_marker({"managed-by": "gke-lab"}) is None


def decide(labs, unmarked=(), exclude=(), ttl=8.0):
    return {
        d.lab: d
        for d in reaping.decide(list(labs), list(unmarked), now=NOW, exclude=exclude, default_ttl_hours=ttl)
    }


def test_decisions_among_expired_unexpired_excluded_unlabelled_and_orphans():
    labs = [
        Lab(
            LabIdentity(project_id=PROJECT, lab="expired"),
            clusters=[cluster("expired", Marker("expired", NOW - 1).labels())],
        ),
        Lab(
            LabIdentity(project_id=PROJECT, lab="fresh"),
            clusters=[cluster("fresh", Marker("fresh", NOW + 3600).labels())],
        ),
        Lab(
            LabIdentity(project_id=PROJECT, lab="forever"),
            clusters=[cluster("forever", Marker("forever", 0).labels())],
        ),
        Lab(
            LabIdentity(project_id=PROJECT, lab="kept"),
            clusters=[cluster("kept", Marker("kept", NOW - 1).labels())],
        ),
        Lab(LabIdentity(project_id=PROJECT, lab="orphan"), others=[network("orphan", NOW - 1)]),
        Lab(LabIdentity(project_id=PROJECT, lab="provisioning"), others=[network("provisioning", NOW + 600)]),
        Lab(LabIdentity(project_id=PROJECT, lab="orphan-forever"), others=[network("orphan-forever", 0)]),
    ]
    unlabelled = Resource("cluster", "theirs", "us-west1", None, labels={"team": "x"})
    got = decide(labs, [unlabelled], exclude=["kept"])
    assert {k for k, d in got.items() if d.action == reaping.REAP} == {"expired", "orphan"}
    assert got["kept"].reason == "excluded"
    assert "not expired" in got["fresh"].reason
    assert got["forever"].reason == "never expires"
    assert "may still be provisioning" in got["provisioning"].reason
    assert got["-"].action == reaping.SKIP and "not managed by gke-lab" in got["-"].reason


def test_corrupt_label_uses_create_time_never_now():
    labels = {"managed-by": "gke-lab", "gke-lab": "a", "gke-lab-expires": "garbage"}
    young = Lab(
        LabIdentity(project_id=PROJECT, lab="a"),
        clusters=[cluster("a", labels, created="2027-01-15T07:00:00Z")],
    )  # 1 h old
    assert decide([young], ttl=8)["a"].action == reaping.SKIP
    old = Lab(
        LabIdentity(project_id=PROJECT, lab="a"),
        clusters=[cluster("a", labels, created="2027-01-14T07:00:00Z")],
    )  # 25 h old
    d = decide([old], ttl=8)["a"]
    assert d.action == reaping.REAP and "createTime+ttl" in d.reason


def test_report_markdown_says_what_and_why():
    assert "nothing found" in reaping.markdown(reaping.Plan([]))
    d = reaping.Decision("p", "a", reaping.REAP, "expired at X", "us-west1/c-a")
    text = reaping.markdown(reaping.Plan([d]), {"p/a": "3 resource(s) removed"}, dry_run=True)
    assert "would reap" in text and "3 resource(s) removed" in text and "dry run" in text


def test_expiry_past_year_9999_is_described_without_raising():
    far = 10**12  # what an unbounded `extend` can stamp
    assert "unix" in exp.Expiry(far, "label").describe()
    lab = Lab(
        LabIdentity(project_id=PROJECT, lab="far"), clusters=[cluster("far", Marker("far", far).labels())]
    )
    assert decide([lab])["far"].action == reaping.SKIP


def test_report_escapes_names_and_reasons():
    d = reaping.Decision(
        "p", "a|b`c\n# x", reaping.SKIP, "marker | with <b>pipes</b>\nand lines", "us-west1/c"
    )
    text = reaping.markdown(reaping.Plan([d]))
    rows = [line for line in text.splitlines() if line.startswith("| p ")]
    assert len(rows) == 1 and rows[0].count(" | ") == 5
    assert "\n# x" not in text and "<b>" not in text
