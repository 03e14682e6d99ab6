"""The deployment form: every flow parameter has a title and a description (from the docstring's Args)."""

from __future__ import annotations

import importlib

import pytest
from prefect.utilities.callables import parameter_schema

from tests.deploy.test_hooks import ALL_FLOWS


@pytest.mark.parametrize("module,name", ALL_FLOWS)
def test_every_flow_parameter_has_title_and_description(module, name):
    lab_flow = getattr(importlib.import_module(module), name)
    schema = parameter_schema(lab_flow)
    assert set(schema.properties) == set(lab_flow.parameters.properties)
    missing = [
        key
        for key, prop in schema.properties.items()
        if not prop.get("title") or not (prop.get("description") or "").strip()
    ]
    assert not missing, f"{name}: parameters without a description: {missing}"
