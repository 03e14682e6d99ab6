"""The pool flows on the Prefect test harness: which runs they start, with which tags and parameters, in
which order claims are served, and what they refuse. The pool core (census, decide, claim...) is replaced
by small fakes here: its own tests are tests/unit/test_pool_*.py and tests/e2e/test_pool_core.py.

The provision-lab, teardown-lab and maintain-pools deployments are registered without a work pool, so the
runs the flows start stay scheduled: exactly the in-flight runs the next census must see.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest
from prefect.artifacts import Artifact
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import (
    DeploymentFilter,
    DeploymentFilterName,
    FlowRunFilter,
    FlowRunFilterTags,
)
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.states import Running

from gke_lab import pools
from gke_lab.errors import LabError
from gke_lab.pool_spec import PoolSpec
from gke_lab.pools import Census, ClaimResult, NewLab, PoolDecision, PoolLab, PoolState
from gke_lab.spec import SpecError
from tasks import pools as pool_tasks
from tests.fixtures_emulator import PROJECT

pytestmark = [pytest.mark.e2e]

CLAIMANT = "alice@example.com"


@dataclass(frozen=True)
class InFlight:
    """The core's InFlightRun, as the design names its fields."""

    lab: str
    project: str
    started: float
    failed_reason: str | None = None


def ready_lab(lab: str) -> PoolLab:
    return PoolLab(
        lab=lab,
        project=PROJECT,
        state=PoolState.READY,
        location="us-west1-a",
        cluster=f"{lab}-cluster",
        endpoint="10.0.0.2",
        label_fingerprint="abc",
    )


class FakeCore:
    """Records what the flows ask of the core and answers like it would."""

    def __init__(self) -> None:
        self.in_flight: list[list[InFlight]] = []
        self.claims: list[str] = []
        self.ready: list[PoolLab] = []
        self.reap: list[PoolLab] = []
        self.reap_wins: set[str] = set()
        self.released: list[tuple[str, str, bool]] = []
        self.names = iter(f"workshop-{n:06x}" for n in range(1, 1000))

    def census(self, clients: Any, pool: PoolSpec, in_flight: Any = ()) -> Census:
        runs = list(in_flight)
        self.in_flight.append(runs)
        labs = [PoolLab(lab=r.lab, project=r.project, state=PoolState.PROVISIONING) for r in runs]
        return Census(pool=pool.name, labs=(*labs, *self.ready))

    def decide(self, pool: PoolSpec, census: Census, now: float, *, provision_seconds: float, placement=None):
        have = len(census.in_state(PoolState.READY)) + len(census.in_state(PoolState.PROVISIONING))
        new = tuple(NewLab(next(self.names), PROJECT) for _ in range(max(0, pool.hot_size - have)))
        return PoolDecision(pool=pool.name, target_ready=pool.hot_size, provision=new, reap=tuple(self.reap))

    def lab_overrides(self, pool: PoolSpec, new: NewLab, base: Any) -> list[str]:
        return [*pool.overrides, f"lab={new.lab}", f"project_id={new.project}", f"pool={pool.name}"]

    def begin_reap(self, clients: Any, lab: PoolLab) -> bool:
        return lab.lab in self.reap_wins

    def may_claim(self, pool: PoolSpec, identity: str) -> bool:
        return "*" in pool.claimers or identity in pool.claimers

    def claim(self, clients: Any, pool: PoolSpec, identity: str, *, now: float | None = None):
        self.claims.append(identity)
        if not self.ready:
            return None
        lab = replace(self.ready.pop(0), state=PoolState.CLAIMED)
        return ClaimResult(
            lab=lab,
            claimant=identity,
            expires=2_000_000_000,
            kubeconfig_command=f"gcloud container clusters get-credentials {lab.cluster} --project {PROJECT}",
            seconds=0.4,
            grants=(f"roles/container.clusterViewer for user:{identity}",),
        )

    def release(self, clients: Any, pool: PoolSpec, lab: str, requester: str, *, admin: bool = False):
        self.released.append((lab, requester, admin))
        return replace(ready_lab(lab), state=PoolState.REAPING)

    def expected_wait_seconds(
        self, census: Census, provision_seconds: float, queue_position: int, *, now: float | None = None
    ) -> float:
        return 300.0 * queue_position

    def status_markdown(self, pool: PoolSpec, census: Census, now: float, hourly_cost: Any) -> str:
        return f"## Pool {pool.name}\n\n{len(census.labs)} lab(s)\n"


