"""Bad input never reaches the cloud: every malformed spec or chat command is refused with the field
named, before the first mutating request (read back from the emulator's request log).

Specs go through the provisioning flow itself (overrides resolved in the run, and whole specs through
Prefect's parameter validation); chat commands through the signed Slack endpoint of the chatops app,
with a real Prefect API behind it, where no flow run may be created.
"""

from __future__ import annotations

import hashlib
import hmac
import time
import urllib.parse

import pytest

from tests.reliability.helpers import log

# (override, the field path the refusal must name)
BAD_OVERRIDES: list[tuple[str, str]] = [
    ("project_id=Bad_Project", "project_id"),
    ("region=mars-north1", "region"),
    ("lab=UPPER", "lab"),
    ("ttl_hours=-1", "ttl_hours"),
    ("network.name=-bad", "network.name"),
    ("network.routing_mode=SIDEWAYS", "network.routing_mode"),
    ("network.subnet.cidr=10.128.0.0/33", "network.subnet.cidr"),
    ("network.subnet.cidr=10.0.0.0/30", "network.subnet.cidr"),
    ("network.subnet.name=a" + "b" * 70, "network.subnet.name"),
    ("network.pods_range.cidr=10.128.0.0/14", "network.pods_range.cidr"),
    ("network.services_range.name=gke-cluster-pods", "network.services_range.name"),
    ("network.services_range.cidr=not-a-cidr", "network.services_range.cidr"),
    ("kms.keyring=bad ring", "kms.keyring"),
    ("kms.node_key=", "kms.node_key"),
    ("node_service_account.name=x", "node_service_account.name"),
    ("node_service_account.roles=[notarole]", "node_service_account.roles[0]"),
    ("cluster.name=" + "c" * 41, "cluster.name"),
    ("cluster.version=latest-please", "cluster.version"),
    ("cluster.auto_upgrade=false", "cluster.auto_upgrade"),
    ("cluster.release_channel=null", "cluster.release_channel"),
    ("cluster.node_locations=[europe-west1-b]", "cluster.node_locations[0]"),
    ("cluster.image_type=UBUNTU_DOCKER", "cluster.image_type"),
    ("cluster.disk_size_gb=5", "cluster.disk_size_gb"),
    ("cluster.num_nodes=5", "cluster.num_nodes"),
    ("cluster.autoscaling.min=3", "cluster.autoscaling.min"),
    ("cluster.max_pods_per_node=300", "cluster.max_pods_per_node"),
    ("cluster.master_ipv4_cidr=172.16.0.0/29", "cluster.master_ipv4_cidr"),
    ("cluster.master_ipv4_cidr=8.8.8.0/28", "cluster.master_ipv4_cidr"),
    ("cluster.master_ipv4_cidr=10.128.0.0/28", "cluster.master_ipv4_cidr"),
    (
        "cluster.master_authorized_networks=[{cidr: 0.0.0.0/0, name: all}]",
        "cluster.master_authorized_networks[0].cidr",
    ),
    ("cluster.maintenance_window.end=2020-11-29T16:00:00Z", "cluster.maintenance_window.end"),
    ("cluster.maintenance_window.recurrence=FREQ=WEEKLY;BYDAY=SA", "cluster.maintenance_window.recurrence"),
    ("echo.replicas=11", "echo.replicas"),
    ("cluster.nonexistent=1", "cluster.nonexistent"),
    ("cluster.tags=[BAD TAG]", "cluster.tags[0]"),
]

# Whole specs given as the flow's `spec` parameter: Prefect validates them against LabSpec.
BAD_SPECS: list[tuple[dict, str]] = [
    ({"cluster": {"master_ipv4_cidr": "172.16.0.0/27"}}, "cluster.master_ipv4_cidr"),
    ({"network": {"subnet": {"name": "gke-subnet", "cidr": "999.0.0.0/20"}}}, "network.subnet.cidr"),
    ({"cluster": {"autoscaling": {"min": 0, "max": 0}}}, "cluster.autoscaling.max"),
    (
        {"echo": {"namespace": "default", "image": "registry.k8s.io/echoserver:1.4", "replicas": 0}},
        "echo.replicas",
    ),
    (
        {"kms": {"keyring": "keyring-gke", "node_key": "bad key", "secrets_key": "key-gke-secret"}},
        "kms.node_key",
    ),
]

