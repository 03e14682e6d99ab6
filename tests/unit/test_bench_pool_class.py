"""The class benchmark's judgements (bench/pool_class.py), without a stack: ready by the start, reaped only
after the grace period, seats the quotas cannot hold named with the quota."""

from __future__ import annotations

from bench.pool_class import (
    ClassOutcome,
    ReadyTimeline,
    placed_per_project,
    reaped_too_early,
    seats_text,
)


def test_ready_timeline_counts_labs_ready_by_the_start_and_says_how_early():
    timeline = ReadyTimeline(start=1000.0, first_ready={"c-1": 700.0, "c-2": 1000.0, "c-3": 1012.5})
    assert timeline.ready_by_start() == ["c-1", "c-2"]
    assert timeline.seconds_before_start() == [300.0, 0.0, -12.5]


def test_outcome_wants_every_seat_the_quotas_fit_and_nothing_left():
    good = ClassOutcome(seats=30, fit=24, ready_at_start=24)
    assert good.ok and good.wanted == 24
    short = ClassOutcome(seats=30, fit=30, ready_at_start=29, labs_left=1, leftovers=("p: networks x",))
    assert not short.ok
    assert short.problems() == [
        "29 of 30 seats ready at the start",
        "1 lab(s) of the pool left after the end",
        "1 resource(s) left in the emulator",
    ]


def test_outcome_refuses_early_reaping_unreaped_seats_and_failed_runs():
    outcome = ClassOutcome(
        seats=2,
        fit=2,
        ready_at_start=2,
        reaped_before_grace=("c-1",),
        unclaimed_after_grace=("c-2",),
        failed_runs=("provision-lab x: boom",),
    )
    assert outcome.problems() == [
        "reaped before the grace period ended: c-1",
        "unclaimed and never reaped: c-2",
        "1 run(s) failed",
    ]


def test_reaped_too_early_ignores_claimed_labs_and_reaps_after_the_grace():
    reaping = {"c-1": 90.0, "c-2": 130.0, "c-3": 50.0}
    assert reaped_too_early(reaping, claimed=["c-3"], grace_end=100.0) == ["c-1"]


def test_seats_text_names_the_quota_that_keeps_seats_out():
    assert seats_text(30, 30, 30, []) == "30/30"
    blocked = ["project a: IN_USE_ADDRESSES needs 1, 0 free of 8"]
    assert seats_text(24, 30, 24, blocked) == (
        "24/30 (quotas fit 24: project a: IN_USE_ADDRESSES needs 1, 0 free of 8)"
    )


def test_placed_per_project_counts_each_lab_of_the_pool_once():
    def run(lab: str, project: str, flow: str = "provision-lab", pool: str = "bench-class") -> dict:
        return {
            "flow_name": flow,
            "tags": ["gke-lab", f"gke-lab-pool:{pool}", f"lab:{lab}", f"project:{project}"],
        }

    runs = [
        run("bench-class-000001", "a"),
        run("bench-class-000001", "a"),  # tried twice: one lab
        run("bench-class-000002", "b"),
        run("bench-class-000002", "b", flow="teardown-lab"),
        run("other-000003", "b", pool="other"),
    ]
    assert placed_per_project(runs) == {"a": 1, "b": 1}


def test_outcome_refuses_labs_placed_beyond_the_quotas():
    outcome = ClassOutcome(seats=30, fit=24, ready_at_start=24, placed=30)
    assert outcome.problems() == ["30 labs placed where the quotas fit 24"]
