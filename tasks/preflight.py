"""The preflight as a Prefect task: what a real project needs, checked read-only before any change."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from gke_lab import preflight


# Never cached or retried: it answers for this moment, and a failed check is the user's to fix.
@task(name="preflight", cache_policy=NO_CACHE)
def check(target: preflight.Target, run: preflight.Run) -> preflight.Preflight:
    """Raises PreflightError with the first problem's one line (cause and fix); nothing was changed."""
    return preflight.require(target, run)
