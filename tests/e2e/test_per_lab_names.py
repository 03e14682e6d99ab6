"""Two labs in ONE project with per-lab names: both provision, and tearing one down leaves the other whole."""

from __future__ import annotations

import httpx
import pytest

from gke_lab.naming import per_lab_overrides
from gke_lab.overrides import apply_overrides

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PROJECT = "gke-detail"
NUMBER = 415104041262
LOCAL = "cluster.master_authorized_networks=[{cidr: 127.0.0.1/32, name: local}]"


def lab_spec(lab: str):
    return apply_overrides(None, [*per_lab_overrides(lab), f"lab={lab}", LOCAL])


def state(emu) -> dict:
    resp = httpx.get(f"{emu.url}/_emulator/state", timeout=60)
    resp.raise_for_status()
    return resp.json()["projects"][PROJECT]


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
    }


def test_two_labs_in_one_project_provision_and_tear_down_independently(prefect_harness, emulator_factory):
    from flows.provision import provision_lab
    from flows.teardown import teardown_lab
    from flows.verify import verify_lab

    emu = emulator_factory(projects={PROJECT: NUMBER}, latency_scale=0.01)
    alice, bob = lab_spec("alice"), lab_spec("bob")

    first = provision_lab(spec=alice)
    second = provision_lab(spec=bob)
    assert first["verification"]["passed"] is True and second["verification"]["passed"] is True

    both = state(emu)
    for lab in ("alice", "bob"):
        assert all(owned_by(both, lab).values()), (lab, owned_by(both, lab))
    assert {c["name"] for c in both["clusters"]} == {"gke-alice", "gke-bob"}
    assert all(c["status"] == "RUNNING" for c in both["clusters"])

    report = teardown_lab(spec=alice)
    assert not [r for r in report["rows"] if r["action"] == "failed"], report["rows"]
    after = state(emu)
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
