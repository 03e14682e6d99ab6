"""Per-project state, the scheduled-event queue and IAM policies with etags and propagation.

Time moves lazily: every access to a project first runs the events that are due (operation
completions, cluster phases), under the project's lock, so concurrent requests see one history.
"""

from __future__ import annotations

import base64
import hashlib
import heapq
import itertools
import random
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from emulator.clock import Clock
from emulator.errors import aborted, invalid, not_found

PROJECT_ID_RE = re.compile(r"^[a-z][-a-z0-9]{2,28}[a-z0-9]$")

# How a project the emulator has not seen starts out:
# "today": as a project created today (the lab's APIs disabled, service agents missing, a new GKE customer
#   that must use a release channel);
# "legacy": as an old project (APIs enabled, agents present, an existing customer that may still create
#   clusters without a channel).
PROJECT_DEFAULTS = ("today", "legacy")


def public(resource: dict[str, Any]) -> dict[str, Any]:
    """A stored resource without the emulator's private `_` fields."""
    return {k: v for k, v in resource.items() if not k.startswith("_")}


def project_number_for(project_id: str) -> int:
    """A stable 12-digit project number derived from the ID (so fleets of labs get distinct ones)."""
    h = int.from_bytes(hashlib.sha256(project_id.encode()).digest()[:8], "big")
    return 100_000_000_000 + h % 900_000_000_000


class Policy:
    """An IAM policy with an etag and, per binding, the time it becomes effective."""

    def __init__(self, resource: str, bindings: list[dict[str, Any]] | None = None, now: float = 0.0) -> None:
        self.resource = resource
        self.version = 1
        self.bindings: list[dict[str, Any]] = [
            {"role": b["role"], "members": list(b["members"])} for b in bindings or []
        ]
        self.revision = 0
        # (role, member) -> time the grant takes effect for dependent checks
        self.effective: dict[tuple[str, str], float] = {
            (b["role"], m): now for b in self.bindings for m in b["members"]
        }

    @property
    def etag(self) -> str:
        digest = hashlib.sha256(f"{self.resource}#{self.revision}".encode()).digest()
        return base64.b64encode(b"\x07\x05" + digest[:6]).decode()

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"version": self.version, "etag": self.etag}
        if self.bindings:
            out["bindings"] = [dict(b) for b in self.bindings]
        return out

    def read(self, requested_version: Any) -> dict[str, Any]:
        """getIamPolicy as Google answers it for `options.requestedPolicyVersion`.

        google/iam/v1/policy.proto ("version"): valid values are 0, 1 and 3, others are rejected; a policy
        with conditional bindings read at version < 3 comes back as version 1 with each conditional role
        renamed `<role>_withcond_<hash>` and its condition left out
        (https://cloud.google.com/iam/docs/policies#specifying-version-get).
        """
        try:
            requested = int(requested_version or 0)
        except (TypeError, ValueError):
            requested = -1
        if requested not in (0, 1, 3):
            raise invalid(
                f"Invalid requested policy version {requested_version}. Valid values are 0, 1 and 3."
            )
        out = self.to_json()
        if requested == 3 or not any("condition" in b for b in self.bindings):
            return out
        out["version"] = 1
        out["bindings"] = [
            {
                "role": b["role"]
                + "_withcond_"
                + hashlib.sha256(repr(b["condition"]).encode()).hexdigest()[:20],
                "members": list(b["members"]),
            }
            if "condition" in b
            else dict(b)
            for b in self.bindings
        ]
        return out

    def set(
        self,
        policy: dict[str, Any],
        *,
        now: float,
        delay: float,
        check_member: Callable[[str], None],
    ) -> dict[str, Any]:
        etag = policy.get("etag")
        if etag and etag != self.etag:
            raise aborted(
                "There were concurrent policy changes. Please retry the whole read-modify-write with "
                "exponential backoff."
            )
        requested = int(policy.get("version") or 1)
        # policy.proto: any operation that affects conditional role bindings must specify version 3
        # (adding one, or writing a policy that has them) -- else INVALID_ARGUMENT
        conditional = any(b.get("condition") for b in policy.get("bindings") or [])
        had_conditions = any("condition" in b for b in self.bindings)
        if requested < 3 and (conditional or had_conditions):
            raise invalid(
                "Conditional role bindings require policy version 3; set policy.version to 3 (and read the "
                "policy with options.requestedPolicyVersion=3) before modifying it."
            )
        bindings: list[dict[str, Any]] = []
        for b in policy.get("bindings") or []:
            role = b.get("role") or ""
            if not role.startswith(("roles/", "projects/", "organizations/")):
                raise invalid(f"Role ({role}) does not exist in the resource's hierarchy.")
            members = list(dict.fromkeys(b.get("members") or []))
            for m in members:
                check_member(m)
            if members:
                entry: dict[str, Any] = {"role": role, "members": members}
                if b.get("condition"):
                    entry["condition"] = b["condition"]
                bindings.append(entry)
        effective: dict[tuple[str, str], float] = {}
        for b in bindings:
            for m in b["members"]:
                effective[(b["role"], m)] = self.effective.get((b["role"], m), now + delay)
        self.bindings = bindings
        self.effective = effective
        self.version = 3 if any("condition" in b for b in bindings) else max(1, min(requested, 3))
        self.revision += 1
        return self.to_json()

    def grant(self, role: str, member: str, now: float) -> None:
        """Google's own grant (a service agent's role when its API is enabled): effective at once."""
        if self.has(role, member):
            return
        binding = next((b for b in self.bindings if b["role"] == role and "condition" not in b), None)
        if binding is None:
            self.bindings.append({"role": role, "members": [member]})
        else:
            binding["members"].append(member)
        self.effective[(role, member)] = now
        self.revision += 1

    def is_effective(self, role: str, member: str, now: float) -> bool:
        t = self.effective.get((role, member))
        return t is not None and t <= now

    def has(self, role: str, member: str) -> bool:
        return (role, member) in self.effective


