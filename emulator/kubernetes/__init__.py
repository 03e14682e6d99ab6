"""State and rules of one emulated GKE cluster's Kubernetes API.

Objects are kept as the JSON the apiserver would store. Time-dependent status (pods pulling images and
becoming Ready, endpoints, deployment status, load balancer ingress) is derived lazily from a monotonic
clock whenever the API is read, so no background threads are needed and ``delay(...)`` scaling applies.

API surface: ``/version``, ``/api``, ``/apis``; core/v1 namespaces (CRUD), nodes (read), pods (read, delete,
``log``), services (CRUD), endpoints and events (read), the service proxy
``/api/v1/namespaces/N/services/[http:]NAME[:PORT]/proxy/PATH``; apps/v1 deployments (CRUD, ``status``,
``scale``) and replicasets (read). Lists take label and field selectors and ``watch=true``. Patches: JSON
patch, JSON merge patch and strategic merge patch (merge keys for the lists these objects use).
"""

from __future__ import annotations

import copy
import datetime
import hashlib
import ipaddress
import json
import random
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, quote, unquote

from emulator.kube_server import KubeHTTPServer, Request, Response, json_response, status_error
from emulator.tls import make_cluster_tls

DEFAULT_VERSION = "1.33.5-gke.1201000"
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what Kubernetes uses for generated name suffixes
_DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_DNS1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
_SUBDOMAIN_MSG = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', "
    "and must start and end with an alphanumeric character (e.g. 'example.com', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
)
_LABEL_MSG = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must "
    "start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for "
    "validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
_DNS1035_MSG = (
    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
    "alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', "
    "regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
)
ECHO_PORT = 8080  # echoserver 1.4 (nginx) listens here


def is_google_registry(image: str) -> bool:
    """Registries private nodes reach through Private Google Access (no NAT needed)."""
    host = image_registry(image)
    return host == "gcr.io" or host.endswith(".gcr.io") or host.endswith(".pkg.dev")


def image_registry(image: str) -> str:
    first, sep, _ = image.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        return first.lower()
    return "docker.io"


def _image_reference_parts(image: str) -> tuple[str, str, str]:
    """(registry, repository, tag) the way containerd resolves a reference."""
    registry = image_registry(image)
    rest = image.split("/", 1)[1] if image.lower().startswith(registry + "/") else image
    if registry == "docker.io" and "/" not in rest:
        rest = "library/" + rest
    if "@" in rest:
        repo, tag = rest.split("@", 1)
    elif ":" in rest.rsplit("/", 1)[-1]:
        repo, tag = rest.rsplit(":", 1)
    else:
        repo, tag = rest, "latest"
    return registry, repo, tag


def _rfc3339(wall: float) -> str:
    return datetime.datetime.fromtimestamp(wall, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------------
# Selectors and patches


class _BadRequest(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def parse_label_selector(text: str) -> list[tuple[str, str, list[str]]]:
    """Parse ``a=b,c!=d,e in (x,y),!f,g`` into (key, op, values)."""
    reqs: list[tuple[str, str, list[str]]] = []
    parts = re.findall(r"[^,(]+(?:\([^)]*\))?", text or "")
    for raw in parts:
        part = raw.strip()
        if not part:
            continue
        m = re.match(r"^(\S+)\s+(in|notin)\s+\(([^)]*)\)$", part)
        if m:
            values = [v.strip() for v in m.group(3).split(",") if v.strip()]
            reqs.append((m.group(1), m.group(2), values))
        elif "!=" in part:
            k, v = part.split("!=", 1)
            reqs.append((k.strip(), "!=", [v.strip()]))
        elif "==" in part:
            k, v = part.split("==", 1)
            reqs.append((k.strip(), "=", [v.strip()]))
        elif "=" in part:
            k, v = part.split("=", 1)
            reqs.append((k.strip(), "=", [v.strip()]))
        elif part.startswith("!"):
            reqs.append((part[1:].strip(), "!exists", []))
        elif re.match(r"^[A-Za-z0-9._/-]+$", part):
            reqs.append((part, "exists", []))
        else:
            raise _BadRequest(f"unable to parse requirement: {part!r}")
    return reqs


def labels_match(labels: dict, reqs: list[tuple[str, str, list[str]]]) -> bool:
    for key, op, values in reqs:
        present = key in labels
        val = labels.get(key)
        if op == "=" and val != values[0]:
            return False
        if op == "!=" and val == values[0]:
            return False
        if op == "in" and val not in values:
            return False
        if op == "notin" and present and val in values:
            return False
        if op == "exists" and not present:
            return False
        if op == "!exists" and present:
            return False
    return True


def _field_value(obj: dict, path: str) -> str:
    cur: object = obj
    for part in path.split("."):
        if not isinstance(cur, dict):
            return ""
        cur = cur.get(part)
    return "" if cur is None else str(cur)


def fields_match(obj: dict, selector: str) -> bool:
    for part in (selector or "").split(","):
        part = part.strip()
        if not part:
            continue
        if "!=" in part:
            k, v = part.split("!=", 1)
            if _field_value(obj, k.strip()) == v.strip():
                return False
        else:
            k, v = part.split("==", 1) if "==" in part else part.split("=", 1)
            if _field_value(obj, k.strip()) != v.strip():
                return False
    return True


def selector_string(match_labels: dict) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(match_labels.items()))


def json_merge_patch(target: object, patch: object) -> object:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = json_merge_patch(result.get(key), value)
    return result


# Strategic merge: lists of objects merge by their patch merge key (the subset gke-lab's objects use).
_MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "conditions": "type",
}


