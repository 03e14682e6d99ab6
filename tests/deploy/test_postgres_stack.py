"""The path users take when they outgrow one machine: a Prefect server on PostgreSQL, two process
workers, three labs provisioned at once through the REST API, then removed by one reaper run."""

from __future__ import annotations

import re
import sys
import time
from datetime import datetime

import pytest

from tests.fixtures_emulator import LOCAL_NETWORK, PROJECT
from tests.fixtures_servers import Stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

LABS = {"pg-one": "lab-alpha", "pg-two": "lab-bravo", "pg-three": "lab-charlie"}


def overrides(lab: str, project: str) -> list[str]:
    return [f"lab={lab}", f"project_id={project}", "ttl_hours=1", LOCAL_NETWORK]


def hold(stack: Stack, names: list[str]) -> list[str]:
    """Take one slot of each named one-slot limit with a lease; returns the leases."""
    leases = []
    with stack.client() as c:
        for name in names:
            created = c.post("v2/concurrency_limits/", json={"name": name, "limit": 1})
            assert created.status_code in (201, 409), created.text
            taken = c.post(
                "v2/concurrency_limits/increment-with-lease",
                json={"names": [name], "slots": 1, "mode": "concurrency", "lease_duration": 900},
            )
            assert taken.status_code == 200, taken.text
            leases.append(taken.json()["lease_id"])
    return leases


def release(stack: Stack, leases: list[str]) -> None:
    with stack.client() as c:
        for lease in leases:
            done = c.post("v2/concurrency_limits/decrement-with-lease", json={"lease_id": lease})
            assert done.status_code == 204, done.text


def test_three_labs_at_once_on_postgres_with_two_workers(postgres_stack: Stack):
    stack = postgres_stack
    assert stack.env["PREFECT_API_DATABASE_CONNECTION_URL"].startswith("postgresql+asyncpg://")
    # Each lab's one-slot lock is taken first, as a live run elsewhere would hold it: a run that starts
    # then waits for it in the RUNNING state, holding its worker slot. All three RUNNING at one moment
    # is what two workers of --limit 2 allow and two of --limit 1 never reach (observed, not timed).
    leases = hold(stack, [f"gke-lab:{project}:{lab}" for lab, project in LABS.items()])
    runs = {
        lab: stack.create_run(
            "provision-lab", {"blueprint": "small-zonal", "overrides": overrides(lab, project)}
        )
        for lab, project in LABS.items()
    }
    try:
        deadline = time.monotonic() + 600  # only ends a wait that would never end
        while (states := {lab: stack.flow_run(r["id"])["state"]["type"] for lab, r in runs.items()}) != {
            lab: "RUNNING" for lab in LABS
        }:
            assert time.monotonic() < deadline, f"the three runs were never running at once: {states}"
            time.sleep(1)
    finally:
        release(stack, leases)
    finished = {lab: stack.wait_run(run["id"], timeout=900) for lab, run in runs.items()}
    failed = {lab: r["state"] for lab, r in finished.items() if r["state"]["type"] != "COMPLETED"}
    assert not failed, f"{failed}\n{stack.logs()}"

    state = stack.emulator.state()["projects"]
    for lab, project in LABS.items():
        clusters = [c for c in state[project]["clusters"] if c["resourceLabels"].get("gke-lab") == lab]
        assert [c["status"] for c in clusters] == ["RUNNING"], (lab, clusters)
        assert finished[lab]["name"] == f"provision {lab}@{project}"

    # The three ran at once: some instant lies inside all three runs' spans (start to end, as the
    # Prefect API recorded them), which two workers of one flow each could never produce.
    spans = {
        lab: (datetime.fromisoformat(r["start_time"]), datetime.fromisoformat(r["end_time"]))
        for lab, r in finished.items()
    }
    latest_start = max(start for start, _ in spans.values())
    earliest_end = min(end for _, end in spans.values())
    assert latest_start < earliest_end, f"the three runs did not overlap: {spans}"

    # Both workers took part (each runs at most two flows at a time: --limit 2).
    uuid = r"([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
    run_ids = {r["id"] for r in runs.values()}

    def ran(log: str) -> set[str]:
        # A worker may try to submit a run that the other one already claimed: it logs the abort.
        tried = set(re.findall(rf"submitting flow run '{uuid}'", log))
        return (tried - set(re.findall(rf"Aborted submission of flow run '{uuid}'", log))) & run_ids

    per_worker = {p.name: len(ran(p.log.read_text())) for p in stack.procs if p.name.startswith("worker-")}
    assert sum(per_worker.values()) == 3 and min(per_worker.values()) >= 1, per_worker

    # Their expiry passes (as if an hour had gone by): one reaper run removes all three.
    for project in LABS.values():
        (cluster,) = stack.emulator.project_state(project)["clusters"]
        labels = {**cluster["resourceLabels"], "gke-lab-expires": str(int(time.time()) - 60)}
        stack.emulator.patch(project, "clusters", cluster["name"], {"resourceLabels": labels})
    reaper = stack.create_run(
        "reap-expired-labs", {"projects": list(LABS.values()), "locations": ["us-west1"]}
    )
    done = stack.wait_run(reaper["id"], timeout=900)
    assert done["state"]["type"] == "COMPLETED", f"{done['state']}\n{stack.logs()}"
    state = stack.emulator.state()["projects"]
    assert not [c for project in LABS.values() for c in state[project]["clusters"]]
    assert not [
        n
        for project in LABS.values()
        for n in state[project]["networks"]
        if "gke-lab" in (n.get("description") or "")
    ]


