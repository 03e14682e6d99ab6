"""The emulator as every suite uses it: fixtures that start it in-process on free ports and point the
clients at it, the lab's constants, the one client of its admin API, and the lab spec tests provision."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from emulator.server import Emulator
from gke_lab.naming import DEFAULT_LAB
from gke_lab.overrides import apply_overrides
from gke_lab.spec import LabSpec

# The lab project of the source article, and a project number for it (any fixed number will do).
PROJECT = "gke-detail"
NUMBER = 415104041262
REGION = "us-west1"
# Tests reach the emulated control plane from 127.0.0.1: it must be an authorized network.
LOCAL_NETWORK = "cluster.master_authorized_networks=[{cidr: 127.0.0.1/32, name: local}]"
# Small latencies keep the suite fast; the operations keep their order and their races at any scale.
SCALE = 0.01
DEFAULT_SCALE = SCALE  # the earlier name, kept for files that import it


def lab_spec(lab: str = DEFAULT_LAB, *extra: str, project: str = PROJECT) -> LabSpec:
    """The lab `lab` in `project`, reachable from this machine, with the `extra` overrides. Every lab but
    the default derives its own resource names (gke_lab.naming): tests name no resource by hand."""
    return apply_overrides(None, [f"project_id={project}", f"lab={lab}", LOCAL_NETWORK, *extra])


@dataclass(frozen=True)
class EmulatorAdmin:
    """The emulator's admin API (`/_emulator/...`) at `url`: its state, its request log, and the changes
    tests make behind the product's back. Works for an in-process emulator and for one in a stack."""

    url: str

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """`method /_emulator/path`; raises on an error status; the JSON answer, or None when empty."""
        resp = httpx.request(method, f"{self.url}/_emulator/{path}", timeout=60, **kwargs)
        resp.raise_for_status()
        return resp.json() if resp.content else None

    def state(self) -> dict[str, Any]:
        return self.call("GET", "state")

    def project_state(self, project: str = PROJECT) -> dict[str, Any]:
        return self.state()["projects"][project]

    def requests(self, since: int = 0) -> list[dict[str, Any]]:
        """The request log after sequence number `since`, oldest first."""
        return self.call("GET", "requests", params={"since": since})

    def last_seq(self) -> int:
        return max((entry["seq"] for entry in self.requests()), default=0)

    def mutations_since(self, seq: int) -> list[dict[str, Any]]:
        return [entry for entry in self.requests(since=seq) if entry["mutating"]]

    def project_settings(self, project: str, settings: dict[str, Any]) -> dict[str, Any]:
        return self.call("POST", f"projects/{project}/settings", json=settings)

    def configure_faults(self, config: dict[str, Any]) -> dict[str, Any]:
        """Inject faults (`fault_rate`, `rules`: see emulator/faults.py); they last until cleared."""
        return self.call("POST", "faults", json=config)

    def clear_faults(self) -> dict[str, Any]:
        return self.call("DELETE", "faults")

    def user_token(self, email: str) -> str:
        """A named user's access token (their `gcloud auth print-access-token`): the subject is `email`."""
        return self.call("POST", "identities/token", json={"email": email})["access_token"]

    def set_quotas(self, project: str, limits: dict[str, float], region: str = REGION) -> dict[str, Any]:
        """Set `project`'s regional quota limits in `region` (metric -> limit)."""
        return self.call("POST", f"projects/{project}/quotas", json={"limits": limits, "region": region})

    def patch(self, project: str, kind: str, name: str, fields: dict[str, Any]) -> dict[str, Any]:
        """Set `fields` on a resource as if someone had changed it by hand."""
        return self.call(
            "POST", "patch", json={"project": project, "kind": kind, "name": name, "fields": fields}
        )


@pytest.fixture
def emulator_factory(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Emulator]]:
    """`emulator_factory(**kwargs)` starts an Emulator (latency scale 0.01 unless given) and sets
    GKE_LAB_EMULATOR_HOST to the last one started; all are stopped after the test."""
    started: list[Emulator] = []

    def make(*, services_enabled: bool = True, **kwargs: Any) -> Emulator:
        """`services_enabled=False` with the default new_projects="today": a project exactly as Google
        creates one (APIs disabled, agents missing), which the product's first step enables."""
        kwargs.setdefault("latency_scale", SCALE)
        kwargs.setdefault("port", 0)
        kwargs.setdefault("new_projects", "today")
        emu = Emulator(**kwargs).start()
        started.append(emu)
        if services_enabled and kwargs["new_projects"] == "today":
            # Today's versions and rules, with the lab's APIs already on (an existing project).
            for project in {*(kwargs.get("projects") or {}), PROJECT}:
                emu.project_settings(project, {"servicesEnabled": True})
        monkeypatch.setenv("GKE_LAB_EMULATOR_HOST", emu.address)
        return emu

    yield make
    for emu in reversed(started):
        emu.stop()


@pytest.fixture
def emulator(emulator_factory: Callable[..., Emulator]) -> Emulator:
    """A fresh emulator at latency scale 0.01 with GKE_LAB_EMULATOR_HOST set for the test."""
    return emulator_factory()


@pytest.fixture
def lab_emulator(emulator_factory: Callable[..., Emulator]) -> Emulator:
    """A fresh emulator where the lab project exists with project number NUMBER, its APIs on."""
    return emulator_factory(projects={PROJECT: NUMBER})


@pytest.fixture
def lab_admin(lab_emulator: Emulator) -> EmulatorAdmin:
    """The admin API of `lab_emulator` (the same emulator when a test asks for both)."""
    return EmulatorAdmin(lab_emulator.url)
