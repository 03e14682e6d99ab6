"""Slash-command parsing, authorization and spec validation: pure functions, no server."""

from __future__ import annotations

import pytest

from chatops.commands import Command, CommandError, parse, parse_duration_hours
from chatops.lab_params import build_up, owner_of
from chatops.policy import Policy, Refused, parse_ids
from chatops.settings import ConfigError, load_settings
from gke_lab.naming import PATHS, per_lab_overrides
from gke_lab.spec import SpecError


def test_parse_up_with_ttl_blueprint_and_overrides():
    cmd = parse("up demo ttl=90m blueprint=small-zonal cluster.num_nodes=2 'echo.replicas=3'")
    assert cmd == Command(
        "up",
        lab="demo",
        ttl_hours=1.5,
        blueprint="small-zonal",
        overrides=["cluster.num_nodes=2", "echo.replicas=3"],
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", Command("help")),
        ("help", Command("help")),
        ("list", Command("list")),
        ("status", Command("status")),
        ("status demo", Command("status", lab="demo")),
        ("down demo", Command("down", lab="demo")),
        ("extend demo 2h", Command("extend", lab="demo", ttl_hours=2)),
        ("EXTEND demo 1d", Command("extend", lab="demo", ttl_hours=24)),
    ],
)
def test_parse_simple(text, expected):
    assert parse(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("up", "needs a lab NAME"),
        ("up ttl=4h", "needs a lab NAME"),
        ("up Demo_1", "lab name `Demo_1` is not accepted"),
        ("up demo ttl=soon", "not a duration"),
        ("up demo lab=other", "`lab=` cannot be set here"),
        ("up demo ttl_hours=3", "use ttl=DURATION"),
        ("up demo nonsense", "is not KEY=VALUE"),
        ("up demo 'bad path=1'", "not a spec field path"),
        ("down", "exactly one lab NAME"),
        ("extend demo", "a lab NAME and a duration"),
        ("extend demo 0h", "longer than zero"),
        ("list extra", "takes no arguments"),
        ("destroy everything", "unknown command `destroy`"),
        ("up demo 'unbalanced", "could not read the command"),
    ],
)
def test_parse_refusals_say_why(text, message):
    with pytest.raises(CommandError, match=message.replace("(", r"\(").replace("[", r"\[")):
        parse(text)


def test_duration_units():
    assert parse_duration_hours("4") == 4
    assert parse_duration_hours("30m") == 0.5
    assert parse_duration_hours("2d") == 48


def test_policy_allowlist_admins_and_owners():
    policy = Policy(users=parse_ids("U1, U2"), admins=parse_ids("UA"))
    policy.check_user("U1", parse("list"))
    policy.check_user("UA", parse("up x"))
    policy.check_user("UX", parse("help"))  # help is harmless
    with pytest.raises(Refused, match="not allowed"):
        policy.check_user("UX", parse("list"))
    down = parse("down lab1")
    policy.check_owner("U1", down, owner="U1")
    policy.check_owner("UA", down, owner="U1")
    with pytest.raises(Refused, match="belongs to <@U1>"):
        policy.check_owner("U2", down, owner="U1")
    with pytest.raises(Refused, match="no recorded owner"):
        policy.check_owner("U2", down, owner=None)


def test_build_up_validates_through_labspec_and_tags_owner():
    run = build_up(parse("up demo ttl=2h cluster.num_nodes=2"), None, None, "U1")
    assert run.spec.lab == "demo" and run.spec.ttl_hours == 2 and run.spec.cluster.num_nodes == 2
    # The run carries the fully resolved spec (what `down` will tear down), not a blueprint to resolve.
    assert run.parameters == {"spec": run.spec.model_dump(mode="json"), "blueprint": None, "overrides": []}
    assert run.overrides == [
        *per_lab_overrides("demo"),
        "delete_default_network=false",
        "cluster.num_nodes=2",
        "lab=demo",
        "ttl_hours=2",
    ]
    assert run.spec.delete_default_network is False
    assert (
        owner_of(run.tags) == "U1" and "lab:demo" in run.tags and f"project:{run.spec.project_id}" in run.tags
    )
    assert run.name == f"provision demo@{run.spec.project_id}"


def test_build_up_refuses_unknown_field_and_bad_cidr_naming_the_path():
    with pytest.raises(SpecError) as unknown:
        build_up(parse("up demo cluster.nodes=2"), None, None, "U1")
    assert "cluster.nodes" in str(unknown.value)
    with pytest.raises((SpecError, ValueError)) as cidr:
        build_up(parse("up demo network.subnet.cidr=10.0.0.0/33"), None, None, "U1")
    assert "network.subnet.cidr" in str(cidr.value)


def test_settings_require_signing_secret_and_never_show_it():
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET is not set"):
        load_settings({"PREFECT_API_URL": "http://x/api"})
    settings = load_settings(
        {
            "SLACK_SIGNING_SECRET": "s3cr3t-value",
            "PREFECT_API_URL": "http://h:1/api",
            "GKE_LAB_CHATOPS_USERS": "U1",
        }
    )
    assert "s3cr3t-value" not in repr(settings)
    assert settings.ui_url == "http://h:1" and settings.policy.users == {"U1"}
    from_block = load_settings(
        {"GKE_LAB_CHATOPS_SECRET_BLOCK": "slack-signing", "PREFECT_API_URL": "http://h/api"},
        secret_loader=lambda name: "from-" + name,
    )
    assert from_block.signing_secret == "from-slack-signing"


def _names(spec) -> dict[str, str]:
    values = {}
    for path in PATHS:
        value = spec
        for part in path.split("."):
            value = getattr(value, part)
        values[path] = value
    return values


def test_two_ups_in_one_project_get_disjoint_resource_names():
    alice = build_up(parse("up alice project_id=lab-alpha"), None, None, "U1").spec
    bob = build_up(parse("up bob project_id=lab-alpha"), None, None, "U2").spec
    assert alice.project_id == bob.project_id == "lab-alpha"
    a, b = _names(alice), _names(bob)
    for path in PATHS:
        assert a[path] != b[path], path
    assert alice.kms.keyring == bob.kms.keyring  # the key ring is shared; the keys are not
    assert alice.cluster.name == "gke-alice" and bob.node_sa_email.startswith("gke-bob-node@")
    assert alice.key_name("node") != bob.key_name("node")


def test_explicit_name_overrides_win_over_the_derived_names():
    run = build_up(parse("up alice cluster.name=mine 'network={name: my-net}'"), None, None, "U1")
    assert run.spec.cluster.name == "mine"
    assert run.spec.network.name == "my-net"
    # the whole network was given: none of its derived names are added
    assert not [o for o in run.overrides if o.startswith(("network.", "cluster.name=gke-"))]
    # a name left at the article's default is not a choice (the UI form sends every default): it derives
    assert run.spec.network.subnet.name == "gke-alice-subnet"
    assert run.spec.node_service_account.name == "gke-alice-node"


def test_derived_names_also_apply_over_a_blueprint():
    base = {"cluster": {"name": "fixed"}, "network": {"name": "fixed-net"}}
    run = build_up(parse("up carol"), base, "team", "U1")
    assert (run.spec.cluster.name, run.spec.network.name) == ("gke-carol", "gke-carol-network")
