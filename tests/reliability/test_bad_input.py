"""Bad input never reaches the cloud: every malformed spec or chat command is refused with the field
named, before the first mutating request (read back from the emulator's request log).

Specs go through the provisioning flow itself (overrides resolved in the run, and whole specs through
Prefect's parameter validation); chat commands through the signed Slack endpoint of the chatops app,
with a real Prefect API behind it, where no flow run may be created.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import pytest

from tests.fixtures_emulator import EmulatorAdmin
from tests.fixtures_external import slack_headers, slash_command

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
ADMIN = "U0ADMIN"


def _admin_only_else(path: str, reason: str) -> dict[str, str]:
    """A listed user may not set `path` at all; an admin may, and is refused by the spec's check."""
    return {USER: f"`{path}`: admin-only; you may set only", ADMIN: f"`{path}: {reason}"}


def _invalid(path: str, reason: str) -> str:
    return f"not started, the spec is invalid:\n\u2022 `{path}: {reason}"


NOT_A_DURATION = "is not a duration: use e.g. `4h`, `90m` or `1d`"
BAD_LAB_NAME = "is not accepted: 1-30 characters, lowercase letters, digits and '-'"
NOT_GKE_RECURRENCE = "is not one GKE accepts (accepted: FREQ=DAILY"
# (command text after `/lab`, the refusal's own message: one text, or one per user)
BAD_COMMANDS: list[tuple[str, str | dict[str, str]]] = [
    (
        "up demo cluster.master_ipv4_cidr=172.16.0.0/29",
        _admin_only_else("cluster.master_ipv4_cidr", "172.16.0.0/29 is a /29 (accepted: exactly a /28)"),
    ),
    (
        "up demo network.subnet.cidr=10.1.0.0/33",
        _admin_only_else("network.subnet.cidr", "'10.1.0.0/33' is not an IPv4 CIDR range"),
    ),
    (
        "up demo cluster.num_nodes=9",
        _invalid(
            "cluster.num_nodes", "9 nodes per zone is outside the autoscaling bounds (accepted: 0 to 2)"
        ),
    ),
    (
        "up demo 'cluster.master_authorized_networks=[{cidr: 0.0.0.0/0, name: all}]'",
        {
            USER: "`cluster.master_authorized_networks`: admin-only; you may set only",
            ADMIN: "`cluster.master_authorized_networks[0].cidr: 0.0.0.0/0 opens the control plane to the "
            "whole internet",
        },
    ),
    ("up demo cluster.nosuch=1", _admin_only_else("cluster.nosuch", "unknown field 'nosuch'")),
    ("up demo echo.replicas=50", _invalid("echo.replicas", "Input should be less than or equal to 10")),
    (
        "up demo cluster.autoscaling.min=5",
        _admin_only_else("cluster.autoscaling.min", "minimum 5 exceeds maximum 2 (accepted: 0 to 2)"),
    ),
    (
        "up demo kms.keyring=bad/ring",
        _admin_only_else("kms.keyring", "'bad/ring' is not a valid Cloud KMS ID"),
    ),
    ("up demo region=mars-north1", _admin_only_else("region", "Input should be 'asia-east1'")),
    ("up demo project_id=UPPER", _admin_only_else("project_id", "'UPPER' is not a valid project ID")),
    (
        "up demo cluster.maintenance_window.recurrence=FREQ=NEVER",
        _admin_only_else(
            "cluster.maintenance_window.recurrence", f"'FREQ=NEVER' FREQ=NEVER {NOT_GKE_RECURRENCE}"
        ),
    ),
    ("up demo lab=other", "`lab=` cannot be set here: the lab name is the NAME argument"),
    ("up demo ttl=soon", f"ttl: `soon` {NOT_A_DURATION}"),
    ("up Bad_Name", f"lab name `Bad_Name` {BAD_LAB_NAME}"),
    ("up demo blueprint=Not!Valid", "blueprint name `Not!Valid` is not a block name"),
    # Inputs that once answered 500 or held the event loop for seconds.
    ("up demo ttl=" + "9" * 400, f"ttl: `{'9' * 60}\u2026` {NOT_A_DURATION}"),
    ("extend demo " + "9" * 400 + "h", f"duration: `{'9' * 60}\u2026` {NOT_A_DURATION}"),
    (
        "up demo 'cluster.num_nodes=" + "[" * 1000 + "'",
        {
            USER: f"`cluster.num_nodes`: `{'[' * 60}\u2026` is not accepted (accepted: a whole number",
            ADMIN: _invalid("cluster.num_nodes", "value nests deeper than 16 levels"),
        },
    ),
    (
        "up demo cluster.num_nodes=" + "9" * 5000,
        {
            USER: f"`cluster.num_nodes`: `{'9' * 60}\u2026` is not accepted (accepted: a whole number",
            ADMIN: _invalid("cluster.num_nodes", "value is not valid YAML: integer 99999999999999999999..."),
        },
    ),
    (
        "up demo 'cluster.maintenance_window.recurrence=FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30'",
        _admin_only_else(
            "cluster.maintenance_window.recurrence",
            f"'FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30' FREQ=MINUTELY {NOT_GKE_RECURRENCE}",
        ),
    ),
    (
        "up demo 'cluster.maintenance_window.recurrence=FREQ=DAILY;DTSTART=20200101'",
        _admin_only_else(
            "cluster.maintenance_window.recurrence",
            "'FREQ=DAILY;DTSTART=20200101' DTSTART is not accepted with FREQ=DAILY",
        ),
    ),
    ("up 'demo\n'", f"lab name `demo\n` {BAD_LAB_NAME}"),  # a name ending in a newline matched `^...$`
]


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
    mutating = [
        f"{e['method']} {e['path']}" for e in EmulatorAdmin(emulator.url).requests(since) if e.get("mutating")
    ]
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
        since = EmulatorAdmin(emulator.url).last_seq()
        text = _refusal(_call(provision_lab, overrides=[override]))
        _no_mutation(emulator, since)
        if f"{field}:" not in text and f"{field} " not in text:
            missing.append((override, field, text[-300:]))
    assert missing == [], f"refusals that do not name the field: {missing}"


