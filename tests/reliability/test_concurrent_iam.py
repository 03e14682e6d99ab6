"""Labs sharing one project policy: concurrent grants and removals never lose anyone's binding.

Each lab's service account and project roles go through the same code the provisioning flow runs
(gke_lab.resources.project_bindings: one etag read-modify-write retried whole on 409), and each
removal through the teardown's (gke_lab.teardown.remove_bindings). All writers start at the same
instant, so they read the same etag and the emulator answers all but one with 409 ABORTED: the test
checks that this race really happened.
"""

from __future__ import annotations

import time

import pytest

from gke_lab.clients import Clients
from gke_lab.ownership import marker_for
from gke_lab.resources.iam_policy import Grants
from gke_lab.resources.project_bindings import ensure as ensure_project_roles
from gke_lab.resources.service_account import ensure as ensure_service_account
from gke_lab.teardown import LabTarget, delete_service_accounts, remove_bindings
from tests.fixtures_emulator import EmulatorAdmin, lab_spec
from tests.reliability.helpers import DEEP, together

PROJECT = "shared-iam"
LABS = 25 if DEEP else 10
ROLES = ("roles/logging.logWriter", "roles/monitoring.metricWriter", "roles/monitoring.viewer")
BYSTANDER = "user:alice@example.com"


def _spec(lab: str):
    return lab_spec(lab, project=PROJECT)  # each lab names its service account after itself


def _grant(spec) -> Grants:
    c = Clients.from_env()
    ensure_service_account(c, spec, marker_for(spec, time.time()))
    return ensure_project_roles(c, spec)


def _pairs(emulator) -> set[tuple[str, str]]:
    policy = EmulatorAdmin(emulator.url).project_state(PROJECT)["iamPolicy"]
    return {(b["role"], m) for b in policy.get("bindings", []) for m in b.get("members", [])}


def _member(spec) -> str:
    return f"serviceAccount:{spec.node_sa_email}"


def _conflicts(entries: list[dict]) -> int:
    return sum(1 for e in entries if e["path"].endswith(":setIamPolicy") and e["status"] == 409)


@pytest.mark.timeout(600)
def test_concurrent_grants_and_removals_keep_every_other_binding(emulator_factory):
    # IAM calls a little slower than the default test scale, so every writer is mid-flight at once.
    emu = emulator_factory(latency_scale=0.05, projects={PROJECT: 998033507145})
    early = [_spec(f"early-{i}") for i in range(2)]
    labs = [_spec(f"lab-{i:02d}") for i in range(LABS)]

    # A bystander member on the very roles the labs get, and two labs provisioned beforehand.
    c = Clients.from_env()
    c.projects.get_project(name=f"projects/{PROJECT}")  # the project exists from first use
    policy = c.projects.get_iam_policy(request={"resource": f"projects/{PROJECT}"})
    for role in ROLES:
        policy.bindings.add(role=role, members=[BYSTANDER])
    c.projects.set_iam_policy(request={"resource": f"projects/{PROJECT}", "policy": policy})
    for spec in early:
        _grant(spec)

    seq = EmulatorAdmin(emu.url).last_seq()
    results = together([lambda s=s: _grant(s) for s in labs])
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, f"grants failed: {failures[:3]}"
    pairs = _pairs(emu)
    expected = {(r, BYSTANDER) for r in ROLES} | {(r, _member(s)) for s in early + labs for r in ROLES}
    assert expected - pairs == set(), f"bindings lost: {sorted(expected - pairs)}"
    assert _conflicts(EmulatorAdmin(emu.url).requests(seq)) >= 1, (
        "the writers never collided: the race was not exercised"
    )

    # All labs torn down at once: only their own members go.
    seq = EmulatorAdmin(emu.url).last_seq()
    results = together(
        [
            lambda s=s: (
                remove_bindings(Clients.from_env(), LabTarget.from_spec(s)),
                delete_service_accounts(Clients.from_env(), LabTarget.from_spec(s)),
            )
            for s in labs
        ]
    )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert not failures, f"removals failed: {failures[:3]}"
    assert _conflicts(EmulatorAdmin(emu.url).requests(seq)) >= 1, (
        "the removals never collided: the race was not exercised"
    )

    pairs = _pairs(emu)
    survivors = {(r, BYSTANDER) for r in ROLES} | {(r, _member(s)) for s in early for r in ROLES}
    assert survivors - pairs == set(), (
        f"another lab's or a bystander's binding was removed: {survivors - pairs}"
    )
    gone = {(r, _member(s)) for s in labs for r in ROLES}
    assert pairs & gone == set(), f"torn-down labs still bound: {sorted(pairs & gone)}"
    accounts = {a["email"] for a in EmulatorAdmin(emu.url).project_state(PROJECT)["serviceAccounts"]}
    assert {s.node_sa_email for s in early} <= accounts
    assert not accounts & {s.node_sa_email for s in labs}