POOL = "race"


def pool_clusters(stack: Stack) -> list[dict]:
    return [
        c
        for c in stack.emulator.project_state(PROJECT)["clusters"]
        if c["resourceLabels"].get("gke-lab-pool") == POOL
    ]


def wait_for(what: str, check, stack: Stack, timeout: float = 420):
    """Poll `check()` until it answers something true; the bound only ends a wait that would never end."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        if time.monotonic() > deadline:
            runs = [(r["name"], r["state"]["type"], r["state"].get("message")) for r in stack.flow_runs()]
            raise AssertionError(f"{what} never happened; runs: {runs}\n{stack.logs()}")
        time.sleep(1)
    return found


def test_two_claims_race_across_workers_for_one_ready_lab(postgres_stack: Stack):
    """A pool with one ready lab and two claim-lab runs at once, each in its own worker process: one takes
    the lab, the other waits in line, asks for a refill and is served the new lab; each lab is claimed by
    exactly one person. Releasing both removes both labs and both people's project role."""
    from gke_lab.pools import claimant_label

    stack = postgres_stack
    pool = {
        "name": POOL,
        "projects": [PROJECT],
        "hot_size": 1,
        "max_size": 2,
        "overrides": [LOCAL_NETWORK, "delete_default_network=false"],
        "claimers": ["domain:example.com"],
    }
    save = (
        "from blocks.pool import LabPool; from gke_lab.pool_spec import PoolSpec; "
        f"LabPool(pool=PoolSpec(**{pool!r})).save({POOL!r}, overwrite=True)"
    )
    stack.run([sys.executable, "-c", save])

    maintain = stack.wait_run(stack.create_run("maintain-pools", {"pools": [POOL]})["id"], timeout=300)
    assert maintain["state"]["type"] == "COMPLETED", f"{maintain['state']}\n{stack.logs()}"
    (first,) = wait_for(
        "the pool's first lab ready",
        lambda: [c for c in pool_clusters(stack) if c["resourceLabels"].get("gke-lab-pool-state") == "ready"],
        stack,
    )

    people = ["alice@example.com", "bob@example.com"]
    runs = {
        who: stack.create_run(
            "claim-lab", {"pool": POOL, "identity": who, "poll_seconds": 1, "wait_minutes": 15}
        )
        for who in people
    }
    finished = {who: stack.wait_run(run["id"], timeout=900) for who, run in runs.items()}
    failed = {who: r["state"] for who, r in finished.items() if r["state"]["type"] != "COMPLETED"}
    assert not failed, f"{failed}\n{stack.logs()}"

    claimed = {c["resourceLabels"]["gke-lab"]: c["resourceLabels"] for c in pool_clusters(stack)}
    assert len(claimed) == 2 and first["resourceLabels"]["gke-lab"] in claimed
    assert sorted(labels.get("gke-lab-pool-state") for labels in claimed.values()) == ["claimed", "claimed"]
    assert sorted(labels.get("gke-lab-claimed-by") for labels in claimed.values()) == sorted(
        claimant_label(who) for who in people
    )
    # They raced: the two claim runs' spans overlap (the second waited in line while the first was served).
    spans = [
        (datetime.fromisoformat(r["start_time"]), datetime.fromisoformat(r["end_time"]))
        for r in finished.values()
    ]
    assert max(s for s, _ in spans) < min(e for _, e in spans), spans

    owner = {labels["gke-lab-claimed-by"]: lab for lab, labels in claimed.items()}
    for who in people:
        done = stack.wait_run(
            stack.create_run(
                "release-lab", {"pool": POOL, "lab": owner[claimant_label(who)], "requester": who}
            )["id"],
            timeout=300,
        )
        assert done["state"]["type"] == "COMPLETED", f"{done['state']}\n{stack.logs()}"
    wait_for("both labs torn down", lambda: not pool_clusters(stack) or None, stack)
    policy = stack.emulator.project_state(PROJECT)["iamPolicy"]
    members = {m for b in policy.get("bindings", []) for m in b.get("members", [])}
    assert not members & {f"user:{who}" for who in people}, policy
