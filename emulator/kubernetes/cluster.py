"""KubeCluster: one cluster's API server and the state behind it."""

from __future__ import annotations

import copy
import hashlib
import ipaddress
import json
import random
import threading
import time
import uuid
from collections.abc import Callable
from urllib.parse import parse_qs, unquote

from emulator.faults import Fault
from emulator.kube_server import KubeHTTPServer, Request, Response, status_error
from emulator.kubernetes.authz import Access, Attributes, attributes, forbidden, unauthorized
from emulator.kubernetes.bootstrap import _Bootstrap
from emulator.kubernetes.deployments import _Deployments
from emulator.kubernetes.endpoints import _Endpoints
from emulator.kubernetes.errors import BadRequest, KubeApiError
from emulator.kubernetes.events import _Events
from emulator.kubernetes.namespaces import _Namespaces
from emulator.kubernetes.nodes import _Nodes
from emulator.kubernetes.objects import DEFAULT_VERSION, KINDS, RBAC, _Objects
from emulator.kubernetes.patches import json_merge_patch, json_patch, strategic_merge_patch
from emulator.kubernetes.pods import _PodRun, _Pods
from emulator.kubernetes.proxy import _Proxy
from emulator.kubernetes.rbac import _Rbac
from emulator.kubernetes.rollout import _Rollouts
from emulator.kubernetes.routes import _Routes
from emulator.kubernetes.services import _Services
from emulator.kubernetes.verbs import _Verbs
from emulator.kubernetes.watch import _Watches
from emulator.tls import make_cluster_tls


