"""Task settings shared by the provisioning tasks: caching, retries and the client factory."""

from __future__ import annotations

from typing import Any

from prefect.cache_policies import INPUTS, NO_CACHE, RUN_ID, TASK_SOURCE
from prefect.tasks import exponential_backoff

from gke_lab.clients import Clients
from gke_lab.retry import retry_condition

# Mutating ensures: cached per flow run so a flow-level retry resumes after the last completed step.
MUTATING: dict[str, Any] = {
    "cache_policy": TASK_SOURCE + INPUTS + RUN_ID,
    "persist_result": True,
    "retries": 2,
    "retry_delay_seconds": exponential_backoff(backoff_factor=1),
    "retry_jitter_factor": 0.5,
    "retry_condition_fn": retry_condition,
}

# Read-only lookups (project number, server config): cached per flow run only, like the ensures. Shared
# across runs, an answer read from another endpoint that once had the same address (an emulator restarted on
# a reused port) or a version offer that has moved on would be taken for this project's, and keys granted to
# another project's agents.
READ_ONLY: dict[str, Any] = MUTATING

# Live observations (verification, audit): never cached, retried only on transient failures.
LIVE: dict[str, Any] = {
    **{k: v for k, v in READ_ONLY.items() if k != "cache_policy"},
    "cache_policy": NO_CACHE,
}


def clients() -> Clients:
    return Clients.from_env()
