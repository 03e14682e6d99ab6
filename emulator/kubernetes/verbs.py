"""The generic verbs: create, replace, patch, delete."""

from __future__ import annotations

import copy
import json

from emulator.kube_server import Request, Response, json_response, status_error
from emulator.kubernetes.errors import _ApiError, _bad_request, _BadRequest, _invalid, _not_found
from emulator.kubernetes.objects import SYSTEM_NAMESPACES, _Kind
from emulator.kubernetes.patches import json_merge_patch, json_patch, strategic_merge_patch


class _Verbs:
    """Create, update, patch and delete for every kind; kind rules come from its hooks."""

    def _json_body(self, req: Request) -> dict:
        # The kubernetes client sends POST bodies without Content-Type: parse JSON regardless.
        try:
            body = json.loads(req.body.decode() or "null")
        except (UnicodeDecodeError, ValueError) as exc:
            raise _bad_request(f"the object provided is unrecognized: {exc}") from None
        if not isinstance(body, dict):
            raise _bad_request("the object provided is unrecognized (must be a JSON object)")
        return body

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
