"""The echoserver's report of a request, as the service proxy delivers it."""

from __future__ import annotations

from emulator.kube_server import Request


def _forwarded_headers(
    req: Request, pod_ip: str, port: int, path: str, ns: str, ref: str, endpoint: str
) -> dict:
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
    return headers


def server_header(tag: str) -> str:
    return "nginx/1.10.0" if tag == "1.4" else "nginx/1.13.3"


def echo_report(
    req: Request,
    pod_ip: str,
    port: int,
    path: str,
    ns: str,
    ref: str,
    source_ip: str,
    endpoint: str,
    tag: str = "1.4",
    hostname: str = "",
) -> bytes:
    """What the echoserver prints for the request the apiserver forwards to the pod: 1.4's report for tag
    1.4, 1.10's for later tags.

    ``source_ip`` is where the forwarded request comes from; ``endpoint`` the apiserver's own address.
    """
    headers = _forwarded_headers(req, pod_ip, port, path, ns, ref, endpoint)
    if tag != "1.4":
        return _report_1_10(req, pod_ip, port, path, source_ip, headers, hostname)
    uri = path + ("?" + req.query if req.query else "")
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


def _report_1_10(
    req: Request, pod_ip: str, port: int, path: str, source_ip: str, headers: dict, hostname: str
) -> bytes:
    """echoserver 1.10's report (nginx 1.13 + lua): Hostname, Pod Information, Server values, Request
    Information, Request Headers, Request Body; each value tab-indented under its section
    (kubernetes/website PR 47832 shows it in the tutorials that moved to echoserver:1.10)."""
    uri = path + ("?" + req.query if req.query else "")
    lines = [
        "",
        "",
        f"Hostname: {hostname}",
        "",
        "Pod Information:",
        "\t-no pod information available-",
        "",
        "Server values:",
        "\tserver_version=nginx: 1.13.3 - lua: 10008",
        "",
        "Request Information:",
        f"\tclient_address={source_ip}",
        f"\tmethod={req.method}",
        f"\treal path={uri}",
        f"\tquery={req.query or ''}",
        "\trequest_version=1.1",
        "\trequest_scheme=http",
        f"\trequest_uri=http://{pod_ip}:{port}{uri}",
        "",
        "Request Headers:",
    ]
    lines += [f"\t{k}={headers[k]}" for k in sorted(headers)]
    text = "\n".join(lines) + "\n\nRequest Body:\n"
    if req.body:
        return text.encode() + req.body + b"\n"
    return (text + "\t-no body in request-\n\n").encode()
