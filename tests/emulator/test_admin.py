"""Faults, quotas, the admin API, the token endpoint and the `gke-lab emulator` command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import google.auth.transport.requests
import pytest
from google.api_core import exceptions as gexc
from google.oauth2 import service_account

from tests.emulator.helpers import NETWORK, build_network, make_clients, wait_global
from tests.fixtures_emulator import PROJECT
from tests.fixtures_external import service_account_key

TRANSIENT = (gexc.TooManyRequests, gexc.ServiceUnavailable)


def _call(emu, method: str, path: str, body: dict | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        emu.url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(req) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as err:
        return err.code, json.load(err)


def _outcomes(emu, n: int) -> list[str]:
    c = make_clients(emu)
    out = []
    try:
        for _ in range(n):
            try:
                c.networks.get(project=PROJECT, network="default", retry=None)
                out.append("ok")
            except TRANSIENT as exc:
                out.append(type(exc).__name__)
    finally:
        c.close()
    return out


def test_random_faults_are_seeded_and_use_google_error_classes(emulator_factory):
    first = _outcomes(emulator_factory(fault_rate=0.5, seed=7), 40)
    again = _outcomes(emulator_factory(fault_rate=0.5, seed=7), 40)
    other = _outcomes(emulator_factory(fault_rate=0.5, seed=8), 40)
    assert first == again and first != other
    assert {"ok", "TooManyRequests", "ServiceUnavailable"} == set(first)
    assert _outcomes(emulator_factory(fault_rate=0.0), 10) == ["ok"] * 10


def test_fault_rate_reaches_grpc_and_every_rest_api(emulator_factory):
    emu = emulator_factory(fault_rate=1.0)
    c = make_clients(emu)
    try:
        with pytest.raises(TRANSIENT):
            c.iam.list_service_accounts(name=f"projects/{PROJECT}", retry=None)
        with pytest.raises(TRANSIENT):
            c.kms.list_key_rings(parent=f"projects/{PROJECT}/locations/us-west1", retry=None)
        with pytest.raises(TRANSIENT):
            c.gke.get_server_config(name=f"projects/{PROJECT}/locations/us-west1", retry=None)
        with pytest.raises(TRANSIENT):
            c.projects.get_project(name=f"projects/{PROJECT}", retry=None)
        status, body = _call(emu, "GET", "/_emulator/info")  # the admin API is never faulted
        assert status == 200 and body["fault_rate"] == 1.0
        _call(emu, "POST", "/_emulator/faults", {"fault_rate": 0.0})
        assert c.projects.get_project(name=f"projects/{PROJECT}", retry=None).project_id == PROJECT
    finally:
        c.close()


def test_per_project_quota_answers_429(emulator_factory):
    emu = emulator_factory(quota_per_minute=3)
    c = make_clients(emu)
    try:
        for _ in range(3):
            c.networks.get(project=PROJECT, network="default", retry=None)
        with pytest.raises(gexc.TooManyRequests) as err:
            c.networks.get(project=PROJECT, network="default", retry=None)
        assert err.value.response.json()["error"]["status"] == "RESOURCE_EXHAUSTED"
        assert err.value.errors[0]["reason"] == "rateLimitExceeded"
        # another project has its own quota
        assert c.networks.get(project="other-project", network="default", retry=None).name == "default"
    finally:
        c.close()


def test_scripted_faults_fail_the_next_n_matching_calls(emulator):
    c = make_clients(emulator)
    try:
        status, body = _call(
            emulator,
            "POST",
            "/_emulator/faults",
            {
                "rules": [
                    {
                        "api": "compute",
                        "method": "POST",
                        "path_regex": "/global/networks$",
                        "count": 2,
                        "status": 503,
                    }
                ]
            },
        )
        assert status == 200 and body["rules"][0]["count"] == 2
        c.networks.get(project=PROJECT, network="default")  # a GET does not match
        for _ in range(2):
            with pytest.raises(gexc.ServiceUnavailable):
                c.networks.insert_unary(project=PROJECT, network_resource=build_network(), retry=None)
        wait_global(c, c.networks.insert_unary(project=PROJECT, network_resource=build_network()))
        assert c.networks.get(project=PROJECT, network=NETWORK).name == NETWORK
        _call(emulator, "POST", "/_emulator/faults", {"rules": [{"api": "iam", "count": 1, "status": 429}]})
        with pytest.raises(gexc.TooManyRequests):
            c.iam.create_service_account(
                name=f"projects/{PROJECT}", account_id="gke-node", service_account={}
            )
        assert c.iam.create_service_account(
            name=f"projects/{PROJECT}", account_id="gke-node", service_account={}
        )
        _call(
            emulator,
            "POST",
            "/_emulator/faults",
            {"rules": [{"api": "container", "count": 5, "status": 500}]},
        )
        assert _call(emulator, "GET", "/_emulator/faults")[1]["rules"][0]["count"] == 5
        _call(emulator, "DELETE", "/_emulator/faults")
        assert _call(emulator, "GET", "/_emulator/faults")[1]["rules"] == []
        failed = [e for e in emulator.log.since(0) if e["status"] in (429, 503)]
        assert len(failed) == 3
    finally:
        c.close()


def test_state_requests_patch_and_reset(emulator):
    c = make_clients(emulator)
    try:
        wait_global(c, c.networks.insert_unary(project=PROJECT, network_resource=build_network()))
        status, state = _call(emulator, "GET", "/_emulator/state")
        project = state["projects"][PROJECT]
        expected = {
            "number",
            "networks",
            "subnetworks",
            "firewalls",
            "routes",
            "routers",
            "instances",
            "keyRings",
            "cryptoKeys",
            "cryptoKeyVersions",
            "serviceAccounts",
            "iamPolicy",
            "keyIamPolicies",
            "clusters",
            "kubernetes",
        }
        assert expected <= set(project)
        assert sorted(n["name"] for n in project["networks"]) == ["default", NETWORK]
        assert not any(k.startswith("_") for n in project["networks"] for k in n)

        _, log = _call(emulator, "GET", "/_emulator/requests")
        insert = next(e for e in log if e["method"] == "POST" and e["path"].endswith("/global/networks"))
        assert insert["api"] == "compute" and insert["mutating"] and insert["project"] == PROJECT
        assert (
            insert["body"]["name"] == NETWORK and insert["status"] == 200 and insert["end"] >= insert["start"]
        )
        _, later = _call(emulator, "GET", f"/_emulator/requests?since={insert['seq']}")
        assert later and all(e["seq"] > insert["seq"] for e in later)

        status, patched = _call(
            emulator,
            "POST",
            "/_emulator/patch",
            {"project": PROJECT, "kind": "networks", "name": NETWORK, "fields": {"description": "corrupted"}},
        )
        assert status == 200 and c.networks.get(project=PROJECT, network=NETWORK).description == "corrupted"
        status, err = _call(
            emulator,
            "POST",
            "/_emulator/patch",
            {"project": PROJECT, "kind": "networks", "name": "nope", "fields": {}},
        )
        assert status == 404 and err["error"]["status"] == "NOT_FOUND"

        assert _call(emulator, "POST", "/_emulator/reset", {})[0] == 200
        with pytest.raises(gexc.NotFound):
            c.networks.get(project=PROJECT, network=NETWORK)
        assert c.networks.get(project=PROJECT, network="default").name == "default"
        paths = [e["path"] for e in emulator.log.since(0)]  # the log restarted at the reset
        assert paths == [f"/compute/v1/projects/{PROJECT}/global/networks/{n}" for n in (NETWORK, "default")]
    finally:
        c.close()


def test_info_and_unknown_paths(emulator):
    status, info = _call(emulator, "GET", "/_emulator/info")
    assert status == 200 and info["grpc_address"] == emulator.grpc_address and info["latency_scale"] == 0.01
    assert info["versions"]["default"] in info["versions"]["validMasterVersions"]
    status, body = _call(emulator, "GET", f"/compute/v1/projects/{PROJECT}/global/unknownThings")
    assert status == 404 and body["error"]["code"] == 404
    status, body = _call(emulator, "GET", "/compute/v1/projects/Bad_Project/global/networks")
    assert status == 400 and body["error"]["status"] == "INVALID_ARGUMENT"


def test_token_endpoint_serves_service_account_key_credentials(emulator):
    key = service_account_key(PROJECT, emulator.url + "/token", account="ci")
    creds = service_account.Credentials.from_service_account_info(
        key.info, scopes=["https://www.googleapis.com/auth/cloud-platform"]
    )
    creds.refresh(google.auth.transport.requests.Request())
    assert creds.token.startswith("ya29.") and creds.valid


@pytest.mark.parametrize(
    "command",
    [[str(Path(sys.executable).with_name("gke-lab")), "emulator"], [sys.executable, "-m", "emulator"]],
    ids=["gke-lab emulator", "python -m emulator"],
)
def test_cli_serves_until_sigterm(command: list[str]):
    started = time.monotonic()
    proc = subprocess.Popen(
        [*command, "--port", "0", "--latency-scale", "0.01", "--project", "lab-cli=123456789012"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        line = proc.stdout.readline().strip()
        ready = time.monotonic() - started
        assert line.startswith("GKE_LAB_EMULATOR_HOST=127.0.0.1:"), proc.stderr.read() if not line else line
        print(f"{' '.join(command[-2:])} ready after {ready:.2f} s")  # measured, not asserted
        url = "http://" + line.split("=", 1)[1]
        with urllib.request.urlopen(url + "/v3/projects/lab-cli") as r:
            assert json.load(r)["name"] == "projects/123456789012"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_refuses_a_malformed_project():
    exe = Path(sys.executable).with_name("gke-lab")
    proc = subprocess.run(
        [str(exe), "emulator", "--project", "no-number"], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 2 and "ID=NUMBER" in proc.stderr
