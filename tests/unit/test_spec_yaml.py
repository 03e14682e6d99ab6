"""YAML load/dump of the spec."""

import pytest

from gke_lab.spec import LabSpec, SpecError
from gke_lab.spec_file import load_spec


def test_round_trip_default():
    spec = LabSpec()
    again = LabSpec.from_yaml(spec.to_yaml())
    assert again == spec


def test_round_trip_customised(tmp_path):
    spec = LabSpec.from_data(
        {
            "project_id": "training-42",
            "lab": "alice",
            "cluster": {
                "name": "alice",
                "version": "1.30",
                "release_channel": "STABLE",
                "auto_upgrade": True,
            },
            "echo": {"image": "us-docker.pkg.dev/google-samples/containers/gke/hello-app:1.0"},
        }
    )
    path = tmp_path / "lab.yaml"
    path.write_text(spec.to_yaml())
    assert LabSpec.from_yaml(path) == spec
    assert LabSpec.from_yaml(str(path)) == spec
    assert load_spec(str(path), []) == spec


def test_unquoted_yaml_times_are_kept_as_rfc3339_text():
    spec = LabSpec.from_yaml(
        "cluster:\n  maintenance_window:\n    start: 2020-11-28T17:00:00Z\n    end: 2020-11-28T23:00:00Z\n"
    )
    assert spec.cluster.maintenance_window.start == "2020-11-28T17:00:00Z"
    assert spec.cluster.maintenance_window.end == "2020-11-28T23:00:00Z"


def test_empty_document_is_the_default():
    assert LabSpec.from_yaml("") == LabSpec()
    assert load_spec(None, []) == LabSpec()


def test_yaml_errors_name_fields(tmp_path):
    with pytest.raises(SpecError) as info:
        LabSpec.from_yaml("cluster:\n  name: Bad_Name\n  num_nodes: 7\nextra: 1\n")
    paths = [p for p, _ in info.value.problems]
    assert "cluster.name" in paths and "extra" in paths and "cluster.num_nodes" in paths
    with pytest.raises(SpecError) as info:
        LabSpec.from_yaml("- a list\n")
    assert "mapping" in info.value.problems[0][1]
    with pytest.raises(SpecError) as info:
        load_spec(str(tmp_path / "missing.yaml"), [])
    assert "cannot read" in info.value.problems[0][1]
    bad = tmp_path / "bad.yaml"
    bad.write_text("cluster: [unclosed\n")
    with pytest.raises(SpecError) as info:
        load_spec(str(bad), [])
    assert "not valid YAML" in info.value.problems[0][1]


def test_load_spec_applies_overrides(tmp_path):
    path = tmp_path / "lab.yml"
    path.write_text("lab: bob\ncluster:\n  num_nodes: 2\n")
    spec = load_spec(path, ["cluster.autoscaling.max=4"])
    assert (spec.lab, spec.cluster.num_nodes, spec.cluster.autoscaling.max) == ("bob", 2, 4)