class Project:
    def __init__(self, backend: Backend, project_id: str, number: int, defaults: str = "today") -> None:
        self.backend = backend
        self.id = project_id
        self.number = number
        legacy = defaults == "legacy"
        # Service Usage: service name -> enabled; a new project has only Service Usage itself on
        self.enabled_services: set[str] = set()
        # Google-managed service agents that exist (created when their API is enabled)
        self.agents: set[str] = set()
        # GKE: an "existing customer" may still create clusters with no release channel
        self.existing_customer = legacy
        # permissions the emulator's caller lacks on this project (none: it owns the project); set through
        # the admin API to model a caller with fewer roles (emulator/resourcemanager.py)
        self.denied_permissions: set[str] = set()
        # a legacy project also keeps the emulator's earlier offer of versions, schema 1 image pulls on
        # every node and GKE leftovers that go at once with their cluster
        self.legacy = legacy
        self.defaults = "legacy" if legacy else "today"
        self.service_operations: dict[str, dict[str, Any]] = {}
        # subnetwork link -> the deleted cluster whose GKE leftovers (rules, peering) still linger
        self.lingering: dict[str, str] = {}
        # regional quota limits set through the admin API: region ("" for every region) -> metric -> limit
        self.quota_limits: dict[str, dict[str, float]] = {}
        self.lock = threading.RLock()
        self.create_time = backend.clock.now()
        # compute (REST JSON resources, keyed by name / (scope, name))
        self.networks: dict[str, dict[str, Any]] = {}
        self.subnetworks: dict[tuple[str, str], dict[str, Any]] = {}
        self.firewalls: dict[str, dict[str, Any]] = {}
        self.routes: dict[str, dict[str, Any]] = {}
        self.routers: dict[tuple[str, str], dict[str, Any]] = {}
        self.instances: dict[tuple[str, str], dict[str, Any]] = {}
        # forwarding rules, addresses, VPN gateways and tunnels: (collection, region or "global", name)
        self.network_resources: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.operations: dict[str, dict[str, Any]] = {}
        # KMS, keyed by full resource name
        self.key_rings: dict[str, dict[str, Any]] = {}
        self.crypto_keys: dict[str, dict[str, Any]] = {}
        self.key_versions: dict[str, dict[str, Any]] = {}
        self.key_policies: dict[str, Policy] = {}
        # IAM
        self.service_accounts: dict[str, dict[str, Any]] = {}
        self.policy = Policy(f"projects/{project_id}")
        # GKE
        self.clusters: dict[tuple[str, str], dict[str, Any]] = {}
        self.cluster_ops: dict[str, dict[str, Any]] = {}
        self.kube: dict[tuple[str, str], Any] = {}
        self._events: list[tuple[float, int, Callable[[], None]]] = []
        self.event_time: float | None = None
        self._seq = itertools.count()

    # ---- time -------------------------------------------------------------------------------
    def schedule(self, at: float, fn: Callable[[], None]) -> None:
        heapq.heappush(self._events, (at, next(self._seq), fn))

    def advance(self) -> None:
        now = self.backend.clock.now()
        while self._events and self._events[0][0] <= now:
            at, _, fn = heapq.heappop(self._events)
            self.event_time = at  # effects are dated when they were due, not when first observed
            try:
                fn()
            finally:
                self.event_time = None

    @contextmanager
    def locked(self) -> Iterator[Project]:
        with self.lock:
            self.advance()
            yield self

    # ---- identities -------------------------------------------------------------------------
    @property
    def compute_agent(self) -> str:
        return f"service-{self.number}@compute-system.iam.gserviceaccount.com"

    @property
    def gke_agent(self) -> str:
        return f"service-{self.number}@container-engine-robot.iam.gserviceaccount.com"

    @property
    def compute_default_sa(self) -> str:
        return f"{self.number}-compute@developer.gserviceaccount.com"

    def google_managed_accounts(self) -> set[str]:
        """Google-managed accounts that exist now: the service agents only once Google created them."""
        accounts = {f"{self.number}@cloudservices.gserviceaccount.com"} | self.agents
        if "compute.googleapis.com" in self.enabled_services:
            accounts.add(self.compute_default_sa)
        return accounts

    def new_id(self) -> str:
        return self.backend.new_id()


