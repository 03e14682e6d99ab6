"""What the faces of a pool (CLI, chat, flows) check and show: the names and identity they accept, the
card of a claimed lab, a claim's place in line. The decisions are gke_lab.pools'.
"""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from gke_lab.identity import LAB_PATTERN
from gke_lab.pool_spec import POOL_NAME, PoolSpec
from gke_lab.pools import ClaimResult
from gke_lab.progress import about
from gke_lab.spec import SpecError

# A claimant is one Google account, an e-mail: never `*` or `domain:`, which stand for many people.
IDENTITY = re.compile(r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63}){1,8}")


def identity_problem(identity: object) -> str | None:
    """Why `identity` is not one Google account's e-mail (None: it is)."""
    if not isinstance(identity, str) or not IDENTITY.fullmatch(identity):
        return f"{str(identity)[:70]!r} is not a Google account e-mail (e.g. alice@example.com)"
    return None


def check_identity(identity: object, where: str = "identity") -> str:
    """`identity` when it is one Google account's e-mail; else SpecError naming `where`."""
    problem = identity_problem(identity)
    if problem:
        raise SpecError([(where, problem)])
    return str(identity)


def check_pool_name(name: object, where: str = "pool") -> str:
    """`name` when it is a pool name; else SpecError naming `where`."""
    if not isinstance(name, str) or not POOL_NAME.fullmatch(name):
        raise SpecError([(where, f"{str(name)[:40]!r} is not a pool name (1-20 of a-z, 0-9, '-')")])
    return name


def check_lab_name(name: object, where: str = "lab") -> str:
    if not isinstance(name, str) or not re.fullmatch(LAB_PATTERN, name):
        raise SpecError([(where, f"{str(name)[:70]!r} is not a lab name")])
    return name


def with_waiting_claims(pool: PoolSpec, waiting: int) -> PoolSpec:
    """The pool as maintenance should fill it: its hot size plus the claims waiting in line (within its
    maximum), so that a queue longer than the hot size is served by labs made for it, not a few at a time."""
    if waiting <= 0:
        return pool
    return pool.model_copy(update={"hot_size": min(pool.max_size, pool.hot_size + waiting)})


def _when(unix: int | float | None) -> str:
    if unix is None:
        return "never"
    return datetime.fromtimestamp(unix, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def claim_card_markdown(result: ClaimResult) -> str:
    """The lab card of a claim: which lab, how to reach it, until when, what was granted, how long it took."""
    lab = result.lab
    lines = [
        f"# Lab {lab.lab} (claimed by {result.claimant})",
        "",
        "| | |",
        "|---|---|",
        f"| project | `{lab.project}` |",
        f"| cluster | `{lab.cluster or '?'}` in `{lab.location or '?'}` |",
        f"| endpoint | `{lab.endpoint or '?'}` |",
        f"| expires | {_when(result.expires)} |",
        f"| claimed in | {result.seconds:.1f} s |",
        "",
        "Connect:",
        "",
        "```",
        result.kubeconfig_command,
        "kubectl get nodes",
        "```",
    ]
    if result.grants:
        lines += ["", "Granted:", "", *(f"- {grant}" for grant in result.grants)]
    return "\n".join(lines) + "\n"


def claim_result_json(result: ClaimResult) -> dict[str, Any]:
    """The claim as a flow result (JSON: the lab's state as its text)."""
    data = asdict(result)
    data["lab"]["state"] = str(result.lab.state)
    data["grants"] = list(result.grants)
    return data


def waiting_text(pool: str, position: int, wait_seconds: float) -> str:
    """A queued claim: its place in line and the expected wait."""
    return (
        f"pool {pool} has no ready lab: you are number {position} in line; "
        f"expected wait {about(wait_seconds)} (a claim is served as soon as a lab is ready)"
    )
