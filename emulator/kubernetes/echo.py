"""The echoserver's report of a request, as the service proxy delivers it."""

from __future__ import annotations

from emulator.kube_server import Request


def echo_report(
    req: Request, pod_ip: str, port: int, path: str, ns: str, ref: str, source_ip: str, endpoint: str
) -> bytes:
    """What echoserver 1.4 (nginx + lua) prints for the request the apiserver forwards to the pod.

    ``source_ip`` is where the forwarded request comes from; ``endpoint`` the apiserver's own address.
    """
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
    headers["x-forwarded-host"] = req.headers.get("host", endpoint)
    headers["x-forwarded-proto"] = "https"
    prior = req.headers.get("x-forwarded-for")
    headers["x-forwarded-for"] = f"{prior}, {req.client_ip}" if prior else req.client_ip
    if req.body:
        headers["content-length"] = str(len(req.body))
    else:
        headers.pop("content-length", None)
    lines = [
        "CLIENT VALUES:",
        f"client_address={source_ip}",
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