def strategic_merge_patch(target: object, patch: object, fname: str = "") -> object:
    if isinstance(patch, list) and isinstance(target, list) and fname in _MERGE_KEYS:
        key = _MERGE_KEYS[fname]
        result = copy.deepcopy(target)
        for item in patch:
            if not isinstance(item, dict) or key not in item:
                return copy.deepcopy(patch)
            for i, existing in enumerate(result):
                if isinstance(existing, dict) and existing.get(key) == item[key]:
                    if item.get("$patch") == "delete":
                        result.pop(i)
                    else:
                        result[i] = strategic_merge_patch(existing, item)
                    break
            else:
                if item.get("$patch") != "delete":
                    result.append(copy.deepcopy(item))
        return result
    if isinstance(patch, list) and fname == "ports" and isinstance(target, list):
        # container ports merge by containerPort, service ports by port
        key = "containerPort" if all("containerPort" in p for p in patch if isinstance(p, dict)) else "port"
        result = copy.deepcopy(target)
        for item in patch:
            if not isinstance(item, dict):
                return copy.deepcopy(patch)
            for i, existing in enumerate(result):
                if isinstance(existing, dict) and existing.get(key) == item.get(key):
                    result[i] = strategic_merge_patch(existing, item)
                    break
            else:
                result.append(copy.deepcopy(item))
        return result
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        else:
            result[key] = strategic_merge_patch(result.get(key), value, key)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise _BadRequest(f"invalid JSON pointer {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def json_patch(doc: object, ops: object) -> object:
    """RFC 6902 (add, remove, replace, move, copy, test)."""
    if not isinstance(ops, list):
        raise _BadRequest("json patch must be a list of operations")
    doc = copy.deepcopy(doc)

    def parent(d, parts):
        cur = d
        for p in parts[:-1]:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur

    def get(d, parts):
        cur = d
        for p in parts:
            cur = cur[int(p)] if isinstance(cur, list) else cur[p]
        return cur

    def remove(d, parts):
        par = parent(d, parts)
        if isinstance(par, list):
            return par.pop(int(parts[-1]))
        return par.pop(parts[-1])

    def add(d, parts, value):
        if not parts:
            return value
        par = parent(d, parts)
        if isinstance(par, list):
            idx = len(par) if parts[-1] == "-" else int(parts[-1])
            par.insert(idx, value)
        else:
            par[parts[-1]] = value
        return d

    for op in ops:
        try:
            kind = op["op"]
            parts = _pointer(op["path"])
            if kind == "add":
                doc = add(doc, parts, copy.deepcopy(op["value"]))
            elif kind == "remove":
                remove(doc, parts)
            elif kind == "replace":
                get(doc, parts)  # must exist
                if not parts:
                    doc = copy.deepcopy(op["value"])
                else:
                    par = parent(doc, parts)
                    key = int(parts[-1]) if isinstance(par, list) else parts[-1]
                    par[key] = copy.deepcopy(op["value"])
            elif kind in ("move", "copy"):
                src = _pointer(op["from"])
                value = remove(doc, src) if kind == "move" else copy.deepcopy(get(doc, src))
                doc = add(doc, parts, value)
            elif kind == "test":
                if get(doc, parts) != op["value"]:
                    raise _BadRequest(f"testing value {op['path']} failed")
            else:
                raise _BadRequest(f"Unexpected kind: {kind}")
        except (KeyError, IndexError, ValueError, TypeError) as exc:
            raise _BadRequest(
                f"the server rejected our request due to an error in our request: {exc}"
            ) from None
    return doc


# ---------------------------------------------------------------------------------------------------
# Errors


class _ApiError(Exception):
    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def _not_found(resource: str, name: str, group: str = "") -> _ApiError:
    qualified = f"{resource}.{group}" if group else resource
    return _ApiError(
        status_error(
            404,
            "NotFound",
            f'{qualified} "{name}" not found',
            {"name": name, "group": group, "kind": resource} if group else {"name": name, "kind": resource},
        )
    )


def _invalid(kind: str, group: str, name: str, causes: list[tuple[str, str, str]]) -> _ApiError:
    """422 Invalid; causes are (field, reason, message)."""
    qualified = f"{kind}.{group}" if group else kind
    text = "; ".join(f"{f}: {m}" for f, _, m in causes)
    if len(causes) > 1:
        text = "[" + ", ".join(f"{f}: {m}" for f, _, m in causes) + "]"
    details = {
        "name": name,
        "kind": kind,
        "causes": [{"reason": r, "message": m, "field": f} for f, r, m in causes],
    }
    if group:
        details["group"] = group
    return _ApiError(status_error(422, "Invalid", f'{qualified} "{name}" is invalid: {text}', details))


def _bad_request(message: str) -> _ApiError:
    return _ApiError(status_error(400, "BadRequest", message))


# ---------------------------------------------------------------------------------------------------
# Resource table


@dataclass(frozen=True)
class _Kind:
    kind: str
    resource: str
    group: str
    version: str
    namespaced: bool
    verbs: frozenset[str]

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version


_READ = frozenset({"get", "list"})
_CRUD = frozenset({"get", "list", "create", "update", "patch", "delete"})
KINDS: dict[tuple[str, str], _Kind] = {
    ("", "namespaces"): _Kind("Namespace", "namespaces", "", "v1", False, _CRUD),
    ("", "nodes"): _Kind("Node", "nodes", "", "v1", False, _READ),
    ("", "pods"): _Kind("Pod", "pods", "", "v1", True, _READ | {"delete"}),
    ("", "services"): _Kind("Service", "services", "", "v1", True, _CRUD),
    ("", "endpoints"): _Kind("Endpoints", "endpoints", "", "v1", True, _READ),
    ("", "events"): _Kind("Event", "events", "", "v1", True, _READ),
    ("apps", "deployments"): _Kind("Deployment", "deployments", "apps", "v1", True, _CRUD),
    ("apps", "replicasets"): _Kind("ReplicaSet", "replicasets", "apps", "v1", True, _READ),
}


@dataclass
class _PodRun:
    """Lifecycle bookkeeping of one pod (monotonic seconds)."""

    created: float
    ready_delay: float
    endpoints_delay: float
    fail_delay: float
    pull_start: float | None  # when a pull that will succeed started
    ready_at: float | None = None
    failed_at: float | None = None  # first failed pull
    backoff_noted: bool = False
    logs: list[str] = field(default_factory=list)  # the container's stdout (nginx access log)
    repeating: list[tuple[str, str]] = field(default_factory=list)  # events a failing pull repeats


class KubeCluster:
    """One cluster's Kubernetes API: a TLS server plus the objects and controllers behind it."""

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
        fault: Callable[[str, str], int | None] | None = None,
    ) -> None:
        self.project, self.location, self.name = project, location, name
        self.private_nodes = private_nodes
        self.version = version
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

    # -- lifecycle ---------------------------------------------------------------------------------

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

    # -- plumbing hooks ----------------------------------------------------------------------------

    def _allow_ip(self, ip: str) -> bool:
        nets = self._authorized
        if nets is None:
            return True
        addr = ipaddress.ip_address(ip)
        return any(addr in n for n in nets if n.version == addr.version)

    def _log_entry(self, entry: dict) -> None:
        entry = dict(entry, project=self.project, cluster=self.name, location=self.location)
        self._log(entry)

    def _now(self) -> float:
        return self._clock()

    def _wall(self, mono: float) -> float:
        return self._wall0 + (mono - self._mono0)

    def _ts(self, mono: float | None = None) -> str:
        return _rfc3339(self._wall(self._now() if mono is None else mono))

    def _next_rv(self) -> str:
        self._rv += 1
        return str(self._rv)

    def _remove(self, res: tuple[str, str], key: tuple[str, str]) -> dict | None:
        """Delete a stored object, keeping a tombstone so watches from an older version see it go."""
        obj = self._store[res].pop(key, None)
        if obj is not None:
            gone = copy.deepcopy(obj)
            gone["metadata"]["resourceVersion"] = self._next_rv()
            self._tombstones.append((int(gone["metadata"]["resourceVersion"]), res, key, gone))
            del self._tombstones[:-2000]
        return obj

    def _uid(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    def _suffix(self, n: int = 5) -> str:
        return "".join(self._rng.choice(_NAME_ALPHABET) for _ in range(n))

    def _injected(self, req: Request) -> Response | None:
        """A scripted or random fault for this request, answered the way the apiserver sheds load."""
        if self._fault is None:
            return None
        try:
            status = self._fault(req.method, req.path)
        except Exception:
            return None
        if not status:
            return None
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

    def _app(self, req: Request) -> Response:
        injected = self._injected(req)
        if injected is not None:
            return injected
        # Ask the core about egress outside our lock: it may hold its own lock while calling us.
        try:
            egress = bool(self._has_egress())
        except Exception:
            egress = False
        callbacks: list[Callable[[], None]] = []
        with self._lock:
            self._egress = egress
            self._refresh(egress)
            try:
                resp = self._route(req, callbacks)
            except _ApiError as err:
                resp = err.response
            except _BadRequest as err:
                resp = status_error(400, "BadRequest", err.message)
        for cb in callbacks:
            try:
                cb()
            except Exception:
                pass
        return resp

    # -- bootstrap ---------------------------------------------------------------------------------

    def _meta(self, name: str, namespace: str | None = None, **extra) -> dict:
        meta = {"name": name}
        if namespace is not None:
            meta["namespace"] = namespace
        meta.update({"uid": self._uid(), "resourceVersion": self._next_rv(), "creationTimestamp": self._ts()})
        meta.update(extra)
        return meta

    def _bootstrap(self, nodes: list[dict]) -> None:
        for ns in SYSTEM_NAMESPACES:
            self._store[("", "namespaces")][("", ns)] = self._namespace_object(ns)
        # Each node gets an equal slice of the pod range (GKE gives /24 per node for 110 pods).
        bits = max(0, (max(1, len(nodes)) - 1).bit_length())
        new_prefix = min(30, max(self._pod_net.prefixlen + bits, 24))
        subnets = self._pod_net.subnets(new_prefix=max(new_prefix, self._pod_net.prefixlen))
        for node in nodes:
            self._add_node(node, next(subnets, None))  # None: the pod range is too small for this node
        # The default "kubernetes" service owns the first service address.
        first = str(self._svc_net.network_address + 1)
        self._used_cluster_ips.add(first)
        svc = {
            "metadata": self._meta(
                "kubernetes", "default", labels={"component": "apiserver", "provider": "kubernetes"}
            ),
            "spec": {
                "ports": [{"name": "https", "protocol": "TCP", "port": 443, "targetPort": 443}],
                "clusterIP": first,
                "clusterIPs": [first],
                "type": "ClusterIP",
                "sessionAffinity": "None",
                "ipFamilies": ["IPv4"],
                "ipFamilyPolicy": "SingleStack",
                "internalTrafficPolicy": "Cluster",
            },
            "status": {"loadBalancer": {}},
        }
        self._store[("", "services")][("default", "kubernetes")] = svc
        # Its endpoints are the control plane's own (private) address.
        master_ip = str(self._master_net.network_address + 2) if self._master_net is not None else self._host
        self._store[("", "endpoints")][("default", "kubernetes")] = {
            "metadata": self._meta(
                "kubernetes", "default", labels={"endpointslice.kubernetes.io/skip-mirror": "true"}
            ),
            "subsets": [
                {
                    "addresses": [{"ip": master_ip}],
                    "ports": [{"name": "https", "port": 443, "protocol": "TCP"}],
                }
            ],
        }
        self._system_workloads(len(nodes))

    def _system_workloads(self, node_count: int) -> None:
        """What GKE runs in kube-system from the start (the Deployments; DaemonSets are not modelled)."""
        kube_dns_ip = str(self._svc_net.network_address + 10)
        system = [
            ("kube-dns", 2, "gke.gcr.io/k8s-dns-kube-dns:1.26.4-gke.1", [("dns", 10053, "UDP")]),
            ("konnectivity-agent", max(1, node_count), "gke.gcr.io/proxy-agent:v0.31.1-gke.1", []),
            (
                "metrics-server-v1.33.0",
                1,
                "gke.gcr.io/metrics-server:v0.7.2-gke.9",
                [("https", 10250, "TCP")],
            ),
        ]
        deployments = KINDS[("apps", "deployments")]
        for name, replicas, image, ports in system:
            labels = {"k8s-app": name.split("-v1.")[0]}
            container = {"name": name.split("-v1.")[0], "image": image}
            if ports:
                container["ports"] = [
                    {"name": n, "containerPort": p, "protocol": proto} for n, p, proto in ports
                ]
            body = {
                "metadata": {
                    "name": name,
                    "labels": {**labels, "addonmanager.kubernetes.io/mode": "Reconcile"},
                },
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {"priorityClassName": "system-cluster-critical", "containers": [container]},
                    },
                },
            }
            self._create(deployments, "kube-system", body, {}, [])
        services = KINDS[("", "services")]
        for name, app, ip, ports in [
            ("kube-dns", "kube-dns", kube_dns_ip, [("dns", 53, 10053, "UDP"), ("dns-tcp", 53, 10053, "TCP")]),
            ("metrics-server", "metrics-server", "", [("https", 443, "https", "TCP")]),
        ]:
            spec: dict = {
                "selector": {"k8s-app": app},
                "ports": [
                    {"name": n, "port": p, "targetPort": t, "protocol": proto} for n, p, t, proto in ports
                ],
            }
            if ip:
                spec["clusterIP"] = ip
            body = {"metadata": {"name": name, "labels": {"k8s-app": app}}, "spec": spec}
            self._create(services, "kube-system", body, {}, [])

    def _namespace_object(
        self, name: str, labels: dict | None = None, annotations: dict | None = None
    ) -> dict:
        meta = self._meta(name, labels={**(labels or {}), "kubernetes.io/metadata.name": name})
        if annotations:
            meta["annotations"] = annotations
        return {"metadata": meta, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}

    def _add_node(self, node: dict, pod_range: ipaddress.IPv4Network | None) -> None:
        name, zone = node["name"], node["zone"]
        internal_ip = node.get("internal_ip") or ""
        region = zone.rsplit("-", 1)[0]
        if pod_range is not None:
            self._node_ranges[name] = pod_range
        labels = {
            "beta.kubernetes.io/arch": "amd64",
            "beta.kubernetes.io/instance-type": self._machine_type,
            "beta.kubernetes.io/os": "linux",
            "cloud.google.com/gke-boot-disk": node.get("disk_type", "pd-standard"),
            "cloud.google.com/gke-container-runtime": "containerd",
            "cloud.google.com/gke-nodepool": node.get("pool", self._node_pool),
            "cloud.google.com/gke-os-distribution": "cos",
            "cloud.google.com/machine-family": self._machine_type.split("-")[0],
            "failure-domain.beta.kubernetes.io/region": region,
            "failure-domain.beta.kubernetes.io/zone": zone,
            "kubernetes.io/arch": "amd64",
            "kubernetes.io/hostname": name,
            "kubernetes.io/os": "linux",
            "node.kubernetes.io/instance-type": self._machine_type,
            "topology.gke.io/zone": zone,
            "topology.kubernetes.io/region": region,
            "topology.kubernetes.io/zone": zone,
        }
        now = self._ts()
        addresses = [{"type": "InternalIP", "address": internal_ip}]
        external_ip = node.get("external_ip")
        if not external_ip and not self.private_nodes:
            # Public nodes get an ephemeral external address.
            digest = hashlib.sha256(f"{self.project}/{name}".encode()).digest()
            external_ip = f"35.{digest[0] % 64 + 184}.{digest[1]}.{digest[2] % 254 + 1}"
        if external_ip:
            addresses.append({"type": "ExternalIP", "address": external_ip})
        addresses += [
            {"type": "InternalDNS", "address": f"{name}.{zone}.c.{self.project}.internal"},
            {"type": "Hostname", "address": f"{name}.{zone}.c.{self.project}.internal"},
        ]

        def cond(ctype: str, status: str, reason: str, message: str) -> dict:
            return {
                "type": ctype,
                "status": status,
                "lastHeartbeatTime": now,
                "lastTransitionTime": now,
                "reason": reason,
                "message": message,
            }

        capacity = {"cpu": "2", "ephemeral-storage": "98831908Ki", "memory": "4015852Ki", "pods": "110"}
        allocatable = {
            "cpu": "940m",
            "ephemeral-storage": "47060071478",
            "memory": "2869996Ki",
            "pods": "110",
        }
        kubelet_version = "v" + self.version.split("-")[0]
        obj = {
            "metadata": self._meta(
                name,
                labels=labels,
                annotations={
                    "node.alpha.kubernetes.io/ttl": "0",
                    "container.googleapis.com/instance_id": str(self._rng.getrandbits(62)),
                },
            ),
            "spec": {"providerID": f"gce://{self.project}/{zone}/{name}"},
            "status": {
                "capacity": capacity,
                "allocatable": allocatable,
                "conditions": [
                    cond(
                        "MemoryPressure",
                        "False",
                        "KubeletHasSufficientMemory",
                        "kubelet has sufficient memory available",
                    ),
                    cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                    cond(
                        "PIDPressure",
                        "False",
                        "KubeletHasSufficientPID",
                        "kubelet has sufficient PID available",
                    ),
                    cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
                ],
                "addresses": addresses,
                "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
                "nodeInfo": {
                    "machineID": uuid.UUID(int=self._rng.getrandbits(128)).hex,
                    "systemUUID": str(uuid.UUID(int=self._rng.getrandbits(128))),
                    "bootID": str(uuid.UUID(int=self._rng.getrandbits(128), version=4)),
                    "kernelVersion": "6.6.56+",
                    "osImage": "Container-Optimized OS from Google",
                    "containerRuntimeVersion": "containerd://1.7.24",
                    "kubeletVersion": kubelet_version,
                    "kubeProxyVersion": kubelet_version,
                    "operatingSystem": "linux",
                    "architecture": "amd64",
                },
            },
        }
        if pod_range is not None:
            obj["spec"].update({"podCIDR": str(pod_range), "podCIDRs": [str(pod_range)]})
        self._store[("", "nodes")][("", name)] = obj

    # -- routing -----------------------------------------------------------------------------------

    def _route(self, req: Request, callbacks: list) -> Response:
        path = unquote(req.path)
        query = {k: v[-1] for k, v in parse_qs(req.query, keep_blank_values=True).items()}
        segs = [s for s in path.split("/")]
        if segs and segs[0] == "":
            segs = segs[1:]
        trailing_slash = path.endswith("/")
        is_proxy = (
            len(segs) >= 7
            and segs[:3] == ["api", "v1", "namespaces"]
            and segs[4:7:2] == ["services", "proxy"]
        )
        if segs and segs[-1] == "" and not is_proxy:
            segs = segs[:-1]
        if path.rstrip("/") == "/version":
            git = "v" + self.version
            return json_response(
                200,
                {
                    "major": "1",
                    "minor": self.version.split(".")[1],
                    "gitVersion": git,
                    "gitCommit": hashlib.sha1(git.encode()).hexdigest(),
                    "gitTreeState": "clean",
                    "buildDate": "2025-10-01T00:00:00Z",
                    "goVersion": "go1.24.6 X:boringcrypto",
                    "compiler": "gc",
                    "platform": "linux/amd64",
                },
            )
        if path.rstrip("/") in ("/healthz", "/livez", "/readyz"):
            return Response(200, b"ok", "text/plain; charset=utf-8")
        if segs == ["api"]:
            return json_response(
                200,
                {
                    "kind": "APIVersions",
                    "versions": ["v1"],
                    "serverAddressByClientCIDRs": [
                        {"clientCIDR": "0.0.0.0/0", "serverAddress": self.endpoint}
                    ],
                },
            )
        if segs == ["apis"]:
            return json_response(
                200,
                {
                    "kind": "APIGroupList",
                    "apiVersion": "v1",
                    "groups": [
                        {
                            "name": "apps",
                            "versions": [{"groupVersion": "apps/v1", "version": "v1"}],
                            "preferredVersion": {"groupVersion": "apps/v1", "version": "v1"},
                        }
                    ],
                },
            )
        if len(segs) >= 2 and segs[:2] == ["api", "v1"]:
            group, rest = "", segs[2:]
        elif len(segs) >= 3 and segs[:3] == ["apis", "apps", "v1"]:
            group, rest = "apps", segs[3:]
        else:
            return Response(404, b"404 page not found\n", "text/plain; charset=utf-8")
        if not rest:
            return self._resource_list(group)
        # Namespaced forms: namespaces/{ns}/{resource}[/{name}[/{sub}...]]
        if rest[0] == "namespaces" and len(rest) >= 3 and group in ("", "apps"):
            ns, resource, tail = rest[1], rest[2], rest[3:]
            kind = KINDS.get((group, resource))
            if kind is None or not kind.namespaced:
                return self._unknown()
            if resource == "services" and len(tail) >= 2 and tail[1] == "proxy":
                proxy_path = "/".join(tail[2:])
                if trailing_slash and tail[2:] and not proxy_path.endswith("/"):
                    proxy_path += "/"
                return self._service_proxy(req, ns, tail[0], proxy_path, len(tail) > 2 or trailing_slash)
            return self._dispatch(req, kind, ns, tail, query, callbacks)
        resource, tail = rest[0], rest[1:]
        kind = KINDS.get((group, resource))
        if kind is None:
            return self._unknown()
        if kind.namespaced:
            if tail:
                return self._unknown()
            if req.method != "GET":
                return self._method_not_allowed(req.method)
            return self._list(kind, None, query)
        return self._dispatch(req, kind, "", tail, query, callbacks)

    def _unknown(self) -> Response:
        return status_error(404, "NotFound", "the server could not find the requested resource", {})

    def _method_not_allowed(self, method: str) -> Response:
        return status_error(
            405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
        )

    def _resource_list(self, group: str) -> Response:
        resources = []
        for (g, resource), kind in KINDS.items():
            if g != group:
                continue
            resources.append(
                {
                    "name": resource,
                    "singularName": kind.kind.lower(),
                    "namespaced": kind.namespaced,
                    "kind": kind.kind,
                    "verbs": sorted(kind.verbs),
                }
            )
        return json_response(
            200,
            {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": "apps/v1" if group else "v1",
                "resources": resources,
            },
        )

    def _dispatch(
        self, req: Request, kind: _Kind, ns: str, tail: list[str], query: dict, callbacks
    ) -> Response:
        method = req.method
        if kind.namespaced and not self._namespace_exists(ns) and method in ("POST",):
            raise _not_found("namespaces", ns)
        if not tail:
            if method == "GET":
                return self._list(kind, ns if kind.namespaced else None, query)
            if method == "POST" and "create" in kind.verbs:
                return self._create(kind, ns, self._json_body(req), query, callbacks)
            return self._method_not_allowed(method)
        name = tail[0]
        sub = tail[1] if len(tail) > 1 else ""
        if len(tail) > 2 or sub not in ("", "status", "scale", "log"):
            return self._unknown()
        if (sub == "scale" and kind.kind != "Deployment") or (sub == "log" and kind.kind != "Pod"):
            return self._unknown()
        if sub == "log":
            if method != "GET":
                return self._method_not_allowed(method)
            return self._pod_log(ns, name, query)
        if method == "GET":
            obj = self._get(kind, ns, name)
            return json_response(200, self._scale_of(obj) if sub == "scale" else self._out(kind, obj))
        if method == "PUT" and "update" in kind.verbs:
            return self._replace(kind, ns, name, sub, self._json_body(req), query, callbacks)
        if method == "PATCH" and "patch" in kind.verbs:
            return self._patch(kind, ns, name, sub, req, query, callbacks)
        if method == "DELETE" and "delete" in kind.verbs and not sub:
            return self._delete(kind, ns, name, query, callbacks)
        return self._method_not_allowed(method)

    # -- generic verbs -----------------------------------------------------------------------------

    def _json_body(self, req: Request) -> dict:
        # The kubernetes client sends POST bodies without Content-Type: parse JSON regardless.
        try:
            body = json.loads(req.body.decode() or "null")
        except (UnicodeDecodeError, ValueError) as exc:
            raise _bad_request(f"the object provided is unrecognized: {exc}") from None
        if not isinstance(body, dict):
            raise _bad_request("the object provided is unrecognized (must be a JSON object)")
        return body

    def _namespace_exists(self, ns: str) -> bool:
        return ("", ns) in self._store[("", "namespaces")]

    def _get(self, kind: _Kind, ns: str, name: str) -> dict:
        obj = self._store[(kind.group, kind.resource)].get((ns, name))
        if obj is None:
            raise _not_found(kind.resource, name, kind.group)
        return obj

    def _out(self, kind: _Kind, obj: dict) -> dict:
        return {"kind": kind.kind, "apiVersion": kind.api_version, **copy.deepcopy(obj)}

    def _matching(self, kind: _Kind, ns: str | None, query: dict) -> dict[tuple[str, str], dict]:
        try:
            reqs = parse_label_selector(query.get("labelSelector", ""))
        except _BadRequest as err:
            raise _bad_request(err.message) from None
        out = {}
        for key, obj in sorted(self._store[(kind.group, kind.resource)].items()):
            if ns is not None and key[0] != ns:
                continue
            if not labels_match(obj["metadata"].get("labels") or {}, reqs):
                continue
            if query.get("fieldSelector") and not fields_match(obj, query["fieldSelector"]):
                continue
            out[key] = copy.deepcopy(obj)
        return out

    def _list(self, kind: _Kind, ns: str | None, query: dict) -> Response:
        if query.get("watch") in ("true", "1"):
            return self._watch(kind, ns, query)
        items = list(self._matching(kind, ns, query).values())
        limit = int(query.get("limit") or 0)
        if limit > 0:
            items = items[:limit]
        return json_response(
            200,
            {
                "kind": kind.kind + "List",
                "apiVersion": kind.api_version,
                "metadata": {"resourceVersion": str(self._rv)},
                "items": items,
            },
        )

    def _watch(self, kind: _Kind, ns: str | None, query: dict) -> Response:
        """A watch stream: ADDED/MODIFIED/DELETED events, one JSON object per line."""
        self._matching(kind, ns, query)  # validate selectors before the 200 goes out
        timeout = float(query.get("timeoutSeconds") or 1800)
        since = query.get("resourceVersion") or ""
        if since and not since.isdigit():
            raise _bad_request(f'invalid resource version "{since}"')
        stopping = self._server.stopping if self._server is not None else threading.Event()

        def event(etype: str, obj: dict) -> bytes:
            line = {"type": etype, "object": {"kind": kind.kind, "apiVersion": kind.api_version, **obj}}
            return json.dumps(line, separators=(",", ":")).encode() + b"\n"

        def rv_of(obj: dict) -> int:
            return int(obj["metadata"].get("resourceVersion") or 0)

        def stream():
            deadline = time.monotonic() + timeout
            with self._lock:
                seen = self._matching(kind, ns, query)
                gone = [] if since in ("", "0") else self._deleted_since(kind, ns, query, int(since))
            for obj in seen.values():
                if since in ("", "0"):
                    yield event("ADDED", obj)
                elif rv_of(obj) > int(since):
                    yield event("MODIFIED", obj)
            for obj in gone:
                yield event("DELETED", obj)
            while not stopping.is_set() and time.monotonic() < deadline:
                stopping.wait(0.05)
                try:
                    egress = bool(self._has_egress())
                except Exception:
                    egress = False
                with self._lock:
                    self._egress = egress
                    self._refresh(egress)
                    current = self._matching(kind, ns, query)
                for key, obj in current.items():
                    if key not in seen:
                        yield event("ADDED", obj)
                    elif rv_of(obj) != rv_of(seen[key]):
                        yield event("MODIFIED", obj)
                for key, obj in seen.items():
                    if key not in current:
                        yield event("DELETED", obj)
                seen = current

        return Response(200, b"", "application/json", stream=stream())

    def _deleted_since(self, kind: _Kind, ns: str | None, query: dict, since: int) -> list[dict]:
        reqs = parse_label_selector(query.get("labelSelector", ""))
        out = []
        for rv, res, key, obj in self._tombstones:
            if rv <= since or res != (kind.group, kind.resource) or (ns is not None and key[0] != ns):
                continue
            if key in self._store[res]:
                continue  # re-created since: the watch reports the live object
            if not labels_match(obj["metadata"].get("labels") or {}, reqs):
                continue
            if query.get("fieldSelector") and not fields_match(obj, query["fieldSelector"]):
                continue
            out.append(copy.deepcopy(obj))
        return out

    def _pod_log(self, ns: str, name: str, query: dict) -> Response:
        pod = self._get(KINDS[("", "pods")], ns, name)
        rt = self._pods_rt.get((ns, name))
        containers = [c.get("name", "") for c in pod["spec"].get("containers") or []]
        container = query.get("container") or (containers[0] if len(containers) == 1 else "")
        if not container:
            return status_error(
                400,
                "BadRequest",
                f"a container name must be specified for pod {name}, choose one of: [{' '.join(containers)}]",
            )
        if container not in containers:
            return status_error(400, "BadRequest", f"container {container} is not valid for pod {name}")
        if rt is None or rt.ready_at is None:
            waiting = "ContainerCreating"
            if rt is not None and rt.pull_start is None and rt.failed_at is not None:
                waiting = "trying and failing to pull image"
            return status_error(
                400,
                "BadRequest",
                f'container "{container}" in pod "{name}" is waiting to start: {waiting}',
            )
        lines = rt.logs
        tail = query.get("tailLines")
        if tail is not None and tail.isdigit():
            lines = lines[-int(tail) :] if int(tail) else []
        return Response(200, "".join(lines).encode(), "text/plain")

    def _check_body(self, kind: _Kind, ns: str, body: dict, name: str | None) -> dict:
        if body.get("kind") not in (None, kind.kind) or body.get("apiVersion") not in (
            None,
            kind.api_version,
        ):
            raise _bad_request(
                f"the API version in the data ({body.get('apiVersion')}) does not match the expected "
                f"API version ({kind.api_version})"
            )
        meta = body.get("metadata")
        if not isinstance(meta, dict):
            meta = {}
        body = copy.deepcopy(body)
        body["metadata"] = meta = copy.deepcopy(meta)
        if kind.namespaced:
            if meta.get("namespace") not in (None, "", ns):
                raise _bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = ns
        if name is not None and meta.get("name") not in (None, name):
            raise _bad_request(
                f"the name of the object ({meta.get('name')}) does not match the name on the URL ({name})"
            )
        body.pop("kind", None)
        body.pop("apiVersion", None)
        return body

    def _create(self, kind: _Kind, ns: str, body: dict, query: dict, callbacks) -> Response:
        body = self._check_body(kind, ns, body, None)
        meta = body["metadata"]
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + self._suffix()
        name = meta.get("name") or ""
        if not name:
            raise _invalid(
                kind.kind,
                kind.group,
                "",
                [("metadata.name", "FieldValueRequired", "Required value: name or generateName is required")],
            )
        if kind.namespaced:
            nsobj = self._store[("", "namespaces")].get(("", ns))
            if nsobj is None:
                raise _not_found("namespaces", ns)
            if nsobj["status"].get("phase") == "Terminating":
                qualified = f"{kind.resource}.{kind.group}" if kind.group else kind.resource
                raise _ApiError(
                    status_error(
                        403,
                        "Forbidden",
                        f'{qualified} "{name}" is forbidden: unable to create new content in namespace {ns} '
                        "because it is being terminated",
                        {"name": name, "group": kind.group, "kind": kind.resource},
                    )
                )
        store = self._store[(kind.group, kind.resource)]
        if (ns, name) in store:
            qualified = f"{kind.resource}.{kind.group}" if kind.group else kind.resource
            raise _ApiError(
                status_error(
                    409,
                    "AlreadyExists",
                    f'{qualified} "{name}" already exists',
                    {"name": name, "group": kind.group, "kind": kind.resource}
                    if kind.group
                    else {"name": name, "kind": kind.resource},
                )
            )
        validate = getattr(self, f"_validate_{kind.kind.lower()}")
        validate(body, None)
        dry_run = bool(query.get("dryRun"))
        meta.update(
            {
                "uid": self._uid(),
                "resourceVersion": str(self._rv + 1),
                "creationTimestamp": self._ts(),
            }
        )
        for k in ("deletionTimestamp", "selfLink"):
            meta.pop(k, None)
        if kind.kind in ("Deployment",):
            meta["generation"] = 1
        getattr(self, f"_default_{kind.kind.lower()}")(body, None)
        if dry_run:
            return json_response(201, self._out(kind, body))
        self._next_rv()
        store[(ns, name)] = body
        getattr(self, f"_after_write_{kind.kind.lower()}")(body, None, callbacks)
        self._refresh(self._egress)
        return json_response(201, self._out(kind, store[(ns, name)]))

    def _replace(
        self, kind: _Kind, ns: str, name: str, sub: str, body: dict, query: dict, callbacks
    ) -> Response:
        current = self._get(kind, ns, name)
        if sub == "scale":
            spec = body.get("spec") or {}
            new = copy.deepcopy(current)
            new["spec"]["replicas"] = spec.get("replicas", 0)
            rv = (body.get("metadata") or {}).get("resourceVersion")
            return self._store_update(kind, current, new, rv, callbacks, scale=True)
        body = self._check_body(kind, ns, body, name)
        rv = body["metadata"].get("resourceVersion")
        if sub == "status":
            new = copy.deepcopy(current)
            new["status"] = body.get("status") or {}
            return self._store_update(kind, current, new, rv, callbacks)
        # Status is not writable through the main resource.
        body["status"] = copy.deepcopy(current.get("status"))
        if body["status"] is None:
            body.pop("status")
        return self._store_update(kind, current, body, rv, callbacks)

    def _patch(
        self, kind: _Kind, ns: str, name: str, sub: str, req: Request, query: dict, callbacks
    ) -> Response:
        current = self._get(kind, ns, name)
        ctype = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
        try:
            patch = json.loads(req.body.decode() or "null")
        except (UnicodeDecodeError, ValueError) as exc:
            raise _bad_request(f"error decoding patch: {exc}") from None
        base = self._scale_of(current) if sub == "scale" else self._out(kind, current)
        try:
            if ctype == "application/json-patch+json":
                patched = json_patch(base, patch)
            elif ctype == "application/merge-patch+json":
                patched = json_merge_patch(base, patch)
            elif ctype == "application/strategic-merge-patch+json":
                patched = strategic_merge_patch(base, patch)
            elif ctype.startswith("application/apply-patch"):
                return status_error(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - "
                    "accepted media types include: application/json-patch+json, "
                    "application/merge-patch+json, application/strategic-merge-patch+json",
                )
            else:
                return status_error(
                    415,
                    "UnsupportedMediaType",
                    "the body of the request was in an unknown format - accepted media types include: "
                    "application/json-patch+json, application/merge-patch+json, "
                    "application/strategic-merge-patch+json, application/apply-patch+yaml",
                )
        except _BadRequest as err:
            raise _bad_request(err.message) from None
        if not isinstance(patched, dict):
            raise _bad_request("patch did not produce an object")
        if sub == "scale":
            new = copy.deepcopy(current)
            new["spec"]["replicas"] = (patched.get("spec") or {}).get("replicas", 0)
            return self._store_update(kind, current, new, None, callbacks, scale=True)
        patched = self._check_body(kind, ns, patched, name)
        rv = patched["metadata"].get("resourceVersion")
        if rv == current["metadata"]["resourceVersion"]:
            rv = None
        if sub == "status":
            new = copy.deepcopy(current)
            new["status"] = patched.get("status") or {}
            return self._store_update(kind, current, new, rv, callbacks)
        patched["status"] = copy.deepcopy(current.get("status"))
        if patched["status"] is None:
            patched.pop("status")
        return self._store_update(kind, current, patched, rv, callbacks)

    def _store_update(
        self, kind: _Kind, current: dict, new: dict, rv: str | None, callbacks, scale=False
    ) -> Response:
        meta = current["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        if rv and rv != meta["resourceVersion"]:
            qualified = f"{kind.resource}.{kind.group}" if kind.group else kind.resource
            raise _ApiError(
                status_error(
                    409,
                    "Conflict",
                    f'Operation cannot be fulfilled on {qualified} "{name}": the object has been modified; '
                    "please apply your changes to the latest version and try again",
                    {"name": name, "group": kind.group, "kind": kind.resource},
                )
            )
        new_meta = new["metadata"]
        # Server-owned metadata survives every update.
        for key in ("uid", "creationTimestamp", "namespace", "name", "generation", "ownerReferences"):
            if key in meta:
                new_meta[key] = copy.deepcopy(meta[key])
            elif key in new_meta and key in ("uid", "creationTimestamp", "generation"):
                new_meta.pop(key)
        getattr(self, f"_validate_{kind.kind.lower()}")(new, current)
        getattr(self, f"_default_{kind.kind.lower()}")(new, current)
        if kind.kind == "Deployment" and new.get("spec") != current.get("spec"):
            new_meta["generation"] = int(meta.get("generation", 1)) + 1
        if new == current:
            out = self._scale_of(current) if scale else self._out(kind, current)
            return json_response(200, out)
        new_meta["resourceVersion"] = self._next_rv()
        self._store[(kind.group, kind.resource)][(ns, name)] = new
        getattr(self, f"_after_write_{kind.kind.lower()}")(new, current, callbacks)
        self._refresh(self._egress)
        stored = self._store[(kind.group, kind.resource)][(ns, name)]
        return json_response(200, self._scale_of(stored) if scale else self._out(kind, stored))

    def _delete(self, kind: _Kind, ns: str, name: str, query: dict, callbacks) -> Response:
        obj = self._get(kind, ns, name)
        if kind.kind == "Namespace":
            if name in SYSTEM_NAMESPACES:
                return status_error(
                    403,
                    "Forbidden",
                    f'namespaces "{name}" is forbidden: this namespace may not be deleted',
                    {"name": name, "kind": "namespaces"},
                )
            if obj["status"].get("phase") != "Terminating":
                self._delete_namespace_contents(name, callbacks)
                obj["status"] = {"phase": "Terminating"}
                obj["metadata"]["deletionTimestamp"] = self._ts()
                obj["metadata"]["resourceVersion"] = self._next_rv()
                # Terminating lasts while the namespace's pods shut down gracefully.
                self._ns_gone[name] = (
                    self._now() + self._safe_delay("endpoints_ready") + 0.25 * self._safe_delay("pod_ready")
                )
            return json_response(200, self._out(kind, obj))
        self._remove((kind.group, kind.resource), (ns, name))
        self._next_rv()
        if kind.kind == "Deployment":
            self._delete_deployment_children(ns, name)
            return json_response(
                200,
                {
                    "kind": "Status",
                    "apiVersion": "v1",
                    "metadata": {},
                    "status": "Success",
                    "details": {
                        "name": name,
                        "group": "apps",
                        "kind": "deployments",
                        "uid": obj["metadata"]["uid"],
                    },
                },
            )
        if kind.kind == "Service":
            self._release_service(obj, callbacks)
            self._remove(("", "endpoints"), (ns, name))
            return json_response(200, self._out(kind, obj))
        if kind.kind == "Pod":
            self._forget_pod(ns, name)
            gone = copy.deepcopy(obj)
            gone["metadata"]["deletionTimestamp"] = self._ts()
            gone["metadata"]["deletionGracePeriodSeconds"] = 30
            self._reconcile_all_deployments()
            return json_response(200, self._out(kind, gone))
        return json_response(200, self._out(kind, obj))

    def _delete_namespace_contents(self, ns: str, callbacks) -> None:
        for key in list(self._store[("apps", "deployments")]):
            if key[0] == ns:
                self._remove(("apps", "deployments"), key)
                self._delete_deployment_children(ns, key[1])
        for key, svc in list(self._store[("", "services")].items()):
            if key[0] == ns:
                self._remove(("", "services"), key)
                self._release_service(svc, callbacks)
        for key in list(self._store[("", "pods")]):
            if key[0] == ns:
                self._forget_pod(*key)
        for res in (("", "endpoints"), ("", "events"), ("apps", "replicasets")):
            for key in list(self._store[res]):
                if key[0] == ns:
                    self._remove(res, key)

    def _safe_delay(self, what: str) -> float:
        try:
            return max(0.0, float(self._delay(what)))
        except Exception:
            return 0.0

    # -- namespaces --------------------------------------------------------------------------------

    def _validate_namespace(self, obj: dict, old: dict | None) -> None:
        name = obj["metadata"]["name"]
        if not _DNS1123_LABEL.match(name) or len(name) > 63:
            raise _invalid(
                "Namespace",
                "",
                name,
                [("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {_LABEL_MSG}')],
            )

    def _default_namespace(self, obj: dict, old: dict | None) -> None:
        obj["metadata"].setdefault("labels", {})["kubernetes.io/metadata.name"] = obj["metadata"]["name"]
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = copy.deepcopy(old["status"]) if old else {"phase": "Active"}

    def _after_write_namespace(self, obj: dict, old: dict | None, callbacks) -> None:
        pass

    # -- validation helpers ------------------------------------------------------------------------

    def _validate_pod_template(
        self, kind: str, name: str, spec: dict, prefix: str
    ) -> list[tuple[str, str, str]]:
        causes: list[tuple[str, str, str]] = []
        containers = spec.get("containers") if isinstance(spec, dict) else None
        if not containers:
            causes.append((f"{prefix}.containers", "FieldValueRequired", "Required value"))
            return causes
        seen = set()
        for i, c in enumerate(containers):
            p = f"{prefix}.containers[{i}]"
            if not isinstance(c, dict):
                causes.append((p, "FieldValueInvalid", "Invalid value: must be an object"))
                continue
            cname = c.get("name") or ""
            if not cname:
                causes.append((f"{p}.name", "FieldValueRequired", "Required value"))
            elif not _DNS1123_LABEL.match(cname):
                causes.append((f"{p}.name", "FieldValueInvalid", f'Invalid value: "{cname}": {_LABEL_MSG}'))
            elif cname in seen:
                causes.append((f"{p}.name", "FieldValueDuplicate", f'Duplicate value: "{cname}"'))
            seen.add(cname)
            if not c.get("image"):
                causes.append((f"{p}.image", "FieldValueRequired", "Required value"))
            for j, port in enumerate(c.get("ports") or []):
                cp = port.get("containerPort") if isinstance(port, dict) else None
                if not isinstance(cp, int) or not 1 <= cp <= 65535:
                    causes.append(
                        (
                            f"{p}.ports[{j}].containerPort",
                            "FieldValueInvalid",
                            f"Invalid value: {json.dumps(cp)}: must be between 1 and 65535, inclusive",
                        )
                    )
                pname = port.get("name") if isinstance(port, dict) else None
                if pname is not None and (
                    len(pname) > 15
                    or not re.match(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$", pname)
                    or not re.search(r"[a-z]", pname)
                ):
                    causes.append(
                        (
                            f"{p}.ports[{j}].name",
                            "FieldValueInvalid",
                            f'Invalid value: "{pname}": must be no more than 15 characters',
                        )
                    )
        return causes

    # -- deployments -------------------------------------------------------------------------------

    def _validate_deployment(self, obj: dict, old: dict | None) -> None:
        meta, spec = obj["metadata"], obj.get("spec")
        name = meta["name"]
        causes: list[tuple[str, str, str]] = []
        if not _DNS1123_SUBDOMAIN.match(name) or len(name) > 253:
            causes.append(
                ("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {_SUBDOMAIN_MSG}')
            )
        if not isinstance(spec, dict):
            causes.append(("spec", "FieldValueRequired", "Required value"))
            raise _invalid("Deployment", "apps", name, causes)
        replicas = spec.get("replicas", 1)
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            causes.append(
                (
                    "spec.replicas",
                    "FieldValueInvalid",
                    f"Invalid value: {json.dumps(replicas)}: must be greater than or equal to 0",
                )
            )
        selector = spec.get("selector")
        template = spec.get("template") if isinstance(spec.get("template"), dict) else {}
        tlabels = (template.get("metadata") or {}).get("labels") or {}
        if not isinstance(selector, dict) or not (
            selector.get("matchLabels") or selector.get("matchExpressions")
        ):
            causes.append(("spec.selector", "FieldValueRequired", "Required value"))
            causes.append(
                (
                    "spec.selector",
                    "FieldValueInvalid",
                    'Invalid value: "null": empty selector is invalid for deployment',
                )
            )
        else:
            if not labels_match(
                tlabels, [(k, "=", [v]) for k, v in (selector.get("matchLabels") or {}).items()]
            ):
                causes.append(
                    (
                        "spec.template.metadata.labels",
                        "FieldValueInvalid",
                        f"Invalid value: {json.dumps(tlabels)}: `selector` does not match template `labels`",
                    )
                )
            if old is not None and selector != old["spec"].get("selector"):
                causes.append(
                    (
                        "spec.selector",
                        "FieldValueInvalid",
                        f"Invalid value: {json.dumps(selector)}: field is immutable",
                    )
                )
        causes += self._validate_pod_template(
            "Deployment", name, template.get("spec") or {}, "spec.template.spec"
        )
        if causes:
            raise _invalid("Deployment", "apps", name, causes)

    def _default_pod_spec(self, spec: dict) -> None:
        spec.setdefault("restartPolicy", "Always")
        spec.setdefault("terminationGracePeriodSeconds", 30)
        spec.setdefault("dnsPolicy", "ClusterFirst")
        spec.setdefault("securityContext", {})
        spec.setdefault("schedulerName", "default-scheduler")
        for c in spec.get("containers") or []:
            tag = _image_reference_parts(c.get("image", ""))[2]
            c.setdefault("imagePullPolicy", "Always" if tag == "latest" else "IfNotPresent")
            c.setdefault("resources", {})
            c.setdefault("terminationMessagePath", "/dev/termination-log")
            c.setdefault("terminationMessagePolicy", "File")
            for p in c.get("ports") or []:
                p.setdefault("protocol", "TCP")

    def _default_deployment(self, obj: dict, old: dict | None) -> None:
        spec = obj["spec"]
        spec.setdefault("replicas", 1)
        spec.setdefault(
            "strategy",
            {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}},
        )
        spec.setdefault("revisionHistoryLimit", 10)
        spec.setdefault("progressDeadlineSeconds", 600)
        template = spec["template"]
        template.setdefault("metadata", {})
        template["metadata"].setdefault("creationTimestamp", None)
        template.setdefault("spec", {})
        self._default_pod_spec(template["spec"])
        if old is None:
            obj["metadata"].setdefault("annotations", {})
            obj["status"] = {}
        else:
            obj["metadata"].setdefault("annotations", {})
            obj["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = (
                old["metadata"].get("annotations") or {}
            ).get("deployment.kubernetes.io/revision", "1")

    def _after_write_deployment(self, obj: dict, old: dict | None, callbacks) -> None:
        self._reconcile_deployment(obj)

    def _template_hash(self, template: dict) -> str:
        digest = hashlib.sha256(json.dumps(template, sort_keys=True).encode()).digest()
        n = int.from_bytes(digest[:8], "big")
        out = ""
        for _ in range(10):
            n, r = divmod(n, len(_NAME_ALPHABET))
            out += _NAME_ALPHABET[r]
        return out

    def _reconcile_all_deployments(self) -> None:
        for dep in list(self._store[("apps", "deployments")].values()):
            self._reconcile_deployment(dep)

    def _owned_replicasets(self, dep: dict) -> list[dict]:
        ns = dep["metadata"]["namespace"]
        return [
            rs
            for k, rs in self._store[("apps", "replicasets")].items()
            if k[0] == ns and self._owned_by(rs, dep)
        ]

    def _rs_pods(self, rs: dict) -> list[tuple[tuple[str, str], dict]]:
        ns = rs["metadata"]["namespace"]
        return [(k, p) for k, p in self._store[("", "pods")].items() if k[0] == ns and self._owned_by(p, rs)]

    def _is_ready(self, key: tuple[str, str]) -> bool:
        rt = self._pods_rt.get(key)
        return rt is not None and rt.ready_at is not None

    def _new_replicaset(self, dep: dict) -> dict:
        """The ReplicaSet of the current template, created (at 0 replicas) when the template is new."""
        meta, spec = dep["metadata"], dep["spec"]
        ns, name = meta["namespace"], meta["name"]
        tmpl_hash = self._template_hash(spec["template"])
        rs_name = f"{name}-{tmpl_hash}"
        rs_store = self._store[("apps", "replicasets")]
        owned = self._owned_replicasets(dep)
        top = max(
            (int(r["metadata"]["annotations"].get("deployment.kubernetes.io/revision", "0")) for r in owned),
            default=0,
        )
        rs = rs_store.get((ns, rs_name))
        if rs is None:
            labels = dict((spec["template"].get("metadata") or {}).get("labels") or {})
            labels["pod-template-hash"] = tmpl_hash
            selector = copy.deepcopy(spec["selector"])
            selector.setdefault("matchLabels", {})["pod-template-hash"] = tmpl_hash
            template = copy.deepcopy(spec["template"])
            template["metadata"]["labels"] = labels
            rs = {
                "metadata": self._meta(
                    rs_name,
                    ns,
                    labels=labels,
                    annotations={"deployment.kubernetes.io/revision": str(top + 1)},
                    ownerReferences=[self._owner_ref("apps/v1", "Deployment", dep)],
                    generation=1,
                ),
                "spec": {"replicas": 0, "selector": selector, "template": template},
                "status": {"replicas": 0, "observedGeneration": 1},
            }
            rs_store[(ns, rs_name)] = rs
        elif int(rs["metadata"]["annotations"].get("deployment.kubernetes.io/revision", "0")) < top:
            # Rolling back to an older template re-adopts its ReplicaSet under a new revision.
            rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = str(top + 1)
            rs["metadata"]["resourceVersion"] = self._next_rv()
        annotations = meta.setdefault("annotations", {})
        revision = rs["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
        if annotations.get("deployment.kubernetes.io/revision") != revision:
            annotations["deployment.kubernetes.io/revision"] = revision
            if "resourceVersion" in meta:
                meta["resourceVersion"] = self._next_rv()
        return rs

    def _scale_replicaset(self, dep: dict, rs: dict, replicas: int) -> None:
        current = rs["spec"].get("replicas", 0)
        if current == replicas:
            return
        rs["spec"]["replicas"] = replicas
        rs["metadata"]["generation"] = rs["metadata"].get("generation", 1) + 1
        desired = dep["spec"]["replicas"]
        rs["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] = str(desired)
        rs["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"] = str(
            desired + self._max_surge(dep["spec"], desired)
        )
        rs["metadata"]["resourceVersion"] = self._next_rv()
        verb = "up" if replicas > current else "down"
        self._event(
            dep,
            "Normal",
            "ScalingReplicaSet",
            f"Scaled {verb} replica set {rs['metadata']['name']} from {current} to {replicas}",
            self._now(),
            kind="Deployment",
            api_version="apps/v1",
            source="deployment-controller",
        )

    def _reconcile_deployment(self, dep: dict) -> None:
        """The deployment controller: a ReplicaSet per template, rolled out within maxSurge/maxUnavailable."""
        spec = dep["spec"]
        desired = spec["replicas"]
        new_rs = self._new_replicaset(dep)
        old = [rs for rs in self._owned_replicasets(dep) if rs is not new_rs]
        strategy = (spec.get("strategy") or {}).get("type", "RollingUpdate")
        if not any(rs["spec"].get("replicas", 0) or self._rs_pods(rs) for rs in old):
            self._scale_replicaset(dep, new_rs, desired)
        elif strategy == "Recreate":
            for rs in old:
                self._scale_replicaset(dep, rs, 0)
            if not any(self._rs_pods(rs) for rs in old):
                self._scale_replicaset(dep, new_rs, desired)
        else:
            surge = self._max_surge(spec, desired)
            unavailable = self._max_unavailable(spec, desired)
            if surge == 0 and unavailable == 0:
                unavailable = 1
            total = sum(rs["spec"].get("replicas", 0) for rs in [new_rs, *old])
            room = desired + surge - total
            if room > 0 and new_rs["spec"].get("replicas", 0) < desired:
                self._scale_replicaset(dep, new_rs, min(desired, new_rs["spec"].get("replicas", 0) + room))
            elif new_rs["spec"].get("replicas", 0) > desired:
                self._scale_replicaset(dep, new_rs, desired)
            # Old pods that are not ready cost no availability: they go first; ready ones only while
            # enough ready pods remain.
            ready_total = sum(1 for rs in [new_rs, *old] for k, _ in self._rs_pods(rs) if self._is_ready(k))
            budget = ready_total - (desired - unavailable)
            for rs in old:
                pods = self._rs_pods(rs)
                unready = sum(1 for k, _ in pods if not self._is_ready(k))
                target = rs["spec"].get("replicas", 0)
                drop = min(target, unready)
                target -= drop
                take = max(0, min(target, budget))
                target -= take
                budget -= take
                self._scale_replicaset(dep, rs, target)
        for rs in [new_rs, *old]:
            self._sync_replicaset(rs, dep)

    def _sync_replicaset(self, rs: dict, dep: dict) -> None:
        """The ReplicaSet controller: pods to match spec.replicas (not-ready and youngest go first)."""
        want = rs["spec"].get("replicas", 0)
        pods = self._rs_pods(rs)
        if len(pods) > want:
            pods.sort(key=lambda kp: (self._is_ready(kp[0]), -self._pods_rt[kp[0]].created))
            for key, _pod in pods[: len(pods) - want]:
                self._forget_pod(*key)
        for _ in range(want - len(pods)):
            self._create_pod(rs, dep)

    def _owner_ref(self, api_version: str, kind: str, owner: dict) -> dict:
        return {
            "apiVersion": api_version,
            "kind": kind,
            "name": owner["metadata"]["name"],
            "uid": owner["metadata"]["uid"],
            "controller": True,
            "blockOwnerDeletion": True,
        }

    @staticmethod
    def _owned_by(obj: dict, owner: dict) -> bool:
        uid = owner["metadata"]["uid"]
        return any(ref.get("uid") == uid for ref in obj["metadata"].get("ownerReferences") or [])

    def _delete_deployment_children(self, ns: str, name: str) -> None:
        rs_store = self._store[("apps", "replicasets")]
        for key, rs in list(rs_store.items()):
            refs = rs["metadata"].get("ownerReferences") or []
            if key[0] == ns and any(r.get("kind") == "Deployment" and r.get("name") == name for r in refs):
                for pkey, pod in list(self._store[("", "pods")].items()):
                    if pkey[0] == ns and self._owned_by(pod, rs):
                        self._forget_pod(*pkey)
                self._remove(("apps", "replicasets"), key)

    def _scale_of(self, dep: dict) -> dict:
        meta = dep["metadata"]
        return {
            "kind": "Scale",
            "apiVersion": "autoscaling/v1",
            "metadata": {
                k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
            },
            "spec": {"replicas": dep["spec"]["replicas"]},
            "status": {
                "replicas": (dep.get("status") or {}).get("replicas", 0),
                "selector": selector_string((dep["spec"].get("selector") or {}).get("matchLabels") or {}),
            },
        }

    # -- pods --------------------------------------------------------------------------------------

    def _pick_node(self, dep_uid: str) -> str:
        """Spread a deployment's pods over zones first, then nodes (round-robin, like topology spreading)."""
        nodes = [n for n in self._store[("", "nodes")].values()]
        if not nodes:
            return ""
        per_node: dict[str, int] = {n["metadata"]["name"]: 0 for n in nodes}
        total: dict[str, int] = {n["metadata"]["name"]: 0 for n in nodes}
        for pod in self._store[("", "pods")].values():
            node = pod["spec"].get("nodeName", "")
            if node in total:
                total[node] += 1
                refs = pod["metadata"].get("ownerReferences") or []
                if any(r.get("uid") == dep_uid for r in refs):
                    per_node[node] += 1
        zone_of = {
            n["metadata"]["name"]: n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes
        }
        per_zone: dict[str, int] = {}
        for node, count in per_node.items():
            per_zone[zone_of[node]] = per_zone.get(zone_of[node], 0) + count
        order = {n["metadata"]["name"]: i for i, n in enumerate(nodes)}
        return min(per_node, key=lambda n: (per_zone[zone_of[n]], per_node[n], total[n], order[n]))

    def _alloc_pod_ip(self, node: str) -> str:
        net = self._node_ranges.get(node)
        if net is None:
            return ""
        for offset in range(2, net.num_addresses - 1):  # .0 network, .1 the node's bridge
            ip = str(net.network_address + offset)
            if ip not in self._used_ips:
                self._used_ips.add(ip)
                return ip
        return ""

    def _create_pod(self, rs: dict, dep: dict) -> None:
        ns = rs["metadata"]["namespace"]
        template = copy.deepcopy(rs["spec"]["template"])
        while True:
            name = f"{rs['metadata']['name']}-{self._suffix()}"
            if (ns, name) not in self._store[("", "pods")]:
                break
        node = self._pick_node(rs["metadata"]["uid"])
        now = self._now()
        pod_spec = template.get("spec") or {}
        pod_spec["nodeName"] = node
        pod_spec.setdefault("serviceAccountName", "default")
        pod_spec.setdefault("serviceAccount", "default")
        pod_spec.setdefault("enableServiceLinks", True)
        pod_spec.setdefault("preemptionPolicy", "PreemptLowerPriority")
        pod_spec.setdefault("priority", 0)
        pod_spec.setdefault(
            "tolerations",
            [
                {
                    "key": "node.kubernetes.io/not-ready",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
                {
                    "key": "node.kubernetes.io/unreachable",
                    "operator": "Exists",
                    "effect": "NoExecute",
                    "tolerationSeconds": 300,
                },
            ],
        )
        node_obj = self._store[("", "nodes")].get(("", node))
        host_ip = ""
        if node_obj:
            host_ip = next(
                (a["address"] for a in node_obj["status"]["addresses"] if a["type"] == "InternalIP"), ""
            )
        pod_ip = self._alloc_pod_ip(node)
        meta = self._meta(
            name,
            ns,
            generateName=rs["metadata"]["name"] + "-",
            labels=dict((template.get("metadata") or {}).get("labels") or {}),
            ownerReferences=[self._owner_ref("apps/v1", "ReplicaSet", rs)],
        )
        ready_delay = self._safe_delay("pod_ready")
        pod = {
            "metadata": meta,
            "spec": pod_spec,
            "status": {
                "phase": "Pending",
                "hostIP": host_ip,
                "hostIPs": [{"ip": host_ip}] if host_ip else [],
                "podIP": pod_ip,
                "podIPs": [{"ip": pod_ip}] if pod_ip else [],
                "startTime": self._ts(now),
                "qosClass": "BestEffort",
            },
        }
        self._store[("", "pods")][(ns, name)] = pod
        images = [c.get("image", "") for c in pod_spec.get("containers") or []]
        pullable = all(self._can_pull(img, self._egress) for img in images)
        self._pods_rt[(ns, name)] = _PodRun(
            created=now,
            ready_delay=ready_delay,
            endpoints_delay=self._safe_delay("endpoints_ready"),
            fail_delay=max(ready_delay * 0.25, 0.0),
            pull_start=now if pullable else None,
        )
        self._event(
            pod,
            "Normal",
            "Scheduled",
            f"Successfully assigned {ns}/{name} to {node}",
            now,
            source="default-scheduler",
        )
        for img in images:
            self._event(pod, "Normal", "Pulling", f'Pulling image "{img}"', now)
        self._event(
            rs,
            "Normal",
            "SuccessfulCreate",
            f"Created pod: {name}",
            now,
            kind="ReplicaSet",
            api_version="apps/v1",
            source="replicaset-controller",
        )
        self._refresh_pod((ns, name), pod, self._egress, now)

    def _forget_pod(self, ns: str, name: str) -> None:
        pod = self._remove(("", "pods"), (ns, name))
        self._pods_rt.pop((ns, name), None)
        if pod is not None:
            self._used_ips.discard(pod["status"].get("podIP", ""))

    def _can_pull(self, image: str, egress: bool) -> bool:
        return (not self.private_nodes) or egress or is_google_registry(image)

    def _pull_failure_message(self, pod: dict, image: str) -> str:
        registry, repo, tag = _image_reference_parts(image)
        host = "registry-1.docker.io" if registry == "docker.io" else registry
        ref = image if "/" in image and image_registry(image) != "docker.io" else f"docker.io/{repo}:{tag}"
        if image_registry(image) == "docker.io" and image.startswith("docker.io/"):
            ref = image
        node = pod["spec"].get("nodeName", "")
        return (
            f'Failed to pull image "{image}": failed to pull and unpack image "{ref}": failed to resolve '
            f'reference "{ref}": failed to do request: Head "https://{host}/v2/{repo}/manifests/{tag}": '
            f"dial tcp: lookup {host}: i/o timeout (node {node} is a private node with no route to the "
            f"internet: the region has no Cloud NAT, and only Google registries such as gcr.io and "
            f"*.pkg.dev are reachable through Private Google Access)"
        )

    def _event(
        self,
        obj: dict,
        etype: str,
        reason: str,
        message: str,
        mono: float,
        kind: str = "Pod",
        api_version: str = "v1",
        source: str = "kubelet",
    ) -> tuple[str, str]:
        meta = obj["metadata"]
        ns = meta.get("namespace", "default")
        ts = self._ts(mono)
        name = f"{meta['name']}.{self._rng.getrandbits(64):016x}"
        involved = {
            "kind": kind,
            "namespace": ns,
            "name": meta["name"],
            "uid": meta["uid"],
            "apiVersion": api_version,
            "resourceVersion": meta.get("resourceVersion", ""),
        }
        if kind == "Pod" and source == "kubelet":
            first = (obj["spec"].get("containers") or [{}])[0].get("name", "")
            involved["fieldPath"] = f"spec.containers{{{first}}}"
        src = {"component": source}
        if source == "kubelet":
            src["host"] = obj["spec"].get("nodeName", "")
        event = {
            "metadata": {
                "name": name,
                "namespace": ns,
                "uid": self._uid(),
                "resourceVersion": self._next_rv(),
                "creationTimestamp": ts,
            },
            "involvedObject": involved,
            "reason": reason,
            "message": message,
            "source": src,
            "firstTimestamp": ts,
            "lastTimestamp": ts,
            "count": 1,
            "type": etype,
            "eventTime": None,
            "reportingComponent": source,
            "reportingInstance": src.get("host", ""),
        }
        self._store[("", "events")][(ns, name)] = event
        return (ns, name)

    def _refresh_pod(self, key: tuple[str, str], pod: dict, egress: bool, now: float) -> None:
        rt = self._pods_rt.get(key)
        if rt is None:
            return
        containers = pod["spec"].get("containers") or []
        images = [c.get("image", "") for c in containers]
        if rt.ready_at is None:
            if rt.pull_start is None and all(self._can_pull(i, egress) for i in images):
                rt.pull_start = now  # egress appeared (Cloud NAT added): the next back-off retry succeeds
                for img in images:
                    self._event(pod, "Normal", "Pulling", f'Pulling image "{img}"', now)
            if rt.pull_start is None and rt.failed_at is None and now >= rt.created + rt.fail_delay:
                rt.failed_at = rt.created + rt.fail_delay
                for img in images:
                    if not self._can_pull(img, egress):
                        rt.repeating.append(
                            self._event(
                                pod, "Warning", "Failed", self._pull_failure_message(pod, img), rt.failed_at
                            )
                        )
                rt.repeating.append(
                    self._event(pod, "Warning", "Failed", "Error: ErrImagePull", rt.failed_at)
                )
            if (
                rt.pull_start is None
                and rt.failed_at is not None
                and not rt.backoff_noted
                and (now >= rt.failed_at + rt.fail_delay)
            ):
                rt.backoff_noted = True
                at = rt.failed_at + rt.fail_delay
                for img in images:
                    if not self._can_pull(img, egress):
                        rt.repeating.append(
                            self._event(pod, "Normal", "BackOff", f'Back-off pulling image "{img}"', at)
                        )
                rt.repeating.append(self._event(pod, "Warning", "Failed", "Error: ImagePullBackOff", at))
            if rt.pull_start is None and rt.backoff_noted:
                self._count_retries(rt, now)
            if rt.pull_start is not None and now >= rt.pull_start + rt.ready_delay:
                rt.ready_at = rt.pull_start + rt.ready_delay
                pulled = rt.pull_start + rt.ready_delay * 0.9
                for c in containers:
                    img = c.get("image", "")
                    self._event(
                        pod,
                        "Normal",
                        "Pulled",
                        f'Successfully pulled image "{img}" in '
                        f"{rt.ready_delay * 0.9:.3f}s (including waiting)",
                        pulled,
                    )
                    self._event(
                        pod, "Normal", "Created", f"Created container: {c.get('name', '')}", rt.ready_at
                    )
                    self._event(
                        pod, "Normal", "Started", f"Started container {c.get('name', '')}", rt.ready_at
                    )
        status = self._pod_status(pod, rt, now)
        if status != pod["status"]:
            pod["status"] = status
            pod["metadata"]["resourceVersion"] = self._next_rv()

    def _count_retries(self, rt: _PodRun, now: float) -> None:
        """The kubelet retries a failing pull with back-off (10 s doubling to 300 s at scale 1): the
        pod's failure events repeat, which the API shows as a growing count."""
        unit = 2 * rt.fail_delay
        if unit <= 0 or rt.failed_at is None:
            return
        start = rt.failed_at + rt.fail_delay
        retries, step, last = 0, unit, start
        while last + step <= now and retries < 10_000:
            last += step
            retries += 1
            step = min(step * 2, 30 * unit)
        for key in rt.repeating:
            event = self._store[("", "events")].get(key)
            if event is None or event["count"] == retries + 1:
                continue
            event["count"] = retries + 1
            event["lastTimestamp"] = self._ts(last)
            event["metadata"]["resourceVersion"] = self._next_rv()

    def _pod_status(self, pod: dict, rt: _PodRun, now: float) -> dict:
        old = pod["status"]
        containers = pod["spec"].get("containers") or []
        created_ts = self._ts(rt.created)
        status = {
            k: old[k] for k in ("hostIP", "hostIPs", "podIP", "podIPs", "startTime", "qosClass") if k in old
        }
        ready = rt.ready_at is not None
        ready_ts = self._ts(rt.ready_at) if ready else created_ts
        statuses = []
        for c in containers:
            image = c.get("image", "")
            registry, repo, tag = _image_reference_parts(image)
            cs: dict = {
                "name": c.get("name", ""),
                "image": image if ready else image,
                "imageID": (f"{registry}/{repo}@sha256:" + hashlib.sha256(image.encode()).hexdigest())
                if ready
                else "",
                "ready": ready,
                "restartCount": 0,
                "started": ready,
                "lastState": {},
            }
            if ready:
                cs["state"] = {"running": {"startedAt": ready_ts}}
                cs["containerID"] = (
                    "containerd://"
                    + hashlib.sha256((pod["metadata"]["uid"] + cs["name"]).encode()).hexdigest()
                )
            elif rt.pull_start is None and rt.failed_at is not None:
                reason = "ImagePullBackOff" if rt.backoff_noted else "ErrImagePull"
                message = (
                    (
                        f'Back-off pulling image "{image}": ErrImagePull: '
                        + self._pull_failure_message(pod, image)
                    )
                    if rt.backoff_noted
                    else self._pull_failure_message(pod, image)
                )
                cs["state"] = {"waiting": {"reason": reason, "message": message}}
            else:
                cs["state"] = {"waiting": {"reason": "ContainerCreating"}}
            statuses.append(cs)
        unready = [c.get("name", "") for c in containers] if not ready else []

        def cond(
            ctype: str, ok: bool, ts: str, reason: str | None = None, message: str | None = None
        ) -> dict:
            c = {
                "type": ctype,
                "status": "True" if ok else "False",
                "lastProbeTime": None,
                "lastTransitionTime": ts,
            }
            if reason:
                c["reason"] = reason
            if message:
                c["message"] = message
            return c

        unready_msg = f"containers with unready status: [{' '.join(unready)}]" if unready else None
        status["phase"] = "Running" if ready else "Pending"
        status["conditions"] = [
            cond("PodReadyToStartContainers", True, created_ts),
            cond("Initialized", True, created_ts),
            cond("Ready", ready, ready_ts, None if ready else "ContainersNotReady", unready_msg),
            cond("ContainersReady", ready, ready_ts, None if ready else "ContainersNotReady", unready_msg),
            cond("PodScheduled", True, created_ts),
        ]
        status["containerStatuses"] = statuses
        return status

    # -- services ----------------------------------------------------------------------------------

    def _validate_service(self, obj: dict, old: dict | None) -> None:
        name = obj["metadata"]["name"]
        spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
        causes: list[tuple[str, str, str]] = []
        if not _DNS1035_LABEL.match(name) or len(name) > 63:
            causes.append(("metadata.name", "FieldValueInvalid", f'Invalid value: "{name}": {_DNS1035_MSG}'))
        stype = spec.get("type", "ClusterIP")
        if stype not in ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName"):
            causes.append(
                (
                    "spec.type",
                    "FieldValueNotSupported",
                    f'Unsupported value: "{stype}": supported values: "ClusterIP", "ExternalName", '
                    '"LoadBalancer", "NodePort"',
                )
            )
        ports = spec.get("ports") or []
        if not ports and stype != "ExternalName":
            causes.append(("spec.ports", "FieldValueRequired", "Required value"))
        names = set()
        for i, port in enumerate(ports):
            p = f"spec.ports[{i}]"
            if not isinstance(port, dict):
                causes.append((p, "FieldValueInvalid", "Invalid value: must be an object"))
                continue
            num = port.get("port")
            if not isinstance(num, int) or not 1 <= num <= 65535:
                causes.append(
                    (
                        f"{p}.port",
                        "FieldValueInvalid",
                        f"Invalid value: {json.dumps(num)}: must be between 1 and 65535, inclusive",
                    )
                )
            if len(ports) > 1 and not port.get("name"):
                causes.append((f"{p}.name", "FieldValueRequired", "Required value"))
            if port.get("name") in names:
                causes.append((f"{p}.name", "FieldValueDuplicate", f'Duplicate value: "{port.get("name")}"'))
            names.add(port.get("name"))
            proto = port.get("protocol", "TCP")
            if proto not in ("TCP", "UDP", "SCTP"):
                causes.append(
                    (
                        f"{p}.protocol",
                        "FieldValueNotSupported",
                        f'Unsupported value: "{proto}": supported values: "SCTP", "TCP", "UDP"',
                    )
                )
        if old is not None:
            old_ip = old["spec"].get("clusterIP")
            new_ip = spec.get("clusterIP")
            if new_ip not in (None, "", old_ip):
                causes.append(
                    (
                        "spec.clusterIPs[0]",
                        "FieldValueInvalid",
                        f'Invalid value: []string{{"{new_ip}"}}: may not change once set',
                    )
                )
        if causes:
            raise _invalid("Service", "", name, causes)

    def _alloc_cluster_ip(self) -> str:
        # Random addresses from the upper (dynamic) part of the range, as the apiserver's allocator hands out;
        # the lower part is for fixed addresses such as kube-dns.
        net = self._svc_net
        size = net.num_addresses
        low = min(max(16, size // 16), size - 2)
        free = size - 1 - low
        start = self._rng.randrange(free) if free > 0 else 0
        for i in range(max(free, 0)):
            ip = str(net.network_address + low + (start + i) % free)
            if ip not in self._used_cluster_ips:
                self._used_cluster_ips.add(ip)
                return ip
        raise _ApiError(
            status_error(
                500, "InternalError", "Internal error occurred: failed to allocate a serviceIP: range is full"
            )
        )

    def _alloc_node_port(self) -> int:
        for _ in range(1000):
            port = self._rng.randint(30000, 32767)
            if port not in self._used_node_ports:
                self._used_node_ports.add(port)
                return port
        raise _ApiError(
            status_error(500, "InternalError", "Internal error occurred: failed to allocate a nodePort")
        )

    def _default_service(self, obj: dict, old: dict | None) -> None:
        spec = obj.setdefault("spec", {})
        spec.setdefault("type", "ClusterIP")
        spec.setdefault("sessionAffinity", "None")
        if spec["type"] != "ExternalName":
            if old is not None and old["spec"].get("clusterIP"):
                spec["clusterIP"] = old["spec"]["clusterIP"]
            elif spec.get("clusterIP") and spec["clusterIP"] != "None":
                ip = spec["clusterIP"]
                try:
                    in_range = ipaddress.ip_address(ip) in self._svc_net
                except ValueError:
                    in_range = False
                if not in_range or ip in self._used_cluster_ips:
                    reason = (
                        "provided IP is already allocated"
                        if in_range
                        else (
                            f"the provided IP ({ip}) is not in the valid range. "
                            f"The range of valid IPs is {self._svc_net}"
                        )
                    )
                    raise _invalid(
                        "Service",
                        "",
                        obj["metadata"]["name"],
                        [
                            (
                                "spec.clusterIPs",
                                "FieldValueInvalid",
                                f'Invalid value: []string{{"{ip}"}}: failed to allocate IP {ip}: {reason}',
                            )
                        ],
                    )
                self._used_cluster_ips.add(ip)
            elif spec.get("clusterIP") != "None":
                spec["clusterIP"] = self._alloc_cluster_ip()
            spec["clusterIPs"] = [spec["clusterIP"]]
            spec.setdefault("ipFamilies", ["IPv4"])
            spec.setdefault("ipFamilyPolicy", "SingleStack")
            spec.setdefault("internalTrafficPolicy", "Cluster")
        old_ports = {
            (p.get("port"), p.get("protocol", "TCP")): p
            for p in (old or {}).get("spec", {}).get("ports") or []
        }
        for port in spec.get("ports") or []:
            port.setdefault("protocol", "TCP")
            port.setdefault("targetPort", port.get("port"))
            if spec["type"] in ("NodePort", "LoadBalancer"):
                prev = old_ports.get((port.get("port"), port["protocol"]), {}).get("nodePort")
                if not port.get("nodePort"):
                    port["nodePort"] = prev or self._alloc_node_port()
            else:
                # Type-dependent fields are dropped when the type no longer uses them.
                self._used_node_ports.discard(port.pop("nodePort", None) or 0)
        if spec["type"] in ("NodePort", "LoadBalancer"):
            spec.setdefault("externalTrafficPolicy", "Cluster")
        else:
            spec.pop("externalTrafficPolicy", None)
        if spec["type"] == "LoadBalancer":
            spec.setdefault("allocateLoadBalancerNodePorts", True)
            obj["metadata"].setdefault("finalizers", ["service.kubernetes.io/load-balancer-cleanup"])
        else:
            spec.pop("allocateLoadBalancerNodePorts", None)
        if old is None or obj.get("status") is None:
            obj["status"] = {"loadBalancer": {}}

    def _after_write_service(self, obj: dict, old: dict | None, callbacks) -> None:
        ns, name = obj["metadata"]["namespace"], obj["metadata"]["name"]
        was_lb = old is not None and old["spec"].get("type") == "LoadBalancer"
        is_lb = obj["spec"].get("type") == "LoadBalancer"
        if is_lb:
            ports = [
                {
                    "name": p.get("name", ""),
                    "protocol": p.get("protocol", "TCP"),
                    "port": p.get("port"),
                    "nodePort": p.get("nodePort"),
                    "targetPort": p.get("targetPort"),
                }
                for p in obj["spec"].get("ports") or []
            ]
            old_ports = [
                (p.get("protocol"), p.get("port")) for p in (old or {}).get("spec", {}).get("ports") or []
            ]
            if not was_lb or old_ports != [(p["protocol"], p["port"]) for p in ports]:
                callbacks.append(lambda: self._on_lb(ns, name, ports))
                self._lb_ready[(ns, name)] = self._now() + self._lb_delay()
                self._event(
                    obj,
                    "Normal",
                    "EnsuringLoadBalancer",
                    "Ensuring load balancer",
                    self._now(),
                    kind="Service",
                    source="service-controller",
                )
        elif was_lb:
            callbacks.append(lambda: self._on_lb_deleted(ns, name))
            self._lb_ready.pop((ns, name), None)
            obj["status"] = {"loadBalancer": {}}
            obj["metadata"].pop("finalizers", None)

    def _lb_delay(self) -> float:
        try:
            return max(0.0, float(self._delay("load_balancer")))
        except Exception:
            return self._safe_delay("endpoints_ready")

    def _release_service(self, svc: dict, callbacks) -> None:
        ns, name = svc["metadata"]["namespace"], svc["metadata"]["name"]
        self._used_cluster_ips.discard(svc["spec"].get("clusterIP", ""))
        for port in svc["spec"].get("ports") or []:
            self._used_node_ports.discard(port.get("nodePort") or 0)
        if svc["spec"].get("type") == "LoadBalancer":
            self._lb_ready.pop((ns, name), None)
            callbacks.append(lambda: self._on_lb_deleted(ns, name))

    def _lb_ip(self, ns: str, name: str) -> str:
        digest = hashlib.sha256(f"{self.project}/{self.name}/{ns}/{name}".encode()).digest()
        return f"34.{digest[0] % 160 + 16}.{digest[1]}.{digest[2] % 254 + 1}"

    # -- pods, endpoints, deployment status: derived state --------------------------------------------

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

    def _pod_serving(self, key: tuple[str, str], now: float) -> bool:
        rt = self._pods_rt.get(key)
        return rt is not None and rt.ready_at is not None and now >= rt.ready_at + rt.endpoints_delay

    def _selected_pods(self, svc: dict) -> list[tuple[tuple[str, str], dict]]:
        selector = svc["spec"].get("selector")
        if not selector:
            return []
        ns = svc["metadata"]["namespace"]
        reqs = [(k, "=", [v]) for k, v in selector.items()]
        return [
            (k, p)
            for k, p in sorted(self._store[("", "pods")].items())
            if k[0] == ns and labels_match(p["metadata"].get("labels") or {}, reqs)
        ]

    @staticmethod
    def _resolve_target_port(pod: dict, target: object) -> int | None:
        if isinstance(target, int):
            return target
        if isinstance(target, str) and target.isdigit():
            return int(target)
        for c in pod["spec"].get("containers") or []:
            for p in c.get("ports") or []:
                if p.get("name") == target:
                    return p.get("containerPort")
        return None

    def _refresh_service(self, key: tuple[str, str], svc: dict, now: float) -> None:
        ns, name = key
        if svc["spec"].get("type") == "LoadBalancer":
            ready_at = self._lb_ready.get(key)
            want = {"loadBalancer": {}}
            if ready_at is not None and now >= ready_at:
                want = {"loadBalancer": {"ingress": [{"ip": self._lb_ip(ns, name), "ipMode": "VIP"}]}}
            if svc.get("status") != want:
                svc["status"] = want
                svc["metadata"]["resourceVersion"] = self._next_rv()
                if want["loadBalancer"]:
                    self._event(
                        svc,
                        "Normal",
                        "EnsuredLoadBalancer",
                        "Ensured load balancer",
                        ready_at or now,
                        kind="Service",
                        source="service-controller",
                    )
        if not svc["spec"].get("selector"):
            return
        ready, not_ready = [], []
        for pkey, pod in self._selected_pods(svc):
            ip = pod["status"].get("podIP")
            if not ip:
                continue
            addr = {
                "ip": ip,
                "nodeName": pod["spec"].get("nodeName", ""),
                "targetRef": {
                    "kind": "Pod",
                    "namespace": ns,
                    "name": pod["metadata"]["name"],
                    "uid": pod["metadata"]["uid"],
                },
            }
            (ready if self._pod_serving(pkey, now) else not_ready).append((addr, pod))
        subsets = []
        if ready or not_ready:
            sample = (ready + not_ready)[0][1]
            ports = []
            for sp in svc["spec"].get("ports") or []:
                tp = self._resolve_target_port(sample, sp.get("targetPort", sp.get("port")))
                if tp is None:
                    continue
                ep = {"port": tp, "protocol": sp.get("protocol", "TCP")}
                if sp.get("name"):
                    ep["name"] = sp["name"]
                ports.append(ep)
            subset: dict = {}
            if ready:
                subset["addresses"] = [a for a, _ in ready]
            if not_ready:
                subset["notReadyAddresses"] = [a for a, _ in not_ready]
            subset["ports"] = ports
            if ports:
                subsets.append(subset)
        store = self._store[("", "endpoints")]
        current = store.get(key)
        if current is None:
            current = {
                "metadata": self._meta(name, ns, labels=dict(svc["metadata"].get("labels") or {})),
            }
            store[key] = current
        if subsets and current.get("subsets") != subsets:
            current["subsets"] = subsets
            current["metadata"]["resourceVersion"] = self._next_rv()
        elif not subsets and "subsets" in current:
            current.pop("subsets")
            current["metadata"]["resourceVersion"] = self._next_rv()

    def _refresh_deployment(self, dep: dict, now: float) -> None:
        self._reconcile_deployment(dep)
        meta, spec = dep["metadata"], dep["spec"]
        new_rs = self._new_replicaset(dep)
        rs_name = new_rs["metadata"]["name"]
        all_rs = self._owned_replicasets(dep)
        for rs in all_rs:
            pods = self._rs_pods(rs)
            n_ready = sum(1 for k, _ in pods if self._is_ready(k))
            rs_status = {
                "replicas": len(pods),
                "fullyLabeledReplicas": len(pods),
                "observedGeneration": rs["metadata"].get("generation", 1),
            }
            if n_ready:
                rs_status["readyReplicas"] = n_ready
                rs_status["availableReplicas"] = n_ready
            if rs.get("status") != rs_status:
                rs["status"] = rs_status
                rs["metadata"]["resourceVersion"] = self._next_rv()
        pods = [kp for rs in all_rs for kp in self._rs_pods(rs)]
        updated = self._rs_pods(new_rs)
        ready = [k for k, _ in pods if self._is_ready(k)]
        desired = spec["replicas"]
        status: dict = {"observedGeneration": meta.get("generation", 1)}
        if pods:
            status["replicas"] = len(pods)
        if updated:
            status["updatedReplicas"] = len(updated)
        if ready:
            status["readyReplicas"] = len(ready)
            status["availableReplicas"] = len(ready)
        if desired - len(ready) > 0:
            status["unavailableReplicas"] = desired - len(ready)
        old_conds = {c["type"]: c for c in (dep.get("status") or {}).get("conditions") or []}
        available = len(ready) >= desired - self._max_unavailable(spec, desired)
        last_ready = max((self._pods_rt[k].ready_at or now for k in ready), default=now)

        def cond(ctype: str, ok: bool, reason: str, message: str, at: float) -> dict:
            prev = old_conds.get(ctype)
            st = "True" if ok else "False"
            ts = self._ts(at)
            if prev and prev["status"] == st and prev["reason"] == reason:
                return prev
            return {
                "type": ctype,
                "status": st,
                "lastUpdateTime": ts,
                "lastTransitionTime": prev["lastTransitionTime"] if prev and prev["status"] == st else ts,
                "reason": reason,
                "message": message,
            }

        conds = [
            cond(
                "Available",
                available,
                "MinimumReplicasAvailable" if available else "MinimumReplicasUnavailable",
                "Deployment has minimum availability."
                if available
                else "Deployment does not have minimum availability.",
                last_ready if available else now,
            )
        ]
        updated_ready = sum(1 for k, _ in updated if self._is_ready(k))
        progressing = old_conds.get("Progressing")
        complete = updated_ready >= desired and len(pods) == desired
        if complete:
            conds.append(
                cond(
                    "Progressing",
                    True,
                    "NewReplicaSetAvailable",
                    f'ReplicaSet "{rs_name}" has successfully progressed.',
                    last_ready,
                )
            )
        else:
            # The deadline runs from the last progress the rollout made.
            since = self._progress_mark.setdefault((meta["namespace"], meta["name"], rs_name), (now, -1))
            mark = (len(updated), updated_ready)
            if since[1] != mark:
                self._progress_mark[(meta["namespace"], meta["name"], rs_name)] = (now, mark)
                since = (now, mark)
            deadline = (
                spec.get("progressDeadlineSeconds", 600) * self._latency_scale
                if self._latency_scale
                else None
            )
            if deadline is not None and now - since[0] > deadline:
                conds.append(
                    cond(
                        "Progressing",
                        False,
                        "ProgressDeadlineExceeded",
                        f'ReplicaSet "{rs_name}" has timed out progressing.',
                        since[0] + deadline,
                    )
                )
            elif progressing is None or progressing.get("reason") == "NewReplicaSetCreated" and not pods:
                conds.append(
                    cond(
                        "Progressing",
                        True,
                        "NewReplicaSetCreated",
                        f'Created new replica set "{rs_name}"',
                        now,
                    )
                )
            else:
                conds.append(
                    cond(
                        "Progressing",
                        True,
                        "ReplicaSetUpdated",
                        f'ReplicaSet "{rs_name}" is progressing.',
                        now,
                    )
                )
        status["conditions"] = conds
        if dep.get("status") != status:
            dep["status"] = status
            meta["resourceVersion"] = self._next_rv()

    @staticmethod
    def _percent_or_int(value: object, desired: int, round_up: bool) -> int:
        if isinstance(value, str) and value.endswith("%"):
            exact = desired * int(value[:-1]) / 100
            return int(-(-exact // 1)) if round_up else int(exact)
        try:
            return int(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return 0

    @classmethod
    def _max_unavailable(cls, spec: dict, desired: int) -> int:
        value = ((spec.get("strategy") or {}).get("rollingUpdate") or {}).get("maxUnavailable", "25%")
        return cls._percent_or_int(value, desired, round_up=False)

    @classmethod
    def _max_surge(cls, spec: dict, desired: int) -> int:
        value = ((spec.get("strategy") or {}).get("rollingUpdate") or {}).get("maxSurge", "25%")
        return cls._percent_or_int(value, desired, round_up=True)

    # -- the apiserver's service proxy -------------------------------------------------------------

    def _service_proxy(self, req: Request, ns: str, ref: str, path: str, has_path: bool) -> Response:
        parts = ref.split(":")
        scheme = ""
        if len(parts) == 3:
            scheme, name, port_ref = parts
        elif len(parts) == 2:
            name, port_ref = parts
        else:
            name, port_ref = parts[0], ""
        if scheme not in ("", "http", "https"):
            return status_error(400, "BadRequest", f"invalid service request {ref!r}")
        svc = self._store[("", "services")].get((ns, name))
        if svc is None:
            raise _not_found("services", name)
        if not has_path and req.method in ("GET", "HEAD"):
            # The apiserver redirects the bare proxy URL to its trailing-slash form.
            location = req.path + "/" + ("?" + req.query if req.query else "")
            return Response(301, b"", None, [("Location", location)])
        ports = svc["spec"].get("ports") or []
        if port_ref:
            sp = next((p for p in ports if p.get("name") == port_ref or str(p.get("port")) == port_ref), None)
        else:
            sp = ports[0] if len(ports) == 1 else next((p for p in ports if not p.get("name")), None)
        if sp is None:
            return status_error(503, "ServiceUnavailable", f'no endpoints available for service "{ref}"')
        now = self._now()
        backends = []
        for pkey, pod in self._selected_pods(svc):
            if self._pod_serving(pkey, now):
                target = self._resolve_target_port(pod, sp.get("targetPort", sp.get("port")))
                if target is not None:
                    backends.append((pod, target))
        if not backends:
            return status_error(503, "ServiceUnavailable", f'no endpoints available for service "{ref}"')
        pod, target = backends[self._rng.randrange(len(backends))]
        pod_ip = pod["status"]["podIP"]
        images = [c.get("image", "") for c in pod["spec"].get("containers") or []]
        runs_echo = any("echoserver" in _image_reference_parts(i)[1] for i in images)
        if scheme == "https" or not runs_echo or target != ECHO_PORT:
            refused = (
                "connection refused"
                if not runs_echo or target != ECHO_PORT
                else "tls: first record does not look like a TLS handshake"
            )
            return status_error(
                503,
                "ServiceUnavailable",
                f"error trying to reach service: dial tcp {pod_ip}:{target}: connect: {refused}",
            )
        # The apiserver forwards the decoded path re-escaped the way Go's URL.EscapedPath does.
        backend_path = "/" + quote(path.lstrip("/"), safe="/$&+,:;=@") if path else "/"
        body = self._echo_report(req, pod_ip, target, backend_path, ns, ref)
        rt = self._pods_rt.get((ns, pod["metadata"]["name"]))
        if rt is not None:
            stamp = datetime.datetime.fromtimestamp(time.time(), datetime.UTC).strftime(
                "%d/%b/%Y:%H:%M:%S +0000"
            )
            uri = backend_path + ("?" + req.query if req.query else "")
            agent = req.headers.get("user-agent", "-")
            rt.logs.append(
                f'{self._proxy_source_ip()} - - [{stamp}] "{req.method} {uri} HTTP/1.1" 200 {len(body)} "-" '
                f'"{agent}"\n'
            )
        return Response(200, body, "text/plain", [("Server", "nginx/1.10.0")])

    def _proxy_source_ip(self) -> str:
        if self._master_net is not None:
            return str(self._master_net.network_address + 2)
        node = next(iter(self._store[("", "nodes")].values()), None)
        if node:
            return node["status"]["addresses"][0]["address"]
        return "127.0.0.1"

    def _echo_report(self, req: Request, pod_ip: str, port: int, path: str, ns: str, ref: str) -> bytes:
        """What echoserver 1.4 (nginx + lua) prints for the request the apiserver forwards to the pod."""
        uri = path + ("?" + req.query if req.query else "")
        hop_by_hop = {
            "connection",
            "keep-alive",
            "proxy-connection",
            "proxy-authenticate",
            "proxy-authorization",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "authorization",
            "host",
        }
        headers: dict[str, str] = {}
        for k, v in req.raw_headers:
            lk = k.lower()
            if lk in hop_by_hop:
                continue
            headers[lk] = v if lk not in headers else headers[lk] + ", " + v
        headers["host"] = f"{pod_ip}:{port}"
        prefix = f"/api/v1/namespaces/{ns}/services/{ref}/proxy"
        forwarded_uri = prefix + path
        headers["x-forwarded-uri"] = forwarded_uri
        headers["x-forwarded-host"] = req.headers.get("host", self.endpoint)
        headers["x-forwarded-proto"] = "https"
        prior = req.headers.get("x-forwarded-for")
        headers["x-forwarded-for"] = f"{prior}, {req.client_ip}" if prior else req.client_ip
        if req.body:
            headers["content-length"] = str(len(req.body))
        else:
            headers.pop("content-length", None)
        lines = [
            "CLIENT VALUES:",
            f"client_address={self._proxy_source_ip()}",
            f"command={req.method}",
            f"real path={uri}",
            f"query={req.query if req.query else 'nil'}",
            "request_version=1.1",
            f"request_uri=http://{pod_ip}:{port}{uri}",
            "",
            "SERVER VALUES:",
            "server_version=nginx: 1.10.0 - lua: 10001",
            "",
            "HEADERS RECEIVED:",
        ]
        lines += [f"{k}={headers[k]}" for k in sorted(headers)]
        text = "\n".join(lines) + "\nBODY:\n"
        if req.body:
            return text.encode() + req.body
        return (text + "-no body in request-\n").encode()

    # -- pods endpoint hooks used by the generic verbs (pods are created by controllers only) ----------

    def _validate_pod(self, obj: dict, old: dict | None) -> None:
        pass

    def _default_pod(self, obj: dict, old: dict | None) -> None:
        pass

    def _after_write_pod(self, obj: dict, old: dict | None, callbacks) -> None:
        pass
