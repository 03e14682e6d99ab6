"""Pool labs through the core against the emulator: two labs made with `pool=` by `gke-lab up`, marked
ready, each handed out exactly once (two claimers racing on one ready lab, a reaper racing a claimer),
access granted to the claimant alone and read back (and used: each claimant's own token works in their lab
and is refused in the other), released, and torn down with the claimant's grants revoked before the cluster
goes (whatever the claimant wrote inside the cluster). The emulator's Kubernetes RBAC and named-user tokens
(`/_emulator/identities/token`) stand for GKE's.

Only two labs are provisioned in this module (latency scale 0.01): the states are moved along with them.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from kubernetes import client as k8s

from gke_lab import kube, lab_access, pools
from gke_lab import teardown as td
from gke_lab.cli import main
from gke_lab.clients import Clients
from gke_lab.cluster_labels import change_labels
from gke_lab.errors import LabError
from gke_lab.expiry import EXPIRES_LABEL
from gke_lab.overrides import apply_overrides
from gke_lab.pool_spec import PoolSpec
from gke_lab.pools import NewLab, PoolState
from gke_lab.resources.iam_policy import ensure_members
from tests.fixtures_emulator import LOCAL_NETWORK, NUMBER, PROJECT, EmulatorAdmin

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

FIRST, SECOND = "ws-00000a", "ws-00000b"
ALICE, BOB, VICTIM = "alice@example.com", "bob@example.com", "victim@example.com"
POOL = PoolSpec.model_validate(
    {
        "name": "ws",
        "projects": [PROJECT],
        "hot_size": 2,
        "max_size": 2,
        "ttl_hours": 2,
        "claimers": ["domain:example.com"],
    }
)


def overrides(lab: str) -> list[str]:
    return pools.lab_overrides(POOL, NewLab(lab, PROJECT), [LOCAL_NETWORK])


def up(lab: str):
    args = [arg for override in overrides(lab) for arg in ("--set", override)]
    result = CliRunner().invoke(main, ["up", "-q", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return apply_overrides(None, overrides(lab))


def mutations(emu) -> list[dict]:
    return EmulatorAdmin(emu.url).mutations_since(0)


def labs(clients: Clients) -> dict[str, pools.PoolLab]:
    return {lab.lab: lab for lab in pools.census(clients, POOL).labs}


def race(*calls: Callable[[], Any]) -> list[Any]:
    """Run the calls at the same moment, each in its own thread with its own clients."""
    start = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        start.wait()
        try:
            results[index] = calls[index]()
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            results[index] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not any(isinstance(r, Exception) for r in results), results
    return results


def viewers(clients: Clients) -> set[str]:
    policy = clients.projects.get_iam_policy(request={"resource": f"projects/{PROJECT}"})
    return {m for b in policy.bindings if b.role == lab_access.PROJECT_ROLE for m in b.members}


def rbac(clients: Clients, lab: pools.PoolLab) -> k8s.RbacAuthorizationV1Api:
    cluster = clients.container.get_cluster(name=lab.cluster_name)
    return k8s.RbacAuthorizationV1Api(kube.api_client_for_cluster(cluster, clients.access_token))


def binding_subjects(clients: Clients, lab: pools.PoolLab) -> list[str] | None:
    try:
        binding = rbac(clients, lab).read_cluster_role_binding(lab_access.BINDING)
    except k8s.ApiException as exc:
        assert exc.status == 404, exc
        return None
    assert binding.role_ref.kind == "ClusterRole" and binding.role_ref.name == "cluster-admin"
    return [s.name for s in binding.subjects if s.kind == "User"]


def user_token(emu, email: str) -> str:
    return EmulatorAdmin(emu.url).user_token(email)


def list_pods_as(clients: Clients, lab: pools.PoolLab, token: str) -> int:
    """The HTTP status a user gets listing the pods of the lab's cluster with their own token."""
    cluster = clients.container.get_cluster(name=lab.cluster_name)
    try:
        k8s.CoreV1Api(kube.api_client_for_cluster(cluster, token)).list_namespaced_pod("default")
    except k8s.ApiException as exc:
        return exc.status
    return 200


