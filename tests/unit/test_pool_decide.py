"""The pool's decisions as pure functions on a census and a clock: how many labs to make and where, which to
reap, a class's timeline, the expected wait, who may claim, and what a cluster's labels make of a lab."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

import pytest
from google.cloud import container_v1

from gke_lab import inventory, pools
from gke_lab.inventory import Resource
from gke_lab.ownership import Marker
from gke_lab.pool_spec import PoolSpec
from gke_lab.pools import Census, InFlightRun, NewLab, PoolLab, PoolState
from gke_lab.quotas import Placement

A, B = "proj-a-1234", "proj-b-1234"
NOW = 1_800_000_000.0
HOUR = 3600.0
PROVISION = 600.0


def pool(**changes) -> PoolSpec:
    return PoolSpec.model_validate({"name": "ws", "projects": [A, B], **changes})


def lab(name: str, state: PoolState, project: str = A, created: float | None = NOW - 60, **kw) -> PoolLab:
    return PoolLab(
        f"ws-{name}", project, state, location="us-west1", cluster=f"gke-ws-{name}", created=created, **kw
    )


def namer():
    numbers = count()
    return lambda _pool: f"ws-{next(numbers):06x}"


def decide(spec: PoolSpec, *labs: PoolLab, now: float = NOW, **kw) -> pools.PoolDecision:
    return pools.decide(spec, Census("ws", labs), now, provision_seconds=PROVISION, name=namer(), **kw)


def test_an_empty_pool_fills_to_its_hot_size_spread_over_its_projects():
    decision = decide(pool(hot_size=2))
    assert decision.provision == (NewLab("ws-000000", A), NewLab("ws-000001", B))
    assert decision.target_ready == 2 and decision.reap == () and decision.blocked == ()


def test_ready_and_in_flight_labs_count_failed_and_reaping_ones_do_not():
    full = decide(pool(hot_size=2), lab("000001", PoolState.READY), lab("000002", PoolState.PROVISIONING))
    assert full.provision == ()
    gone = decide(pool(hot_size=2), lab("000001", PoolState.FAILED), lab("000002", PoolState.REAPING))
    assert len(gone.provision) == 2


def test_never_above_max_size_counting_claimed_labs_and_says_so():
    decision = decide(
        pool(hot_size=2, max_size=3), lab("000001", PoolState.CLAIMED), lab("000002", PoolState.CLAIMED)
    )
    assert len(decision.provision) == 1
    assert decision.blocked == ("max_size 3 reached: 0 ready, 0 provisioning, 2 claimed",)


def test_new_labs_go_to_the_least_loaded_project_first():
    decision = decide(
        pool(hot_size=2, max_size=5), lab("000001", PoolState.CLAIMED, A), lab("000002", PoolState.CLAIMED, A)
    )
    assert [n.project for n in decision.provision] == [B, B]
    decision = decide(pool(hot_size=3, max_size=5), lab("000001", PoolState.CLAIMED, B))
    assert [n.project for n in decision.provision] == [A, A, B]


def test_only_where_the_quotas_say_a_lab_fits_and_the_rest_is_blocked_naming_the_quota():
    placed = Placement((B, "proj-elsewhere"), ("project proj-a-1234: CPUS needs 6, 2 free of 24",))
    decision = decide(pool(hot_size=2), placement=placed)
    assert decision.provision == (NewLab("ws-000000", B),)
    assert decision.blocked == ("project proj-a-1234: CPUS needs 6, 2 free of 24",)
    assert decide(pool(hot_size=2), placement=Placement((), ())).blocked == (
        f"quotas: only 0 of 2 new labs fit in {A}, {B}",
    )


def test_ready_labs_idle_past_their_ttl_are_reaped_and_replaced_in_the_same_pass():
    old = lab("000001", PoolState.READY, created=NOW - 9 * HOUR)
    young = lab("000002", PoolState.READY, created=NOW - 7 * HOUR)
    unknown = lab("000003", PoolState.READY, created=None)
    decision = decide(pool(hot_size=3, max_size=4, idle_ttl_hours=8), old, young, unknown)
    assert decision.reap == (old,)  # never reaped on a guess when the creation time is unknown
    assert len(decision.provision) == 1


def test_a_claimed_lab_is_never_reaped_for_idleness():
    claimed = lab("000001", PoolState.CLAIMED, created=NOW - 100 * HOUR)
    assert decide(pool(), claimed).reap == ()


def test_a_class_fills_before_its_start_reaps_unclaimed_seats_after_the_grace_and_everything_at_the_end():
    start = datetime.fromtimestamp(NOW, UTC) + timedelta(hours=2)
    schedule = {"seats": 4, "start": start.isoformat(), "end": (start + timedelta(hours=3)).isoformat()}
    spec = pool(hot_size=0, max_size=6, class_schedule={**schedule, "grace_minutes": 20})
    begin = start.timestamp()
    margin = PROVISION * 1.5 + 300
    assert decide(spec, now=begin - margin - 1).provision == ()
    assert len(decide(spec, now=begin - margin).provision) == 4
    ready, claimed = lab("000001", PoolState.READY, created=begin - 900), lab("000002", PoolState.CLAIMED)
    at_start = decide(spec, ready, claimed, now=begin)
    assert at_start.provision == () and at_start.reap == ()
    after_grace = decide(spec, ready, claimed, now=begin + 20 * 60)
    assert after_grace.reap == (ready,) and after_grace.provision == ()
    at_end = decide(spec, ready, claimed, lab("000003", PoolState.PROVISIONING), now=begin + 3 * HOUR)
    assert set(at_end.reap) == {ready, claimed} and at_end.provision == () and at_end.target_ready == 0


def test_new_names_never_repeat_a_lab_of_the_census():
    taken = lab("000000", PoolState.CLAIMED)
    decision = decide(pool(hot_size=1), taken)
    assert decision.provision == (NewLab("ws-000001", B),)


def test_a_census_of_another_pool_is_refused():
    with pytest.raises(ValueError, match="census of pool 'other'"):
        pools.decide(pool(), Census("other"), NOW, provision_seconds=PROVISION)


def test_new_lab_names_are_the_pool_and_six_hex():
    assert pools._lab_name_rule("ws").fullmatch(pools.new_lab_name(pool()))


def test_expected_wait():
    census = Census(
        "ws", (lab("000001", PoolState.READY), lab("000002", PoolState.PROVISIONING, created=NOW - 100))
    )
    assert pools.expected_wait_seconds(census, PROVISION, 1) == 0
    assert pools.expected_wait_seconds(census, PROVISION, 2) == PROVISION
    assert pools.expected_wait_seconds(census, PROVISION, 2, now=NOW) == PROVISION - 100
    assert pools.expected_wait_seconds(census, PROVISION, 3, now=NOW) == PROVISION
    with pytest.raises(ValueError, match="queue_position"):
        pools.expected_wait_seconds(census, PROVISION, 0)


@pytest.mark.parametrize(
    ("claimers", "identity", "allowed"),
    [
        (["*"], "anyone@example.com", True),
        (["alice@example.com"], "Alice@Example.com", True),
        (["alice@example.com"], "bob@example.com", False),
        (["domain:example.com"], "bob@example.com", True),
        (["domain:example.com"], "bob@evil-example.com", False),
        (["domain:example.com"], "bob@sub.example.com", False),
        (["*"], "not-an-email", False),
        (["alice@example.com"], "alice@example.\u212aom", False),
    ],
)
def test_may_claim(claimers, identity, allowed):
    assert pools.may_claim(pool(claimers=claimers), identity) is allowed


def cluster(name: str, labels: dict[str, str], status: str = "RUNNING") -> Resource:
    raw = container_v1.Cluster(
        name=name,
        location="us-west1",
        status=container_v1.Cluster.Status[status],
        endpoint="10.0.0.1",
        label_fingerprint="abc",
        resource_labels=labels,
        create_time="2027-01-15T08:00:00+00:00",
    )
    return Resource(
        "cluster",
        name,
        "us-west1",
        Marker.from_labels(labels),
        labels=labels,
        raw=raw,
        create_time=raw.create_time,
    )


def pool_labels(lab_name: str = "ws-0a1b2c", **extra: str) -> dict[str, str]:
    return {**Marker(lab_name, 2_000_000_000).labels(), pools.LABEL_POOL: "ws", **extra}


@pytest.mark.parametrize(
    ("labels", "why"),
    [
        ({**pool_labels(), "managed-by": "someone"}, "no valid ownership marker"),
        (pool_labels("mylab"), "not named like a lab of pool ws"),
        (pool_labels(**{pools.LABEL_POOL_STATE: "free"}), "'free' is not a pool state"),
        (pool_labels(**{pools.LABEL_POOL_STATE: "claimed"}), "claimed without"),
        (
            pool_labels(**{pools.LABEL_POOL_STATE: "ready", pools.LABEL_CLAIMED_BY: "x-1"}),
            "ready yet carries",
        ),
    ],
)
def test_malformed_pool_labels_make_no_pool_lab(labels, why):
    found = pools.read_lab(A, cluster("gke-x", labels), "ws")
    assert isinstance(found, str) and why in found


def test_labels_make_the_state_and_a_cluster_of_another_pool_is_none_of_ours():
    ready = pools.read_lab(A, cluster("gke-x", pool_labels(**{pools.LABEL_POOL_STATE: "ready"})), "ws")
    assert isinstance(ready, PoolLab)
    assert (ready.state, ready.status, ready.label_fingerprint, ready.expires) == (
        PoolState.READY,
        "RUNNING",
        "abc",
        2_000_000_000,
    )
    assert ready.cluster_name == f"projects/{A}/locations/us-west1/clusters/gke-x"
    making = pools.read_lab(A, cluster("gke-x", pool_labels()), "ws")
    assert isinstance(making, PoolLab) and making.state is PoolState.PROVISIONING
    broken = pools.read_lab(A, cluster("gke-x", pool_labels(), status="ERROR"), "ws")
    assert isinstance(broken, PoolLab) and broken.state is PoolState.FAILED
    assert pools.read_lab(A, cluster("gke-x", {**pool_labels(), pools.LABEL_POOL: "other"}), "ws") is None


def test_census_joins_clusters_and_runs(monkeypatch):
    listed = {
        A: [cluster("gke-ws-0a0a0a", pool_labels("ws-0a0a0a", **{pools.LABEL_POOL_STATE: "ready"}))],
        B: [cluster("gke-ws-0b0b0b", pool_labels("ws-0b0b0b")), cluster("gke-bad", pool_labels("bad"))],
    }
    monkeypatch.setattr(inventory, "clusters", lambda clients, project, locations=("-",): listed[project])
    runs = [
        InFlightRun("ws-0a0a0a", A, NOW),  # its cluster is there: the cluster says
        InFlightRun("ws-0b0b0b", B, NOW, failed_reason="verification failed"),  # never becomes ready
        InFlightRun("ws-0c0c0c", A, NOW),
        InFlightRun("ws-0d0d0d", B, NOW - 5, failed_reason="quota"),
        InFlightRun("ws-0e0e0e", "not-this-pools-project", NOW),
        InFlightRun("other-0f0f0f", A, NOW),
    ]
    census = pools.census(None, pool(), runs)  # type: ignore[arg-type]
    states = {item.lab: (item.state, item.reason) for item in census.labs}
    assert states == {
        "ws-0a0a0a": (PoolState.READY, ""),
        "ws-0b0b0b": (PoolState.FAILED, "verification failed"),
        "ws-0c0c0c": (PoolState.PROVISIONING, ""),
        "ws-0d0d0d": (PoolState.FAILED, "quota"),
    }
    assert len(census.ignored) == 1 and "gke-bad" in census.ignored[0]


def test_status_table_shows_each_state_and_escapes_what_labels_and_runs_say():
    census = Census(
        "ws",
        (
            lab(
                "000001", PoolState.CLAIMED, claimed_by="alice-example-com-1a2b3c4d", expires=int(NOW + HOUR)
            ),
            lab("000002", PoolState.FAILED, reason="boom | <script>\nnext"),
            lab("000003", PoolState.READY, created=NOW - 2 * HOUR),
        ),
    )
    rows = pools.status_rows(census, NOW)
    assert [r.state for r in rows] == [PoolState.READY, PoolState.CLAIMED, PoolState.FAILED]
    assert rows[0].since == "2h00m" and rows[1].owner == "alice-example-com-1a2b3c4d"
    from gke_lab.cost import hourly
    from gke_lab.spec import LabSpec

    cost = hourly(LabSpec())
    text = pools.status_markdown(pool(), census, NOW, cost)
    assert "1 ready, 0 provisioning, 1 claimed, 0 reaping, 1 failed" in text
    # The idle pool is the one ready lab; a price the table lacks keeps its "at least" caveat.
    assert f"Cost: {cost.summary()} per lab; the idle pool: {cost.summary(1)}" in text
    assert cost.complete or "at least $" in text
    assert "boom \\| \\<script\\> next" in text
    assert "Cost" not in pools.status_markdown(pool(), census, NOW, None)


def test_a_census_counts_no_lab_in_a_project_whose_container_api_was_never_enabled():
    """A pool's project that never had a lab has the Kubernetes Engine API off: GKE answers 403
    SERVICE_DISABLED, which means no cluster can exist there (not a failure of the whole census)."""
    from types import SimpleNamespace

    from google.api_core import exceptions as gexc

    disabled = gexc.PermissionDenied(
        "Kubernetes Engine API has not been used in project 1 before or it is disabled. SERVICE_DISABLED"
    )
    other = gexc.PermissionDenied("Required 'container.clusters.list' permission")

    def listing(error: Exception):
        def list_clusters(parent: str):
            if f"projects/{B}/" in parent:
                raise error
            return SimpleNamespace(clusters=[])

        return SimpleNamespace(container=SimpleNamespace(list_clusters=list_clusters))

    census = pools.census(listing(disabled), pool(projects=[A, B]), [InFlightRun("ws-0a1b2c", B, NOW)])
    assert [(lab.lab, lab.project, lab.state) for lab in census.labs] == [
        ("ws-0a1b2c", B, PoolState.PROVISIONING)
    ]
    with pytest.raises(Exception, match="container.clusters.list"):
        pools.census(listing(other), pool(projects=[A, B]))


def test_a_class_begins_early_enough_for_all_its_seats_at_the_provisions_allowed_at_once():
    """30 seats, at most PROVISIONS_AT_ONCE provisions at a time (provision-lab's concurrency limit): the
    fill takes ceil(30 / 4) = 8 rounds, so it must begin at least 8 provision times before the start."""
    seats = 30
    rounds = -(-seats // pools.PROVISIONS_AT_ONCE)
    assert pools.provision_margin(PROVISION, seats) >= rounds * PROVISION
    assert pools.provision_margin(PROVISION, 1) < pools.provision_margin(PROVISION, seats)


def test_provisions_at_once_is_the_provision_deployments_concurrency_limit():
    import yaml

    from tests.docs.runnable import REPO

    declared = yaml.safe_load((REPO / "prefect.yaml").read_text())["deployments"]
    (provision,) = [d for d in declared if d["name"] == "provision-lab"]
    assert provision["concurrency_limit"]["limit"] == pools.PROVISIONS_AT_ONCE
