"""Pool figures: a claim from a ready pool against a cold `up` of the same lab, and concurrent claimers.

`python -m bench.pools` (or the `pools` phase of `make bench`) runs, in this process against one emulator
with three projects (the emulator's default quotas):

1. fill: `--claims` (20) `small-zonal` labs made by the provision flow at latency scale 0.01 (the fill is not
   the figure), each verified and marked ready, spread over the projects by `pools.decide`;
2. claim latency: the emulator's clock is set to latency scale 1.0 and the labs are claimed one after the
   other through `pools.claim` (label fingerprint, access grants, key expiry); p50 / p95 of the claims'
   wall times against the provisioning critical path at scale 1.0 (what a cold `up` of the same lab waits
   for; the `provision_overhead` figure shows how close a real run comes to it);
3. concurrent claimers (scale 0.01 again, after the claimed labs are released and torn down): a pool of
   `--claims / 2` ready labs and `--claims` claimers at once: exactly as many labs handed out as were ready,
   each to one person; the others wait in line (in the order they arrived, as claim-lab runs are served)
   and are served from labs made for them by the next decision; 0 double assignments, 0 labs left.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench.measure import PeakRss
from bench.profile import provision_critical_path

PROJECTS = {"pool-bench-a": 100000000001, "pool-bench-b": 100000000002, "pool-bench-c": 100000000003}
LOCAL_NETWORK = "cluster.master_authorized_networks=[{cidr: 127.0.0.1/32, name: local}]"
FILL_SCALE = 0.01
CLAIM_SCALE = 1.0
PARALLEL = 5  # labs made or torn down at once in this process


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (`share` in 0..1) of `values`."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-share * len(ordered) // 1))))
    return ordered[rank - 1]


def _pool(size: int) -> Any:
    from gke_lab.pool_spec import PoolSpec

    return PoolSpec(
        name="bench",
        projects=list(PROJECTS),
        hot_size=size,
        max_size=2 * size,
        # Several labs share each project: none may remove the default network from under another.
        overrides=[LOCAL_NETWORK, "delete_default_network=false"],
    )


def _fill(clients: Any, pool: Any, count: int, in_line: int = 0) -> list[str]:
    """Provision what `pools.decide` says (hot size, plus the claims waiting in line); the new labs."""
    from blocks.variants import variant_spec
    from flows.provision import provision_lab
    from gke_lab import pools
    from gke_lab.overrides import apply_overrides

    wanted = pool.model_copy(update={"hot_size": count + in_line})
    decision = pools.decide(wanted, pools.census(clients, pool), time.time(), provision_seconds=600.0)
    base = variant_spec(pool.blueprint)
    specs = [apply_overrides(base, pools.lab_overrides(pool, new)) for new in decision.provision]
    with ThreadPoolExecutor(max_workers=PARALLEL) as workers:
        done = list(workers.map(lambda spec: provision_lab(spec=spec)["lab"], specs))
    return done


def _end_all(clients: Any, pool: Any) -> int:
    """Release every claimed lab and reap every ready one, tear them all down; the labs left after."""
    from flows.teardown import teardown_lab
    from gke_lab import pools
    from gke_lab.identity import LabIdentity
    from gke_lab.inventory import region_of

    ending = []
    for lab in pools.census(clients, pool).labs:
        if lab.state is pools.PoolState.CLAIMED:
            ending.append(pools.release(clients, pool, lab.lab, "bench-admin@example.com", admin=True))
        elif lab.state is pools.PoolState.READY and pools.begin_reap(clients, lab):
            ending.append(lab)

    def down(lab: Any) -> None:
        regions = (region_of(lab.location),) if lab.location else ()
        teardown_lab(
            identity=LabIdentity(project_id=lab.project, lab=lab.lab, regions=regions), destroy_keys=True
        )

    with ThreadPoolExecutor(max_workers=PARALLEL) as workers:
        list(workers.map(down, ending))
    return len(pools.census(clients, pool).labs)


def bench_pools(claims: int, figures: dict, figure: Any) -> None:
    from emulator.server import Emulator
    from gke_lab import pools
    from gke_lab.clients import EMULATOR_ENV, Clients

    emu = Emulator(host="127.0.0.1", port=0, latency_scale=FILL_SCALE, projects=PROJECTS).start()
    previous = os.environ.get(EMULATOR_ENV)
    os.environ[EMULATOR_ENV] = emu.address
    try:
        clients = Clients.from_env()
        pool = _pool(claims)
        with PeakRss() as rss:
            fill_started = time.monotonic()
            made = _fill(clients, pool, claims)
            fill_s = time.monotonic() - fill_started

            emu.clock.latency_scale = CLAIM_SCALE
            seconds: list[float] = []
            for number in range(len(made)):
                started = time.monotonic()
                result = pools.claim(clients, pool, f"student{number}@example.com")
                if result is None:
                    break
                seconds.append(time.monotonic() - started)
            emu.clock.latency_scale = FILL_SCALE
            cold_s, _ = provision_critical_path(CLAIM_SCALE)
            left_after_claims = _end_all(clients, pool)
        ok = len(seconds) == claims and left_after_claims == 0
        p50 = statistics.median(seconds) if seconds else None
        p95 = percentile(seconds, 0.95) if seconds else None
        figures["pool_claim"] = figure(
            {
                "p50_s": round(p50, 2) if p50 else None,
                "p95_s": round(p95, 2) if p95 else None,
                "p95_vs_cold_up": round(p95 / cold_s, 4) if p95 else None,
            },
            "p95 < 5 s; ratio to a cold up",
            ok and p95 is not None and p95 < 5,
            claims=len(seconds),
            wanted=claims,
            latency_scale=CLAIM_SCALE,
            cold_up_critical_path_s=round(cold_s, 1),
            fill_s=round(fill_s, 1),
            fill_labs=len(made),
            left_after=left_after_claims,
            peak_rss_mib=rss.peak_mib,
        )
        figures["pool_concurrent_claims"] = figure(**_concurrent(clients, pool, claims))
    finally:
        emu.stop()
        if previous is None:
            os.environ.pop(EMULATOR_ENV, None)
        else:
            os.environ[EMULATOR_ENV] = previous


def _concurrent(clients: Any, pool: Any, claimers: int) -> dict[str, Any]:
    """`claimers` people at once on a pool of claimers/2 ready labs; the rest served in arrival order."""
    from gke_lab import pools

    ready = claimers // 2
    _fill(clients, pool, ready)
    people = [f"person{number}@example.com" for number in range(claimers)]
    with ThreadPoolExecutor(max_workers=claimers) as workers:
        first = list(workers.map(lambda who: pools.claim(clients, pool, who), people))
    handed = {who: result.lab.lab for who, result in zip(people, first, strict=True) if result is not None}
    waiting = [who for who, result in zip(people, first, strict=True) if result is None]
    # The line is served from labs made for it: the next decision counts the claims waiting.
    _fill(clients, pool, 0, in_line=len(waiting))
    served_in_order = True
    for who in waiting:
        result = pools.claim(clients, pool, who)
        if result is None:
            served_in_order = False
            break
        handed[who] = result.lab.lab
    census = pools.census(clients, pool)
    owners: dict[str, list[str]] = {}
    for lab in census.in_state(pools.PoolState.CLAIMED):
        owners.setdefault(lab.claimed_by or "", []).append(lab.lab)
    double = sum(1 for who in handed if len(owners.get(pools.claimant_label(who), [])) != 1)
    double += len(handed) - len(set(handed.values()))
    left = _end_all(clients, pool)
    first_round = len(people) - len(waiting)
    return {
        "value": {"handed_at_once": first_round, "waited": len(waiting), "double_assignments": double},
        "target": f"{ready} at once, the rest served in line, 0 double, 0 left",
        "ok": first_round == ready and served_in_order and double == 0 and left == 0,
        "claimers": claimers,
        "ready": ready,
        "served": len(handed),
        "left_after": left,
    }


def main(argv: list[str] | None = None) -> int:
    from prefect.testing.utilities import prefect_test_harness

    ap = argparse.ArgumentParser(prog="python -m bench.pools", description=__doc__.splitlines()[0])
    ap.add_argument("--claims", type=int, default=20)
    args = ap.parse_args(argv)
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    figures: dict[str, dict] = {}

    def figure(value: Any, target: str, ok: bool | None, **detail: Any) -> dict:
        return {"value": value, "target": target, "ok": ok, "detail": detail}

    with prefect_test_harness(server_startup_timeout=120):
        bench_pools(args.claims, figures, figure)
    for name, found in figures.items():
        print(f"{name}: {found['value']}  target {found['target']}  ok={found['ok']}  {found['detail']}")
    return 0 if all(f["ok"] is not False for f in figures.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
