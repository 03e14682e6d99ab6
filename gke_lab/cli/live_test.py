"""`make live-test`: the default lab end to end on a real Google Cloud project, always torn down.

    GKE_LAB_LIVE_PROJECT=my-project make live-test

Uses Application Default Credentials. Phases: plan --live, up (provision and verify), verify again,
down; each phase's time is printed, with what up created and what down removed. The teardown runs
whatever happens before it (a failure, Ctrl-C, SIGTERM). Without GKE_LAB_LIVE_PROJECT nothing runs and
the exit code is 2: an unrun live test is never a pass.

Optional: GKE_LAB_LIVE_CIDR, the address range allowed to reach the control plane (default: this
machine's public address, asked from checkip.amazonaws.com); GKE_LAB_LIVE_REGION (default us-west1).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import cast

NOT_RUN = 2
PROJECT_ENV = "GKE_LAB_LIVE_PROJECT"


def _say(text: str) -> None:
    print(text, flush=True)


def _public_cidr() -> str:
    given = os.environ.get("GKE_LAB_LIVE_CIDR")
    if given:
        return given
    with urllib.request.urlopen("https://checkip.amazonaws.com", timeout=20) as resp:
        return cast(str, resp.read().decode().strip() + "/32")


def _gke_lab(*args: str) -> int:
    command = [str(Path(sys.executable).with_name("gke-lab")), *args]
    _say(f"$ gke-lab {' '.join(args)}")
    return subprocess.call(command)


def _verify(sets: list[str]) -> int:
    """The verify flow on its own (up verified once already): the lab still answers as it should."""
    _say("$ verify-lab")
    code = f"from flows.verify import verify_lab; verify_lab(overrides={sets!r})"
    return subprocess.call([sys.executable, "-c", code])


def _phase(name: str, *args: str, sets: list[str] | None = None) -> tuple[bool, float]:
    start = time.monotonic()
    code = _verify(sets) if sets is not None else _gke_lab(*args)
    took = time.monotonic() - start
    _say(f"--- phase {name}: {'ok' if code == 0 else f'FAILED (exit {code})'} in {took:.0f} s")
    return code == 0, took


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> int:
    project = os.environ.get(PROJECT_ENV)
    if not project:
        _say(
            f"live test NOT RUN: set {PROJECT_ENV}=<project id> (a project you may create a GKE cluster "
            "in, with Application Default Credentials: gcloud auth application-default login)"
        )
        return NOT_RUN
    if os.environ.get("GKE_LAB_EMULATOR_HOST"):
        _say("live test NOT RUN: GKE_LAB_EMULATOR_HOST is set; the live test talks to Google Cloud only")
        return NOT_RUN
    lab = f"live-{int(time.time()) % 100000}"
    region = os.environ.get("GKE_LAB_LIVE_REGION", "us-west1")
    sets = [
        f"project_id={project}",
        f"lab={lab}",
        f"region={region}",
        f"cluster.node_locations=[{region}-a, {region}-b]",
        f"cluster.master_authorized_networks=[{{cidr: {_public_cidr()}, name: live-test}}]",
        "ttl_hours=3",
    ]
    args = [a for s in sets for a in ("--set", s)]
    signal.signal(signal.SIGTERM, _interrupt)
    results: list[tuple[str, bool, float]] = []
    try:
        for name, command in (("plan", ["plan", "--live"]), ("up", ["up"]), ("verify", None)):
            ok, took = _phase(name, *args, sets=sets) if command is None else _phase(name, *command, *args)
            results.append((name, ok, took))
            if not ok:
                break
    except KeyboardInterrupt:
        _say("interrupted: tearing down")
        results.append(("interrupted", False, 0.0))
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not stop the teardown
        ok, took = _phase("down", "down", *args)
        results.append(("down", ok, took))
    _say("")
    for name, ok, took in results:
        _say(f"{name:<12} {'ok' if ok else 'FAILED':<7} {took:7.0f} s")
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
