"""Lost responses: a create or delete that took effect but whose answer was lost (503 after commit, or a
connection closed before the answer), as Google Cloud and a cluster's API server really do.

The lab still provisions and tears down, and the request log proves each resource was created once and
deleted once: a create answered 409 "already exists" is only ever the retry of a create whose answer was
lost (never the product creating something it had not read first), and the product continued with it.
"""

from __future__ import annotations

from collections import Counter

import pytest

from bench import inventory
from tests.fixtures_emulator import SCALE, EmulatorAdmin, lab_spec
from tests.reliability.helpers import baseline

LOST = {"mutating": True, "mode": "lost_response", "count": None}

# The answer of the first create and delete of each kind in the default lab that took effect is lost (each
# rule fires once).
FIRST_ANSWERS = [
    ("compute", "POST", r"/global/networks$"),
    ("compute", "POST", r"/subnetworks$"),
    ("compute", "POST", r"/routers$"),
    ("cloudkms", "POST", r"/keyRings$"),
    ("cloudkms", "POST", r"/cryptoKeys$"),
    ("cloudkms", "POST", r":setIamPolicy$"),
    ("cloudresourcemanager", "POST", r":setIamPolicy$"),
    ("iam", "GRPC", r"/CreateServiceAccount$"),
    ("container", "POST", r"/clusters$"),
    ("kubernetes", "POST", r"/deployments$"),
    ("kubernetes", "POST", r"/services$"),
    ("kubernetes", "DELETE", r"/deployments/"),
    ("kubernetes", "DELETE", r"/services/"),
    ("container", "DELETE", r"/clusters/"),
    ("compute", "DELETE", r"/routers/"),
    ("compute", "DELETE", r"/subnetworks/"),
    ("compute", "DELETE", r"/global/networks/"),
    ("iam", "GRPC", r"/DeleteServiceAccount$"),
]


def served(entry: dict) -> int:
    """The status the request was served with (a lost response's client saw 503 or nothing)."""
    return int(entry.get("served", entry["status"]))


def create_key(entry: dict) -> tuple[str, str, str] | None:
    """(api, collection, name) of a create call, None for any other call."""
    path, body = entry["path"], entry.get("body") or {}
    if entry["method"] == "GRPC":
        if not path.endswith("/CreateServiceAccount"):
            return None
        return entry["api"], path, str(body.get("accountId") or "")
    if entry["method"] != "POST" or ":" in path.rsplit("/", 1)[-1]:
        return None  # an action (setIamPolicy, batchEnable, removePeering ...), not a create
    query = entry.get("query") or {}
    name = query.get("keyRingId") or query.get("cryptoKeyId")
    if not name and isinstance(body, dict):
        metadata = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
        cluster = body.get("cluster") if isinstance(body.get("cluster"), dict) else {}
        name = body.get("name") or metadata.get("name") or cluster.get("name")
    return (entry["api"], path, str(name)) if name else None


def delete_key(entry: dict) -> tuple[str, str] | None:
    if entry["method"] == "GRPC":
        return (
            (entry["api"], str((entry.get("body") or {}).get("name"))) if "/Delete" in entry["path"] else None
        )
    return (entry["api"], entry["path"]) if entry["method"] == "DELETE" else None


def effective_creates(entries: list[dict]) -> Counter:
    """How many creates of each resource took effect (answered or not)."""
    return Counter(key for e in entries if (key := create_key(e)) and 200 <= served(e) < 300)


def effective_deletes(entries: list[dict]) -> Counter:
    return Counter(key for e in entries if (key := delete_key(e)) and 200 <= served(e) < 300)


def unexplained_conflicts(entries: list[dict]) -> list[dict]:
    """Creates answered 409 although no earlier create of that resource lost its answer: the product
    created something that already existed (a doubled create), which a lost response cannot explain."""
    lost: set[tuple[str, str, str]] = set()
    out = []
    for e in entries:
        key = create_key(e)
        if key is None:
            continue
        if e.get("lost_response") is not None and 200 <= served(e) < 300:
            lost.add(key)
        elif e["status"] == 409 and key not in lost:
            out.append(e)
    return out


def run_lab(emu, name: str, rules: list[dict]) -> list[dict]:
    """Provision and tear down one lab with `rules` on; the request log of both runs."""
    from flows.provision import provision_lab
    from flows.teardown import teardown_lab

    spec = lab_spec(name)
    before = baseline(emu, spec.project_id)
    start = EmulatorAdmin(emu.url).last_seq()
    emu.faults.configure({"rules": rules})

    up = provision_lab(spec=spec, return_state=True)
    assert up.is_completed(), f"provision failed with lost responses: {up.message}"
    assert inventory.duplicates(EmulatorAdmin(emu.url).state(), spec.project_id) == []
    down = teardown_lab(spec=spec, return_state=True)
    assert down.is_completed(), f"teardown failed with lost responses: {down.message}"
    emu.faults.clear()
    after = EmulatorAdmin(emu.url).state()
    assert inventory.duplicates(after, spec.project_id) == []
    assert inventory.left_behind(before, after, spec.project_id) == []
    return EmulatorAdmin(emu.url).requests(start)


