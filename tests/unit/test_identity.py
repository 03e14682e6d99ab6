"""One lab identity: validated like the spec, a flow parameter, and lock names that never collide."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from gke_lab.identity import LabIdentity
from gke_lab.spec import LabSpec


def test_from_spec_names_project_lab_and_region():
    spec = LabSpec(project_id="team-a-proj", lab="demo")
    ident = LabIdentity.from_spec(spec)
    assert (ident.project_id, ident.lab, ident.regions) == ("team-a-proj", "demo", ("us-west1",))


def test_json_shape_is_the_teardown_parameter_shape():
    ident = LabIdentity.model_validate(
        {"project_id": "gke-detail", "lab": "cluster", "regions": ["us-west1"]}
    )
    assert ident.model_dump(mode="json") == {
        "project_id": "gke-detail",
        "lab": "cluster",
        "regions": ["us-west1"],
    }
    assert LabIdentity.model_validate_json(ident.model_dump_json()) == ident


def test_lock_name_is_the_spec_lock_name():
    spec = LabSpec()
    assert LabIdentity.from_spec(spec).lock_name == "gke-lab:gke-detail:cluster" == spec.concurrency_key


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("team-a-x", "demo"), ("team-a", "x-demo")),
        (("proj-one-two", "lab"), ("proj-one", "two-lab")),
    ],
)
def test_lock_and_heartbeat_names_do_not_collide_across_labs(first, second):
    a = LabIdentity(project_id=first[0], lab=first[1])
    b = LabIdentity(project_id=second[0], lab=second[1])
    assert a.lock_name != b.lock_name
    assert a.heartbeat_name != b.heartbeat_name


@pytest.mark.parametrize(
    "bad",
    [
        {"project_id": "gke-detail", "lab": "Not A Lab"},
        {"project_id": "gke-detail", "lab": "demo\n"},
        {"project_id": "gke-detail", "lab": "a_b"},
        {"project_id": "gke-detail", "lab": "a:b"},
        {"project_id": "UPPER", "lab": "demo"},
        {"project_id": "gke:detail", "lab": "demo"},
        {"project_id": "gke-detail", "lab": "demo", "regions": ["us-west1\n"]},
    ],
)
def test_hostile_identity_is_refused(bad):
    with pytest.raises(ValidationError):
        LabIdentity.model_validate(bad)


def test_identity_is_frozen_and_hashable():
    ident = LabIdentity(project_id="gke-detail", lab="cluster")
    with pytest.raises(ValidationError):
        ident.lab = "other"  # type: ignore[misc]
    assert {ident: 1}[LabIdentity(project_id="gke-detail", lab="cluster")] == 1


def test_heartbeat_records_of_the_lock_do_not_collide():
    from flows.lab_lock import lock_name, record_name

    a = LabSpec(project_id="team-a-x", lab="demo")
    b = LabSpec(project_id="team-a", lab="x-demo")
    assert record_name(lock_name(a)) != record_name(lock_name(b))