@pytest.fixture(scope="module")
def deployments(prefect_harness):
    """provision-lab, teardown-lab, maintain-pools registered without a work pool; the example pool saved."""
    from blocks.blueprint import LabBlueprint
    from blocks.pool import LabPool
    from blocks.variants import variant_spec
    from flows.pools import maintain_pools
    from flows.provision import provision_lab
    from flows.teardown import teardown_lab

    for flow, name in ((provision_lab, "provision-lab"), (teardown_lab, "teardown-lab")):
        flow.to_deployment(name=name).apply()
    maintain_pools.to_deployment(name="maintain-pools").apply()
    LabBlueprint(spec=variant_spec("small-zonal")).save("small-zonal", overwrite=True)
    LabPool(pool=PoolSpec(name="workshop", projects=[PROJECT], hot_size=2, max_size=3)).save(
        "workshop", overwrite=True
    )
    LabPool(pool=PoolSpec(name="vip", projects=[PROJECT], claimers=["bob@example.com"])).save(
        "vip", overwrite=True
    )
    # A block whose pool says another name: never maintained under the wrong name.
    LabPool(pool=PoolSpec(name="other", projects=[PROJECT])).save("misnamed", overwrite=True)


@pytest.fixture
def core(deployments, monkeypatch):
    fake = FakeCore()
    for name in (
        "census",
        "decide",
        "lab_overrides",
        "begin_reap",
        "may_claim",
        "claim",
        "release",
        "expected_wait_seconds",
        "status_markdown",
    ):
        monkeypatch.setattr(pools, name, getattr(fake, name), raising=False)
    monkeypatch.setattr(pools, "InFlightRun", InFlight, raising=False)
    monkeypatch.setattr(pool_tasks, "clients", lambda: None)
    # No quotas to read without a cloud: labs are placed by the core's own spreading.
    monkeypatch.setattr(pool_tasks, "placement", lambda pool, spec, census: None)
    # Each test starts without the runs of the tests before it: this module's and those other modules of
    # the session left on the same deployments (a provision-lab deployment is registered under one name).
    with get_client(sync_client=True) as client:
        while stale := earlier_runs(client):
            for run_id in stale:
                client.delete_flow_run(run_id)
    return fake


POOL_DEPLOYMENTS = ["provision-lab", "teardown-lab", "maintain-pools", "claim-lab", "release-lab"]
POOL_TAGS = ["gke-lab-pool:workshop", "gke-lab-pool:vip"]


def earlier_runs(client) -> set:
    """Ids of runs of the pool deployments or tagged with a pool of these tests (read server-side, so
    none is missed beyond a page of the whole session's runs)."""
    of_deployments = client.read_flow_runs(
        deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=POOL_DEPLOYMENTS)), limit=200
    )
    tagged = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(any_=POOL_TAGS)), limit=200
    )
    return {run.id for run in [*of_deployments, *tagged]}


def runs_of(deployment: str, tags: list[str] | None = None) -> list[FlowRun]:
    with get_client(sync_client=True) as client:
        return client.read_flow_runs(
            deployment_filter=DeploymentFilter(name=DeploymentFilterName(any_=[deployment])),
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=tags)) if tags else None,
            limit=100,
        )


