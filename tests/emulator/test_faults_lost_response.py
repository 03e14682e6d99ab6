"""The lost-response fault mode: the request takes effect, then its answer is lost (503 or a dropped
connection), on REST, on gRPC and on a cluster's Kubernetes API; rules may pick a share of requests."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest
import requests
from google.api_core import exceptions as gexc
from kubernetes import client
from kubernetes.client.rest import ApiException
from urllib3.exceptions import ProtocolError

from emulator.faults import FaultInjector
from tests.emulator.helpers import NETWORK, build_network, make_clients, wait_global
from tests.emulator.test_kubernetes_rules import api_for, deployment, make
from tests.fixtures_emulator import PROJECT

SA = f"projects/{PROJECT}/serviceAccounts/gke-node@{PROJECT}.iam.gserviceaccount.com"


def _faults(emu, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(
        f"{emu.url}/_emulator/faults",
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req) as resp:
            return resp.status, json.load(resp)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def _entries(emu, api: str) -> list[dict]:
    return [e for e in emu.log.since(0) if e["api"] == api]


def test_a_lost_rest_response_answers_503_after_the_create_took_effect(emulator):
    status, body = _faults(
        emulator,
        {
            "rules": [
                {"api": "compute", "method": "POST", "path_regex": "/networks$", "mode": "lost_response"}
            ]
        },
    )
    assert status == 200 and body["rules"][0]["mode"] == "lost_response"
    c = make_clients(emulator)
    try:
        with pytest.raises(gexc.ServiceUnavailable):
            c.networks.insert_unary(project=PROJECT, network_resource=build_network(), retry=None)
        assert c.networks.get(project=PROJECT, network=NETWORK).name == NETWORK  # it was created
        with pytest.raises(gexc.Conflict):  # the retry meets its first attempt
            c.networks.insert_unary(project=PROJECT, network_resource=build_network(), retry=None)
    finally:
        c.close()
    inserts = [e for e in _entries(emulator, "compute") if e["method"] == "POST"]
    assert [(e["status"], e.get("served")) for e in inserts] == [(503, 200), (409, None)]
    assert inserts[0]["lost_response"] == 503


def test_a_dropped_rest_response_closes_the_connection_after_the_delete_took_effect(emulator):
    c = make_clients(emulator)
    try:
        wait_global(c, c.networks.insert_unary(project=PROJECT, network_resource=build_network()))
        rule = {"api": "compute", "method": "DELETE", "mode": "lost_response", "drop": True}
        assert _faults(emulator, {"rules": [rule]})[0] == 200
        with pytest.raises(requests.ConnectionError):
            c.networks.delete_unary(project=PROJECT, network=NETWORK, retry=None)
        deleting = [
            o for o in emulator.state()["projects"][PROJECT]["operations"] if o["operationType"] == "delete"
        ]
        assert len(deleting) == 1  # the delete was accepted: its operation runs
        c.global_ops.wait(project=PROJECT, operation=deleting[0]["name"])
        with pytest.raises(gexc.NotFound):  # a retried delete finds it gone
            c.networks.delete_unary(project=PROJECT, network=NETWORK, retry=None)
    finally:
        c.close()
    [dropped] = [e for e in _entries(emulator, "compute") if e.get("lost_response")]
    assert dropped["status"] == 0 and dropped["served"] == 200 and dropped["lost_response"] == "dropped"


@pytest.mark.parametrize("drop", [False, True], ids=["503", "dropped"])
def test_a_lost_grpc_response_is_unavailable_after_the_create_took_effect(emulator, drop):
    rule = {"api": "iam", "path_regex": "CreateServiceAccount$", "mode": "lost_response", "drop": drop}
    assert _faults(emulator, {"rules": [rule]})[0] == 200
    c = make_clients(emulator)
    try:
        with pytest.raises(gexc.ServiceUnavailable):
            c.iam.create_service_account(
                name=f"projects/{PROJECT}", account_id="gke-node", service_account={}, retry=None
            )
        assert c.iam.get_service_account(name=SA).email.startswith("gke-node@")
        with pytest.raises(gexc.AlreadyExists):
            c.iam.create_service_account(
                name=f"projects/{PROJECT}", account_id="gke-node", service_account={}, retry=None
            )
    finally:
        c.close()
    creates = [e for e in _entries(emulator, "iam") if e["path"].endswith("CreateServiceAccount")]
    assert [e.get("served") for e in creates] == [200, None]
    assert [e["status"] for e in creates] == [0 if drop else 503, 409]


def test_the_old_mode_still_refuses_before_serving(emulator):
    assert _faults(emulator, {"rules": [{"api": "compute", "method": "POST", "after": False}]})[0] == 200
    c = make_clients(emulator)
    try:
        with pytest.raises(gexc.ServiceUnavailable):
            c.networks.insert_unary(project=PROJECT, network_resource=build_network(), retry=None)
        with pytest.raises(gexc.NotFound):
            c.networks.get(project=PROJECT, network=NETWORK)
    finally:
        c.close()


@pytest.mark.parametrize(
    "rule",
    [
        {"mode": "sometimes"},
        {"probability": 1.5},
        {"drop": True},  # a dropped answer is a lost response, never a refusal
        {"served_ok": True},
        {"drop": "yes", "mode": "lost_response"},
        "not a rule",
    ],
)
def test_a_malformed_rule_is_refused_and_nothing_is_added(emulator, rule):
    status, body = _faults(emulator, {"rules": [{"api": "compute"}, rule]})
    assert status == 400, body
    assert emulator.faults.describe()["rules"] == []


def test_a_probability_rule_picks_a_seeded_share_of_mutating_requests_only():
    def picked(seed: int) -> list[bool]:
        faults = FaultInjector(seed=seed)
        rule = {"mutating": True, "mode": "lost_response", "probability": 0.1, "count": None}
        faults.configure({"rules": [rule]})
        assert faults.decide("compute", "GET", "/compute/v1/x", PROJECT, mutating=False, served=200) is None
        assert (
            faults.decide("compute", "POST", "/compute/v1/x", PROJECT, mutating=True) is None
        )  # not yet served
        return [
            faults.decide("compute", "POST", "/compute/v1/x", PROJECT, mutating=True, served=200) is not None
            for _ in range(1000)
        ]

    first = picked(3)
    assert first == picked(3) and first != picked(4)
    assert 50 <= sum(first) <= 150  # about 10 %, unlimited count


def test_random_faults_never_reach_a_clusters_kubernetes_api_but_rules_do():
    faults = FaultInjector(fault_rate=1.0)
    assert (
        faults.decide("kubernetes", "POST", "/apis/apps/v1/namespaces/default/deployments", PROJECT) is None
    )
    faults.configure({"rules": [{"api": "kubernetes", "mode": "lost_response"}]})
    path = "/apis/apps/v1/namespaces/default/deployments"
    assert (
        faults.decide("kubernetes", "POST", path, PROJECT) is None
    )  # a lost response is decided once served
    fault = faults.decide("kubernetes", "POST", path, PROJECT, served=201)
    assert fault is not None and fault.lost_response and fault.status == 503


def test_a_served_ok_rule_loses_only_the_answer_of_a_request_that_succeeded():
    faults = FaultInjector()
    faults.configure({"rules": [{"api": "container", "mode": "lost_response", "served_ok": True}]})
    assert faults.decide("container", "POST", "/v1/x/clusters", PROJECT, served=403) is None  # refused anyway
    assert faults.decide("container", "POST", "/v1/x/clusters", PROJECT, served=200) is not None
    assert faults.decide("container", "POST", "/v1/x/clusters", PROJECT, served=200) is None  # spent


@pytest.mark.parametrize("drop", [False, True], ids=["503", "dropped"])
def test_a_lost_kubernetes_response_after_the_create_took_effect(tmp_path, drop):
    faults = FaultInjector()
    rule = {"api": "kubernetes", "method": "POST", "mode": "lost_response", "drop": drop}
    faults.configure({"rules": [rule]})
    log: list[dict] = []
    kc = make(
        name="lost",
        log=log.append,
        lost_response=lambda method, path, served: faults.decide(
            "kubernetes", method, path, "lab-project", mutating=True, served=served
        ),
    )
    kc.start()
    api = api_for(kc, tmp_path)
    api.configuration.retries = 0
    try:
        apps = client.AppsV1Api(api)
        expected = (ProtocolError,) if drop else (ApiException,)
        with pytest.raises(expected) as err:
            apps.create_namespaced_deployment("default", deployment("web", 1))
        if not drop:
            assert err.value.status == 503
            assert json.loads(err.value.body)["reason"] == "ServiceUnavailable"
        assert apps.read_namespaced_deployment("web", "default").metadata.name == "web"  # it exists
        with pytest.raises(ApiException) as err:
            apps.create_namespaced_deployment("default", deployment("web", 1))
        assert err.value.status == 409 and json.loads(err.value.body)["reason"] == "AlreadyExists"
    finally:
        api.close()
        kc.stop()
    posts = [e for e in log if e["method"] == "POST"]
    assert [(e["status"], e.get("served")) for e in posts] == [(0 if drop else 503, 201), (409, None)]
