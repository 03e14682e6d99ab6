"""Revoking a claimant's access: only the lab's claimant, the project role kept while they hold another
claimed lab in the project, and nobody else's membership touched (fake clients; the e2e test runs the
same against the emulator)."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from google.cloud import container_v1
from google.iam.v1 import policy_pb2
from google.type import expr_pb2

from gke_lab import inventory, lab_access, pools
from gke_lab.errors import LabError
from gke_lab.inventory import Resource
from gke_lab.ownership import Marker
from gke_lab.pools import PoolLab, PoolState
from gke_lab.resources.iam_policy import remove_bindings

PROJECT = "proj-a-1234"
ALICE, VICTIM = "alice@example.com", "victim@example.com"
ROLE = lab_access.PROJECT_ROLE


class Projects:
    """A project IAM policy with etags: a write with a stale etag is refused (409 in Google's API)."""

    def __init__(self, members: list[str]) -> None:
        self.policy = policy_pb2.Policy(etag=b"1", version=3)
        self.policy.bindings.add(role=ROLE, members=members)
        self.policy.bindings.add(role="roles/viewer", members=[f"user:{ALICE}"])
        self.writes = 0

    def get_iam_policy(self, request: dict) -> policy_pb2.Policy:
        copy = policy_pb2.Policy()
        copy.CopyFrom(self.policy)
        return copy

    def set_iam_policy(self, request: dict) -> policy_pb2.Policy:
        policy = request["policy"]
        assert policy.etag == self.policy.etag
        self.policy.CopyFrom(policy)
        self.policy.etag = str(int(self.policy.etag) + 1).encode()
        self.writes += 1
        return self.policy

    def members(self, role: str = ROLE) -> set[str]:
        return {m for b in self.policy.bindings if b.role == role for m in b.members}


def clients(projects: Projects) -> SimpleNamespace:
    # The cluster serves no Kubernetes API (it is being provisioned): only the project part is exercised.
    cluster = container_v1.Cluster(status=container_v1.Cluster.Status.PROVISIONING)
    return SimpleNamespace(
        projects=projects,
        container=SimpleNamespace(get_cluster=lambda name: cluster),
        access_token=lambda: "t",
    )


def lab(name: str = "ws-00000a", claimant: str = ALICE) -> PoolLab:
    return PoolLab(
        name, PROJECT, PoolState.REAPING, "us-west1", f"gke-{name}", claimed_by=pools.claimant_label(claimant)
    )


def listed(monkeypatch: pytest.MonkeyPatch, *others: tuple[str, str, str]) -> None:
    """The project's other clusters: (lab, pool state, claimant)."""
    found = []
    for name, state, claimant in others:
        labels = {
            **Marker(name, 2_000_000_000).labels(),
            pools.LABEL_POOL: "ws",
            pools.LABEL_POOL_STATE: state,
            pools.LABEL_CLAIMED_BY: pools.claimant_label(claimant),
        }
        found.append(
            Resource("cluster", f"gke-{name}", "us-west1", Marker.from_labels(labels), labels=labels)
        )
    monkeypatch.setattr(inventory, "clusters", lambda c, project, locations=("-",): found)


def test_the_project_role_goes_and_nobody_elses_membership_with_it(monkeypatch):
    projects = Projects([f"user:{ALICE}", f"user:{VICTIM}"])
    listed(monkeypatch, ("ws-00000b", "reaping", ALICE), ("ws-00000c", "claimed", VICTIM))
    done = lab_access.revoke(clients(projects), lab(), ALICE)  # type: ignore[arg-type]
    assert done == (f"projects/{PROJECT}: {ROLE} for user:{ALICE} removed",)
    assert projects.members() == {f"user:{VICTIM}"}
    assert projects.members("roles/viewer") == {f"user:{ALICE}"}  # another role of theirs is not ours


def test_the_project_role_stays_while_they_hold_another_claimed_lab_there(monkeypatch):
    projects = Projects([f"user:{ALICE}"])
    listed(monkeypatch, ("ws-00000b", "claimed", ALICE))
    assert lab_access.revoke(clients(projects), lab(), ALICE) == ()  # type: ignore[arg-type]
    assert projects.members() == {f"user:{ALICE}"} and projects.writes == 0


def test_only_the_claimant_is_revoked_and_found(monkeypatch):
    projects = Projects([f"user:{VICTIM}", f"user:{ALICE}"])
    listed(monkeypatch)
    with pytest.raises(LabError, match="^identity: victim@example.com is not the claimant"):
        lab_access.revoke(clients(projects), lab(), VICTIM)  # type: ignore[arg-type]
    assert projects.writes == 0
    assert lab_access.claimant_of(clients(projects), lab()) == ALICE  # type: ignore[arg-type]
    assert lab_access.claimant_of(clients(Projects([f"user:{VICTIM}"])), lab()) is None  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "identity",
    [
        "",
        "alice",
        "alice@example.com\n",
        "a b@example.com",
        "alice@@example.com",
        "x" * 250 + "@e.com",
        7,
        "alice@example.\u212aom",
    ],
)
def test_identities_are_google_account_emails(identity):
    with pytest.raises(LabError, match="^identity: "):
        lab_access.checked_identity(identity)