def assert_once_each(entries: list[dict]) -> None:
    creates, deletes = effective_creates(entries), effective_deletes(entries)
    assert creates and deletes
    assert {k: n for k, n in creates.items() if n != 1} == {}, "a resource was created more than once"
    assert {k: n for k, n in deletes.items() if n != 1} == {}, "a resource was deleted more than once"
    assert unexplained_conflicts(entries) == []


@pytest.mark.timeout(600)
def test_the_first_answer_of_every_create_and_delete_is_lost(emulator_factory, prefect_harness):
    emu = emulator_factory(latency_scale=SCALE)
    rules = [
        {
            "api": api,
            "method": method,
            "path_regex": regex,
            "mode": "lost_response",
            "served_ok": True,  # the first attempt that took effect (a create may first meet IAM propagation)
            "drop": i % 2 == 1,
        }
        for i, (api, method, regex) in enumerate(FIRST_ANSWERS)
    ]
    entries = run_lab(emu, "lost-first", rules)

    assert_once_each(entries)
    lost = [e for e in entries if e.get("lost_response") is not None]
    # Every rule fired: each of those creates and deletes took effect, then its answer was lost.
    assert len(lost) == len(FIRST_ANSWERS), [(e["api"], e["method"], e["path"]) for e in lost]
    retried = {create_key(e) for e in entries if e["status"] == 409 and create_key(e)}
    lost_creates = {create_key(e) for e in lost if create_key(e)}
    # The retried create met its own first attempt (409) and the run went on with that resource.
    assert lost_creates and lost_creates <= retried


@pytest.mark.timeout(600)
def test_ten_percent_lost_responses_on_every_mutating_method(emulator_factory, prefect_harness):
    # The seed picks the same requests in every run (the pick depends on the request, not on timing); this
    # one loses a create, a delete and a Kubernetes create among others.
    emu = emulator_factory(latency_scale=SCALE, seed=3)
    # 10 % of all mutating requests on every API, Kubernetes included: half answered 503, half dropped.
    rules = [{**LOST, "probability": 0.05, "drop": True}, {**LOST, "probability": 0.05 / 0.95}]
    entries = run_lab(emu, "lost-random", rules)

    assert_once_each(entries)
    lost = [e for e in entries if e.get("lost_response") is not None]
    mutating = [e for e in entries if e["mutating"]]
    assert 0 < len(lost) <= len(mutating) // 4  # about 10 %, not every request
    took_effect = [e for e in lost if 200 <= served(e) < 300]
    lost_creates = {key for e in took_effect if (key := create_key(e))}
    retried = {key for e in entries if e["status"] == 409 and (key := create_key(e))}
    # The test exercised what it claims: creates (one on Kubernetes) and deletes lost their answers, and each
    # lost create was retried, met its first attempt, and the run went on with it.
    assert lost_creates and lost_creates <= retried
    assert any(e["api"] == "kubernetes" for e in took_effect)
    assert any(delete_key(e) for e in took_effect)


# Long enough that a retried call meets the first attempt's operation still running (network insert 12 s
# and delete 10 s at scale 1.0), short enough for the suite.
SLOW_SCALE = 0.2


def test_a_retried_insert_and_delete_wait_for_the_first_attempts_operation(emulator_factory):
    from gke_lab import calls, ops
    from gke_lab.clients import Clients
    from gke_lab.ownership import marker_for
    from gke_lab.resources import network, subnetwork

    emu = emulator_factory(latency_scale=SLOW_SCALE)
    spec = lab_spec("lost-slow")
    baseline(emu, spec.project_id)
    c = Clients.from_env()
    marker = marker_for(spec, 0)
    lost_insert = {
        "api": "compute",
        "method": "POST",
        "path_regex": r"/global/networks$",
        "mode": "lost_response",
    }
    emu.faults.configure({"rules": [lost_insert]})

    assert network.ensure(c, spec, marker).created is True  # by the first attempt; the retry met 409
    # The network is usable when ensure returns: the subnetwork insert is not refused as "not ready".
    assert subnetwork.ensure(c, spec, marker).created is True
    inserts = [
        e
        for e in EmulatorAdmin(emu.url).requests()
        if e["method"] == "POST" and e["path"].endswith("/global/networks")
    ]
    assert [(e["status"], e.get("served")) for e in inserts] == [(503, 200), (409, None)]

    lost_delete = {
        "api": "compute",
        "method": "DELETE",
        "path_regex": "/subnetworks/",
        "mode": "lost_response",
    }
    emu.faults.configure({"rules": [{**lost_delete, "drop": True}]})
    name = spec.network.subnet.name
    resource = f"projects/{spec.project_id}/regions/{spec.region}/subnetworks/{name}"
    op = calls.delete_or_gone(
        lambda: c.subnetworks.delete_unary(project=spec.project_id, region=spec.region, subnetwork=name),
        resource=resource,
    )
    if op is not None:
        ops.wait_compute(c, op, project=spec.project_id, region=spec.region, resource=resource)
    assert subnetwork.read(c, spec) is None  # gone once the delete returned
    deletes = [
        e
        for e in EmulatorAdmin(emu.url).requests()
        if e["method"] == "DELETE" and "/subnetworks/" in e["path"]
    ]
    assert [e.get("served", e["status"]) for e in deletes][0] == 200
    assert deletes[-1]["status"] == 404  # the retry found it gone