def once_propagated(read: Callable[[], int]) -> int:
    """The answer once the project role has propagated (401 until then); the bound only ends a wait that
    would never end."""
    for _ in range(300):
        status = read()
        if status != 401:
            return status
        time.sleep(0.1)
    return status


def cluster_labels(clients: Clients, lab: pools.PoolLab) -> dict[str, str]:
    return dict(clients.container.get_cluster(name=lab.cluster_name).resource_labels)


def without_state(clients: Clients, spec) -> None:
    """The lab's cluster as a pool lab is between its creation and its verification: no state label (a
    provision run that marks its lab ready may already have set one; the test takes it off again)."""
    name = spec.cluster_name
    change_labels(
        clients, name, lambda labels: {k: v for k, v in labels.items() if k != pools.LABEL_POOL_STATE}
    )


def verified(clients: Clients, spec) -> None:
    """A pool lab without a state is provisioning and never claimable; mark_ready makes it ready, once."""
    without_state(clients, spec)
    assert labs(clients)[spec.lab].state is PoolState.PROVISIONING
    assert pools.claim(clients, POOL, ALICE) is None  # no other lab is ready either at this point
    assert pools.mark_ready(clients, spec.model_copy(update={"pool": None})) is False  # no pool lab
    assert pools.mark_ready(clients, spec) is True
    assert pools.mark_ready(clients, spec) is False  # already past that state
    assert labs(clients)[spec.lab].state is PoolState.READY


def test_claim_refusals_come_before_any_call(emulator_factory):
    emu = emulator_factory(projects={PROJECT: NUMBER})
    clients = Clients.from_env()
    with pytest.raises(LabError, match="^claimers: mallory@evil.example may not claim"):
        pools.claim(clients, POOL, "mallory@evil.example")
    with pytest.raises(LabError, match="^identity: 'alice@example.com; rm -rf' is not a Google account"):
        pools.claim(clients, POOL, "alice@example.com; rm -rf")
    assert pools.claim(clients, POOL, ALICE) is None  # an empty pool: nothing to hand out
    assert mutations(emu) == []


