"""Preflight: what a real project needs before a run, checked read-only, first problem first.

Credentials found (an emulator, explicit credentials, or Application Default Credentials) -> the project
reachable -> the caller holds every permission the run needs (`testIamPermissions` on the project; the
missing ones are listed with the predefined roles that grant them) -> the services the lab calls are
enabled, or the caller may enable them. The first failing check stops with one line saying what to do;
no check makes a mutating request (testIamPermissions and batchGet are reads).

One function for every face: the CLI (`up`, `down`, `plan --live`) and the provision, teardown and plan
flows (tasks/preflight.py) all call `run`, or `require`, which raises on the first problem.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from gke_lab import calls
from gke_lab.clients import EMULATOR_ENV, Clients
from gke_lab.errors import LabError, is_permission_denied, is_service_disabled
from gke_lab.identity import LabIdentity
from gke_lab.reports import table
from gke_lab.resources import services
from gke_lab.spec import LabSpec

Run = Literal["up", "down", "plan"]
# A lab named by its spec, or by its identity alone (a teardown of what the reaper found): the checks
# need only the project.
Target = LabSpec | LabIdentity

# Permission -> the predefined role that grants it (the narrowest one this project documents).
ROLES: dict[str, str] = {
    "resourcemanager.projects.get": "roles/browser",
    "resourcemanager.projects.getIamPolicy": "roles/resourcemanager.projectIamAdmin",
    "resourcemanager.projects.setIamPolicy": "roles/resourcemanager.projectIamAdmin",
    "serviceusage.services.list": "roles/serviceusage.serviceUsageViewer",
    # services.batchGet, which reads the lab's services, asks for .get
    # (https://cloud.google.com/service-usage/docs/access-control)
    "serviceusage.services.get": "roles/serviceusage.serviceUsageViewer",
    "serviceusage.services.enable": "roles/serviceusage.serviceUsageAdmin",
    "compute.networks.get": "roles/compute.networkAdmin",
    "compute.networks.create": "roles/compute.networkAdmin",
    "compute.networks.delete": "roles/compute.networkAdmin",
    "compute.subnetworks.get": "roles/compute.networkAdmin",
    "compute.subnetworks.create": "roles/compute.networkAdmin",
    "compute.subnetworks.delete": "roles/compute.networkAdmin",
    "compute.routers.get": "roles/compute.networkAdmin",
    "compute.routers.create": "roles/compute.networkAdmin",
    "compute.routers.delete": "roles/compute.networkAdmin",
    "compute.firewalls.list": "roles/compute.networkAdmin",
    "compute.firewalls.delete": "roles/compute.securityAdmin",
    "cloudkms.keyRings.get": "roles/cloudkms.admin",
    "cloudkms.keyRings.create": "roles/cloudkms.admin",
    "cloudkms.cryptoKeys.get": "roles/cloudkms.admin",
    "cloudkms.cryptoKeys.create": "roles/cloudkms.admin",
    "cloudkms.cryptoKeys.getIamPolicy": "roles/cloudkms.admin",
    "cloudkms.cryptoKeys.setIamPolicy": "roles/cloudkms.admin",
    "cloudkms.cryptoKeyVersions.destroy": "roles/cloudkms.admin",
    "iam.serviceAccounts.get": "roles/iam.serviceAccountAdmin",
    "iam.serviceAccounts.create": "roles/iam.serviceAccountAdmin",
    "iam.serviceAccounts.delete": "roles/iam.serviceAccountAdmin",
    "iam.serviceAccounts.actAs": "roles/iam.serviceAccountUser",
    "container.clusters.get": "roles/container.admin",
    "container.clusters.create": "roles/container.admin",
    "container.clusters.delete": "roles/container.admin",
    "container.operations.get": "roles/container.admin",
}
_READS = [p for p in ROLES if p.endswith((".get", ".list", ".getIamPolicy"))]
PERMISSIONS: dict[Run, list[str]] = {
    "plan": [p for p in _READS if p != "serviceusage.services.enable"],
    "up": [
        p for p in ROLES if not p.endswith((".delete", ".destroy")) and p != "serviceusage.services.enable"
    ],
    # Key versions are destroyed only with --destroy-keys: the teardown checks that permission itself.
    "down": [
        p
        for p in ROLES
        if not p.endswith((".create", ".actAs", ".destroy")) and p != "serviceusage.services.enable"
    ],
}
ENABLE = "serviceusage.services.enable"
LOGIN_FIX = (
    "run `gcloud auth application-default login`, set GOOGLE_APPLICATION_CREDENTIALS, "
    "or name a GcpCredentials block (--credentials-block NAME, or the run's credentials_block)"
)


@dataclass(frozen=True)
class Check:
    """One preflight row: what was checked, whether it passed, what was found, and what to do."""

    name: str
    passed: bool
    detail: str
    fix: str = ""


@dataclass(frozen=True)
class Preflight:
    checks: tuple[Check, ...]

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def problem(self) -> str:
        """The one line a failed preflight prints (empty when it passed)."""
        failed = next((c for c in self.checks if not c.passed), None)
        return "" if failed is None else f"{failed.name}: {failed.detail}; {failed.fix}"

    def raise_for_problem(self, resource: str) -> None:
        if not self.passed:
            raise PreflightError(self, resource=resource)

    def rows(self) -> list[tuple[str, str, str]]:
        return [(c.name, "ok" if c.passed else "FAILED", c.detail) for c in self.checks]


class PreflightError(LabError):
    """A preflight check failed: nothing was changed. The message is the one line; `checked` the table."""

    def __init__(self, checked: Preflight, *, resource: str | None = None) -> None:
        super().__init__(checked.problem, resource=resource)
        self.checked = checked

    def __reduce__(self) -> tuple[type[PreflightError], tuple[Preflight], dict[str, object]]:
        # Prefect may persist a failed task's exception: keep the table and the resource across pickling.
        return (PreflightError, (self.checked,), {"resource": self.resource})


def _credentials(load: Callable[[], Clients]) -> tuple[Check, Clients | None]:
    host = os.environ.get(EMULATOR_ENV)
    if host:
        return Check("credentials", True, f"emulator at {host}"), load()
    try:
        c = load()
    except Exception as exc:  # noqa: BLE001 - google.auth raises several types; all mean "none usable"
        detail = f"no usable Google credentials ({type(exc).__name__})"
        return Check("credentials", False, detail, LOGIN_FIX), None
    who = getattr(c.credentials, "service_account_email", None) or type(c.credentials).__module__
    return Check("credentials", True, str(who)), c


def _message(exc: BaseException) -> str:
    return str(getattr(exc, "message", "") or exc).splitlines()[0][:200]


def _project(c: Clients, spec: Target) -> Check:
    name = f"projects/{spec.project_id}"
    fix = f"check project_id, or ask for roles/browser on {spec.project_id}"
    try:
        project = calls.get_or_none(lambda: c.projects.get_project(name=name), resource=name)
    except Exception as exc:  # noqa: BLE001 - API errors and credential refresh errors alike
        cause = exc.__cause__ or exc
        if "RefreshError" in type(cause).__name__ or "TransportError" in type(cause).__name__:
            return Check("credentials", False, f"credentials refused: {_message(cause)}", LOGIN_FIX)
        if is_service_disabled(cause):
            # A new project with Resource Manager disabled: Service Usage decides below.
            return Check("project", True, f"{spec.project_id} (Resource Manager API not enabled yet)")
        if is_permission_denied(cause):
            return Check("project", False, f"{spec.project_id} is not visible to the caller", fix)
        return Check("project", False, f"{spec.project_id} cannot be read: {_message(cause)}", fix)
    if project is None:
        return Check("project", False, f"{spec.project_id} does not exist", fix)
    return Check("project", True, f"{spec.project_id} ({project.name})")


def _granted(c: Clients, spec: Target, wanted: list[str]) -> list[str] | None:
    """The permissions the caller holds on the project; None when the endpoint cannot answer."""
    resource = f"projects/{spec.project_id}"
    try:
        answer = calls.get_or_none(
            lambda: c.projects.test_iam_permissions(request={"resource": resource, "permissions": wanted}),
            resource=resource,
        )
    except LabError as exc:
        if is_service_disabled(exc):
            return None
        raise
    return None if answer is None else list(answer.permissions)


def _permissions(c: Clients, spec: Target, run: Run) -> tuple[Check, set[str] | None]:
    wanted = [*PERMISSIONS[run], *([ENABLE] if run == "up" else [])]
    try:
        granted = _granted(c, spec, wanted)
    except LabError as exc:
        return Check("permissions", False, str(exc), "check the project and your credentials"), None
    if granted is None:
        return Check("permissions", True, "not checkable before the APIs are enabled"), None
    missing = [p for p in PERMISSIONS[run] if p not in granted]
    if missing:
        roles = sorted({ROLES[p] for p in missing})
        return Check(
            "permissions",
            False,
            f"missing {', '.join(missing)}",
            f"ask for {', '.join(roles)} on {spec.project_id}",
        ), set(granted)
    return Check("permissions", True, f"{len(PERMISSIONS[run])} permissions held"), set(granted)


def _services(c: Clients, spec: Target, run: Run, granted: set[str] | None) -> Check:
    # The services' states depend on the project alone; a lab named by its identity reads them as the
    # default lab in that project would.
    lab = spec if isinstance(spec, LabSpec) else LabSpec(project_id=spec.project_id)
    try:
        states = services.read(c, lab)
    except LabError as exc:
        cause = exc.__cause__ or exc
        if is_permission_denied(cause):
            return Check(
                "services",
                False,
                f"the services of {spec.project_id} cannot be read",
                f"ask for roles/serviceusage.serviceUsageViewer on {spec.project_id}",
            )
        return Check("services", False, _message(cause), "check the project")
    if not states.served:
        return Check("services", True, "Service Usage not served by this endpoint")
    if not states.disabled:
        return Check("services", True, "all enabled")
    names = ", ".join(states.disabled)
    if run != "up":
        return Check("services", True, f"not enabled: {names}")
    if granted is not None and ENABLE not in granted:
        return Check(
            "services",
            False,
            f"{names} disabled and the caller may not enable them",
            f"ask for roles/serviceusage.serviceUsageAdmin, or run `gcloud services enable "
            f"{' '.join(states.disabled)} --project {spec.project_id}`",
        )
    return Check("services", True, f"will enable {names}")


def run(
    spec: Target,
    run: Run,
    credentials: object | None = None,
    clients: Callable[[], Clients] | None = None,
) -> Preflight:
    """Every check in order, stopping at the first that fails. Read-only."""
    checks: list[Check] = []
    found, c = _credentials(clients or (lambda: Clients.from_env(credentials)))  # type: ignore[arg-type]
    checks.append(found)
    if c is None:
        return Preflight(tuple(checks))
    checks.append(_project(c, spec))
    if not checks[-1].passed:
        return Preflight(tuple(checks))
    allowed, granted = _permissions(c, spec, run)
    checks.append(allowed)
    if not allowed.passed:
        return Preflight(tuple(checks))
    checks.append(_services(c, spec, run, granted))
    return Preflight(tuple(checks))


_every_check = run  # `require` takes a parameter named `run`, like `run` itself


def require(spec: Target, run: Run, credentials: object | None = None) -> Preflight:
    """`run`, raising PreflightError with the first problem's one line when a check fails."""
    checked = _every_check(spec, run, credentials)
    checked.raise_for_problem(f"projects/{spec.project_id}")
    return checked


def markdown(result: Preflight) -> str:
    """The preflight as a Markdown table (the plan flow's artifact), the problem under it."""
    text = "# Preflight\n\n" + table(["check", "result", "detail"], result.rows()) + "\n"
    return text if result.passed else text + f"\n**{result.problem}**\n"


def render(result: Preflight) -> list[str]:
    rows = result.rows()
    w0, w1 = max(len(r[0]) for r in rows), max(len(r[1]) for r in rows)
    return ["Preflight", *(f"  {a:<{w0}}  {b:<{w1}}  {d}" for a, b, d in rows)]
