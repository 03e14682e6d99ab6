"""The JSON schema (what the Prefect form renders) shows every default, and defaults are never shared."""

from __future__ import annotations

import typing

from pydantic import BaseModel
from pydantic_core import PydanticUndefined, to_jsonable_python

from gke_lab.spec import LabSpec


def _models(model: type[BaseModel], seen: dict[str, type[BaseModel]]) -> dict[str, type[BaseModel]]:
    seen[model.__name__] = model
    for info in model.model_fields.values():
        for candidate in (info.annotation, *typing.get_args(info.annotation)):
            if (
                isinstance(candidate, type)
                and issubclass(candidate, BaseModel)
                and candidate.__name__ not in seen
            ):
                _models(candidate, seen)
    return seen


def test_every_default_is_in_the_json_schema_nested_models_included():
    schema = LabSpec.model_json_schema()
    models = _models(LabSpec, {})
    assert {"NetworkSpec", "ClusterSpec", "AuthorizedNetwork", "MaintenanceWindow"} <= set(models)
    checked, missing = 0, []
    for name, model in models.items():
        props = schema["properties"] if model is LabSpec else schema["$defs"][name]["properties"]
        for field, info in model.model_fields.items():
            if info.is_required():
                continue
            expected = to_jsonable_python(
                info.get_default(call_default_factory=True), by_alias=True, round_trip=True
            )
            checked += 1
            if props[field].get("default", PydanticUndefined) != expected:
                missing.append(f"{name}.{field}")
    assert not missing, f"defaults missing from the schema: {missing}"
    assert checked > 40


def test_list_fields_show_their_defaults():
    cluster = LabSpec.model_json_schema()["$defs"]["ClusterSpec"]["properties"]
    assert cluster["node_locations"]["default"] == ["us-west1-a", "us-west1-b"]
    assert cluster["tags"]["default"] == ["gke-node"]
    assert cluster["master_authorized_networks"]["default"] == [
        {"cidr": "203.0.113.7/32", "name": "operator"}
    ]


def test_default_values_are_copied_per_instance():
    first = LabSpec()
    first.cluster.tags.append("extra")
    first.cluster.addons.clear()
    first.cluster.master_authorized_networks[0].name = "changed"
    first.node_service_account.roles.pop()
    first.network.subnet.name = "changed"
    first.cluster.autoscaling.max = 9
    fresh = LabSpec()
    assert fresh.cluster.tags == ["gke-node"]
    assert fresh.cluster.addons == ["HorizontalPodAutoscaling", "HttpLoadBalancing"]
    assert fresh.cluster.master_authorized_networks[0].name == "operator"
    assert len(fresh.node_service_account.roles) == 3
    assert fresh.network.subnet.name == "gke-subnet"
    assert fresh.cluster.autoscaling.max == 2
    assert LabSpec.model_construct().cluster.tags is not fresh.cluster.tags