def test_pool_labs_are_handed_out_once_granted_to_the_claimant_alone_released_and_revoked(
    prefect_harness, emulator_factory
):
    emu = emulator_factory(projects={PROJECT: NUMBER})
    clients = Clients.from_env()
    first = up(FIRST)
    assert first.pool == "ws" and first.ttl_hours == POOL.idle_ttl_hours
    verified(clients, first)

    # Two claimers race on the one ready lab: exactly one wins it.
    outcomes = race(
        lambda: pools.claim(Clients.from_env(), POOL, ALICE),
        lambda: pools.claim(Clients.from_env(), POOL, BOB),
    )
    (won,) = [o for o in outcomes if o is not None]
    winner, loser = (ALICE, BOB) if outcomes[0] is not None else (BOB, ALICE)
    assert won.lab.lab == FIRST and won.claimant == winner
    assert won.kubeconfig_command == (
        f"gcloud container clusters get-credentials gke-{FIRST} --location us-west1 --project {PROJECT}"
    )
    labels = cluster_labels(clients, won.lab)
    assert labels[pools.LABEL_POOL_STATE] == "claimed"
    assert labels[pools.LABEL_CLAIMED_BY] == pools.claimant_label(winner)
    assert labels[EXPIRES_LABEL] == str(won.expires)
    assert time.time() < won.expires <= time.time() + 2 * 3600 + 1

    # A reaper racing a claimer on the other lab, made now and ready: exactly one of them moves it.
    second = up(SECOND)
    verified(clients, second)
    snapshot = labs(clients)[SECOND]
    assert snapshot.state is PoolState.READY
    reaped, claimed = race(
        lambda: pools.begin_reap(Clients.from_env(), snapshot),
        lambda: pools.claim(Clients.from_env(), POOL, loser),
    )
    assert (reaped is True) != (claimed is not None), (reaped, claimed)
    state = cluster_labels(clients, snapshot)[pools.LABEL_POOL_STATE]
    assert state == ("reaping" if reaped else "claimed")
    if reaped:
        # The reaper won: the test puts the lab back (as a fresh ready lab would be) for the claims below.
        change_labels(
            clients, snapshot.cluster_name, lambda labels: {**labels, pools.LABEL_POOL_STATE: "ready"}
        )
        claimed = pools.claim(clients, POOL, loser)
    assert claimed is not None and claimed.lab.lab == SECOND and claimed.claimant == loser

    # Every lab is handed out once: nothing ready is left.
    assert pools.claim(clients, POOL, "carol@example.com") is None
    census = pools.census(clients, POOL)
    assert [(lab.lab, lab.state) for lab in census.labs] == [
        (FIRST, PoolState.CLAIMED),
        (SECOND, PoolState.CLAIMED),
    ]
    assert "| ws-00000a | gke-detail | claimed |" in pools.status_markdown(POOL, census, time.time(), None)

    # Access: the project role to fetch credentials, and cluster-admin inside each claimant's lab only.
    assert {f"user:{ALICE}", f"user:{BOB}"} <= viewers(clients)
    assert binding_subjects(clients, won.lab) == [winner]
    assert binding_subjects(clients, claimed.lab) == [loser]
    # Isolation: each claimant's own credentials work in their lab and are refused in the other one.
    for who, mine, theirs in ((winner, won.lab, claimed.lab), (loser, claimed.lab, won.lab)):
        token = user_token(emu, who)
        assert once_propagated(lambda mine=mine, token=token: list_pods_as(clients, mine, token)) == 200, who
        assert list_pods_as(clients, theirs, token) == 403, who
    # Someone who claimed nothing has no way in (no project role: GKE does not authenticate them).
    assert list_pods_as(clients, won.lab, user_token(emu, "carol@example.com")) == 401

    # Only the claimant (or an admin) releases a lab.
    with pytest.raises(LabError, match="^requester: "):
        pools.release(clients, POOL, FIRST, loser)
    released = pools.release(clients, POOL, FIRST, winner)
    assert released.state is PoolState.REAPING
    assert cluster_labels(clients, won.lab)[pools.LABEL_POOL_STATE] == "reaping"
    assert binding_subjects(clients, won.lab) is None
    assert f"user:{winner}" not in viewers(clients) and f"user:{loser}" in viewers(clients)
    with pytest.raises(LabError, match="^lab: ws-00000a is reaping, not claimed"):
        pools.release(clients, POOL, FIRST, winner)

    # The claimant of the second lab is cluster-admin there: they name someone else in the binding, and
    # someone else really holds the project role. The teardown revokes the claimant, and only them.
    api = rbac(clients, claimed.lab)
    binding = api.read_cluster_role_binding(lab_access.BINDING)
    binding.subjects = [
        *binding.subjects,
        k8s.RbacV1Subject(api_group="rbac.authorization.k8s.io", kind="User", name=VICTIM),
    ]
    api.replace_cluster_role_binding(lab_access.BINDING, binding)
    get = lambda: clients.projects.get_iam_policy(  # noqa: E731
        request={"resource": f"projects/{PROJECT}", "options": {"requested_policy_version": 3}}
    )
    put = lambda policy: clients.projects.set_iam_policy(  # noqa: E731
        request={"resource": f"projects/{PROJECT}", "policy": policy}
    )
    ensure_members(get, put, [(lab_access.PROJECT_ROLE, f"user:{VICTIM}")], f"projects/{PROJECT}")

    report = td.teardown(clients, td.LabTarget.from_spec(second))
    assert report.problem() is None, report.markdown()
    access = [row for row in report.rows if row.phase == "access"]
    assert [row.action for row in access] == [td.DELETED, td.DELETED], access
    assert report.rows.index(access[-1]) < next(i for i, r in enumerate(report.rows) if r.phase == "cluster")
    assert viewers(clients) & {f"user:{ALICE}", f"user:{BOB}"} == set()
    assert f"user:{VICTIM}" in viewers(clients)

    # The released lab's teardown finds nothing left to revoke.
    report = td.teardown(clients, td.LabTarget.from_spec(first))
    assert report.problem() is None, report.markdown()
    assert [row.action for row in report.rows if row.phase == "access"] == [td.ALREADY_GONE]
    assert pools.census(clients, POOL).labs == ()