class Backend:
    """All projects plus the shared clock, id source and kubernetes factory."""

    def __init__(
        self,
        clock: Clock,
        *,
        seed: int = 0,
        projects: dict[str, int] | None = None,
        on_new_project: Callable[[Project], None] | None = None,
        new_projects: str = "today",
        project_defaults: dict[str, str] | None = None,
    ) -> None:
        for mode in [new_projects, *(project_defaults or {}).values()]:
            if mode not in PROJECT_DEFAULTS:
                raise ValueError(
                    f"project defaults must be one of {', '.join(PROJECT_DEFAULTS)}, not {mode!r}"
                )
        self.new_projects = new_projects
        # per-project overrides of `new_projects` (project ID -> "today" | "legacy")
        self.project_defaults = dict(project_defaults or {})
        self.clock = clock
        self.seed = seed
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self._given = dict(projects or {})
        self.projects: dict[str, Project] = {}
        self.on_new_project = on_new_project
        self.on_reset: list[Callable[[], None]] = []

    def new_id(self) -> str:
        with self._lock:
            return str(self._rng.getrandbits(62) + (1 << 62))

    def token_hex(self, n: int) -> str:
        with self._lock:
            return "".join(self._rng.choice("0123456789abcdef") for _ in range(n))

    def create_given(self) -> None:
        for pid in self._given:
            self.project(pid)

    def project(self, ref: str) -> Project:
        """The project named by ID or number; an unknown ID is created like a fresh project."""
        with self._lock:
            if ref in self.projects:
                return self.projects[ref]
            if ref.isdigit():
                for p in self.projects.values():
                    if str(p.number) == ref:
                        return p
                for pid, num in self._given.items():
                    if str(num) == ref:
                        return self.project(pid)
                raise not_found(f"Project '{ref}' not found or permission denied.")
            if not PROJECT_ID_RE.match(ref):
                raise invalid(
                    f"Invalid project ID '{ref}': 6 to 30 lowercase letters, digits or hyphens, "
                    "starting with a letter."
                    if len(ref) >= 4
                    else f"Invalid project ID '{ref}'."
                )
            number = self._given.get(ref) or project_number_for(ref)
            project = Project(self, ref, number, self.project_defaults.get(ref, self.new_projects))
            self.projects[ref] = project
            if self.on_new_project:
                with project.lock:
                    self.on_new_project(project)
            return project

    def find_project(self, ref: str) -> Project | None:
        try:
            return self.project(ref)
        except Exception:
            return None

    def all_projects(self) -> list[Project]:
        with self._lock:
            return list(self.projects.values())

    def reset(self) -> None:
        with self._lock:
            for fn in self.on_reset:
                fn()
            self.projects = {}
            self._rng = random.Random(self.seed)
            self.create_given()