def test_maintain_starts_missing_labs_as_provision_runs_and_counts_them_in_flight_next_time(core):
    from flows.pools import maintain_pools

    first = maintain_pools(pools=["workshop"])
    started = first["pools"][0]["started"]
    assert started == ["workshop-000001", "workshop-000002"]
    runs = {run.parameters["overrides"][-3].removeprefix("lab="): run for run in runs_of("provision-lab")}
    assert set(runs) == set(started)
    for lab, run in runs.items():
        assert {"gke-lab", "gke-lab-pool:workshop", f"lab:{lab}", f"project:{PROJECT}"} <= set(run.tags)
        assert run.parameters["blueprint"] == "small-zonal"
        assert run.parameters["overrides"][-2:] == [f"project_id={PROJECT}", "pool=workshop"]
    second = maintain_pools(pools=["workshop"])
    assert second["pools"][0]["started"] == []
    seen = core.in_flight[-1]
    assert sorted((r.lab, r.project, r.failed_reason) for r in seen) == [
        (lab, PROJECT, None) for lab in started
    ]
    assert len(runs_of("provision-lab")) == 2  # never a second provision for a lab in flight


def test_maintain_reports_failed_provisions_with_their_reason(core):
    from flows.pools import maintain_pools

    maintain_pools(pools=["workshop"])
    failed = runs_of("provision-lab")[0]
    with get_client(sync_client=True) as client:
        client.set_flow_run_state(failed.id, Running(), force=True)
        from prefect.states import Failed

        client.set_flow_run_state(failed.id, Failed(message="quota CPUS exceeded"), force=True)
    maintain_pools(pools=["workshop"])
    reasons = {r.lab: r.failed_reason for r in core.in_flight[-1]}
    lab = next(t for t in failed.tags if t.startswith("lab:")).removeprefix("lab:")
    assert reasons[lab] == "quota CPUS exceeded"


def test_maintain_makes_a_lab_for_each_claim_waiting_in_line_within_the_maximum(core):
    from flows.pools import claim_lab, maintain_pools

    with get_client(sync_client=True) as client:
        for _ in range(2):
            waiting = client.create_flow_run(claim_lab, tags=["gke-lab-pool:workshop"])
            client.set_flow_run_state(waiting.id, Running(), force=True)
    # hot size 2 + 2 waiting claims, capped by max size 3
    assert len(maintain_pools(pools=["workshop"])["pools"][0]["started"]) == 3


def test_maintain_tears_down_only_the_reaps_it_won(core):
    from flows.pools import maintain_pools

    # A regional cluster's location is its region; a zonal one's, a zone of it.
    core.ready = [replace(ready_lab("workshop-aaaaaa"), location="us-west1"), ready_lab("workshop-bbbbbb")]
    core.reap = list(core.ready)
    core.reap_wins = {"workshop-aaaaaa"}  # the other one was claimed meanwhile: its fingerprint moved
    result = maintain_pools(pools=["workshop"])["pools"][0]
    assert result["reaping"] == ["workshop-aaaaaa"]
    assert result["lost"] == ["workshop-bbbbbb"]
    teardowns = runs_of("teardown-lab")
    assert len(teardowns) == 1
    assert teardowns[0].parameters["identity"] == {
        "project_id": PROJECT,
        "lab": "workshop-aaaaaa",
        "regions": ["us-west1"],
    }
    status = Artifact.get("pool-status")
    assert status is not None and "reaping `workshop-aaaaaa`" in str(status.data)
    assert "not reaped `workshop-bbbbbb`" in str(status.data)


def test_maintain_without_names_keeps_every_saved_pool_and_refuses_a_misnamed_block(core):
    from flows.pools import maintain_pools

    state = maintain_pools(return_state=True)
    assert state.is_failed()
    assert "misnamed" in str(state.message)
    status = str(Artifact.get("pool-status").data)
    assert "pool.name" in status and "## Pool workshop" in status and "## Pool vip" in status
    # The good pools were kept full all the same.
    assert {t for r in runs_of("provision-lab") for t in r.tags if t.startswith("gke-lab-pool:")} == {
        "gke-lab-pool:workshop",
        "gke-lab-pool:vip",
    }


@pytest.mark.parametrize("names", [["Workshop"], ["a b"], ["x" * 21]])
def test_maintain_refuses_bad_pool_names_before_anything(core, names):
    from flows.pools import maintain_pools

    with pytest.raises(SpecError, match="pools"):
        maintain_pools(pools=names)
    assert core.in_flight == []


