"""Deployments on a real Prefect server (SQLite) with a real process worker, against the emulator:
the REST trigger documented in docs/operations.md provisions a lab, and the reaper deployment removes
it once its expiry has passed."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.fixtures_emulator import LOCAL_NETWORK
from tests.fixtures_servers import BIN, REPO, Stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# Exactly as README.md shows it (the test checks that it still does).
REST_TRIGGER = """\
DEPLOYMENT_ID=$(curl -fsS "$PREFECT_API_URL/deployments/name/provision-lab/provision-lab" \\
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
RUN_ID=$(curl -fsS -X POST "$PREFECT_API_URL/deployments/$DEPLOYMENT_ID/create_flow_run" \\
  -H 'Content-Type: application/json' \\
  -d '{"parameters": {"blueprint": "small-zonal", "overrides": ["lab=readme-demo", "ttl_hours=2",
         "cluster.master_authorized_networks=[{cidr: 127.0.0.1/32, name: me}]"]}}' \\
  | python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
echo "provision run: $PREFECT_API_URL/flow_runs/$RUN_ID"
"""

DEPLOYMENTS = ["provision-lab", "teardown-lab", "verify-lab", "plan-lab", "extend-lab", "reap-expired-labs"]


def documented(snippet: str) -> bool:
    docs = [REPO / "docs" / "operations.md", REPO / "README.md"]
    return any(path.exists() and snippet in path.read_text() for path in docs)


def lab_resources(stack: Stack, project: str, lab: str) -> dict[str, list[str]]:
    """Names of the resources in the emulator that carry this lab's ownership marker."""
    state = stack.emulator.state()["projects"].get(project, {})
    found: dict[str, list[str]] = {}
    for kind in ("clusters", "cryptoKeys"):
        for res in state.get(kind, []):
            labels = res.get("resourceLabels") or res.get("labels") or {}
            if labels.get("gke-lab") == lab:
                found.setdefault(kind, []).append(res["name"])
    for kind in ("networks", "subnetworks", "routers", "firewalls", "serviceAccounts"):
        for res in state.get(kind, []):
            if f'"lab":"{lab}"' in (res.get("description") or "").replace(" ", ""):
                found.setdefault(kind, []).append(res.get("name") or res.get("email"))
    return found


def test_deployments_registered_with_schema_pool_and_schedules(sqlite_stack: Stack):
    with sqlite_stack.client() as c:
        deployments = {d["name"]: d for d in c.post("deployments/filter", json={}).json()}
    missing = [name for name in DEPLOYMENTS if name not in deployments]
    assert not missing, f"not deployed: {missing}"
    for name in DEPLOYMENTS:
        d = deployments[name]
        assert d["work_pool_name"] == "gke-labs" and d["enforce_parameter_schema"] is True, name
        assert d["description"] and "gke-lab" in d["tags"], name
        (step,) = d["pull_steps"]
        assert step["prefect.deployments.steps.set_working_directory"]["directory"] == str(REPO)

    reaper = deployments["reap-expired-labs"]
    assert [(s["schedule"].get("cron"), s["active"]) for s in reaper["schedules"]] == [("*/15 * * * *", True)]
    assert reaper["global_concurrency_limit"]["limit"] == 1
    provision = deployments["provision-lab"]
    (weekday,) = provision["schedules"]
    assert weekday["schedule"]["cron"] == "0 8 * * 1-5" and weekday["active"] is False
    assert "ttl_hours=4" in weekday["parameters"]["overrides"]

    # The UI form: LabSpec's fields are titled and described, choices are enums.
    schema = provision["parameter_openapi_schema"]
    assert set(schema["properties"]) >= {"spec", "blueprint", "overrides", "credentials_block"}
    definitions = schema["definitions"]
    untitled = [
        f"{model}.{field}"
        for model, body in definitions.items()
        for field, prop in body.get("properties", {}).items()
        if not prop.get("title") or not prop.get("description")
    ]
    assert not untitled, f"fields without title/description: {untitled}"
    cluster = definitions["ClusterSpec"]["properties"]
    assert "COS_CONTAINERD" in cluster["image_type"]["enum"]
    assert "pd-standard" in cluster["disk_type"]["enum"]
    # Bad parameters are refused by the server before any run exists.
    with sqlite_stack.client() as c:
        bad = c.post(
            f"deployments/{provision['id']}/create_flow_run",
            json={"parameters": {"spec": {"cluster": {"disk_type": "floppy"}}}},
        )
    assert bad.status_code == 409 and "floppy" in bad.text


