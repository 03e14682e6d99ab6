"""A reaper with no projects configured looks at nothing, deletes nothing, and says so."""

from __future__ import annotations

import logging

import pytest

from gke_lab.reaper_config import NOTHING_CONFIGURED, PROJECTS_ENV

pytestmark = [pytest.mark.e2e]


def test_unconfigured_reaper_does_nothing_and_says_so(prefect_harness, lab_admin, monkeypatch):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId, ArtifactFilterKey

    from flows.reaper import reap_expired_labs

    monkeypatch.delenv(PROJECTS_ENV, raising=False)
    mark = lab_admin.last_seq()
    seen: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = seen.append  # type: ignore[method-assign]
    run_logger = logging.getLogger("prefect.flow_runs")  # Prefect's run loggers do not propagate to root
    run_logger.addHandler(handler)
    try:
        state = reap_expired_labs(return_state=True)
    finally:
        run_logger.removeHandler(handler)
    result = state.result()
    assert state.is_completed() and result["decisions"] == [] and result["note"] == NOTHING_CONFIGURED
    assert lab_admin.mutations_since(mark) == []
    assert NOTHING_CONFIGURED in "\n".join(records.getMessage() for records in seen)  # the run's log
    # This run's own report: a read of every artifact in the session stops at the API's page of 200.
    with get_client(sync_client=True) as client:
        report = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[state.state_details.flow_run_id]),
                key=ArtifactFilterKey(any_=["reaper-report"]),
            )
        )
    assert report and all(NOTHING_CONFIGURED in (a.data or "") for a in report), report


def test_configured_projects_are_reaped_without_a_parameter(prefect_harness, lab_admin, monkeypatch):
    from flows.reaper import reap_expired_labs

    monkeypatch.setenv(PROJECTS_ENV, "gke-detail")
    mark = lab_admin.last_seq()
    result = reap_expired_labs(dry_run=True)
    assert "note" not in result and result["dry_run"] is True
    assert lab_admin.requests(since=mark), "the configured project was not looked at"
