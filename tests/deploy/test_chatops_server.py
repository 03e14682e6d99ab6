"""`gke-lab chatops` as a real process in front of a real Prefect server, worker and emulator.

Signed Slack slash commands start, extend and end a lab; every refusal creates no run and says why,
naming the field. The chat policy (chatops/policy.py) is what is checked: listed users set only a few
paths and target only the configured projects, nobody takes over a lab they did not start, `down` ends
exactly what `up` made, and no input answers 500 or leaks internal URLs.
"""

from __future__ import annotations

import time

import httpx
import pytest

from gke_lab.naming import per_lab_names, per_lab_overrides
from gke_lab.overrides import apply_overrides
from gke_lab.ownership import Marker
from gke_lab.spec import LabSpec
from tests.fixtures_emulator import LOCAL_NETWORK
from tests.fixtures_external import TEAM, Receiver, Slack
from tests.fixtures_servers import BIN, Stack, _wait_http, _wait_line

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
PROJECT = "lab-bravo"
CHAT_PROJECTS = "gke-detail,lab-alpha,lab-bravo"
# Blueprints an operator saved for chat users (who may not set project_id or authorized networks):
# lab-bravo reachable from the workers, and lab-alpha that is not (its runs fail at the control plane).
BLUEPRINTS = {
    "chat-bravo": ["project_id=lab-bravo", "cluster.disk_size_gb=60", LOCAL_NETWORK],
    "chat-alpha": ["project_id=lab-alpha"],
}


def save_blueprint(stack: Stack, name: str, overrides: list[str]) -> None:
    """What an operator does in the UI: save a LabBlueprint block (small-zonal plus `overrides`)."""
    code = (
        "import sys; from blocks.blueprint import LabBlueprint; from blocks.variants import VARIANTS; "
        "from gke_lab.overrides import apply_overrides; from gke_lab.spec import LabSpec; "
        "LabBlueprint(spec=apply_overrides(LabSpec(), VARIANTS['small-zonal'][1] + sys.argv[2:]))"
        ".save(sys.argv[1], overwrite=True)"
    )
    stack.run([str(BIN / "python"), "-c", code, name, *overrides])


@pytest.fixture(scope="module")
def chat(sqlite_stack: Stack):
    receiver = Receiver()
    for name, overrides in BLUEPRINTS.items():
        save_blueprint(sqlite_stack, name, overrides)
    env = {
        **sqlite_stack.env,
        "SLACK_SIGNING_SECRET": SECRET,
        "GKE_LAB_CHATOPS_USERS": "UALICE,UBOB",
        "GKE_LAB_CHATOPS_ADMINS": "UADMIN",
        "GKE_LAB_CHATOPS_TEAM": TEAM,
        "GKE_LAB_CHATOPS_PROJECTS": CHAT_PROJECTS,
        "GKE_LAB_CHATOPS_POLL_SECONDS": "1",
        # The test machine is busy; Slack's 3 s do not apply here.
        "GKE_LAB_CHATOPS_API_TIMEOUT": "30",
        "GKE_LAB_CHATOPS_CHECK_SECONDS": "60",
    }
    proc = sqlite_stack.start("chatops", [str(BIN / "gke-lab"), "chatops", "--port", "0"], env=env)
    url = _wait_line(proc, r"Uvicorn running on (http://127\.0\.0\.1:\d+)").group(1)
    _wait_http(f"{url}/healthz", proc)
    yield Slack(url, receiver.url, SECRET), receiver, proc
    proc.stop()
    receiver.close()


def chat_runs(stack: Stack) -> list[dict]:
    return stack.flow_runs(tags={"all_": ["chatops"]})


def all_runs(stack: Stack) -> list[str]:
    return [r["id"] for r in stack.flow_runs()]


def answer(slack: Slack, text: str, user: str = "UALICE", team: str = TEAM) -> str:
    """The ephemeral reply to a command (never a 500)."""
    response = slack.send(text, user, team)
    assert response.status_code == 200, response.text
    assert response.json()["response_type"] == "ephemeral"
    return response.json()["text"]