def test_identities_are_lowercased():
    assert lab_access.checked_identity("Alice@Example.COM") == "alice@example.com"


def test_removing_a_member_drops_an_emptied_binding_and_keeps_conditional_ones():
    policy = policy_pb2.Policy()
    policy.bindings.add(role=ROLE, members=["user:a@x.io"])
    policy.bindings.add(role=ROLE, members=["user:a@x.io"], condition=expr_pb2.Expr(expression="true"))
    assert remove_bindings(policy, [(ROLE, "user:a@x.io")]) == [(ROLE, "user:a@x.io")]
    assert len(policy.bindings) == 1 and policy.bindings[0].HasField("condition")


def test_an_unreachable_control_plane_still_loses_the_claimant_their_project_role(monkeypatch):
    from gke_lab import kube

    class Unreachable:
        """The cluster's API as seen from outside its authorized networks: no answer."""

        def read_cluster_role_binding(self, name):
            raise kube.ControlPlaneUnreachable("203.0.113.9", "connection refused")

    monkeypatch.setattr(lab_access, "_rbac", lambda clients, lab: (Unreachable(), "the-cluster"))
    projects = Projects([f"user:{ALICE}"])
    listed(monkeypatch)
    assert lab_access.claimant_of(clients(projects), lab()) == ALICE  # type: ignore[arg-type]
    assert lab_access.revoke(clients(projects), lab(), ALICE) == (  # type: ignore[arg-type]
        f"projects/{PROJECT}: {ROLE} for user:{ALICE} removed",
    )
    assert projects.members() == set()


class Rbac:
    """A cluster's RBAC API holding one ClusterRoleBinding (or none)."""

    def __init__(self, existing=None) -> None:
        self.binding = existing
        self.replaced = None

    def create_cluster_role_binding(self, body):
        from kubernetes.client.exceptions import ApiException

        if self.binding is not None:
            raise ApiException(status=409, reason="AlreadyExists")
        self.binding = body
        return body

    def read_cluster_role_binding(self, name):
        return self.binding

    def replace_cluster_role_binding(self, name, body):
        self.binding = self.replaced = body
        return body


def claimed(name: str = "ws-00000a") -> PoolLab:
    return PoolLab(
        name, PROJECT, PoolState.CLAIMED, "us-west1", f"gke-{name}", claimed_by=pools.claimant_label(ALICE)
    )


def test_grant_binds_the_claimant_alone_and_makes_the_labs_own_binding_say_exactly_them(monkeypatch):
    projects = Projects([])
    fresh = Rbac()
    monkeypatch.setattr(lab_access, "_rbac", lambda clients, lab: (fresh, "the-cluster"))
    done = lab_access.grant(clients(projects), claimed(), "Alice@Example.com")  # type: ignore[arg-type]
    assert (
        done[-1]
        == "the-cluster: ClusterRoleBinding gke-lab-claimant: cluster-admin for User alice@example.com"
    )
    assert [s.name for s in fresh.binding.subjects] == [
        ALICE
    ] and fresh.binding.role_ref.name == "cluster-admin"
    assert projects.members() == {f"user:{ALICE}"}

    # The lab's own binding found edited (an earlier attempt, or the claimant's hand): it says them again.
    edited = lab_access._binding_body(claimed(), VICTIM)
    again = Rbac(edited)
    monkeypatch.setattr(lab_access, "_rbac", lambda clients, lab: (again, "the-cluster"))
    lab_access.grant(clients(projects), claimed(), ALICE)  # type: ignore[arg-type]
    assert again.replaced is not None and [s.name for s in again.binding.subjects] == [ALICE]


