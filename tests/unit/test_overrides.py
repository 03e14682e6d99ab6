"""Dotted PATH=VALUE overrides: values are YAML, unknown paths are named."""

import pytest

from gke_lab.overrides import apply_overrides, parse_override
from gke_lab.spec import LabSpec, SpecError


def test_scalars():
    spec = apply_overrides(
        None,
        ["cluster.num_nodes=2", "cluster.autoscaling.max=3", "cluster.preemptible=false", "ttl_hours=0.5"],
    )
    assert spec.cluster.num_nodes == 2
    assert spec.cluster.autoscaling.max == 3
    assert spec.cluster.preemptible is False
    assert spec.ttl_hours == 0.5


def test_lists_and_mappings():
    spec = apply_overrides(
        LabSpec(),
        [
            "cluster.master_authorized_networks=[{cidr: 127.0.0.1/32, name: local}]",
            "cluster.node_locations=[us-west1-a, us-west1-b, us-west1-c]",
            "network.subnet={name: lab-subnet, cidr: 10.10.0.0/20}",
        ],
    )
    assert [(n.cidr, n.name) for n in spec.cluster.master_authorized_networks] == [("127.0.0.1/32", "local")]
    assert spec.cluster.node_locations == ["us-west1-a", "us-west1-b", "us-west1-c"]
    assert (spec.network.subnet.name, spec.network.subnet.cidr) == ("lab-subnet", "10.10.0.0/20")


def test_list_items_by_index():
    spec = apply_overrides(None, ["cluster.node_locations.1=us-west1-c", "cluster.tags[0]=lab-node"])
    assert spec.cluster.node_locations == ["us-west1-a", "us-west1-c"]
    assert spec.cluster.tags == ["lab-node"]
    spec = apply_overrides(None, ["cluster.master_authorized_networks[0].cidr=198.51.100.0/24"])
    assert spec.cluster.master_authorized_networks[0].cidr == "198.51.100.0/24"
    assert spec.cluster.master_authorized_networks[0].name == "operator"


def test_text_fields_keep_the_text():
    spec = apply_overrides(
        None, ["cluster.version=1.30", "cluster.maintenance_window.start=2020-11-28T17:00:00Z"]
    )
    assert spec.cluster.version == "1.30"
    assert spec.cluster.maintenance_window.start == "2020-11-28T17:00:00Z"
    assert apply_overrides(None, ["cluster.version=null"]).cluster.version is None


def test_overrides_on_a_partial_document_keep_defaults():
    spec = apply_overrides(
        {"project_id": "my-lab-project", "cluster": {"name": "c1"}}, ["cluster.num_nodes=2"]
    )
    assert spec.project_id == "my-lab-project"
    assert spec.cluster.name == "c1"
    assert spec.cluster.num_nodes == 2
    assert spec.cluster.machine_type == "e2-medium"
    assert spec.node_sa_email == "gke-node@my-lab-project.iam.gserviceaccount.com"


def test_original_spec_is_untouched():
    base = LabSpec()
    apply_overrides(base, ["cluster.num_nodes=2"])
    assert base.cluster.num_nodes == 1


@pytest.mark.parametrize(
    "override,path",
    [
        ("cluster.nodes=3", "cluster.nodes"),
        ("clusters.num_nodes=3", "clusters"),
        ("network.subnet.range=10.0.0.0/8", "network.subnet.range"),
        ("cluster.node_locations.5=us-west1-c", "cluster.node_locations.5"),
        ("cluster.num_nodes.x=1", "cluster.num_nodes.x"),
    ],
)
def test_unknown_path_is_named(override, path):
    with pytest.raises(SpecError) as info:
        apply_overrides(None, [override])
    assert path in dict(info.value.problems), info.value.problems


def test_malformed_overrides():
    with pytest.raises(SpecError) as info:
        apply_overrides(None, ["cluster.num_nodes"])
    assert "PATH=VALUE" in info.value.problems[0][1]
    with pytest.raises(SpecError) as info:
        apply_overrides(None, ["cluster..name=x"])
    assert "empty path segment" in info.value.problems[0][1]
    with pytest.raises(SpecError) as info:
        apply_overrides(None, ["cluster.tags=[a, b"])
    assert info.value.problems[0][0] == "cluster.tags"


def test_unknown_path_and_invalid_value_reported_together():
    with pytest.raises(SpecError) as info:
        apply_overrides(None, ["cluster.bogus=1", "cluster.num_nodes=9"])
    paths = [p for p, _ in info.value.problems]
    assert "cluster.bogus" in paths and "cluster.num_nodes" in paths


def test_parse_override():
    assert parse_override("a.b[2].c={x: 1}") == (["a", "b", "2", "c"], {"x": 1})
    assert parse_override("lab=") == (["lab"], "")