def test_chatops_refuses_to_start_without_signing_secret(sqlite_stack: Stack):
    import subprocess

    env = {k: v for k, v in sqlite_stack.env.items() if k != "SLACK_SIGNING_SECRET"}
    out = subprocess.run(
        [str(BIN / "gke-lab"), "chatops", "--port", "0"], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 2 and "SLACK_SIGNING_SECRET is not set" in out.stderr


def test_signing_secret_from_a_prefect_secret_block(sqlite_stack: Stack):
    save = "from prefect.blocks.system import Secret; Secret(value='block-held-secret').save('slack-signing')"
    sqlite_stack.run([str(BIN / "python"), "-c", save])
    env = {k: v for k, v in sqlite_stack.env.items() if k != "SLACK_SIGNING_SECRET"}
    env.update(GKE_LAB_CHATOPS_SECRET_BLOCK="slack-signing", GKE_LAB_CHATOPS_USERS="UALICE")
    proc = sqlite_stack.start("chatops-block", [str(BIN / "gke-lab"), "chatops", "--port", "0"], env=env)
    try:
        url = _wait_line(proc, r"Uvicorn running on (http://127\.0\.0\.1:\d+)").group(1)
        slack = Slack(url, "http://127.0.0.1:9/unused", SECRET)
        body = slack.payload("help", "UALICE")
        assert slack.post(body, slack.headers(body, secret="block-held-secret")).status_code == 200
        assert slack.post(body, slack.headers(body)).status_code == 401
        assert "block-held-secret" not in proc.log.read_text()
    finally:
        proc.stop()


def test_refusals_create_no_run_and_say_why(sqlite_stack: Stack, chat):
    slack, _receiver, proc = chat
    before = len(chat_runs(sqlite_stack))

    body = slack.payload(f"up mallory project_id={PROJECT}", "UALICE")
    forged = slack.post(body, slack.headers(body, secret="not-the-secret"))
    assert forged.status_code == 401
    stale = slack.post(body, slack.headers(body, timestamp=int(time.time()) - 600))
    assert stale.status_code == 401
    unsigned = slack.post(body, {"Content-Type": "application/x-www-form-urlencoded"})
    assert unsigned.status_code == 401

    huge = slack.payload("up big " + "x" * 20000, "UALICE")
    oversized = slack.post(huge, slack.headers(huge))
    assert oversized.status_code == 413 and "larger than" in oversized.text

    def refused(text: str, user: str = "UALICE") -> str:
        return answer(slack, text, user)

    assert "not allowed" in refused(f"up eve project_id={PROJECT}", user="UEVE")
    # Spec errors are reported to admins, who may set any path, naming the field.
    unknown = refused(f"up typo project_id={PROJECT} cluster.nodes=2", user="UADMIN")
    assert "cluster.nodes" in unknown and "unknown field" in unknown
    cidr = refused(f"up badnet project_id={PROJECT} network.subnet.cidr=10.0.0.0/33", user="UADMIN")
    assert "network.subnet.cidr" in cidr
    assert "no lab `ghost`" in refused("down ghost")
    assert "unknown command" in refused("destroy everything")
    assert "no blueprint `nope`" in refused(f"up x1 blueprint=nope project_id={PROJECT}", user="UADMIN")
    assert "no blueprint `nope`" in refused("up x1 blueprint=nope")

    assert len(chat_runs(sqlite_stack)) == before
    assert SECRET not in proc.log.read_text()


# (command, user, what the refusal must name): each is refused before any run is created.
USER, ADMIN = "UALICE", "UADMIN"
NESTED = "[" * 1000
HOSTILE: list[tuple[str, str, str]] = [
    # Issue 13 item 2, whole and path by path: a listed user widens nothing.
    (
        "up x project_id=prod-payments 'node_service_account.roles=[roles/owner]' "
        "cluster.workload_identity=false 'cluster.master_authorized_networks=[{cidr: 0.0.0.0/0}]' "
        "cluster.allow_public_control_plane=true ttl=0",
        USER,
        "project_id",
    ),
    ("up x project_id=prod-payments", USER, "project_id"),
    ("up x 'node_service_account.roles=[roles/owner]'", USER, "node_service_account.roles"),
    ("up x cluster.workload_identity=false", USER, "cluster.workload_identity"),
    (
        "up x 'cluster.master_authorized_networks=[{cidr: 0.0.0.0/0}]'",
        USER,
        "cluster.master_authorized_networks",
    ),
    ("up x cluster.allow_public_control_plane=true", USER, "cluster.allow_public_control_plane"),
    ("up x cluster.shielded_nodes=false", USER, "cluster.shielded_nodes"),
    ("up x cluster.secure_boot=false", USER, "cluster.secure_boot"),
    ("up x cluster.network_policy=false", USER, "cluster.network_policy"),
    ("up x delete_default_network=true", USER, "delete_default_network"),
    ("up x region=us-east1", USER, "region"),
    ("up x network.subnet.cidr=10.0.0.0/8", USER, "network.subnet.cidr"),
    ("up x kms.node_key=someone-elses-key", USER, "kms.node_key"),
    ("up x 'cluster={num_nodes: 1}'", USER, "cluster"),
    ("up x cluster.num_nodes.0=1", USER, "cluster.num_nodes.0"),
    (
        "up x 'cluster.maintenance_window.recurrence=FREQ=DAILY'",
        USER,
        "cluster.maintenance_window.recurrence",
    ),
    # TTL bounds for listed users: more than 0, at most the cap (24 h by default).
    ("up x ttl=0", USER, "ttl"),
    ("up x ttl=25h", USER, "ttl"),
    ("up x ttl=2d", USER, "ttl"),
    ("up x ttl=" + "9" * 400, USER, "ttl"),
    ("extend x 25h", USER, "duration"),
    ("extend x 100000000h", USER, "duration"),
    # Allowlisted paths take plain values only.
    ("up x cluster.num_nodes=true", USER, "cluster.num_nodes"),
    ("up x cluster.num_nodes=" + "9" * 5000, USER, "cluster.num_nodes"),
    ("up x 'cluster.num_nodes=" + NESTED + "'", USER, "cluster.num_nodes"),
    ("up x echo.replicas=1e9", USER, "echo.replicas"),
    ("up x 'cluster.machine_type=e2-medium;rm'", USER, "cluster.machine_type"),
    # Issue 13 item 6 for admins, who may set any path: no 500, no stall, the field named.
    ("up x ttl=" + "9" * 400, ADMIN, "ttl"),
    ("up x ttl=9000h", ADMIN, "ttl"),
    ("extend x 100000000h", ADMIN, "duration"),
    ("extend x " + "9" * 400 + "h", ADMIN, "duration"),
    ("up x 'cluster.num_nodes=" + NESTED + "'", ADMIN, "cluster.num_nodes"),
    ("up x cluster.num_nodes=" + "9" * 5000, ADMIN, "cluster.num_nodes"),
    (
        "up x 'cluster.maintenance_window.recurrence=FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30'",
        ADMIN,
        "cluster.maintenance_window.recurrence",
    ),
    (
        'up x \'cluster.maintenance_window={start: "2020-11-29T17:00:00Z", end: "2020-11-29T23:00:00Z", '
        'recurrence: "FREQ=SECONDLY"}\'',
        ADMIN,
        "cluster.maintenance_window.recurrence",
    ),
    (
        "up x 'cluster.maintenance_window.recurrence=FREQ=WEEKLY;BYDAY=SA,SU;DTSTART=20200101T000000Z'",
        ADMIN,
        "cluster.maintenance_window.recurrence",
    ),
    # Projects chat may target bind admins too.
    ("up x project_id=prod-payments", ADMIN, "project_id"),
    ("down x project=prod-payments", ADMIN, "project"),
    ("down x project=Not_A_Project", ADMIN, "project"),
]


def test_hostile_corpus_is_large_enough():
    assert len(HOSTILE) >= 30


@pytest.mark.parametrize(("text", "user", "field"), HOSTILE, ids=[f"{u}:{t[:60]}" for t, u, _ in HOSTILE])
def test_hostile_commands_refused_before_any_run(sqlite_stack: Stack, chat, text, user, field):
    slack, _receiver, _proc = chat
    before = all_runs(sqlite_stack)
    reply = answer(slack, text, user)
    assert reply.startswith(":no_entry:"), reply
    assert field in reply, reply
    assert all_runs(sqlite_stack) == before, "a refused command created a flow run"


def test_takeover_of_a_lab_not_started_in_chat_is_refused(sqlite_stack: Stack, chat):
    """Issue 13 item 1: a lab made from the CLI, the UI or a schedule carries no chat owner."""
    slack, _receiver, _proc = chat
    # A run of lab `class-x` that was not started through chat (the flows tag every run lab:/project:),
    # scheduled far ahead so that no worker picks it up.
    outside = sqlite_stack.create_run(
        "provision-lab",
        {"blueprint": "small-zonal", "overrides": ["lab=class-x"]},
        tags=["lab:class-x", "project:gke-detail"],
        state={"type": "SCHEDULED", "state_details": {"scheduled_time": "2099-01-01T00:00:00Z"}},
    )
    # Live resources of lab `planted` that no run knows about (e.g. made with `gke-lab up` elsewhere).
    marker = Marker(lab="planted", expires=0).description()
    network = {"name": "gke-planted-network", "description": marker, "autoCreateSubnetworks": False}
    networks = f"{sqlite_stack.emulator_url}/compute/v1/projects/gke-detail/global/networks"
    created = httpx.post(networks, json=network, timeout=30)
    assert created.status_code == 200, created.text
    try:
        before = all_runs(sqlite_stack)
        reply = answer(slack, "up class-x", "UALICE")
        assert reply.startswith(":no_entry:") and "`class-x`" in reply and "outside chat" in reply, reply
        reply = answer(slack, "up planted", "UBOB")
        assert reply.startswith(":no_entry:") and "already exists" in reply, reply
        assert "gke-planted-network" in reply, reply
        # Nor can they end it: chat ends only labs started through chat.
        assert "no lab `class-x` was started through chat" in answer(slack, "down class-x", "UALICE")
        assert all_runs(sqlite_stack) == before
    finally:  # the stack is shared by the session: leave no lab behind for other tests
        httpx.delete(f"{networks}/gke-planted-network", timeout=30)
        with sqlite_stack.client() as c:
            c.delete(f"flow_runs/{outside['id']}")


def test_team_id_is_checked(sqlite_stack: Stack, chat):
    slack, _receiver, _proc = chat
    before = all_runs(sqlite_stack)
    reply = answer(slack, "up other-team", "UALICE", team="T0BAD")
    assert reply.startswith(":no_entry:") and "team_id" in reply, reply
    assert "GKE_LAB_CHATOPS_TEAM" in answer(slack, "list", "UADMIN", team="T0BAD")
    assert all_runs(sqlite_stack) == before


def test_help_prints_the_policy(sqlite_stack: Stack, chat):
    from chatops.policy import permission_table

    slack, _receiver, _proc = chat
    text = answer(slack, "help", "USTRANGER")
    assert permission_table() in text
    assert "`gke-detail`, `lab-alpha`, `lab-bravo`" in text and "TTL cap: 24h" in text


def test_errors_never_show_internal_urls(sqlite_stack: Stack):
    """A receiver whose Prefect API is down says so, without its address or the API's answer."""
    dead = "http://127.0.0.1:9/api"
    env = {
        **sqlite_stack.env,
        "PREFECT_API_URL": dead,
        "PREFECT_UI_URL": "http://ui.example",
        "SLACK_SIGNING_SECRET": SECRET,
        "GKE_LAB_CHATOPS_USERS": "UALICE",
        "GKE_LAB_CHATOPS_API_TIMEOUT": "5",
    }
    proc = sqlite_stack.start("chatops-dead-api", [str(BIN / "gke-lab"), "chatops", "--port", "0"], env=env)
    try:
        url = _wait_line(proc, r"Uvicorn running on (http://127\.0\.0\.1:\d+)").group(1)
        slack = Slack(url, "http://127.0.0.1:9/unused", SECRET)
        for text in ("list", "status", "down demo", "up demo", "up demo blueprint=small-zonal"):
            reply = answer(slack, text)
            assert reply.startswith(":warning:") and "Prefect" in reply, reply
            assert "127.0.0.1:9" not in reply and "/api" not in reply, reply
        assert "127.0.0.1:9" in proc.log.read_text()  # the operator finds the detail in the log
    finally:
        proc.stop()


def test_up_extend_down_through_chat(sqlite_stack: Stack, chat):
    slack, receiver, proc = chat
    before = len(chat_runs(sqlite_stack))

    text = "up chat-a ttl=3h blueprint=chat-bravo"
    body = slack.payload(text, "UALICE")
    headers = slack.headers(body)
    reply = slack.post(body, headers)
    assert reply.status_code == 200 and "provisioning lab `chat-a`" in reply.json()["text"]
    assert f"{sqlite_stack.ui_url}/runs/flow-run/" in reply.json()["text"]
    replay = slack.post(body, headers)  # Slack retried the same delivery
    assert replay.status_code == 200 and "already received" in replay.json()["text"]

    runs = chat_runs(sqlite_stack)
    assert len(runs) == before + 1
    (run,) = [r for r in runs if "lab:chat-a" in r["tags"]]
    # The run records the fully resolved spec: the blueprint's values, the lab's own resource names
    # (labs in one project never collide), the TTL asked for, and no default-network deletion.
    assert run["parameters"]["blueprint"] is None and run["parameters"]["overrides"] == []
    spec = run["parameters"]["spec"]
    assert (spec["project_id"], spec["lab"], spec["ttl_hours"]) == (PROJECT, "chat-a", 3)
    assert spec["cluster"]["disk_size_gb"] == 60
    assert spec["cluster"]["master_authorized_networks"] == [{"cidr": "127.0.0.1/32", "name": "local"}]
    assert spec["delete_default_network"] is False
    for path, name in per_lab_names("chat-a").items():
        value = spec
        for part in path.split("."):
            value = value[part]
        assert value == name, path
    assert {"owner:UALICE", f"project:{PROJECT}", "gke-lab"} <= set(run["tags"])

    # Someone else may not take the lab down (or reuse its name); nothing is created.
    assert "belongs to <@UALICE>" in slack.send("down chat-a", "UBOB").json()["text"]
    assert "belongs to <@UALICE>" in slack.send("up chat-a blueprint=chat-bravo", "UBOB").json()["text"]
    assert len(chat_runs(sqlite_stack)) == before + 1

    done = sqlite_stack.wait_run(run["id"], timeout=600)
    assert done["state"]["type"] == "COMPLETED", f"{done['state']}\n{sqlite_stack.logs()}"
    outcome = receiver.wait_for("completed", timeout=120)
    assert f"provision chat-a@{PROJECT}" in outcome["text"]
    assert len(outcome["text"]) > 200, outcome  # the lab card follows the headline

    status = slack.send("status chat-a").json()["text"]
    assert f"provision chat-a@{PROJECT}" in status and "Completed" in status
    assert "`chat-a` (owner <@UALICE>)" in slack.send("list", "UBOB").json()["text"]

    # extend: the owner moves the expiry later.
    def expires() -> int:
        clusters = sqlite_stack.emulator.project_state(PROJECT)["clusters"]
        (cluster,) = [c for c in clusters if c["resourceLabels"].get("gke-lab") == "chat-a"]
        return int(cluster["resourceLabels"]["gke-lab-expires"])

    old = expires()
    extended = slack.send("extend chat-a 2h").json()["text"]
    assert "extending by 2h lab `chat-a`" in extended, extended
    (ext,) = [r for r in chat_runs(sqlite_stack) if r["name"] == f"extend chat-a@{PROJECT}"]
    assert sqlite_stack.wait_run(ext["id"])["state"]["type"] == "COMPLETED", sqlite_stack.logs()
    assert expires() == old + 2 * 3600

    # Issue 13 item 3: the blueprint is edited between up and down (another project, another
    # region's default); down still ends exactly what up made, from the spec recorded on its run.
    save_blueprint(sqlite_stack, "chat-bravo", ["project_id=lab-alpha"])

    # down by an admin works for any lab; the outcome is posted.
    down = slack.send("down chat-a", "UADMIN").json()["text"]
    assert "tearing down lab `chat-a`" in down
    (teardown,) = [r for r in chat_runs(sqlite_stack) if r["name"] == f"teardown chat-a@{PROJECT}"]
    assert teardown["parameters"]["spec"] == spec
    assert teardown["parameters"]["blueprint"] is None and teardown["parameters"]["overrides"] == []
    assert sqlite_stack.wait_run(teardown["id"])["state"]["type"] == "COMPLETED", sqlite_stack.logs()
    receiver.wait_for(f"teardown chat-a@{PROJECT}", timeout=120)
    assert not [c for c in sqlite_stack.emulator.project_state(PROJECT)["clusters"]]
    save_blueprint(sqlite_stack, "chat-bravo", BLUEPRINTS["chat-bravo"])

    log = proc.log.read_text()
    assert SECRET not in log and receiver.url not in log


def test_down_finds_the_lab_by_project_never_by_name_alone(sqlite_stack: Stack, chat):
    """Issue 13 item 3: two chat labs called `twin` in two projects; `down twin` must not pick one."""
    slack, _receiver, _proc = chat
    later = {"type": "SCHEDULED", "state_details": {"scheduled_time": "2099-01-01T00:00:00Z"}}
    recorded = {}
    for project, owner in (("lab-alpha", "UBOB"), ("lab-bravo", "UALICE")):
        overrides = [*per_lab_overrides("twin"), f"project_id={project}", "lab=twin", "ttl_hours=1"]
        spec = apply_overrides(LabSpec(), [*overrides, "delete_default_network=false"]).model_dump(
            mode="json"
        )
        recorded[project] = sqlite_stack.create_run(
            "provision-lab",
            {"spec": spec, "blueprint": None, "overrides": []},
            tags=["gke-lab", "chatops", "lab:twin", f"project:{project}", f"owner:{owner}"],
            state=later,
            name=f"provision twin@{project}",
        )
    before = all_runs(sqlite_stack)
    reply = answer(slack, "down twin", "UADMIN")
    assert reply.startswith(":no_entry:") and "`lab-alpha`, `lab-bravo`" in reply and "project=" in reply
    assert "belongs to <@UBOB>" in answer(slack, "down twin project=lab-alpha", "UALICE")
    assert all_runs(sqlite_stack) == before

    reply = answer(slack, "down twin project=lab-bravo", "UALICE")
    assert "tearing down lab `twin`" in reply, reply
    (teardown,) = [r for r in chat_runs(sqlite_stack) if r["name"] == "teardown twin@lab-bravo"]
    spec = teardown["parameters"]["spec"]
    assert (spec["project_id"], spec["lab"]) == ("lab-bravo", "twin")
    assert spec == recorded["lab-bravo"]["parameters"]["spec"]
    assert sqlite_stack.wait_run(teardown["id"])["state"]["type"] == "COMPLETED", sqlite_stack.logs()
    with sqlite_stack.client() as c:
        for run in recorded.values():
            c.delete(f"flow_runs/{run['id']}")


def test_failed_run_posts_the_error(sqlite_stack: Stack, chat):
    slack, receiver, _proc = chat
    # Valid spec, but the workers' address is not an authorized network: the run fails after
    # provisioning, when it cannot reach the control plane, and the user is told why.
    reply = slack.send("up chat-fail blueprint=chat-alpha", "UBOB").json()["text"]
    assert "provisioning lab `chat-fail`" in reply
    (run,) = [r for r in chat_runs(sqlite_stack) if "lab:chat-fail" in r["tags"]]
    assert sqlite_stack.wait_run(run["id"])["state"]["type"] == "FAILED"
    post = receiver.wait_for("provision chat-fail@lab-alpha", timeout=120)
    assert post["text"].startswith(":x:") and "Failed" in post["text"] and "```" in post["text"]
