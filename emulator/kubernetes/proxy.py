"""The apiserver's service proxy."""

from __future__ import annotations

import datetime
import time
from urllib.parse import quote

from emulator.kube_server import Request, Response, status_error
from emulator.kubernetes.echo import echo_report, server_header
from emulator.kubernetes.errors import not_found
from emulator.kubernetes.images import image_reference_parts

ECHO_PORT = 8080  # echoserver 1.4 and 1.10 (nginx) listen here


class _Proxy:
    """Proxies to a serving pod of a service."""

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
            raise not_found("services", name)
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
        runs_echo = any("echoserver" in image_reference_parts(i)[1] for i in images)
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
        tag = next(
            (image_reference_parts(i)[2] for i in images if "echoserver" in image_reference_parts(i)[1]),
            "1.4",
        )
        body = echo_report(
            req,
            pod_ip,
            target,
            backend_path,
            ns,
            ref,
            self._proxy_source_ip(),
            self.endpoint,
            tag=tag,
            hostname=pod["metadata"]["name"],
        )
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
        return Response(200, body, "text/plain", [("Server", server_header(tag))])

    def _proxy_source_ip(self) -> str:
        control_plane = self._control_plane_ip()
        if control_plane:
            return control_plane
        node = next(iter(self._store[("", "nodes")].values()), None)
        if node:
            return node["status"]["addresses"][0]["address"]
        return "127.0.0.1"
