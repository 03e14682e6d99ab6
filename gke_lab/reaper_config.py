"""Which projects the reaper looks in: configuration, never a built-in project.

A reaper that defaulted to the article's project would tear down labs in whatever project happens to carry
that ID, and a scheduled one would take a worker slot on every new server. So the projects come from the
run's `projects` parameter or, for scheduled runs, from `GKE_LAB_REAPER_PROJECTS` in the worker's
environment; with neither, the reaper does nothing and says so.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

PROJECTS_ENV = "GKE_LAB_REAPER_PROJECTS"

NOTHING_CONFIGURED = (
    f"no projects to reap are configured (the `projects` parameter, or {PROJECTS_ENV} in the worker's "
    "environment, comma-separated): nothing was looked at and nothing was torn down"
)


def configured_projects(environ: Mapping[str, str] | None = None) -> list[str]:
    """The project IDs in GKE_LAB_REAPER_PROJECTS (commas and/or spaces between them), in order."""
    text = (os.environ if environ is None else environ).get(PROJECTS_ENV, "")
    return list(dict.fromkeys(p for p in re.split(r"[,\s]+", text) if p))