def test_grant_never_adopts_a_binding_that_is_not_the_labs(monkeypatch):
    from gke_lab.errors import NotOwnedError

    theirs = lab_access._binding_body(claimed("ws-00000b"), VICTIM)  # another lab's marker
    rbac = Rbac(theirs)
    monkeypatch.setattr(lab_access, "_rbac", lambda clients, lab: (rbac, "the-cluster"))
    with pytest.raises(NotOwnedError, match="owned by lab 'ws-00000b'"):
        lab_access.grant(clients(Projects([])), claimed(), ALICE)  # type: ignore[arg-type]
    assert rbac.replaced is None


def test_claim_takes_the_next_lab_when_one_is_lost_and_stamps_owner_and_expiry(monkeypatch):
    from gke_lab import cluster_labels, reaping
    from gke_lab.cluster_labels import LabelChange
    from gke_lab.pool_spec import PoolSpec

    now = 1_800_000_000.0
    end = now + 3600  # the class ends before the claim's TTL would
    spec = PoolSpec.model_validate(
        {
            "name": "ws",
            "projects": [PROJECT],
            "ttl_hours": 4,
            "class_schedule": {"seats": 2, "start": now - 600, "end": end},
        }
    )
    ready = [
        PoolLab(
            f"ws-00000{n}",
            PROJECT,
            PoolState.READY,
            "us-west1",
            f"gke-ws-00000{n}",
            created=now - n,
            status="RUNNING",
        )
        for n in (2, 1)
    ]
    monkeypatch.setattr(pools, "census", lambda clients, pool, in_flight=(): pools.Census("ws", tuple(ready)))
    written: dict[str, dict[str, str] | None] = {}

    def change_labels(clients, name, change):
        labels = {
            **Marker(name.rsplit("gke-", 1)[1], 1).labels(),
            pools.LABEL_POOL: "ws",
            pools.LABEL_POOL_STATE: "ready",
        }
        if name.endswith("ws-000002"):  # the oldest: someone else claimed it since the census
            labels[pools.LABEL_POOL_STATE] = "claimed"
            labels[pools.LABEL_CLAIMED_BY] = pools.claimant_label("bob@example.com")
        written[name] = after = change(labels)
        return None if after is None else LabelChange(name, labels, after, "f")

    monkeypatch.setattr(cluster_labels, "change_labels", change_labels)
    monkeypatch.setattr(lab_access, "grant", lambda clients, lab, identity: ("granted",))
    monkeypatch.setattr(reaping, "stamp_key_expiry", lambda *args: [])
    result = pools.claim(None, spec, ALICE, now=now)  # type: ignore[arg-type]
    assert result is not None and result.lab.lab == "ws-000001" and result.grants == ("granted",)
    assert list(written.values())[0] is None  # the lost lab was left alone
    after = written[ready[1].cluster_name]
    assert after[pools.LABEL_POOL_STATE] == "claimed" and after[
        pools.LABEL_CLAIMED_BY
    ] == pools.claimant_label(ALICE)
    assert after["gke-lab-expires"] == str(int(end)) == str(result.expires)  # capped at the class's end

    def refused(clients, lab, identity):
        raise LabError("RBAC refused")

    monkeypatch.setattr(lab_access, "grant", refused)
    release = r"release it \(gke-lab pool release ws ws-000001 --identity alice@example.com\)"
    with pytest.raises(LabError, match=release):
        pools.claim(None, spec, ALICE, now=now)  # type: ignore[arg-type]
    with pytest.raises(LabError, match="^class_schedule.end: the class of pool ws ended"):
        pools.claim(None, spec, ALICE, now=end)  # type: ignore[arg-type]
