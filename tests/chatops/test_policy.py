"""The chat policy: its data, its checks, and the docs and `/lab help` rendered from it (no server)."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

import pytest

from chatops import recurrence
from chatops.app import ChatOps
from chatops.commands import CommandError, parse
from chatops.lab_params import build_up
from chatops.policy import (
    DEFAULT_PROJECT,
    ENVIRONMENT,
    USER_PATH_NAMES,
    YEAR_HOURS,
    Policy,
    Refused,
    environment_table,
    permission_table,
)
from chatops.settings import ConfigError, Settings, load_settings
from gke_lab.spec import SpecError

REPO = Path(__file__).resolve().parents[2]
POLICY = Policy(users=frozenset({"U1"}), admins=frozenset({"UA"}))


def _section(text: str, heading: str) -> str:
    start = text.index(heading)
    end = text.find("\n## ", start + len(heading))
    return text[start : end if end != -1 else None]


def _tables(text: str) -> list[str]:
    """Each Markdown table in `text` (consecutive lines starting with `|`)."""
    tables, current = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            current.append(line)
        elif current:
            tables.append("\n".join(current))
            current = []
    if current:
        tables.append("\n".join(current))
    return tables


def test_docs_chat_policy_section_has_the_tables_help_prints():
    section = _section((REPO / "docs" / "operations.md").read_text(), "\n## Chat policy\n")
    permissions, environment = _tables(section)
    assert permissions == permission_table()
    assert environment == environment_table()
    help_text = ChatOps(Settings(signing_secret="s", policy=POLICY, api_url="http://x/api", ui_url="")).help()
    assert permission_table() in help_text


def test_every_environment_variable_the_receiver_reads_is_documented():
    read = set()
    for path in [*(REPO / "chatops").glob("*.py"), REPO / "gke_lab" / "cli" / "chatops.py"]:
        read |= set(
            re.findall(r"\b((?:GKE_LAB_CHATOPS|PREFECT_API|PREFECT_UI|SLACK)_[A-Z_]+)\b", path.read_text())
        )
    documented = {s.name for s in ENVIRONMENT}
    assert read - documented == set()


def test_listed_users_set_only_the_allowlisted_paths():
    assert USER_PATH_NAMES == ("ttl", "cluster.num_nodes", "cluster.machine_type", "echo.replicas")
    POLICY.check_overrides(
        "U1", parse("up x cluster.num_nodes=2 cluster.machine_type=e2-standard-4 echo.replicas=3")
    )
    for text, path in [
        ("up x project_id=other", "project_id"),
        ("up x delete_default_network=true", "delete_default_network"),
        ("up x 'node_service_account.roles=[roles/owner]'", "node_service_account.roles"),
        ("up x cluster.workload_identity=false", "cluster.workload_identity"),
        ("up x 'cluster={num_nodes: 1}'", "cluster"),
        ("up x cluster.num_nodes=true", "cluster.num_nodes"),
        ("up x cluster.num_nodes=1e3", "cluster.num_nodes"),
        ("up x 'cluster.machine_type=e2 medium'", "cluster.machine_type"),
    ]:
        with pytest.raises(Refused, match=re.escape(f"`{path}`")):
            POLICY.check_overrides("U1", parse(text))
    POLICY.check_overrides("UA", parse("up x project_id=other cluster.workload_identity=false"))


def test_ttl_bounds():
    POLICY.check_ttl("U1", 24, "ttl")
    for hours in (0, -1, 24.01, 1e9):
        with pytest.raises(Refused, match="^ttl: "):
            POLICY.check_ttl("U1", hours, "ttl")
    POLICY.check_ttl("UA", 0, "ttl")  # admins may make a lab that never expires
    POLICY.check_ttl("UA", YEAR_HOURS, "duration")
    with pytest.raises(Refused, match="^duration: "):
        POLICY.check_ttl("UA", 0, "duration")
    with pytest.raises(Refused, match="^ttl: "):
        POLICY.check_ttl("UA", YEAR_HOURS + 1, "ttl")
    capped = Policy(users=frozenset({"U1"}), admins=frozenset(), max_ttl_hours=4)
    with pytest.raises(Refused, match="at most 4h"):
        capped.check_ttl("U1", 5, "duration")


def test_projects_default_to_the_default_labs_project():
    POLICY.check_project(DEFAULT_PROJECT)
    with pytest.raises(Refused, match="^project_id: `lab-alpha`"):
        POLICY.check_project("lab-alpha")
    wider = Policy(users=frozenset(), admins=frozenset(), projects=frozenset({"lab-alpha"}))
    wider.check_project("lab-alpha")
    with pytest.raises(Refused):
        wider.check_project(DEFAULT_PROJECT)


def test_team_is_checked_when_configured():
    POLICY.check_team("T_ANY")
    team = Policy(users=frozenset(), admins=frozenset(), team="T1")
    team.check_team("T1")
    with pytest.raises(Refused, match="team_id"):
        team.check_team("T2")


def test_settings_read_the_policy_and_refuse_malformed_numbers():
    base = {"SLACK_SIGNING_SECRET": "s", "PREFECT_API_URL": "http://h/api"}
    settings = load_settings(
        {
            **base,
            "GKE_LAB_CHATOPS_PROJECTS": "lab-alpha, lab-bravo",
            "GKE_LAB_CHATOPS_MAX_TTL_HOURS": "8",
            "GKE_LAB_CHATOPS_TEAM": "T1",
        }
    )
    assert settings.policy.allowed_projects == {"lab-alpha", "lab-bravo"}
    assert (settings.policy.max_ttl_hours, settings.policy.team) == (8, "T1")
    assert load_settings(base).policy.allowed_projects == {DEFAULT_PROJECT}
    for name, value in [
        ("GKE_LAB_CHATOPS_MAX_TTL_HOURS", "a day"),
        ("GKE_LAB_CHATOPS_MAX_TTL_HOURS", "1e999"),
        ("GKE_LAB_CHATOPS_MAX_TTL_HOURS", "100000"),
        ("GKE_LAB_CHATOPS_MAX_BODY", "-1"),
        ("GKE_LAB_CHATOPS_CHECK_SECONDS", "nan"),
    ]:
        with pytest.raises(ConfigError, match=name):
            load_settings({**base, name: value})


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=DAILY",
        "FREQ=WEEKLY;BYDAY=SA,SU",
        "RRULE:FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR",
        "FREQ=MONTHLY;BYSETPOS=1;BYDAY=SA,SU",
        "FREQ=MONTHLY;BYDAY=1SA,-1SU",
        "FREQ=MONTHLY;BYMONTHDAY=1,15",
    ],
)
def test_gke_recurrence_forms_accepted(rule):
    assert recurrence.problem(rule) is None


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=HOURLY",
        "FREQ=SECONDLY",
        "FREQ=YEARLY;BYMONTH=1",
        "FREQ=DAILY;DTSTART=20200101T000000Z",
        "DTSTART:20200101T000000Z\nRRULE:FREQ=DAILY",
        "FREQ=DAILY;INTERVAL=2",
        "FREQ=DAILY;COUNT=3",
        "FREQ=WEEKLY",
        "FREQ=WEEKLY;BYDAY=XX",
        "FREQ=WEEKLY;BYDAY=SA;BYDAY=SU",
        "FREQ=MONTHLY;BYDAY=SA",
        "FREQ=MONTHLY;BYMONTHDAY=32",
        "FREQ=WEEKLY;BYDAY=SA,SU\n",
        "FREQ=WEEKLY;BYDAY=" + ",".join(["SA"] * 200),
        "",
    ],
)
def test_other_recurrences_refused(rule):
    assert recurrence.problem(rule)


def test_recurrence_refused_before_the_core_expands_it():
    command = parse("up x 'cluster.maintenance_window.recurrence=FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30'")
    with pytest.raises(SpecError) as refused:
        build_up(command, None, None, "UA", admin=True)
    assert "cluster.maintenance_window.recurrence" in str(refused.value)
    assert "FREQ=MINUTELY is not one GKE accepts" in str(refused.value)
    base = {"cluster": {"maintenance_window": {"recurrence": "FREQ=SECONDLY"}}}
    with pytest.raises(SpecError, match="blueprint's cluster.maintenance_window.recurrence"):
        build_up(parse("up x"), base, "bp", "U1")


def test_chat_labs_keep_the_default_network_unless_an_admin_asks():
    base = {"delete_default_network": True}
    assert build_up(parse("up x"), base, "bp", "U1").spec.delete_default_network is False
    asked = build_up(parse("up x delete_default_network=true"), base, "bp", "UA", admin=True)
    assert asked.spec.delete_default_network is True
    with pytest.raises(SpecError, match="delete_default_network"):
        build_up(parse("up x delete_default_network=true"), None, None, "U1")


@pytest.mark.parametrize(
    "text",
    [
        "up x ttl=" + "9" * 400,
        "extend x " + "9" * 400,
        "up x ttl=1e999h",
        "up 'x\n'",
        "up x 'a.b.c.d.e.f.g.h.i.j.k.l=1'",
    ],
)
def test_parse_refuses_without_crashing(text):
    with pytest.raises(CommandError):
        parse(text)


@pytest.mark.parametrize(
    "value",
    [
        "[" * 1000,
        "{a: " * 100,
        "9" * 5000,
        "!!python/object:os.system x",
        "&a [*a, *a]",
        "\n".join(" " * depth + "- " for depth in range(0, 100, 1)),  # block-style nesting
    ],
)
def test_values_the_parsers_choke_on_are_spec_errors(value):
    with pytest.raises(SpecError) as refused:
        build_up(parse(f"up x 'cluster.num_nodes={value}'"), None, None, "UA", admin=True)
    assert "cluster.num_nodes" in str(refused.value)


def test_yaml_aliases_cannot_expand_a_value_beyond_the_item_budget():
    # Each level repeats the previous one ten times: 10^5 items from about 200 characters.
    levels = ["&l0 [1,1,1,1,1,1,1,1,1,1]"]
    levels += [f"&l{i} [{','.join([f'*l{i - 1}'] * 10)}]" for i in range(1, 5)]
    bomb = "[" + ", ".join(levels) + "]"
    # Refused either by the chat bound on items or, first, by the spec's YAML reader (no aliases at all).
    with pytest.raises(
        SpecError, match=r"cluster\.tags: value (is larger than 10000 items|refused: anchors and aliases)"
    ):
        build_up(parse(f"up x 'cluster.tags={bomb}'"), None, None, "UA", admin=True)


def _chatops(**overrides) -> ChatOps:
    settings = Settings(
        signing_secret="s", policy=POLICY, api_url="http://127.0.0.1:9/api", ui_url="", **overrides
    )
    return ChatOps(settings)


def test_checks_run_off_the_event_loop_under_a_time_limit():
    release = threading.Event()

    async def scenario() -> None:
        chatops = _chatops(check_seconds=0.2)
        try:
            loop_answers = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(loop_answers.set_result, "free")
            with pytest.raises(CommandError, match="took longer than 0.2s"):
                await chatops.off_loop(release.wait)
            assert loop_answers.result() == "free"  # the loop kept serving while the check ran
        finally:
            release.set()
            await chatops.aclose()

    asyncio.run(scenario())


def test_watchers_are_bounded_in_number():
    async def scenario() -> None:
        chatops = _chatops(max_watchers=2, poll_seconds=3600)
        try:
            assert chatops.watch("run-1", "http://127.0.0.1:9/a")
            assert chatops.watch("run-2", "http://127.0.0.1:9/b")
            assert not chatops.watch("run-3", "http://127.0.0.1:9/c")
            assert len(chatops.watchers) == 2
        finally:
            await chatops.aclose()
        assert not chatops.watchers

    asyncio.run(scenario())
