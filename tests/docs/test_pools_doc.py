"""The worked class of docs/operations.md ("Pools and classes") as written: the block saves, `gke-lab pool
list` shows it, and its timeline is the one the guide tells (seats from start minus the margin, unclaimed
seats reaped after the grace period, everything at the end)."""

from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from gke_lab import pools
from gke_lab.cli import main
from tests.docs.runnable import REPO

GUIDE = REPO / "docs" / "operations.md"
PROVISION_SECONDS = 600.0


def worked_class_source() -> str:
    section = GUIDE.read_text().split("## Pools and classes", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"^```python\n(.*?)^```", section, re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1, "the section has one Python example"
    return blocks[0]


@pytest.mark.e2e
def test_the_worked_class_saves_lists_and_runs_the_timeline_the_guide_tells(prefect_harness):
    exec(compile(worked_class_source(), f"{GUIDE.name}: Pools and classes", "exec"), {})  # noqa: S102

    from blocks.pool import LabPool

    pool = LabPool.load("k8s-class").pool
    listed = CliRunner().invoke(main, ["pool", "list"])
    assert listed.exit_code == 0, listed.output
    assert "k8s-class" in listed.output and "class-a-project" in listed.output

    schedule = pool.class_schedule
    assert schedule is not None and schedule.seats == 30
    start, end = schedule.start.timestamp(), schedule.end.timestamp()
    empty = pools.Census(pool.name)
    before = pools.decide(pool, empty, start - 2 * 3600, provision_seconds=PROVISION_SECONDS)
    filling = pools.decide(pool, empty, start - 600, provision_seconds=PROVISION_SECONDS)
    assert before.provision == ()  # hot size 0: nothing until the margin before the start
    assert len(filling.provision) == 30
    assert {new.project for new in filling.provision} == set(pool.projects)

    ready = tuple(
        pools.PoolLab(new.lab, new.project, pools.PoolState.READY, created=start - 300)
        for new in filling.provision
    )
    census = pools.Census(pool.name, ready)
    in_grace = pools.decide(pool, census, start + 60, provision_seconds=PROVISION_SECONDS)
    after_grace = pools.decide(
        pool, census, start + schedule.grace_minutes * 60, provision_seconds=PROVISION_SECONDS
    )
    at_end = pools.decide(pool, census, end, provision_seconds=PROVISION_SECONDS)
    assert in_grace.reap == () and in_grace.provision == ()
    assert len(after_grace.reap) == 30 and after_grace.provision == ()
    assert len(at_end.reap) == 30