def test_claim_hands_a_ready_lab_publishes_its_card_and_starts_a_refill(core):
    from flows.pools import claim_lab

    core.ready = [ready_lab("workshop-cccccc")]
    result = claim_lab(pool="workshop", identity=CLAIMANT)
    assert result["lab"]["lab"] == "workshop-cccccc"
    assert result["claimant"] == CLAIMANT
    card = str(Artifact.get(f"workshop-cccccc-{PROJECT}-claim-card").data)
    assert "get-credentials workshop-cccccc-cluster" in card and CLAIMANT in card
    refills = runs_of("maintain-pools")
    assert [r.parameters for r in refills] == [{"pools": ["workshop"]}]


@pytest.mark.parametrize(
    ("identity", "pool", "field"),
    [
        ("*", "workshop", "identity"),
        ("domain:example.com", "workshop", "identity"),
        ("alice", "workshop", "identity"),
        ("alice@example.com\n", "workshop", "identity"),
        (CLAIMANT, "Bad_Pool", "pool"),
        (CLAIMANT, "vip", "identity"),  # not among the pool's claimers
        (CLAIMANT, "nosuchpool", "pool"),
    ],
)
def test_claim_refuses_bad_input_naming_the_field_before_claiming(core, identity, pool, field):
    from flows.pools import claim_lab

    core.ready = [ready_lab("workshop-dddddd")]
    with pytest.raises(SpecError) as caught:
        claim_lab(pool=pool, identity=identity)
    assert field in str(caught.value)
    assert core.claims == []


def test_claim_on_an_empty_pool_waits_in_line_asks_for_a_refill_and_gives_up_at_its_deadline(core):
    from flows.pools import claim_lab

    with pytest.raises(LabError, match="no lab of pool workshop became ready"):
        claim_lab(pool="workshop", identity=CLAIMANT, wait_minutes=0)
    assert core.claims == [CLAIMANT]
    queue = str(Artifact.get("workshop-claim-queue").data)
    assert "number 1 in line" in queue and "expected wait 5m" in queue
    assert [r.parameters for r in runs_of("maintain-pools")] == [{"pools": ["workshop"]}]


def test_a_claim_waits_behind_an_earlier_waiting_claim_even_when_a_lab_is_ready(core):
    from flows.pools import claim_lab

    with get_client(sync_client=True) as client:
        earlier = client.create_flow_run(claim_lab, tags=["gke-lab-pool:workshop"])
        client.set_flow_run_state(earlier.id, Running(), force=True)
    core.ready = [ready_lab("workshop-eeeeee")]
    with pytest.raises(LabError):
        claim_lab(pool="workshop", identity=CLAIMANT, wait_minutes=0)
    assert core.claims == []  # the earlier claim is served first
    assert "number 2 in line" in str(Artifact.get("workshop-claim-queue").data)
    with get_client(sync_client=True) as client:
        from prefect.states import Completed

        client.set_flow_run_state(earlier.id, Completed(), force=True)
    assert claim_lab(pool="workshop", identity=CLAIMANT)["lab"]["lab"] == "workshop-eeeeee"


def _run(run_id: Any, start: datetime, state: StateType = StateType.RUNNING) -> FlowRun:
    return FlowRun(id=run_id, flow_id=uuid4(), start_time=start, state_type=state)


def test_runs_ahead_counts_earlier_running_claims_in_start_order():
    now = datetime.now(UTC)
    me = _run(uuid4(), now - timedelta(seconds=10))
    earlier = _run(uuid4(), now - timedelta(seconds=20))
    later = _run(uuid4(), now - timedelta(seconds=5))
    finished = _run(uuid4(), now - timedelta(seconds=30), StateType.COMPLETED)
    stale = _run(uuid4(), now - timedelta(minutes=pool_tasks.MAX_WAIT_MINUTES + 1))
    assert pool_tasks.runs_ahead([me, earlier, later, finished, stale], me, now) == 1
    # Two runs started in the same instant: the run id decides, the same way for both.
    low, high = sorted([uuid4(), uuid4()], key=str)
    same = now - timedelta(seconds=15)
    assert pool_tasks.runs_ahead([_run(low, same)], _run(high, same), now) == 1
    assert pool_tasks.runs_ahead([_run(high, same)], _run(low, same), now) == 0