def test_malformed_specs_refused_by_parameter_validation(emulator, prefect_harness):
    from flows.provision import provision_lab

    missing = []
    for bad, field in BAD_SPECS:
        since = EmulatorAdmin(emulator.url).last_seq()
        text = _refusal(_call(provision_lab, spec=bad))
        _no_mutation(emulator, since)
        # Prefect names nested parameter paths with dots or its own location format.
        parts = field.replace("[", ".").replace("]", "").split(".")
        if field not in text and not all(p in text for p in parts):
            missing.append((bad, field, text[-300:]))
    assert missing == [], f"refusals that do not name the field: {missing}"


@dataclass
class Chat:
    """The chatops app in front of the test Prefect server, which has a `provision-lab` deployment
    (without a worker: a run it creates stays scheduled), and the Prefect API calls the app made."""

    deployment_id: str
    calls: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    def send(self, text: str, user: str) -> str:
        from prefect.settings import PREFECT_API_URL
        from starlette.testclient import TestClient

        from chatops.app import create_app
        from chatops.policy import Policy
        from chatops.prefect_api import PrefectApi
        from chatops.settings import Settings

        calls = self.calls

        class RecordingApi(PrefectApi):
            async def _call(self, method: str, path: str, **kwargs):
                calls.append((method, path))
                return await super()._call(method, path, **kwargs)

        api_url = PREFECT_API_URL.value()
        settings = Settings(
            signing_secret=SECRET,
            policy=Policy(users=frozenset({USER}), admins=frozenset({ADMIN})),
            api_url=api_url,
            ui_url=api_url.removesuffix("/api"),
        )
        body = slash_command(text, user, "http://127.0.0.1:9/unused", trigger_id=f"t{len(calls)}")
        with TestClient(create_app(settings, api=RecordingApi(api_url, timeout=30))) as http:
            headers = slack_headers(body, SECRET)
            resp = http.post("/slack/commands", content=body, headers=headers)
        assert resp.status_code == 200, resp.text
        return resp.json()["text"]

    def runs(self) -> list[str]:
        """The ids of the deployment's flow runs, read from the Prefect API."""
        from prefect.client.orchestration import get_client
        from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId

        with get_client(sync_client=True) as client:
            found = client.read_flow_runs(
                deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[self.deployment_id]))
            )
        return sorted(str(r.id) for r in found)

    def creates(self) -> list[tuple[str, str]]:
        return [c for c in self.calls if c[1].endswith("/create_flow_run")]


@pytest.fixture(scope="module")
def chat(prefect_harness) -> Chat:
    from prefect.client.orchestration import get_client

    from flows.provision import provision_lab

    with get_client(sync_client=True) as client:
        flow_id = client.create_flow(provision_lab)
        deployment_id = client.create_deployment(flow_id=flow_id, name="provision-lab")
    return Chat(deployment_id=str(deployment_id))


def test_a_valid_chat_command_creates_a_run(chat, emulator):
    """The control for the refusals below: the deployment is there, so a valid `up` does create a run
    and the checks "no create call" and "no new run" can fail."""
    before = chat.runs()
    chat.calls.clear()
    answer = chat.send("up control ttl=2h", ADMIN)
    assert "provisioning lab `control`" in answer, answer
    assert chat.creates() == [("POST", f"deployments/{chat.deployment_id}/create_flow_run")]
    assert len(chat.runs()) == len(before) + 1
    assert EmulatorAdmin(emulator.url).requests() == [], "chat called the cloud: it only creates a flow run"


@pytest.mark.parametrize("user", [USER, ADMIN])
@pytest.mark.parametrize(("text", "expected"), BAD_COMMANDS, ids=[t[:60] for t, _ in BAD_COMMANDS])
def test_malformed_chat_commands_refused(text, expected, user, chat, emulator):
    """Refused for listed users (by the chat policy or the spec) and for admins (by the spec), with the
    message of that refusal; no flow run is asked for, none exists afterwards, and the cloud is not called."""
    before = chat.runs()
    chat.calls.clear()
    answer = chat.send(text, user)
    assert answer.startswith(":no_entry:"), answer
    wanted = expected[user] if isinstance(expected, dict) else expected
    assert wanted in answer, answer
    assert chat.creates() == [], f"a refused command asked Prefect for a run: {chat.calls}"
    assert chat.runs() == before, "a refused command created a flow run"
    assert EmulatorAdmin(emulator.url).requests() == [], "chat called the cloud"
