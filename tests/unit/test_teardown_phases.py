"""Teardown phases as data: one table, one dispatch, and results that survive Prefect's persistence."""

from __future__ import annotations

from dataclasses import replace

import pytest
from prefect.serializers import PickleSerializer

from gke_lab import reaping
from gke_lab import teardown as td
from gke_lab.identity import LabIdentity
from gke_lab.spec import LabSpec


def test_the_table_holds_every_phase_in_dependency_order():
    assert td.PHASE_NAMES == (
        "in_use",
        "access",
        "workload",
        "cluster",
        "firewalls",
        "router",
        "subnetwork",
        "network",
        "bindings",
        "service_account",
        "keys",
    )
    assert [p.name for p in td.PHASES if p.blocks_the_rest] == [
        "in_use",
        "access",
        "cluster",
        "firewalls",
        "router",
        "subnetwork",
    ]
    assert [p.name for p in td.PHASES if p.needs_destroy_keys] == ["keys"]


def test_run_phase_passes_destroy_keys_only_where_the_table_says(monkeypatch):
    seen: dict[str, dict] = {}

    def fake(name):
        def run(clients, target, **options):
            seen[name] = options
            return []

        return run

    table = tuple(replace(p, run=fake(p.name)) for p in td.PHASES)
    monkeypatch.setattr(td, "PHASES", table)
    target = td.LabTarget.from_spec(LabSpec())
    td.teardown(None, target, destroy_keys=True, dry_run=True)  # type: ignore[arg-type]
    assert list(seen) == list(td.PHASE_NAMES)
    assert seen["keys"] == {"dry_run": True, "destroy_keys": True}
    assert all(options == {"dry_run": True} for name, options in seen.items() if name != "keys")


def test_a_failed_cluster_phase_stops_the_rest(monkeypatch):
    ran: list[str] = []

    def fake(name):
        def run(clients, target, **options):
            ran.append(name)
            return (
                [td.Row(name, "cluster", "us-west1/cluster", td.FAILED, "refused")]
                if name == "cluster"
                else []
            )

        return run

    monkeypatch.setattr(td, "PHASES", tuple(replace(p, run=fake(p.name)) for p in td.PHASES))
    report = td.teardown(None, td.LabTarget.from_spec(LabSpec()))  # type: ignore[arg-type]
    assert ran == ["in_use", "access", "workload", "cluster"]
    assert [r.name for r in report.failed] == ["us-west1/cluster"]


def test_unknown_phase_is_refused_naming_the_accepted_ones():
    with pytest.raises(ValueError, match="accepted: in_use, access, workload, cluster"):
        td.run_phase(None, td.LabTarget.from_spec(LabSpec()), "everything")  # type: ignore[arg-type]


def test_target_has_one_identity_and_the_spec_regions():
    spec = LabSpec()
    target = td.LabTarget.from_spec(spec)
    assert target.identity == LabIdentity.from_spec(spec)
    assert (target.project_id, target.lab) == (spec.project_id, spec.lab)
    assert target.all_regions == ("us-west1",)


def test_task_results_round_trip_through_prefect_persistence():
    serializer = PickleSerializer()
    rows = [td.Row("cluster", "cluster", "us-west1/cluster", td.DELETED, "carries this lab's marker")]
    assert serializer.loads(serializer.dumps(rows)) == rows
    plan = reaping.Plan(
        [reaping.Decision("gke-detail", "cluster", reaping.REAP, "expired", regions=["us-west1"])]
    )
    assert serializer.loads(serializer.dumps(plan)) == plan
    ident = LabIdentity(project_id="gke-detail", lab="cluster", regions=("us-west1",))
    assert serializer.loads(serializer.dumps(ident)) == ident
    report = td.Report("gke-detail", "cluster", False, rows)
    assert td.Report.from_dict(report.to_dict()) == report


def test_a_cluster_using_the_labs_resources_stops_everything_naming_it(monkeypatch):
    ran: list[str] = []
    reason = "cluster us-west1/theirs (no gke-lab ownership marker) uses this lab's network gke-network"

    def fake(name):
        def run(clients, target, **options):
            ran.append(name)
            return (
                [td.Row(name, "cluster", "us-west1/theirs", td.BLOCKED, reason)] if name == "in_use" else []
            )

        return run

    monkeypatch.setattr(td, "PHASES", tuple(replace(p, run=fake(p.name)) for p in td.PHASES))
    report = td.teardown(None, td.LabTarget.from_spec(LabSpec()), destroy_keys=True)  # type: ignore[arg-type]
    assert ran == ["in_use"]
    assert "stopped before deleting anything" in report.problem() and "us-west1/theirs" in report.problem()


def test_keys_used_by_a_cluster_are_read_from_secrets_and_boot_disk_encryption():
    from gke_lab.ownership import Marker
    from gke_lab.requests import build_cluster

    spec = LabSpec()
    cluster = build_cluster(spec, "1.30", Marker(spec.lab, 0))
    assert td.keys_used_by(cluster) == {spec.key_name("node"), spec.key_name("secrets")}
