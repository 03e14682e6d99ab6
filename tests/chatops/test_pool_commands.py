"""Chat commands of lab pools: `/lab claim POOL`, `/lab release LAB`, `/lab pool [POOL]`.

Parsing is pure; the handlers run against a fake Prefect API that records the runs they create.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chatops.app import ChatOps, in_code_block, line_position, pool_section
from chatops.commands import USAGE, Command, CommandError, parse
from chatops.policy import Policy
from chatops.prefect_api import CreatedRun
from chatops.settings import ConfigError, Settings, load_settings, parse_identities


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("claim workshop", Command("claim", pool="workshop")),
        ("CLAIM workshop", Command("claim", pool="workshop")),
        ("pool", Command("pool")),
        ("pool workshop", Command("pool", pool="workshop")),
        ("release workshop-1a2b3c", Command("release", lab="workshop-1a2b3c", pool="workshop")),
        ("release k8s-class-2-00ff00", Command("release", lab="k8s-class-2-00ff00", pool="k8s-class-2")),
    ],
)
def test_parse_pool_commands(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("claim", "takes exactly one pool NAME"),
        ("claim a b", "takes exactly one pool NAME"),
        ("claim Workshop", "pool name `Workshop` is not accepted"),
        ("claim workshop-", "pool name `workshop-` is not accepted"),
        ("claim " + "a" * 21, "is not accepted"),
        ("claim <!channel>", "pool name `&lt;!channel&gt;` is not accepted"),
        ("pool a b", "at most one pool NAME"),
        ("pool 1st", "pool name `1st` is not accepted"),
        ("release", "takes exactly one lab NAME"),
        ("release demo", "lab `demo` is not a pool lab"),
        ("release workshop-1A2B3C", "lab name `workshop-1A2B3C` is not accepted"),
        ("release workshop-1a2b3", "is not a pool lab"),
        ("release workshop-1a2b3c extra", "takes exactly one lab NAME"),
    ],
)
def test_parse_refuses_bad_pool_commands(text, message):
    with pytest.raises(CommandError) as caught:
        parse(text)
    assert message in str(caught.value)


def test_usage_names_the_pool_commands():
    for command in ("/lab claim POOL", "/lab release LAB", "/lab pool [POOL]"):
        assert command in USAGE


def test_identities_mapping_from_the_environment():
    assert parse_identities(" U123=alice@example.com, U456 = bob@example.org ,") == {
        "U123": "alice@example.com",
        "U456": "bob@example.org",
    }
    assert parse_identities("") == {}
    settings = load_settings(
        {
            "SLACK_SIGNING_SECRET": "s",
            "PREFECT_API_URL": "http://x/api",
            "GKE_LAB_CHATOPS_IDENTITIES": "U1=carol@example.com",
        }
    )
    assert settings.identities == {"U1": "carol@example.com"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("U123", "is not Slack-user-ID=e-mail"),
        ("u123=alice@example.com", "is not Slack-user-ID=e-mail"),
        ("U123=*", "U123: '*' is not a Google account e-mail"),
        ("U123=domain:example.com", "is not a Google account e-mail"),
        ("U123=alice", "is not a Google account e-mail"),
        ("U1=a@example.com,U1=b@example.com", "U1 is mapped twice"),
    ],
)
def test_bad_identity_mappings_are_refused_naming_the_variable(text, message):
    with pytest.raises(ConfigError) as caught:
        parse_identities(text)
    assert "GKE_LAB_CHATOPS_IDENTITIES" in str(caught.value)
    assert message in str(caught.value)


STATUS = """# Lab pools

# Pool `workshop`

| lab | state |
|---|---|
| workshop-1a2b3c | ready |

# Pool `workshop-2`

