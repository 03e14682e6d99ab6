"""Preflight: each problem a new user meets stops `gke-lab up` with one line, before any change."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from click.testing import CliRunner
from google.api_core import exceptions as gexc
from google.auth.exceptions import DefaultCredentialsError
from google.cloud import service_usage_v1

from gke_lab import preflight
from gke_lab.cli import main
from gke_lab.clients import Clients
from gke_lab.resources import services
from gke_lab.spec import LabSpec


class FakeProject:
    """Resource Manager and Service Usage as a project created today looks to a caller."""

    def __init__(self, visible=True, granted=None, disabled=(), calls=None):
        self.visible = visible
        self.granted = granted
        self.disabled = set(disabled)
        self.calls = calls if calls is not None else []
        self.credentials = SimpleNamespace(service_account_email="ops@example.iam.gserviceaccount.com")
        self.projects = self
        self.service_usage = self

    def get_project(self, name):
        self.calls.append(("get_project", False))
        if not self.visible:
            raise gexc.PermissionDenied(f"The caller does not have permission on {name}")
        return SimpleNamespace(name="projects/123")

    def test_iam_permissions(self, request):
        self.calls.append(("test_iam_permissions", False))
        wanted = request["permissions"]
        granted = wanted if self.granted is None else [p for p in wanted if p in self.granted]
        return SimpleNamespace(permissions=granted)

    def batch_get_services(self, request):
        self.calls.append(("batch_get_services", False))
        state = service_usage_v1.State
        return SimpleNamespace(
            services=[
                SimpleNamespace(
                    name=name,
                    config=SimpleNamespace(name=name.rsplit("/", 1)[-1]),
                    state=state.DISABLED if name.rsplit("/", 1)[-1] in self.disabled else state.ENABLED,
                )
                for name in request["names"]
            ]
        )

    def batch_enable_services(self, request):
        self.calls.append(("batch_enable_services", True))
        self.disabled -= set(request["service_ids"])
        return SimpleNamespace(result=lambda timeout: None)

    def generate_service_identity(self, parent, service):
        self.calls.append(("generate_service_identity", True))
        agent = "compute-system" if service.startswith("compute") else "container-engine-robot"
        return f"service-123@{agent}.iam.gserviceaccount.com"


def no_credentials():
    raise DefaultCredentialsError("Your default credentials were not found.")


def test_passes_on_a_ready_project():
    result = preflight.run(LabSpec(), "up", clients=lambda: FakeProject())
    assert result.passed and [c.name for c in result.checks] == [
        "credentials",
        "project",
        "permissions",
        "services",
    ]


def test_no_credentials_says_how_to_log_in(monkeypatch):
    monkeypatch.delenv("GKE_LAB_EMULATOR_HOST", raising=False)
    result = preflight.run(LabSpec(), "up", clients=no_credentials)
    assert not result.passed
    assert "application-default login" in result.problem and "\n" not in result.problem


def test_project_the_caller_cannot_see(monkeypatch):
    monkeypatch.delenv("GKE_LAB_EMULATOR_HOST", raising=False)
    result = preflight.run(LabSpec(), "up", clients=lambda: FakeProject(visible=False))
    assert result.problem.startswith("project: gke-detail is not visible to the caller")
    assert "roles/browser" in result.problem


def test_missing_permissions_are_listed_with_their_roles(monkeypatch):
    monkeypatch.delenv("GKE_LAB_EMULATOR_HOST", raising=False)
    held = [p for p in preflight.PERMISSIONS["up"] if not p.startswith("cloudkms.")]
    result = preflight.run(LabSpec(), "up", clients=lambda: FakeProject(granted=held))
    assert result.problem.startswith("permissions: missing cloudkms.keyRings.get")
    assert "cloudkms.cryptoKeys.setIamPolicy" in result.problem
    assert "ask for roles/cloudkms.admin on gke-detail" in result.problem


def test_disabled_services_the_caller_may_not_enable(monkeypatch):
    monkeypatch.delenv("GKE_LAB_EMULATOR_HOST", raising=False)
    fake = FakeProject(granted=preflight.PERMISSIONS["up"], disabled=["container.googleapis.com"])
    result = preflight.run(LabSpec(), "up", clients=lambda: fake)
    assert result.problem.startswith("services: container.googleapis.com disabled and the caller may not")
    assert "roles/serviceusage.serviceUsageAdmin" in result.problem
    assert "gcloud services enable container.googleapis.com --project gke-detail" in result.problem


def test_disabled_services_the_caller_may_enable_pass():
    fake = FakeProject(disabled=["container.googleapis.com", "compute.googleapis.com"])
    result = preflight.run(LabSpec(), "up", clients=lambda: fake)
    assert result.passed and "will enable" in result.checks[-1].detail


@pytest.mark.parametrize(
    "fake",
    [
        pytest.param(no_credentials, id="no-credentials"),
        pytest.param(lambda: FakeProject(visible=False), id="project-not-visible"),
        pytest.param(lambda: FakeProject(granted=["resourcemanager.projects.get"]), id="missing-permissions"),
        pytest.param(
            lambda: FakeProject(
                granted=preflight.PERMISSIONS["up"],
                disabled=["cloudkms.googleapis.com", "iam.googleapis.com"],
            ),
            id="services-not-enableable",
        ),
    ],
)
def test_up_stops_with_one_line_and_no_change(monkeypatch, fake):
    monkeypatch.delenv("GKE_LAB_EMULATOR_HOST", raising=False)
    made = []

    def from_env(credentials=None):
        client = fake()
        made.append(client)
        return client

    def no_flow(*args, **kwargs):
        raise AssertionError("the flow must not start after a failed preflight")

    monkeypatch.setattr(Clients, "from_env", staticmethod(from_env))
    monkeypatch.setattr("gke_lab.cli.lab.run_provision", no_flow)
    result = CliRunner().invoke(main, ["up", "--set", "project_id=my-proj"])
    assert result.exit_code == 3
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: preflight: ")
    assert "Traceback" not in result.output
    assert [call for client in made for call, mutating in client.calls if mutating] == []


def test_services_enable_what_is_disabled_then_nothing():
    fake = FakeProject(disabled=["container.googleapis.com", "cloudkms.googleapis.com"])
    done = services.ensure(fake, LabSpec())
    assert done.enabled == ("container.googleapis.com", "cloudkms.googleapis.com")
    assert done.agents == ("service-123@container-engine-robot.iam.gserviceaccount.com",)
    assert [c for c, mutating in fake.calls if mutating] == [
        "batch_enable_services",
        "generate_service_identity",
    ]
    fake.calls.clear()
    assert services.ensure(fake, LabSpec()) == services.Enabled()
    assert [c for c, mutating in fake.calls if mutating] == []


def test_plan_live_shows_the_preflight_as_a_table_and_stops_on_a_problem(monkeypatch):
    monkeypatch.delenv("GKE_LAB_EMULATOR_HOST", raising=False)
    fake = FakeProject(granted=preflight.PERMISSIONS["plan"][:-1])
    monkeypatch.setattr(Clients, "from_env", staticmethod(lambda credentials=None: fake))
    result = CliRunner().invoke(main, ["plan", "--live"])
    assert result.exit_code == 3
    assert result.stdout.startswith("Preflight\n")
    assert "credentials" in result.stdout and "FAILED" in result.stdout
    missing = preflight.PERMISSIONS["plan"][-1]
    assert result.stderr.strip() == (
        f"error: preflight: permissions: missing {missing}; ask for {preflight.ROLES[missing]} on gke-detail"
    )
    assert "Traceback" not in result.output


def test_each_run_asks_only_for_what_it_does():
    assert "container.clusters.create" in preflight.PERMISSIONS["up"]
    assert "container.clusters.delete" not in preflight.PERMISSIONS["up"]
    assert "container.clusters.delete" in preflight.PERMISSIONS["down"]
    assert "container.clusters.create" not in preflight.PERMISSIONS["down"]
    assert all(p.endswith((".get", ".list", ".getIamPolicy")) for p in preflight.PERMISSIONS["plan"])
    assert all(p in preflight.ROLES for run in preflight.PERMISSIONS.values() for p in run)


def test_require_raises_the_one_line_and_keeps_the_table_across_pickling(monkeypatch):
    import pickle

    monkeypatch.delenv("GKE_LAB_EMULATOR_HOST", raising=False)
    fake = FakeProject(granted=[p for p in preflight.PERMISSIONS["down"] if p != "container.clusters.delete"])
    monkeypatch.setattr(Clients, "from_env", staticmethod(lambda credentials=None: fake))
    with pytest.raises(preflight.PreflightError) as caught:
        preflight.require(LabSpec(), "down")
    assert (
        str(caught.value)
        == "permissions: missing container.clusters.delete; ask for roles/container.admin on gke-detail"
    )
    assert caught.value.resource == "projects/gke-detail"
    again = pickle.loads(pickle.dumps(caught.value))  # Prefect may persist a failed task's exception
    assert str(again) == str(caught.value) and again.resource == "projects/gke-detail"
    assert again.checked == caught.value.checked and again.checked.rows()[-1][1] == "FAILED"


def test_a_lab_named_by_its_identity_is_checked_in_its_project(monkeypatch):
    from gke_lab.identity import LabIdentity

    monkeypatch.delenv("GKE_LAB_EMULATOR_HOST", raising=False)
    fake = FakeProject(disabled=["iam.googleapis.com"])
    result = preflight.run(LabIdentity(project_id="other-project", lab="x"), "down", clients=lambda: fake)
    assert result.passed and result.checks[-1].detail == "not enabled: iam.googleapis.com"
    fake.visible = False
    hidden = preflight.run(LabIdentity(project_id="other-project", lab="x"), "down", clients=lambda: fake)
    assert hidden.problem.startswith("project: other-project is not visible to the caller")


def test_markdown_is_the_table_with_the_problem_under_it(monkeypatch):
    monkeypatch.delenv("GKE_LAB_EMULATOR_HOST", raising=False)
    passed = preflight.run(LabSpec(), "plan", clients=lambda: FakeProject())
    assert "| permissions | ok |" in preflight.markdown(passed) and "**" not in preflight.markdown(passed)
    failed = preflight.run(LabSpec(), "plan", clients=lambda: FakeProject(granted=[]))
    text = preflight.markdown(failed)
    assert "| permissions | FAILED | missing resourcemanager.projects.get" in text
    assert text.rstrip().endswith(f"**{failed.problem}**")


def test_reading_the_services_needs_what_batch_get_asks_for():
    # services.batchGet asks for serviceusage.services.get (Service Usage access control)
    assert "serviceusage.services.get" in preflight.PERMISSIONS["plan"]
    assert preflight.ROLES["serviceusage.services.get"] == "roles/serviceusage.serviceUsageViewer"
