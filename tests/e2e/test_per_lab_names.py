"""Two labs in ONE project, only `lab=` differing: each gets its own names from the core's spec resolution,
both provision, tearing one down leaves the other whole, and then nothing of either is left.

Through the flows (what REST, the UI and schedules run) and through the command line. The REST and UI
faces are in tests/deploy/test_rest_trigger.py and tests/deploy/test_ui.py.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from gke_lab.cli import main
from tests.fixtures_emulator import LOCAL_NETWORK, lab_spec

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def names(st: dict, kind: str) -> set[str]:
    return {r["name"].rsplit("/", 1)[-1] if kind != "serviceAccounts" else r["email"] for r in st[kind]}


def owned_by(st: dict, lab: str) -> dict[str, set[str]]:
    """What carries lab's name in the emulator's state."""
    a = lab_spec(lab)
    return {
        "clusters": names(st, "clusters") & {a.cluster.name},
        "networks": names(st, "networks") & {a.network.name},
        "subnetworks": names(st, "subnetworks") & {a.network.subnet.name},
        "routers": names(st, "routers") & {a.network.router},
        "serviceAccounts": names(st, "serviceAccounts") & {a.node_sa_email},
        "firewalls": {f["name"] for f in st["firewalls"] if f["network"].endswith(f"/{a.network.name}")},
    }


def bound_members(st: dict) -> set[str]:
    return {m for b in st["iamPolicy"].get("bindings", []) for m in b.get("members", [])}


def assert_nothing_left_of(st: dict, *labs: str) -> None:
    for lab in labs:
        assert not any(owned_by(st, lab).values()), (lab, owned_by(st, lab))
        assert lab_spec(lab).node_sa_member not in bound_members(st)
    assert st["clusters"] == []


def test_two_labs_in_one_project_provision_and_tear_down_independently(prefect_harness, lab_admin):
    from flows.provision import provision_lab
    from flows.teardown import teardown_lab
    from flows.verify import verify_lab

    alice, bob = lab_spec("alice"), lab_spec("bob")

    first = provision_lab(spec=alice)
    second = provision_lab(spec=bob)
    assert first["verification"]["passed"] is True and second["verification"]["passed"] is True

    both = lab_admin.project_state()
    for lab in ("alice", "bob"):
        assert all(owned_by(both, lab).values()), (lab, owned_by(both, lab))
    assert {c["name"] for c in both["clusters"]} == {"gke-alice", "gke-bob"}
    assert all(c["status"] == "RUNNING" for c in both["clusters"])

    report = teardown_lab(spec=alice)
    assert not [r for r in report["rows"] if r["action"] == "failed"], report["rows"]
    after = lab_admin.project_state()
    assert not any(owned_by(after, "alice").values()), owned_by(after, "alice")
    assert owned_by(after, "bob") == owned_by(both, "bob")
    (cluster,) = after["clusters"]
    assert cluster["name"] == "gke-bob" and cluster["status"] == "RUNNING"
    # bob's node account keeps its project roles and its keys stay usable
    members = {m for b in after["iamPolicy"].get("bindings", []) for m in b.get("members", [])}
    assert bob.node_sa_member in members and alice.node_sa_member not in members
    enabled = {
        v["name"].split("/cryptoKeyVersions/")[0]
        for v in after["cryptoKeyVersions"]
        if v["state"] == "ENABLED"
    }
    assert {bob.key_name("node"), bob.key_name("secrets")} <= enabled

    # the remaining lab still works end to end
    assert verify_lab(spec=bob)["verification"]["passed"] is True

    report = teardown_lab(spec=bob)
    assert not [r for r in report["rows"] if r["action"] == "failed"], report["rows"]
    assert_nothing_left_of(lab_admin.project_state(), "alice", "bob")


def cli(*args: str):
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result


def test_two_labs_through_the_command_line_only_the_lab_name_differing(prefect_harness, lab_admin):

    plan = cli("plan", "--offline", "--set", "lab=alpha", "--set", LOCAL_NETWORK)
    assert "gke-alpha-network" in plan.stdout and "gke-alpha" in plan.stdout  # plan shows the derived names

    cli("up", "--set", "lab=alpha", "--set", LOCAL_NETWORK)
    cli("up", "--set", "lab=bravo", "--set", LOCAL_NETWORK)
    both = lab_admin.project_state()
    assert {c["name"] for c in both["clusters"]} == {"gke-alpha", "gke-bravo"}
    assert all(c["status"] == "RUNNING" for c in both["clusters"])
    for lab in ("alpha", "bravo"):
        assert all(owned_by(both, lab)[kind] for kind in ("clusters", "networks", "subnetworks", "routers"))
        assert owned_by(both, lab)["serviceAccounts"], lab

    cli("down", "--set", "lab=alpha", "--set", LOCAL_NETWORK)
    after = lab_admin.project_state()
    assert not any(owned_by(after, "alpha").values()), owned_by(after, "alpha")
    assert owned_by(after, "bravo") == owned_by(both, "bravo")
    bravo = [c for c in both["clusters"] if c["name"] == "gke-bravo"]
    assert after["clusters"] == bravo  # untouched: same cluster, same state, same labels
    assert lab_spec("bravo").node_sa_member in bound_members(after)

    cli("down", "--set", "lab=bravo", "--set", LOCAL_NETWORK)
    assert_nothing_left_of(lab_admin.project_state(), "alpha", "bravo")