| lab | state |
|---|---|
| workshop-2-aaaaaa | claimed |
"""


def test_pool_section_picks_the_named_pool_only():
    section = pool_section(STATUS, "workshop")
    assert section is not None and "workshop-1a2b3c" in section and "workshop-2-aaaaaa" not in section
    other = pool_section(STATUS, "workshop-2")
    assert other is not None and "workshop-2-aaaaaa" in other and "workshop-1a2b3c" not in other
    assert pool_section(STATUS, "work") is None


def test_status_text_cannot_leave_its_code_block_or_mention_anyone():
    shown = in_code_block("failed: ```\n<!channel> <https://evil|click>", 2800)
    assert shown.count("```") == 2
    assert "<!channel>" not in shown and "<https" not in shown
    assert in_code_block("x" * 5000, 100).count("x") == 100


def test_line_position_says_first_in_line_or_how_many_are_ahead():
    assert line_position(0, 600).startswith("First in line")
    assert "about 10m" in line_position(0, 600)
    assert line_position(3, 600).startswith("3 claim(s) ahead of you")


class FakeApi:
    def __init__(self, runs_ahead: int = 0, artifact: dict[str, Any] | None = None):
        self.created: list[dict[str, Any]] = []
        self.runs_ahead = runs_ahead
        self.artifact = artifact
        self.filters: list[dict[str, Any]] = []

    async def deployment(self, name: str) -> dict[str, Any]:
        return {"id": f"id-{name}", "name": name}

    async def flow_runs(self, **kwargs: Any) -> list[dict[str, Any]]:
        self.filters.append(kwargs)
        return [{"id": f"r{n}", "name": "claim", "tags": []} for n in range(self.runs_ahead)]

    async def create_flow_run(self, deployment_id: str, **kwargs: Any) -> CreatedRun:
        self.created.append({"deployment": deployment_id, **kwargs})
        return CreatedRun(run={"id": "run-1", "name": kwargs["name"]}, created=True)

    async def latest_artifact(self, key: str) -> dict[str, Any] | None:
        return self.artifact if key == "pool-status" else None

    async def aclose(self) -> None:
        pass


POLICY = Policy(users=frozenset({"U1", "U2"}), admins=frozenset({"UA"}))


def answer(api: FakeApi, text: str, user: str = "U1") -> str:
    settings = Settings(
        signing_secret="s",
        policy=POLICY,
        api_url="http://x/api",
        ui_url="http://x",
        identities={"U1": "alice@example.com", "UA": "admin@example.com"},
    )

    async def run() -> str:
        chat = ChatOps(settings, api)  # type: ignore[arg-type]
        try:
            return await chat.handle({"text": text, "user_id": user}, "key-1")
        finally:
            await chat.aclose()

    return asyncio.run(run())


def test_claim_starts_a_claim_lab_run_for_the_users_google_account_and_answers_its_place():
    api = FakeApi(runs_ahead=2)
    text = answer(api, "claim workshop")
    (run,) = api.created
    assert run["deployment"] == "id-claim-lab"
    assert run["parameters"] == {"pool": "workshop", "identity": "alice@example.com"}
    assert {"gke-lab-pool:workshop", "chatops", "owner:U1"} <= set(run["tags"])
    assert api.filters[0]["tags_all"] == ["gke-lab-pool:workshop"]
    assert api.filters[0]["deployment_ids"] == ["id-claim-lab"]
    assert "claiming a lab of pool `workshop` for alice@example.com" in text
    assert "2 claim(s) ahead of you" in text


def test_claim_without_a_mapped_google_account_says_how_to_get_one_and_starts_nothing():
    api = FakeApi()
    text = answer(api, "claim workshop", user="U2")
    assert "GKE_LAB_CHATOPS_IDENTITIES" in text and "U2=you@example.com" in text
    assert api.created == []


def test_claim_by_a_user_not_allowed_starts_nothing():
    api = FakeApi()
    text = answer(api, "claim workshop", user="U9")
    assert "not allowed" in text
    assert api.created == []


@pytest.mark.parametrize(("user", "admin"), [("U1", False), ("UA", True)])
def test_release_starts_a_release_lab_run_naming_the_requester(user, admin):
    api = FakeApi()
    text = answer(api, "release workshop-1a2b3c", user=user)
    (run,) = api.created
    assert run["deployment"] == "id-release-lab"
    assert run["parameters"] == {
        "pool": "workshop",
        "lab": "workshop-1a2b3c",
        "requester": "alice@example.com" if user == "U1" else "admin@example.com",
        "admin": admin,
    }
    assert "releasing lab `workshop-1a2b3c`" in text


def test_pool_shows_the_latest_status_table_or_one_pool():
    api = FakeApi(artifact={"data": STATUS, "updated": "2026-12-03T15:00:00Z"})
    everything = answer(api, "pool")
    assert "workshop-1a2b3c" in everything and "workshop-2-aaaaaa" in everything
    one = answer(api, "pool workshop-2")
    assert "workshop-2-aaaaaa" in one and "workshop-1a2b3c" not in one
    assert "is not in the latest status" in answer(api, "pool nosuch")
    assert "no pool status yet" in answer(FakeApi(), "pool")


def test_up_cannot_enter_a_lab_into_a_pool():
    """A pool's labs are made by maintain-pools only: a chat user who could set `pool=` would slip their own
    lab into a pool, to be claimed by someone else."""
    from chatops.commands import CommandError, parse

    with pytest.raises(CommandError, match="`pool=` cannot be set here"):
        parse("up demo pool=workshop")