def test_release_revokes_through_the_core_and_starts_the_teardown(core):
    from flows.pools import release_lab

    result = release_lab(pool="workshop", lab="workshop-ffffff", requester=CLAIMANT)
    assert core.released == [("workshop-ffffff", CLAIMANT, False)]
    (teardown,) = runs_of("teardown-lab")
    assert str(teardown.id) == result["teardown_run"]
    assert teardown.parameters["identity"]["lab"] == "workshop-ffffff"
    assert "gke-lab-pool:workshop" in teardown.tags


@pytest.mark.parametrize(
    ("lab", "requester", "field"),
    [("Workshop", CLAIMANT, "lab"), ("workshop-1\n", CLAIMANT, "lab"), ("workshop-1", "*", "requester")],
)
def test_release_refuses_bad_input_naming_the_field(core, lab, requester, field):
    from flows.pools import release_lab

    with pytest.raises(SpecError) as caught:
        release_lab(pool="workshop", lab=lab, requester=requester)
    assert field in str(caught.value)
    assert core.released == []


def test_cli_claim_prints_the_card_and_its_timing(core):
    from click.testing import CliRunner

    from gke_lab.cli import main

    core.ready = [ready_lab("workshop-abcdef")]
    result = CliRunner().invoke(main, ["pool", "claim", "workshop", "--identity", CLAIMANT, "-q"])
    assert result.exit_code == 0, result.output
    assert "get-credentials workshop-abcdef-cluster" in result.output
    assert "claimed in 0.4 s" in result.output
    assert core.claims == [CLAIMANT]


def test_cli_claim_of_a_pool_that_is_not_saved_exits_2_naming_it(core):
    from click.testing import CliRunner

    from gke_lab.cli import main

    result = CliRunner().invoke(main, ["pool", "claim", "nosuchpool", "--identity", CLAIMANT, "-q"])
    assert result.exit_code == 2, result.output
    assert "error: pool: no LabPool block named 'nosuchpool'" in result.output
    assert core.claims == []


@pytest.mark.parametrize("name", ["maintain_pools", "claim_lab", "release_lab"])
def test_every_pool_flow_parameter_has_a_title_and_a_description_in_the_form(name):
    from prefect.utilities.callables import parameter_schema

    import flows.pools

    pool_flow = getattr(flows.pools, name)
    schema = parameter_schema(pool_flow)
    missing = [k for k, p in schema.properties.items() if not p.get("title") or not p.get("description")]
    assert not missing


@pytest.mark.slow
def test_demo_pool_fills_two_claims_one_and_leaves_nothing(prefect_harness):
    """`gke-lab demo --pool` against its own emulator, with the real pool core (no fakes here)."""
    from click.testing import CliRunner

    from gke_lab.cli import main

    result = CliRunner().invoke(main, ["demo", "--pool"])
    assert result.exit_code == 0, result.output
    assert "2 ready, 0 provisioning, 0 claimed" in result.output
    assert "claimed by student@example.com" in result.output
    assert "1 ready, 0 provisioning, 1 claimed" in result.output
    assert "labs of pool 'demo' left: 0" in result.output


def test_maintain_with_no_pool_block_type_registered_has_nothing_to_do(core, monkeypatch):
    """A server where `gke-lab blocks register` never ran: the schedule's runs complete, doing nothing."""
    from blocks.pool import LabPool
    from flows.pools import maintain_pools

    monkeypatch.setattr(LabPool, "_block_type_slug", "gke-lab-pool-never-registered")
    assert maintain_pools()["pools"] == []
    assert "No LabPool blocks saved" in str(Artifact.get("pool-status").data)
