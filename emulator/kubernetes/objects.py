"""The resource table and the metadata every stored object carries."""

from __future__ import annotations

import copy
import datetime
import uuid
from dataclasses import dataclass

from emulator.kubernetes.errors import not_found

DEFAULT_VERSION = "1.33.5-gke.1201000"
SYSTEM_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_NAME_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # what Kubernetes uses for generated name suffixes


def _rfc3339(wall: float) -> str:
    return datetime.datetime.fromtimestamp(wall, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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


RBAC = "rbac.authorization.k8s.io"
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
    (RBAC, "roles"): _Kind("Role", "roles", RBAC, "v1", True, _CRUD),
    (RBAC, "rolebindings"): _Kind("RoleBinding", "rolebindings", RBAC, "v1", True, _CRUD),
    (RBAC, "clusterroles"): _Kind("ClusterRole", "clusterroles", RBAC, "v1", False, _CRUD),
    (RBAC, "clusterrolebindings"): _Kind(
        "ClusterRoleBinding", "clusterrolebindings", RBAC, "v1", False, _CRUD
    ),
}
# the API groups served, besides the core group "" (served under /api/v1)
GROUPS = ("apps", RBAC)


class _Objects:
    """Object store plumbing: clock, resource versions, uids, metadata, tombstones."""

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

    def _meta(self, name: str, namespace: str | None = None, **extra) -> dict:
        meta = {"name": name}
        if namespace is not None:
            meta["namespace"] = namespace
        meta.update({"uid": self._uid(), "resourceVersion": self._next_rv(), "creationTimestamp": self._ts()})
        meta.update(extra)
        return meta

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

    def _safe_delay(self, what: str) -> float:
        try:
            return max(0.0, float(self._delay(what)))
        except Exception:
            return 0.0

    def _namespace_exists(self, ns: str) -> bool:
        return ("", ns) in self._store[("", "namespaces")]

    def _get(self, kind: _Kind, ns: str, name: str) -> dict:
        obj = self._store[(kind.group, kind.resource)].get((ns, name))
        if obj is None:
            raise not_found(kind.resource, name, kind.group)
        return obj

    def _out(self, kind: _Kind, obj: dict) -> dict:
        return {"kind": kind.kind, "apiVersion": kind.api_version, **copy.deepcopy(obj)}
