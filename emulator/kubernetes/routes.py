"""URL routing of the apiserver's paths to verbs, the service proxy and discovery."""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, unquote

from emulator.kube_server import Request, Response, json_response, status_error
from emulator.kubernetes.errors import not_found
from emulator.kubernetes.objects import GROUPS, KINDS, _Kind


class _Routes:
    """Maps a request path to a resource kind and verb."""

    def _route(self, req: Request, callbacks: list) -> Response:
        path = unquote(req.path)
        query = {k: v[-1] for k, v in parse_qs(req.query, keep_blank_values=True).items()}
        segs = path.split("/")
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
                            "name": group,
                            "versions": [{"groupVersion": f"{group}/v1", "version": "v1"}],
                            "preferredVersion": {"groupVersion": f"{group}/v1", "version": "v1"},
                        }
                        for group in GROUPS
                    ],
                },
            )
        if len(segs) >= 2 and segs[:2] == ["api", "v1"]:
            group, rest = "", segs[2:]
        elif len(segs) >= 3 and segs[0] == "apis" and segs[1] in GROUPS and segs[2] == "v1":
            group, rest = segs[1], segs[3:]
        else:
            return Response(404, b"404 page not found\n", "text/plain; charset=utf-8")
        if not rest:
            return self._resource_list(group)
        # Namespaced forms: namespaces/{ns}/{resource}[/{name}[/{sub}...]]
        if rest[0] == "namespaces" and len(rest) >= 3:
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
                "groupVersion": f"{group}/v1" if group else "v1",
                "resources": resources,
            },
        )

    def _dispatch(
        self, req: Request, kind: _Kind, ns: str, tail: list[str], query: dict, callbacks
    ) -> Response:
        method = req.method
        if kind.namespaced and not self._namespace_exists(ns) and method in ("POST",):
            raise not_found("namespaces", ns)
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
