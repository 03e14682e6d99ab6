"""Namespaces: rules, defaults and termination."""

from __future__ import annotations

import copy

from emulator.kubernetes.errors import invalid
from emulator.kubernetes.objects import RBAC
from emulator.kubernetes.validation import _DNS1123_LABEL, _LABEL_MSG


class _Namespaces:
    """Namespace hooks and deleting a namespace's contents."""

    def _namespace_object(
        self, name: str, labels: dict | None = None, annotations: dict | None = None
    ) -> dict:
        meta = self._meta(name, labels={**(labels or {}), "kubernetes.io/metadata.name": name})
        if annotations:
            meta["annotations"] = annotations
        return {"metadata": meta, "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}}

    def _validate_namespace(self, obj: dict, old: dict | None) -> None:
        name = obj["metadata"]["name"]
        if not _DNS1123_LABEL.match(name) or len(name) > 63:
            raise invalid(
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
        for res in (
            ("", "endpoints"),
            ("", "events"),
            ("apps", "replicasets"),
            (RBAC, "roles"),
            (RBAC, "rolebindings"),
        ):
            for key in list(self._store[res]):
                if key[0] == ns:
                    self._remove(res, key)