class KubeCluster(
    _Routes,
    _Verbs,
    _Watches,
    _Events,
    _Namespaces,
    _Nodes,
    _Bootstrap,
    _Deployments,
    _Rollouts,
    _Pods,
    _Services,
    _Endpoints,
    _Proxy,
    _Rbac,
    _Objects,
):
    """One cluster's Kubernetes API: a TLS server plus the objects and controllers behind it.

    Each mixin holds one concern's rules; they share the state set up here (``_store``, ``_pods_rt``, ...)
    and are only ever called with ``_lock`` held.
    """

    def __init__(
        self,
        *,
        project: str,
        location: str,
        name: str,
        nodes: list[dict],
        pod_cidr: str,
        service_cidr: str,
        authorized_cidrs: list[str] | None,
        private_nodes: bool,
        has_egress: Callable[[], bool],
        delay: Callable[[str], float],
        log: Callable[[dict], None],
        on_load_balancer: Callable[[str, str, list[dict]], None],
        on_load_balancer_deleted: Callable[[str, str], None],
        host: str = "127.0.0.1",
        version: str = DEFAULT_VERSION,
        master_ipv4_cidr: str | None = None,
        machine_type: str = "e2-medium",
        node_pool: str = "default-pool",
        clock: Callable[[], float] = time.monotonic,
        seed: int | None = None,
        latency_scale: float | None = None,
        fault: Callable[[str, str], Fault | int | None] | None = None,
        lost_response: Callable[[str, str, int], Fault | None] | None = None,
        refuses_schema1: bool = False,
        authenticate: Callable[[str], bool] | None = None,
        access: Callable[[str], Access | None] | None = None,
    ) -> None:
        self.project, self.location, self.name = project, location, name
        self.private_nodes = private_nodes
        self.version = version
        # the nodes' containerd refuses Docker schema 1 images (containerd 2, GKE 1.33+)
        self.refuses_schema1 = refuses_schema1
        self._host = host
        self._has_egress = has_egress
        self._delay = delay
        self._log = log
        self._on_lb = on_load_balancer
        self._on_lb_deleted = on_load_balancer_deleted
        self._clock = clock
        self._mono0, self._wall0 = clock(), time.time()
        self._lock = threading.RLock()
        self._rv = 1000
        self._egress = False
        if seed is None:
            seed = int.from_bytes(hashlib.sha256(f"{project}/{location}/{name}".encode()).digest()[:8], "big")
        self._rng = random.Random(seed)
        self._authorized = (
            None
            if authorized_cidrs is None
            else [ipaddress.ip_network(c, strict=False) for c in authorized_cidrs]
        )
        self._pod_net = ipaddress.ip_network(pod_cidr, strict=False)
        self._svc_net = ipaddress.ip_network(service_cidr, strict=False)
        self._master_net = ipaddress.ip_network(master_ipv4_cidr, strict=False) if master_ipv4_cidr else None
        self._machine_type, self._node_pool = machine_type, node_pool
        # store[(group, resource)][(namespace, name)] = object
        self._store: dict[tuple[str, str], dict[tuple[str, str], dict]] = {k: {} for k in KINDS}
        self._pods_rt: dict[tuple[str, str], _PodRun] = {}
        self._progress_mark: dict[tuple[str, str, str], tuple[float, object]] = {}
        self._latency_scale = latency_scale
        self._fault = fault
        self._lost_response = lost_response
        # Which bearer tokens the API server accepts (the emulator's token registry); None: any.
        self._authenticate = authenticate
        # Who a bearer token stands for and its IAM grants (GKE: IAM, then RBAC); None: every authenticated
        # request is allowed (a cluster built on its own, outside a project)
        self._access = access
        self._tombstones: list[tuple[int, tuple[str, str], tuple[str, str], dict]] = []
        self._lb_ready: dict[tuple[str, str], float] = {}
        self._ns_gone: dict[str, float] = {}
        self._node_ranges: dict[str, ipaddress.IPv4Network] = {}
        self._used_ips: set[str] = set()
        self._used_cluster_ips: set[str] = set()
        self._used_node_ports: set[int] = set()
        self._server: KubeHTTPServer | None = None
        self._life_lock = threading.Lock()
        self._stopped = False
        self.endpoint = ""
        self._tls = make_cluster_tls(str(uuid.UUID(int=self._rng.getrandbits(128), version=4)))
        self.ca_certificate_b64 = self._tls.ca_b64
        self._bootstrap(nodes)

    def start(self) -> None:
        # start() may run on a background thread while stop() races it (a cluster deleted while booting).
        with self._life_lock:
            if self._stopped or self._server is not None:
                return
            server = KubeHTTPServer(
                host=self._host,
                port=0,
                ssl_context=self._tls.server_context(),
                allow_ip=self._allow_ip,
                app=self._app,
                log=self._log_entry,
                authenticate=self._authenticate,
            )
            server.start()
            self._server = server
            self.endpoint = f"{self._host}:{server.port}"

    def stop(self) -> None:
        with self._life_lock:
            self._stopped = True
            server, self._server = self._server, None
        if server is not None:
            server.stop()

    @property
    def ca_pem(self) -> bytes:
        return self._tls.ca_pem

    def set_authorized_cidrs(self, cidrs: list[str] | None) -> None:
        """Follow a cluster update of master authorized networks (None = disabled)."""
        nets = None if cidrs is None else [ipaddress.ip_network(c, strict=False) for c in cidrs]
        with self._lock:
            self._authorized = nets

    def to_state(self) -> dict:
        with self._lock:
            self._refresh(self._egress)
            out: dict = {}
            for (_group, resource), objs in self._store.items():
                out[resource] = [copy.deepcopy(o) for o in objs.values()]
            return out

    def load_balancer_services(self) -> list[tuple[str, str]]:
        with self._lock:
            return [
                (ns, n)
                for (ns, n), svc in self._store[("", "services")].items()
                if svc["spec"].get("type") == "LoadBalancer"
            ]

    def _allow_ip(self, ip: str) -> bool:
        nets = self._authorized
        if nets is None:
            return True
        addr = ipaddress.ip_address(ip)
        return any(addr in n for n in nets if n.version == addr.version)

    def _log_entry(self, entry: dict) -> None:
        entry = dict(entry, project=self.project, cluster=self.name, location=self.location)
        self._log(entry)

    def _fault_for(self, req: Request) -> Fault | None:
        """The scripted fault that refuses this request before serving (a bare status, or a Fault)."""
        if self._fault is None:
            return None
        try:
            fault = self._fault(req.method, req.path)
        except Exception:
            return None
        if not fault:
            return None
        return fault if isinstance(fault, Fault) else Fault(int(fault))

    def _lost_for(self, req: Request, served: int) -> Fault | None:
        """Whether the answer of this served request is lost (a scripted lost response)."""
        if self._lost_response is None:
            return None
        try:
            return self._lost_response(req.method, req.path, served)
        except Exception:
            return None

    @staticmethod
    def _fault_response(status: int) -> Response:
        """A fault answered the way the apiserver sheds load."""
        if status == 429:
            resp = status_error(
                429, "TooManyRequests", "Too many requests, please try again later.", {"retryAfterSeconds": 1}
            )
            resp.headers.append(("Retry-After", "1"))
            return resp
        if status == 503:
            return status_error(
                503, "ServiceUnavailable", "the server is currently unable to handle the request"
            )
        if status == 500:
            return status_error(500, "InternalError", "Internal error occurred: injected fault")
        return status_error(status, "Unknown", f"injected fault (HTTP {status})")

    def _control_plane_ip(self) -> str | None:
        """The control plane's private address (the second of the master range), when it has one."""
        return str(self._master_net.network_address + 2) if self._master_net is not None else None

    def _egress_now(self) -> bool:
        """Ask the core whether the nodes have egress; call outside our lock (the core may hold its own
        lock while calling us)."""
        try:
            return bool(self._has_egress())
        except Exception:
            return False

    def _app(self, req: Request) -> Response:
        fault = self._fault_for(req)
        if fault is not None:
            return self._fault_response(fault.status)
        resp = self._serve(req)
        fault = self._lost_for(req, resp.status)
        if fault is not None:
            # Served, then the answer is lost (a timeout, a proxy failing after the apiserver committed).
            lost = self._fault_response(fault.status)
            lost.drop, lost.served = fault.drop, resp.status
            return lost
        return resp

    def _authorization(self, req: Request) -> tuple[Access | None, Response | None, bool]:
        """(who, a refusal, whether IAM alone allows the request); asked outside our lock, as the project's
        IAM policy has its own. No access model (a cluster on its own): everyone allowed."""
        if self._access is None:
            return None, None, True
        if "authorization" not in req.headers:  # anonymous: the public paths only, checked by the server
            return None, None, True
        _, _, token = req.headers["authorization"].partition(" ")
        try:
            access = self._access(token.strip())
        except Exception:  # a broken check refuses, never lets a request through
            access = None
        if access is None:  # e.g. the token expired since the server checked it
            return None, unauthorized(), False
        # GKE authenticates a Google account only with container.clusters.get in the cluster's project
        if not access.iam("container.clusters.get"):
            return access, unauthorized(), False
        query = {k: v[-1] for k, v in parse_qs(req.query, keep_blank_values=True).items()}
        attrs = attributes(req.method, unquote(req.path), query)
        if attrs is None:  # discovery, /version: system:discovery is bound to every authenticated user
            return access, None, True
        return access, None, access.iam(attrs.iam_permission)

    def _rbac_refusal(self, req: Request, access: Access) -> Response | None:
        """RBAC's answer for a request IAM did not allow (called with our lock held)."""
        query = {k: v[-1] for k, v in parse_qs(req.query, keep_blank_values=True).items()}
        attrs = attributes(req.method, unquote(req.path), query)
        if attrs is None:
            return None
        if not self._rbac_allows(access.user, access.groups, attrs):
            return forbidden(access.user, attrs)
        if attrs.group == RBAC and attrs.verb in ("create", "update", "patch"):
            try:
                body = json.loads(req.body.decode() or "{}")
                if attrs.verb == "patch":  # judged on the object the patch would make
                    body = self._patched(req, attrs, body)
            except (UnicodeDecodeError, ValueError, BadRequest):
                return None  # the verb answers the malformed body
            if isinstance(body, dict) and self._rbac_escalation(access.user, access.groups, attrs, body):
                return forbidden(access.user, attrs)
        return None

    def _patched(self, req: Request, attrs: Attributes, patch: object) -> object:
        current = self._store[(attrs.group, attrs.resource)].get((attrs.namespace, attrs.name))
        if current is None:
            return None  # the verb answers 404
        ctype = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
        apply = {
            "application/json-patch+json": json_patch,
            "application/merge-patch+json": json_merge_patch,
            "application/strategic-merge-patch+json": strategic_merge_patch,
        }.get(ctype)
        return apply(copy.deepcopy(current), patch) if apply is not None else None

    def _serve(self, req: Request) -> Response:
        access, refusal, iam_allows = self._authorization(req)
        if refusal is not None:
            return refusal
        egress = self._egress_now()
        callbacks: list[Callable[[], None]] = []
        with self._lock:
            self._egress = egress
            self._refresh(egress)
            try:
                denied = None if iam_allows or access is None else self._rbac_refusal(req, access)
                resp = denied if denied is not None else self._route(req, callbacks)
            except KubeApiError as err:
                resp = err.response
            except BadRequest as err:
                resp = status_error(400, "BadRequest", err.message)
        for cb in callbacks:
            try:
                cb()
            except Exception:
                pass
        return resp

    def _refresh(self, egress: bool) -> None:
        now = self._now()
        for ns, gone_at in list(self._ns_gone.items()):
            if now >= gone_at:
                self._remove(("", "namespaces"), ("", ns))
                del self._ns_gone[ns]
        for key, pod in list(self._store[("", "pods")].items()):
            self._refresh_pod(key, pod, egress, now)
        for dep in list(self._store[("apps", "deployments")].values()):
            self._refresh_deployment(dep, now)
        for key, svc in self._store[("", "services")].items():
            self._refresh_service(key, svc, now)
