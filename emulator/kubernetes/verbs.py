"""The generic verbs: create, replace, patch, delete."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable

from emulator.kube_server import Request, Response, json_response, status_error
from emulator.kubernetes.errors import (
    BadRequest,
    already_exists,
    bad_request,
    conflict,
    invalid,
    namespace_terminating,
    not_found,
)
from emulator.kubernetes.objects import SYSTEM_NAMESPACES, _Kind
from emulator.kubernetes.patches import json_merge_patch, json_patch, strategic_merge_patch


class _Verbs:
    """Create, update, patch and delete for every kind; kind rules come from its hooks."""

    def _hook(self, kind: _Kind, stage: str) -> Callable:
        """A kind's rule for one stage of a write (``_validate_pod``, ``_default_service``, ...)."""
        return getattr(self, f"_{stage}_{kind.kind.lower()}")

    def _json_body(self, req: Request) -> dict:
        # The kubernetes client sends POST bodies without Content-Type: parse JSON regardless.
        try:
            body = json.loads(req.body.decode() or "null")
        except (UnicodeDecodeError, ValueError) as exc:
            raise bad_request(f"the object provided is unrecognized: {exc}") from None
        if not isinstance(body, dict):
            raise bad_request("the object provided is unrecognized (must be a JSON object)")
        return body

    def _check_body(self, kind: _Kind, ns: str, body: dict, name: str | None) -> dict:
        if body.get("kind") not in (None, kind.kind) or body.get("apiVersion") not in (
            None,
            kind.api_version,
        ):
            raise bad_request(
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
                raise bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request"
                )
            meta["namespace"] = ns
        if name is not None and meta.get("name") not in (None, name):
            raise bad_request(
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
            raise invalid(
                kind.kind,
                kind.group,
                "",
                [("metadata.name", "FieldValueRequired", "Required value: name or generateName is required")],
            )
        if kind.namespaced:
            nsobj = self._store[("", "namespaces")].get(("", ns))
            if nsobj is None:
                raise not_found("namespaces", ns)
            if nsobj["status"].get("phase") == "Terminating":
                raise namespace_terminating(kind.resource, name, kind.group, ns)
        store = self._store[(kind.group, kind.resource)]
        if (ns, name) in store:
            raise already_exists(kind.resource, name, kind.group)
        self._hook(kind, "validate")(body, None)
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
        if kind.kind == "Deployment":
            meta["generation"] = 1
        self._hook(kind, "default")(body, None)
        if dry_run:
            return json_response(201, self._out(kind, body))
        self._next_rv()
        store[(ns, name)] = body
        self._hook(kind, "after_write")(body, None, callbacks)
        self._refresh(self._egress)
        return json_response(201, self._out(kind, store[(ns, name)]))

    def _replace(
        self, kind: _Kind, ns: str, name: str, sub: str, body: dict, query: dict, callbacks
    ) -> Response:
        current = self._get(kind, ns, name)
        if sub == "scale":
            replicas = (body.get("spec") or {}).get("replicas", 0)
            rv = (body.get("metadata") or {}).get("resourceVersion")
            return self._write_scale(kind, current, replicas, rv, callbacks)
        body = self._check_body(kind, ns, body, name)
        return self._write(kind, current, sub, body, body["metadata"].get("resourceVersion"), callbacks)

    def _patch(
        self, kind: _Kind, ns: str, name: str, sub: str, req: Request, query: dict, callbacks
    ) -> Response:
        current = self._get(kind, ns, name)
        ctype = (req.headers.get("content-type") or "").split(";")[0].strip().lower()
        try:
            patch = json.loads(req.body.decode() or "null")
        except (UnicodeDecodeError, ValueError) as exc:
            raise bad_request(f"error decoding patch: {exc}") from None
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
        except BadRequest as err:
            raise bad_request(err.message) from None
        if not isinstance(patched, dict):
            raise bad_request("patch did not produce an object")
        if sub == "scale":
            replicas = (patched.get("spec") or {}).get("replicas", 0)
            return self._write_scale(kind, current, replicas, None, callbacks)
        patched = self._check_body(kind, ns, patched, name)
        rv = patched["metadata"].get("resourceVersion")
        if rv == current["metadata"]["resourceVersion"]:
            rv = None
        return self._write(kind, current, sub, patched, rv, callbacks)

    def _write_scale(
        self, kind: _Kind, current: dict, replicas: object, rv: str | None, callbacks
    ) -> Response:
        new = copy.deepcopy(current)
        new["spec"]["replicas"] = replicas
        return self._store_update(kind, current, new, rv, callbacks, scale=True)

    def _write(self, kind: _Kind, current: dict, sub: str, body: dict, rv: str | None, callbacks) -> Response:
        """Store body over current: via ``status`` only its status, otherwise all but its status."""
        if sub == "status":
            new = copy.deepcopy(current)
            new["status"] = body.get("status") or {}
            return self._store_update(kind, current, new, rv, callbacks)
        body["status"] = copy.deepcopy(current.get("status"))
        if body["status"] is None:
            body.pop("status")
        return self._store_update(kind, current, body, rv, callbacks)

    def _store_update(
        self, kind: _Kind, current: dict, new: dict, rv: str | None, callbacks, scale=False
    ) -> Response:
        meta = current["metadata"]
        ns, name = meta.get("namespace", ""), meta["name"]
        if rv and rv != meta["resourceVersion"]:
            raise conflict(kind.resource, name, kind.group)
        new_meta = new["metadata"]
        # Server-owned metadata survives every update.
        for key in ("uid", "creationTimestamp", "namespace", "name", "generation", "ownerReferences"):
            if key in meta:
                new_meta[key] = copy.deepcopy(meta[key])
            elif key in new_meta and key in ("uid", "creationTimestamp", "generation"):
                new_meta.pop(key)
        self._hook(kind, "validate")(new, current)
        self._hook(kind, "default")(new, current)
        if kind.kind == "Deployment" and new.get("spec") != current.get("spec"):
            new_meta["generation"] = int(meta.get("generation", 1)) + 1
        if new == current:
            out = self._scale_of(current) if scale else self._out(kind, current)
            return json_response(200, out)
        new_meta["resourceVersion"] = self._next_rv()
        self._store[(kind.group, kind.resource)][(ns, name)] = new
        self._hook(kind, "after_write")(new, current, callbacks)
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
                    self._now() + self._safe_delay("endpoints.ready") + 0.25 * self._safe_delay("pod.ready")
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
