"""A pool lab's teardown run, as the server makes it from the teardown-lab deployment of prefect.yaml.

The server starts a deployment's run with the deployment's parameters overlaid by the run's own; the
teardown-lab deployment carries `blueprint: article-default` and `overrides: []`, and the teardown flow
refuses an identity given together with a blueprint. So every reap and release of a pool lab failed on a
real stack (found by bench/pool_class.py) while the flow tests, whose deployments carry no parameters,
passed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from flows.teardown import resolve_target
from gke_lab.pools import PoolLab, PoolState
from tasks import pools as pool_tasks

ROOT = Path(__file__).resolve().parents[2]


def deployment_parameters(name: str) -> dict[str, Any]:
    document = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    (deployment,) = [d for d in document["deployments"] if d["name"] == name]
    return dict(deployment.get("parameters") or {})


def test_pool_teardown_run_resolves_to_the_lab_under_the_deployment_defaults(monkeypatch):
    started: list[dict[str, Any]] = []

    class Run:
        id = "run-1"

    def start_run(name: str, **options: Any) -> Run:
        started.append({"name": name, **options})
        return Run()

    monkeypatch.setattr(pool_tasks, "start_run", start_run)
    lab = PoolLab(
        lab="class-0a1b2c",
        project="class-a",
        state=PoolState.REAPING,
        location="us-west1-a",
        cluster="gke-class-0a1b2c",
    )
    assert pool_tasks.start_teardown.fn("class", lab) == "run-1"
    (run,) = started
    assert run["name"] == pool_tasks.TEARDOWN_DEPLOYMENT
    merged = {**deployment_parameters("teardown-lab"), **run["parameters"]}
    identity, spec = resolve_target(
        merged.get("spec"), merged.get("blueprint"), merged.get("overrides"), merged.get("identity")
    )
    assert spec is None
    assert (identity.project_id, identity.lab, list(identity.regions)) == (
        "class-a",
        "class-0a1b2c",
        ["us-west1"],
    )