SECRET = "reliability-signing-secret"
USER = "U0RELIABLE"
# (command text after `/lab`, what the refusal must name)
BAD_COMMANDS: list[tuple[str, str]] = [
    ("up demo cluster.master_ipv4_cidr=172.16.0.0/29", "cluster.master_ipv4_cidr"),
    ("up demo network.subnet.cidr=10.1.0.0/33", "network.subnet.cidr"),
    ("up demo cluster.num_nodes=9", "cluster.num_nodes"),
    (
        "up demo 'cluster.master_authorized_networks=[{cidr: 0.0.0.0/0, name: all}]'",
        "cluster.master_authorized_networks",
    ),
    ("up demo cluster.nosuch=1", "cluster.nosuch"),
    ("up demo echo.replicas=50", "echo.replicas"),
    ("up demo cluster.autoscaling.min=5", "cluster.autoscaling.min"),
    ("up demo kms.keyring=bad/ring", "kms.keyring"),
    ("up demo region=mars-north1", "region"),
    ("up demo project_id=UPPER", "project_id"),
    ("up demo cluster.maintenance_window.recurrence=FREQ=NEVER", "cluster.maintenance_window.recurrence"),
    ("up demo lab=other", "lab"),
    ("up demo ttl=soon", "ttl"),
    ("up Bad_Name", "lab name"),
    ("up demo blueprint=Not!Valid", "blueprint"),
    # Inputs that once answered 500 or held the event loop for seconds.
    ("up demo ttl=" + "9" * 400, "ttl"),
    ("extend demo " + "9" * 400 + "h", "duration"),
    ("up demo 'cluster.num_nodes=" + "[" * 1000 + "'", "cluster.num_nodes"),
    ("up demo cluster.num_nodes=" + "9" * 5000, "cluster.num_nodes"),
    (
        "up demo 'cluster.maintenance_window.recurrence=FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30'",
        "cluster.maintenance_window.recurrence",
    ),
    (
        "up demo 'cluster.maintenance_window.recurrence=FREQ=DAILY;DTSTART=20200101'",
        "cluster.maintenance_window",
    ),
    ("up 'demo\n'", "lab name"),  # a name ending in a newline matched `^...$`
]
ADMIN = "U0ADMIN"


def test_corpus_is_large_enough():
    assert len(BAD_OVERRIDES) + len(BAD_SPECS) + len(BAD_COMMANDS) >= 40


def _refusal(state_or_exc) -> str:
    """The error a refused run reports: the raised exception or the failed state's exception."""
    if isinstance(state_or_exc, BaseException):
        return str(state_or_exc)
    assert not state_or_exc.is_completed(), "a malformed spec was accepted"
    exc = state_or_exc.result(raise_on_failure=False)
    return f"{state_or_exc.message}\n{exc}"


def _no_mutation(emulator, since: int) -> None:
    mutating = [f"{e['method']} {e['path']}" for e in log(emulator, since) if e.get("mutating")]
    assert mutating == [], f"mutating requests before the refusal: {mutating}"


def _call(flow, **params):
    try:
        return flow(**params, return_state=True)
    except Exception as exc:  # Prefect refuses invalid parameters before creating a run
        return exc


def test_malformed_overrides_refused_by_the_flow(emulator, prefect_harness):
    from flows.provision import provision_lab

    missing = []
    for override, field in BAD_OVERRIDES:
        since = max((e["seq"] for e in log(emulator)), default=0)
        text = _refusal(_call(provision_lab, overrides=[override]))
        _no_mutation(emulator, since)
        if f"{field}:" not in text and f"{field} " not in text:
            missing.append((override, field, text[-300:]))
    assert missing == [], f"refusals that do not name the field: {missing}"


def test_malformed_specs_refused_by_parameter_validation(emulator, prefect_harness):
    from flows.provision import provision_lab

    missing = []
    for bad, field in BAD_SPECS:
        since = max((e["seq"] for e in log(emulator)), default=0)
        text = _refusal(_call(provision_lab, spec=bad))
        _no_mutation(emulator, since)
        # Prefect names nested parameter paths with dots or its own location format.
        parts = field.replace("[", ".").replace("]", "").split(".")
        if field not in text and not all(p in text for p in parts):
            missing.append((bad, field, text[-300:]))
    assert missing == [], f"refusals that do not name the field: {missing}"


def _signed(body: str) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(SECRET.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "x-slack-request-timestamp": ts,
        "x-slack-signature": f"v0={digest}",
        "content-type": "application/x-www-form-urlencoded",
    }


@pytest.mark.parametrize("user", [USER, ADMIN])
@pytest.mark.parametrize(("text", "field"), BAD_COMMANDS, ids=[t[:60] for t, _ in BAD_COMMANDS])
def test_malformed_chat_commands_refused(text, field, user, emulator, prefect_harness):
    """Refused for listed users (by the chat policy or the spec) and for admins (by the spec)."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL
    from starlette.testclient import TestClient

    from chatops.app import create_app
    from chatops.policy import Policy
    from chatops.settings import Settings

    api_url = PREFECT_API_URL.value()
    settings = Settings(
        signing_secret=SECRET,
        policy=Policy(users=frozenset({USER}), admins=frozenset({ADMIN})),
        api_url=api_url,
        ui_url=api_url.removesuffix("/api"),
    )
    with get_client(sync_client=True) as client:
        runs_before = len(client.read_flow_runs(limit=200))
    since = max((e["seq"] for e in log(emulator)), default=0)
    body = urllib.parse.urlencode(
        {
            "command": "/lab",
            "text": text,
            "user_id": user,
            "user_name": "reliability",
            "response_url": "http://127.0.0.1:9/unused",
            "trigger_id": "t",
        }
    )
    with TestClient(create_app(settings)) as http:
        resp = http.post("/slack/commands", content=body, headers=_signed(body))
    assert resp.status_code == 200
    answer = resp.json()["text"]
    assert field in answer, answer
    assert "not started" in answer or ":no_entry:" in answer, answer
    _no_mutation(emulator, since)
    with get_client(sync_client=True) as client:
        assert len(client.read_flow_runs(limit=200)) == runs_before, "a refused command created a flow run"
