"""The emulator process: wires services, the gateway, the REST and gRPC servers and the admin API."""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import parse_qs

from emulator import http as rest
from emulator import iam_grpc
from emulator.clock import Clock
from emulator.compute import ComputeService
from emulator.container import ContainerService, server_config_json
from emulator.container.server_config import offer_for
from emulator.errors import invalid, not_found
from emulator.faults import FaultInjector
from emulator.gateway import SERVICE_TITLES, Gateway
from emulator.iam import IamService
from emulator.kms import KmsService
from emulator.requestlog import RequestLog
from emulator.resourcemanager import ResourceManagerService, seed_policy, set_denied_permissions
from emulator.serviceusage import ServiceUsageService, enable_now, seed_services
from emulator.store import PROJECT_DEFAULTS, Backend, Project, public
from emulator.tokens import TokenRegistry, TokenRequestError

__all__ = ["Emulator"]


class Emulator:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        latency_scale: float = 1.0,
        seed: int = 0,
        projects: dict[str, int] | None = None,
        fault_rate: float = 0.0,
        quota_per_minute: int | None = None,
        grpc_port: int = 0,
        kube_factory: Any = None,
        new_projects: str = "today",
        project_defaults: dict[str, str] | None = None,
    ) -> None:
        """`new_projects`: how a project the emulator has not seen starts -- "today" (as Google creates one
        today: APIs disabled, no service agents, a new GKE customer) or "legacy" (APIs enabled, agents
        present, an existing customer that may create clusters without a release channel);
        `project_defaults` overrides it per project ID."""
        self.host = host
        self.port = port
        self.grpc_port = grpc_port
        self.seed = seed
        self.clock = Clock(latency_scale)
        self.log = RequestLog()
        self.faults = FaultInjector(seed=seed, fault_rate=fault_rate, quota_per_minute=quota_per_minute)
        self.backend = Backend(
            self.clock,
            seed=seed,
            projects=projects,
            on_new_project=self._seed_project,
            new_projects=new_projects,
            project_defaults=project_defaults,
        )
        self.tokens = TokenRegistry()
        self.gateway = Gateway(self.backend, self.faults, self.log, self.tokens)
        self.iam = IamService(self.backend)
        self.compute = ComputeService(self.backend)
        self.kms = KmsService(self.backend, self.iam)
        self.crm = ResourceManagerService(self.backend, self.iam)
        self.service_usage = ServiceUsageService(self.backend)
        self.container = ContainerService(
            self.backend,
            self.compute,
            self.kms,
            self.iam,
            self.log.append,
            kube_factory=kube_factory,
            faults=self.faults,
            tokens=self.tokens,
        )
        self._rest: Any = None
        self._grpc: Any = None
        self._started = False
        self._lock = threading.Lock()

    # ---- lifecycle --------------------------------------------------------------------------
    def start(self) -> Emulator:
        with self._lock:
            if self._started:
                return self
            self.backend.create_given()
            self._rest, _ = rest.serve(rest.RestApp(self), self.host, self.port)
            self.port = self._rest.server_address[1]
            self._grpc, self.grpc_port = iam_grpc.serve(self, self.host, self.grpc_port)
            self._started = True
        return self

    def stop(self) -> None:
        with self._lock:
            if not self._started:
                return
            self._started = False
            self._stop_clusters()
            self._rest.shutdown()
            self._rest.server_close()
            self._grpc.stop(grace=None)

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def latency_scale(self) -> float:
        return self.clock.latency_scale

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def grpc_address(self) -> str:
        return f"{self.host}:{self.grpc_port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}"

    def _seed_project(self, project: Project) -> None:
        seed_policy(project)
        seed_services(project)
        self.compute.seed_project(project)

    def _stop_clusters(self) -> None:
        for project in self.backend.all_projects():
            with project.lock:
                kubes = list(project.kube.values())
                project.kube.clear()
            for kube in kubes:
                try:
                    kube.stop()
                except Exception:  # a half-started cluster API must not block shutdown
                    pass

    # ---- admin API --------------------------------------------------------------------------
    def info(self) -> dict[str, Any]:
        config = server_config_json(offer_for(self.backend.new_projects == "legacy"))
        return {
            "grpc_address": self.grpc_address,
            "rest_address": self.address,
            "latency_scale": self.clock.latency_scale,
            "seed": self.seed,
            "fault_rate": self.faults.fault_rate,
            "quota_per_minute": self.faults.quota_per_minute,
            "projects": {p.id: p.number for p in self.backend.all_projects()},
            "new_projects": self.backend.new_projects,
            "versions": {
                "default": config["defaultClusterVersion"],
                "validMasterVersions": config["validMasterVersions"],
                "validNodeVersions": config["validNodeVersions"],
                "channels": {c["channel"]: c["validVersions"] for c in config["channels"]},
            },
        }

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for project in self.backend.all_projects():
            with project.locked():
                out[project.id] = {
                    "number": project.number,
                    "networks": [public(n) for n in project.networks.values()],
                    "subnetworks": [public(s) for s in project.subnetworks.values()],
                    "firewalls": [public(f) for f in project.firewalls.values()],
                    "routes": [public(r) for r in project.routes.values()],
                    "routers": [public(r) for r in project.routers.values()],
                    "instances": [public(i) for i in project.instances.values()],
                    "networkResources": [public(r) for r in project.network_resources.values()],
                    "operations": [public(o) for o in project.operations.values()],
                    "keyRings": [dict(r) for r in project.key_rings.values()],
                    "cryptoKeys": [self.kms.key_json(project, k) for k in project.crypto_keys.values()],
                    "cryptoKeyVersions": [dict(v) for v in project.key_versions.values()],
                    "serviceAccounts": [public(a) for a in project.service_accounts.values()],
                    "iamPolicy": project.policy.to_json(),
                    "keyIamPolicies": {k: p.to_json() for k, p in project.key_policies.items()},
                    "clusters": [public(c) for c in project.clusters.values()],
                    "clusterOperations": [public(o) for o in project.cluster_ops.values()],
                }
                kube = dict(project.kube)
            states = {}
            for (_, name), cluster in kube.items():
                try:
                    states[name] = cluster.to_state()
                except Exception as exc:  # a cluster API still starting has no state yet
                    states[name] = {"error": str(exc)}
            out[project.id]["kubernetes"] = states
        return {"projects": json.loads(json.dumps(out, default=str))}

    def reset(self) -> None:
        self._stop_clusters()
        self.backend.reset()
        self.faults.reset()
        self.log.clear()

    def project_quotas(self, project_id: str, body: dict[str, Any] | None) -> dict[str, Any]:
        """The admin route: set a project's regional quota limits (POST), or read them (GET)."""
        project = self.backend.project(project_id)
        with project.locked():
            if body is not None:
                self.compute.set_quota_limits(project, body)
            return {"limits": {region or "*": dict(v) for region, v in project.quota_limits.items()}}

    def project_settings(self, project_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Admin switches for one project: `defaults` ("today" | "legacy") for a project not created yet,
        `servicesEnabled` (every lab API on, agents created), `existingCustomer` (may use no channel) and
        `deniedPermissions` (the permissions the caller lacks on the project: Resource Manager, Service
        Usage and KMS check them)."""
        if not isinstance(body, dict):
            raise invalid("settings must be an object")
        defaults = body.get("defaults")
        if defaults is not None:
            if defaults not in PROJECT_DEFAULTS:
                raise invalid(f"defaults must be one of {', '.join(PROJECT_DEFAULTS)}")
            self.backend.project_defaults[project_id] = defaults
        project = self.backend.project(project_id)
        with project.locked():
            if body.get("servicesEnabled"):
                enable_now(project, list(SERVICE_TITLES), self.clock.now())
            if "existingCustomer" in body:
                project.existing_customer = bool(body["existingCustomer"])
            if "deniedPermissions" in body:
                set_denied_permissions(project, body["deniedPermissions"])
            return {
                "project": project.id,
                "number": project.number,
                "defaults": project.defaults,
                "enabledServices": sorted(project.enabled_services),
                "serviceAgents": sorted(project.agents),
                "existingCustomer": project.existing_customer,
                "deniedPermissions": sorted(project.denied_permissions),
            }

    def add_instance(self, project_id: str, zone: str, body: dict[str, Any]) -> dict[str, Any]:
        project = self.backend.project(project_id)
        with project.locked():
            return public(self.compute.add_instance(project, zone, body))

    def seed_network_user(
        self, project_id: str, scope: str, collection: str, body: dict[str, Any]
    ) -> dict[str, Any]:
        project = self.backend.project(project_id)
        return self.compute.seed_network_user(project, scope, collection, body)

    _KINDS = {
        "networks": "networks",
        "subnetworks": "subnetworks",
        "firewalls": "firewalls",
        "routes": "routes",
        "routers": "routers",
        "instances": "instances",
        "clusters": "clusters",
        "keyRings": "key_rings",
        "cryptoKeys": "crypto_keys",
        "cryptoKeyVersions": "key_versions",
        "serviceAccounts": "service_accounts",
    }

    def patch(self, body: dict[str, Any]) -> dict[str, Any]:
        """Merge `fields` into a stored resource (tests age a cluster or corrupt a label this way)."""
        project = self.backend.project(body["project"])
        kind, name, fields = body["kind"], body["name"], body.get("fields") or {}
        attr = self._KINDS.get(kind.rstrip("s") + "s") or self._KINDS.get(kind)
        if attr is None:
            raise invalid(f"Unknown kind '{kind}'; known: {', '.join(self._KINDS)}")
        if not isinstance(fields, dict):
            raise invalid("fields must be an object")
        with project.locked():
            store: dict[Any, dict[str, Any]] = getattr(project, attr)
            for key, res in store.items():
                candidates = {
                    res.get("name"),
                    res.get("email"),
                    "/".join(key) if isinstance(key, tuple) else key,
                }
                if name in candidates:
                    res.update(fields)
                    return public(res)
        raise not_found(f"No {kind} named '{name}' in project {project.id}")

    def issue_token(self, body: Any) -> tuple[int, dict[str, Any]]:
        """OAuth2 token endpoint (JWT-bearer and refresh-token grants) so credentials work offline; the
        tokens it issues are the only ones the clusters' Kubernetes APIs accept."""
        if isinstance(body, str):
            form = {k: v[-1] for k, v in parse_qs(body).items()}
        elif isinstance(body, dict):
            form = body
        else:
            form = {}
        try:
            return 200, self.tokens.grant(form)
        except TokenRequestError as exc:
            return 400, exc.body


def serve_until_signalled(emu: Emulator, announce: Any = None) -> None:
    """Start `emu`, print the address line once ready, serve until SIGINT/SIGTERM, then stop."""
    import signal
    import sys

    out = announce or sys.stdout
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    emu.start()
    try:
        print(f"GKE_LAB_EMULATOR_HOST={emu.address}", file=out, flush=True)
        print(
            f"gRPC IAM on {emu.grpc_address}; latency scale {emu.latency_scale}", file=sys.stderr, flush=True
        )
        while not stop.wait(0.5):
            pass
    finally:
        emu.stop()
