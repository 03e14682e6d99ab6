"""One gateway for REST and gRPC: an unexpected exception is answered and logged as a 500 with a trace."""

from __future__ import annotations

import pytest
from google.api_core import exceptions as gexc

from emulator.compute import ComputeService
from emulator.iam import IamService
from emulator.routing import Route, Router, ServiceRoutes
from tests.emulator.helpers import make_clients
from tests.fixtures_emulator import PROJECT


def _broken(*args, **kwargs):
    raise RuntimeError("a bug in a service")


def _broken_get_network(self, project, name):  # the route binds by the handler's parameter names
    raise RuntimeError("a bug in a service")


def _last_entry(emu, api: str) -> dict:
    return [e for e in emu.log.since(0) if e["api"] == api][-1]


def test_an_unexpected_rest_exception_is_a_500_logged_with_its_trace(emulator_factory, monkeypatch):
    monkeypatch.setattr(ComputeService, "get_network", _broken_get_network)
    emu = emulator_factory()  # routes bind the service's methods when the server starts
    c = make_clients(emu)
    try:
        with pytest.raises(gexc.InternalServerError, match="a bug in a service"):
            c.networks.get(project=PROJECT, network="default", retry=None)
    finally:
        c.close()
    entry = _last_entry(emu, "compute")
    assert entry["status"] == 500 and entry["path"].endswith("/global/networks/default")
    assert entry["project"] == PROJECT
    assert "RuntimeError: a bug in a service" in entry["trace"] and "_broken_get_network" in entry["trace"]


def test_an_unexpected_grpc_exception_is_a_500_logged_with_its_trace(emulator_factory, monkeypatch):
    monkeypatch.setattr(IamService, "get", _broken)
    emu = emulator_factory()
    c = make_clients(emu)
    name = f"projects/{PROJECT}/serviceAccounts/nobody@{PROJECT}.iam.gserviceaccount.com"
    try:
        with pytest.raises(gexc.InternalServerError, match="a bug in a service"):
            c.iam.get_service_account(name=name, retry=None)
    finally:
        c.close()
    entry = _last_entry(emu, "iam")
    assert entry["status"] == 500 and entry["path"].endswith("/GetServiceAccount")
    assert entry["method"] == "GRPC" and entry["project"] == PROJECT
    assert "RuntimeError: a bug in a service" in entry["trace"]


def test_api_errors_are_logged_without_a_trace_on_both_transports(emulator):
    c = make_clients(emulator)
    try:
        with pytest.raises(gexc.NotFound):
            c.networks.get(project=PROJECT, network="missing", retry=None)
        with pytest.raises(gexc.NotFound):
            c.iam.get_service_account(
                name=f"projects/{PROJECT}/serviceAccounts/nobody@{PROJECT}.iam.gserviceaccount.com",
                retry=None,
            )
    finally:
        c.close()
    for api in ("compute", "iam"):
        entry = _last_entry(emulator, api)
        assert entry["status"] == 404 and "trace" not in entry


def test_a_grpc_fault_comes_from_the_same_gateway(emulator):
    emulator.faults.configure({"rules": [{"api": "iam", "count": 1, "status": 503}]})
    c = make_clients(emulator)
    try:
        with pytest.raises(gexc.ServiceUnavailable):
            c.iam.list_service_accounts(name=f"projects/{PROJECT}", retry=None)
    finally:
        c.close()
    assert _last_entry(emulator, "iam")["status"] == 503


def test_a_route_whose_handler_does_not_take_its_placeholders_fails_at_build():
    def handler(project, region):  # the template names {name}, not {region}
        return {}

    with pytest.raises(TypeError, match="does not take"):
        Router([ServiceRoutes("compute", "/p/{project}", (Route("GET", "/things/{name}", handler),))])


def test_every_declared_route_binds(emulator):
    assert emulator.compute.routes().routes and Router(
        s.routes() for s in (emulator.compute, emulator.crm, emulator.kms, emulator.container)
    )
