"""The reaper's projects come from configuration, never from a built-in project ID."""

from __future__ import annotations

from gke_lab.reaper_config import PROJECTS_ENV, configured_projects


def test_nothing_configured_means_no_projects():
    assert configured_projects({}) == []
    assert configured_projects({PROJECTS_ENV: " , "}) == []


def test_projects_are_read_comma_or_space_separated_in_order_without_repeats():
    env = {PROJECTS_ENV: "team-a, team-b team-c,team-a"}
    assert configured_projects(env) == ["team-a", "team-b", "team-c"]