def test_rest_trigger_provisions_and_reaper_removes_after_ttl(sqlite_stack: Stack):
    assert documented(REST_TRIGGER), "README.md no longer shows the tested REST trigger"
    env = {**sqlite_stack.env, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + REST_TRIGGER], env=env, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    run = sqlite_stack.flow_run(out.stdout.strip().rsplit("/", 1)[1])
    assert run["parameters"]["overrides"][:2] == ["lab=readme-demo", "ttl_hours=2"]

    done = sqlite_stack.wait_run(run["id"], timeout=600)
    assert done["state"]["type"] == "COMPLETED", f"{done['state']}\n{sqlite_stack.logs()}"
    assert done["name"] == "provision readme-demo@gke-detail"
    assert {"lab:readme-demo", "project:gke-detail"} <= set(done["tags"])
    with sqlite_stack.client() as c:
        keys = {
            a["key"]
            for a in c.post(
                "artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [run["id"]]}}}
            ).json()
        }
    assert any(k and "card" in k for k in keys), keys
    before = lab_resources(sqlite_stack, "gke-detail", "readme-demo")
    assert before.get("clusters") and before.get("networks"), before
    assert before["clusters"][0].endswith("gke-readme-demo")  # the lab's own names

    # With no projects configured (no parameter, no GKE_LAB_REAPER_PROJECTS) the reaper does nothing.
    idle = sqlite_stack.create_run("reap-expired-labs", {})
    assert sqlite_stack.wait_run(idle["id"])["state"]["type"] == "COMPLETED"
    assert lab_resources(sqlite_stack, "gke-detail", "readme-demo") == before
    with sqlite_stack.client() as c:
        report = c.post(
            "artifacts/filter", json={"artifacts": {"flow_run_id": {"any_": [idle["id"]]}}}
        ).json()
    assert any("no projects to reap are configured" in (a["data"] or "") for a in report), report

    # Not expired yet (TTL 2 h): the reaper leaves the lab alone.
    first = sqlite_stack.create_run("reap-expired-labs", {"projects": ["gke-detail"]})
    assert sqlite_stack.wait_run(first["id"])["state"]["type"] == "COMPLETED"
    assert lab_resources(sqlite_stack, "gke-detail", "readme-demo").get("clusters")

    # Move the cluster's expiry label into the past (as if 2 h had gone by), then reap.
    (cluster,) = [
        c
        for c in sqlite_stack.emulator.project_state("gke-detail")["clusters"]
        if c["name"] == "gke-readme-demo"
    ]
    labels = {**cluster["resourceLabels"], "gke-lab-expires": str(int(time.time()) - 60)}
    sqlite_stack.emulator.patch("gke-detail", "clusters", "gke-readme-demo", {"resourceLabels": labels})
    second = sqlite_stack.create_run("reap-expired-labs", {"projects": ["gke-detail"]})
    reaped = sqlite_stack.wait_run(second["id"], timeout=600)
    assert reaped["state"]["type"] == "COMPLETED", f"{reaped['state']}\n{sqlite_stack.logs()}"
    left = lab_resources(sqlite_stack, "gke-detail", "readme-demo")
    assert not left.get("clusters") and not left.get("networks") and not left.get("serviceAccounts"), left


def test_two_labs_through_rest_only_the_lab_differing(sqlite_stack: Stack):
    """Both provision with distinct resources; tearing one down leaves the other running and untouched;
    then nothing of either is left."""
    project = "lab-alpha"

    def parameters(lab: str) -> dict:
        return {
            "blueprint": "small-zonal",
            "overrides": [f"lab={lab}", f"project_id={project}", LOCAL_NETWORK],
        }

    def run(deployment: str, lab: str) -> dict:
        created = sqlite_stack.create_run(deployment, parameters(lab))
        done = sqlite_stack.wait_run(created["id"], timeout=600)
        assert done["state"]["type"] == "COMPLETED", f"{done['state']}\n{sqlite_stack.logs()}"
        return done

    run("provision-lab", "rest-one")
    run("provision-lab", "rest-two")
    one = lab_resources(sqlite_stack, project, "rest-one")
    two = lab_resources(sqlite_stack, project, "rest-two")
    for kind in ("clusters", "networks", "subnetworks", "routers", "serviceAccounts", "cryptoKeys"):
        assert one.get(kind) and two.get(kind), kind
        assert not set(one[kind]) & set(two[kind]), kind

    def rest_clusters() -> dict[str, dict]:
        # The stack and its project are shared with other deployment tests: only this test's labs count.
        found = sqlite_stack.emulator.project_state(project)["clusters"]
        return {c["name"]: c for c in found if c["name"].startswith("gke-rest-")}

    second = rest_clusters()["gke-rest-two"]

    run("teardown-lab", "rest-one")
    left = lab_resources(sqlite_stack, project, "rest-one")
    assert set(left) <= {"cryptoKeys"}, left  # key rings and keys are reused, never deleted
    assert lab_resources(sqlite_stack, project, "rest-two") == two
    assert rest_clusters() == {"gke-rest-two": second} and second["status"] == "RUNNING"

    run("teardown-lab", "rest-two")
    for lab in ("rest-one", "rest-two"):
        assert set(lab_resources(sqlite_stack, project, lab)) <= {"cryptoKeys"}, lab
    assert rest_clusters() == {}
