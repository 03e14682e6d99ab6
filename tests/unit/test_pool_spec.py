"""A pool as data: every refusal names its field, and a lab's `pool` reaches its cluster's labels the same
way in the plan and in the run (and a live cluster of another pool is reported, not taken over)."""

from __future__ import annotations

import pytest
from google.cloud import container_v1

from gke_lab.overrides import apply_overrides
from gke_lab.ownership import Marker
from gke_lab.plan import build_plan
from gke_lab.pool_spec import PoolSpec
from gke_lab.pools import LABEL_POOL, NewLab, lab_overrides
from gke_lab.requests import build_cluster
from gke_lab.resources.cluster import setting_differences
from gke_lab.spec import LabSpec, SpecError

GOOD = {"name": "workshop", "projects": ["proj-a-1234", "proj-b-1234"]}


def refusal(data: dict) -> dict[str, str]:
    with pytest.raises(SpecError) as caught:
        PoolSpec.from_data(data)
    assert str(caught.value).startswith("invalid pool spec:")
    return dict(caught.value.problems)


def test_a_good_pool_and_its_defaults():
    pool = PoolSpec.from_data(GOOD)
    assert (pool.hot_size, pool.max_size, pool.claimers, pool.class_schedule) == (2, 4, ["*"], None)


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"name": "Workshop"}, "name", "not a pool name"),
        ({"name": "a" * 21}, "name", "not a pool name"),
        ({"projects": []}, "projects", "at least 1"),
        ({"projects": ["proj-a-1234", "UPPER"]}, "projects[1]", "not a valid project ID"),
        ({"projects": ["proj-a-1234", "proj-a-1234"]}, "projects[1]", "listed twice"),
        ({"blueprint": "../etc"}, "blueprint", "not a blueprint name"),
        ({"hot_size": 5, "max_size": 3}, "hot_size", "exceeds max_size"),
        ({"hot_size": True}, "hot_size", "valid integer"),
        ({"ttl_hours": "4"}, "ttl_hours", "valid number"),
        ({"ttl_hours": 0}, "ttl_hours", "greater than 0"),
        ({"idle_ttl_hours": float("nan")}, "idle_ttl_hours", "finite"),
        ({"claimers": []}, "claimers", "at least 1"),
        ({"claimers": ["alice"]}, "claimers[0]", "not a claimer"),
        ({"colour": "red"}, "colour", "accepted: the fields name, blueprint"),
        ({"overrides": ["cluster.num_nodes"]}, "overrides[0]", "PATH=VALUE"),
        ({"overrides": ["cluster.nodes=2"]}, "overrides[0]", "unknown field 'nodes'"),
        ({"overrides": ["cluster.num_nodes=[1"]}, "overrides[0]", "not valid YAML"),
    ],
)
def test_each_refusal_names_its_field(change, field, words):
    problems = refusal({**GOOD, **change})
    assert field in problems, problems
    assert words in problems[field]


@pytest.mark.parametrize("chosen", ["lab=mine", "project_id=other-project", "pool=other", "ttl_hours=99"])
def test_overrides_may_not_set_what_the_pool_chooses(chosen):
    problems = refusal({**GOOD, "overrides": ["cluster.num_nodes=2", chosen]})
    assert list(problems) == ["overrides[1]"]
    assert f"sets {chosen.split('=')[0]}, which the pool chooses" in problems["overrides[1]"]


def test_class_schedule_refusals_name_the_nested_field():
    start, end = "2026-12-04T09:00:00Z", "2026-12-04T17:00:00Z"
    assert (
        "no time zone"
        in refusal({**GOOD, "class_schedule": {"seats": 2, "start": start[:-1], "end": end}})[
            "class_schedule.start"
        ]
    )
    assert (
        "not after the start"
        in refusal({**GOOD, "class_schedule": {"seats": 2, "start": end, "end": start}})["class_schedule.end"]
    )
    seats = refusal({**GOOD, "class_schedule": {"seats": 5, "start": start, "end": end}})
    assert "exceeds max_size" in seats["class_schedule.seats"]
    extra = refusal({**GOOD, "class_schedule": {"seats": 2, "start": start, "end": end, "room": 1}})
    assert "seats, start, end, grace_minutes" in extra["class_schedule.room"]


def test_a_mapping_is_required():
    assert refusal(["workshop"]) == {"(pool)": "expected a mapping of fields, got list"}  # type: ignore[arg-type]


def test_lab_pool_field_is_checked_like_a_pool_name():
    assert apply_overrides(None, ["pool=workshop"]).pool == "workshop"
    assert LabSpec().pool is None
    with pytest.raises(SpecError) as caught:
        apply_overrides(None, ["pool=Work_shop"])
    assert caught.value.problems[0][0] == "pool"


def test_the_cluster_carries_the_pool_label_in_the_plan_and_in_the_run():
    spec = apply_overrides(None, ["lab=workshop-0a1b2c", "pool=workshop"])
    body = build_cluster(spec, None, Marker(spec.lab, 100))
    assert dict(body.resource_labels) == {**Marker(spec.lab, 100).labels(), LABEL_POOL: "workshop"}
    plan = build_plan(spec, now=0)
    assert plan.cluster_request["cluster"]["resourceLabels"][LABEL_POOL] == "workshop"
    ordinary = apply_overrides(None, ["lab=alone"])
    assert LABEL_POOL not in build_cluster(ordinary, None, Marker("alone", 100)).resource_labels


def test_a_live_cluster_of_another_pool_or_of_none_differs_from_the_spec():
    spec = apply_overrides(None, ["lab=workshop-0a1b2c", "pool=workshop"])
    live = build_cluster(spec, "1.30", Marker(spec.lab, 100))
    assert setting_differences(spec, live) == []
    other = container_v1.Cluster(live)
    other.resource_labels[LABEL_POOL] = "elsewhere"
    (diff,) = setting_differences(spec, other)
    assert (diff.field, diff.live, diff.spec) == (f"resource_labels.{LABEL_POOL}", "elsewhere", "workshop")
    (none,) = setting_differences(spec.model_copy(update={"pool": None}), live)
    assert (none.live, none.spec) == ("workshop", None)


def test_lab_overrides_give_the_lab_its_names_and_the_pool_the_last_word():
    pool = PoolSpec.from_data({**GOOD, "overrides": ["cluster.num_nodes=2"], "idle_ttl_hours": 3})
    new = NewLab("workshop-0a1b2c", "proj-b-1234")
    overrides = lab_overrides(pool, new, ["lab=sneaky", "cluster.name=mine"])
    spec = apply_overrides(None, overrides)
    assert (spec.lab, spec.project_id, spec.pool, spec.ttl_hours) == (
        "workshop-0a1b2c",
        "proj-b-1234",
        "workshop",
        3.0,
    )
    assert spec.cluster.num_nodes == 2
    assert spec.cluster.name == "mine"  # an explicit name wins over the derived one
    assert spec.network.name == "gke-workshop-0a1b2c-network"


def test_one_refusal_lists_field_and_cross_field_problems_together():
    problems = refusal(
        {**GOOD, "name": "Ws", "projects": ["proj-a-1234", "proj-a-1234"], "hot_size": 5, "max_size": 3}
    )
    assert set(problems) == {"name", "projects[1]", "hot_size"}
