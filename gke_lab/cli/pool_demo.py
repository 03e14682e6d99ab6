"""`gke-lab demo --pool`: a lab pool on this machine, against a local emulator of the Google APIs.

A pool of two `small-zonal` labs is filled (both provisioned at once, each verified and then marked ready),
one lab is claimed and the claim timed, and both labs are torn down: the claimed one released by its
claimant, the idle one reaped. The same core calls as maintain-pools, claim-lab and release-lab, in one
process instead of through deployments and workers.
"""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from gke_lab.cli.demo import DEMO_OVERRIDES, DEMO_PROJECT, _on_emulator, _say, _section

DEMO_POOL = "demo"
DEMO_CLAIMANT = "student@example.com"
POOL_SIZE = 2


def pool_demo(latency_scale: float, overrides: tuple[str, ...]) -> int:
    """Run the pool demo; the exit code (0: every step worked)."""
    with _on_emulator(latency_scale, DEMO_PROJECT) as failed:
        _run(list(overrides))
    return 1 if failed() else 0


def _run(overrides: list[str]) -> None:
    from blocks.variants import variant_spec
    from gke_lab import pool_card, pools, progress
    from gke_lab.cli.lab import flow_run_output
    from gke_lab.clients import Clients
    from gke_lab.cost import hourly
    from gke_lab.overrides import apply_overrides
    from gke_lab.pool_spec import PoolSpec

    # Both labs share the project: neither may remove its default network from under the other.
    pool = PoolSpec(
        name=DEMO_POOL,
        projects=[DEMO_PROJECT],
        hot_size=POOL_SIZE,
        max_size=POOL_SIZE,
        overrides=[*DEMO_OVERRIDES, "delete_default_network=false", *overrides],
        claimers=[DEMO_CLAIMANT],
    )
    clients = Clients.from_env()
    typical = sum(phase.typical for phase in progress.PROVISION)
    # The project is new: its Kubernetes Engine API is off, which the census reads as "no lab yet".
    decision = pools.decide(pool, pools.census(clients, pool), time.time(), provision_seconds=typical)
    base = variant_spec(pool.blueprint)
    lab_cost = hourly(apply_overrides(base, list(pool.overrides)))
    specs = [apply_overrides(base, pools.lab_overrides(pool, new)) for new in decision.provision]
    _say(
        f"filling pool {pool.name!r} (hot size {pool.hot_size}): provisioning "
        f"{', '.join(s.lab for s in specs)} at once, each verified, then marked ready ..."
    )
    with flow_run_output(quiet=True):
        from flows.provision import provision_lab

        fill_started = time.monotonic()
        with ThreadPoolExecutor(max_workers=POOL_SIZE) as workers:
            for result in workers.map(lambda spec: provision_lab(spec=spec), specs):
                _say(f"lab {result['lab']} ready ({time.monotonic() - fill_started:.0f} s)")
    _section(
        "Pool status: filled", pools.status_markdown(pool, pools.census(clients, pool), time.time(), lab_cost)
    )

    _say(f"{DEMO_CLAIMANT} claims a lab of pool {pool.name!r} ...")
    claim_started = time.monotonic()
    claimed = pools.claim(clients, pool, DEMO_CLAIMANT)
    if claimed is None:
        raise RuntimeError(f"pool {pool.name} had no ready lab to claim")
    took = time.monotonic() - claim_started
    _section("Lab card", pool_card.claim_card_markdown(claimed))
    _say(f"claimed {claimed.lab.lab} in {took:.1f} s (a lab made from scratch took the fill above)")
    census = pools.census(clients, pool)
    _section("Pool status: one claimed", pools.status_markdown(pool, census, time.time(), lab_cost))

    _say("tearing the pool down: the claimed lab released by its claimant, the idle one reaped ...")
    ending = [pools.release(clients, pool, claimed.lab.lab, DEMO_CLAIMANT)]
    for lab in census.in_state(pools.PoolState.READY):
        if pools.begin_reap(clients, lab):
            ending.append(lab)
    with flow_run_output(quiet=True):
        with ThreadPoolExecutor(max_workers=POOL_SIZE) as workers:
            reports = list(workers.map(_teardown, ending))
    for report in reports:
        _section(f"Teardown of {report.lab}", report.markdown())
    left = pools.census(clients, pool)
    _say(f"labs of pool {pool.name!r} left: {len(left.labs)}")
    if left.labs:
        raise RuntimeError(f"{len(left.labs)} lab(s) of pool {pool.name} are left after the teardown")


def _teardown(lab: Any) -> Any:
    from flows.teardown import teardown_lab
    from gke_lab.identity import LabIdentity
    from gke_lab.inventory import region_of
    from gke_lab.teardown import Report

    regions = (region_of(lab.location),) if lab.location else ()
    identity = LabIdentity(project_id=lab.project, lab=lab.lab, regions=regions)
    return Report.from_dict(teardown_lab(identity=identity, destroy_keys=True))
