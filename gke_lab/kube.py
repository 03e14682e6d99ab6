"""A Kubernetes API client for a GKE cluster, built the way `gcloud container clusters get-credentials` does.

Server `https://<endpoint>`, the cluster CA (base64 PEM from `master_auth.cluster_ca_certificate`) in a
private temporary file, and an OAuth2 bearer token from the Google credentials. A control plane that cannot
be reached is almost always master authorized networks: the error says so and names the endpoint.
"""

from __future__ import annotations

import base64
import binascii
import http.client
import os
import tempfile
import weakref
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import urllib3
from kubernetes import client as k8s
from kubernetes.client.exceptions import ApiException

from gke_lab import retry
from gke_lab.errors import DiagnosticError, LabError

T = TypeVar("T")

# (connect, read) seconds: a firewalled endpoint may accept TCP and never finish the TLS handshake.
DEFAULT_TIMEOUT = (15.0, 60.0)


class ControlPlaneUnreachable(DiagnosticError):
    """The Kubernetes API server did not answer (network path, TLS handshake refused or reset)."""

    def __init__(self, endpoint: str, reason: str, authorized_networks: Iterable[str] | None = None) -> None:
        listed = list(authorized_networks or [])
        where = f" (currently {', '.join(listed)})" if listed else ""
        super().__init__(
            f"Cannot reach the Kubernetes control plane at https://{endpoint}: {reason}. "
            "The cluster uses master authorized networks: the address this run connects from must be "
            f"inside cluster.master_authorized_networks{where}. Add your egress address as a /32 "
            "(e.g. --set 'cluster.master_authorized_networks=[{cidr: <your-ip>/32, name: me}]') "
            "or run from inside an authorized network.",
            resource=f"https://{endpoint}",
        )
        self.endpoint = endpoint


class ConnectionLost(Exception):
    """The API server closed the connection after the request was sent, without an answer: the request may
    have taken effect (a lost response). Transient: a retried create meets 409, a retried delete 404."""

    def __init__(self, endpoint: str, reason: str) -> None:
        super().__init__(f"the Kubernetes API server at https://{endpoint} closed the connection: {reason}")
        self.endpoint = endpoint


def _answer_lost(exc: BaseException) -> bool:
    """A connection closed after the request went out (not one refused before or during TLS)."""
    reason = getattr(exc, "reason", None) or exc  # MaxRetryError wraps the last error
    return isinstance(reason, urllib3.exceptions.ProtocolError) and any(
        isinstance(arg, http.client.RemoteDisconnected) for arg in reason.args
    )


class _ClusterApiClient(k8s.ApiClient):
    """ApiClient that always times out and turns connection failures into ControlPlaneUnreachable."""

    endpoint: str = ""
    authorized_networks: list[str] = []

    def call_api(  # type: ignore[no-untyped-def]  # the kubernetes client's own signature is untyped
        self, method, url, header_params=None, body=None, post_params=None, _request_timeout=None
    ):
        try:
            return super().call_api(
                method,
                url,
                header_params=header_params,
                body=body,
                post_params=post_params,
                _request_timeout=_request_timeout or DEFAULT_TIMEOUT,
            )
        except ApiException as exc:
            if exc.status == 0:  # the REST layer's shape for TLS failures
                raise ControlPlaneUnreachable(
                    self.endpoint, _short(exc.reason), self.authorized_networks
                ) from exc
            raise
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if _answer_lost(exc):
                raise ConnectionLost(self.endpoint, _short(exc)) from exc
            reason = getattr(exc, "reason", None) or exc  # MaxRetryError wraps the last connection error
            raise ControlPlaneUnreachable(self.endpoint, _short(reason), self.authorized_networks) from exc


def _short(text: Any) -> str:
    line = " ".join(str(text).split())
    return line[:300]


def write_ca_file(ca_certificate_b64: str) -> str:
    """The decoded CA in a file only this user can read (the kubernetes client wants a path)."""
    try:
        pem = base64.b64decode(ca_certificate_b64, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise LabError("cluster master_auth.cluster_ca_certificate is not valid base64") from exc
    fd, path = tempfile.mkstemp(prefix="gke-lab-ca-", suffix=".pem")  # created 0600
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
    return path


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def api_client(
    endpoint: str,
    ca_certificate_b64: str,
    token: str | Callable[[], str],
    *,
    authorized_networks: Iterable[str] | None = None,
) -> k8s.ApiClient:
    """An ApiClient for `https://<endpoint>`; the CA file lives as long as the client.

    `token` is a bearer token, or better a function answering a valid one (`Clients.access_token`), asked
    before every request: an access token expires (an hour on Google), and a rollout wait or a teardown may
    outlive it; the API server answers 401 to an expired token."""
    if not endpoint:
        raise LabError("the cluster has no endpoint yet (is it RUNNING?)")
    provider: Callable[[], str] | None = None
    if callable(token):
        provider = token
        first = token()
    else:
        first = token
    if not first:
        raise LabError("no access token for the Kubernetes API server")
    ca_path = write_ca_file(ca_certificate_b64)
    config = k8s.Configuration(
        host=f"https://{endpoint}",
        ssl_ca_cert=ca_path,
        api_key={"authorization": first},
        api_key_prefix={"authorization": "Bearer"},
        # Service-proxy paths carry "name:port" and sub-paths that must reach the server verbatim.
        safe_chars_for_path_param="/:",
        # A couple of quick connection retries; everything else is decided by the caller.
        retries=urllib3.Retry(total=2, connect=2, read=0, status=0, backoff_factor=0.2),
    )
    if provider is not None:
        # The client library declares the hook's attribute as None, though it calls it when set.
        config.refresh_api_key_hook = lambda cfg: cfg.api_key.update(authorization=provider())  # type: ignore[assignment]
    client = _ClusterApiClient(config)
    client.endpoint = endpoint
    client.authorized_networks = list(authorized_networks or [])
    weakref.finalize(client, _unlink, ca_path)
    return client


def api_client_for_cluster(cluster: Any, token: str | Callable[[], str]) -> k8s.ApiClient:
    """From a `container_v1.Cluster`: endpoint, CA and the authorized networks (for the error message)."""
    return api_client(
        cluster.endpoint,
        cluster.master_auth.cluster_ca_certificate,
        token,
        authorized_networks=authorized_cidrs(cluster),
    )


def authorized_cidrs(cluster: Any) -> list[str]:
    """The CIDRs allowed to reach the control plane, from the modern or the legacy field."""
    ip = cluster.control_plane_endpoints_config.ip_endpoints_config.authorized_networks_config
    legacy = cluster.master_authorized_networks_config
    config = ip if ip.enabled or not legacy.enabled else legacy
    return [b.cidr_block for b in config.cidr_blocks] if config.enabled else []


def access_from_cluster(cluster: Any) -> dict[str, Any]:
    """The plain, token-free values tasks pass around: endpoint, CA and authorized networks."""
    return {
        "endpoint": cluster.endpoint,
        "ca_certificate": cluster.master_auth.cluster_ca_certificate,
        "authorized_networks": authorized_cidrs(cluster),
    }


def is_transient(exc: BaseException) -> bool:
    """Kubernetes API errors worth retrying: throttling, server errors, optimistic-concurrency conflicts, and
    an answer lost with its connection."""
    if isinstance(exc, ConnectionLost):
        return True
    if isinstance(exc, ApiException):
        return exc.status in (409, 429) or (exc.status or 0) >= 500
    return False


def call(fn: Callable[[], T], *, resource: str, action: str, backoff: retry.Backoff = retry.DEFAULT) -> T:
    """One Kubernetes call with transient retries; permanent failures name the resource."""
    return retry.call(fn, resource=resource, action=action, retryable=is_transient, backoff=backoff)


def is_not_found(exc: BaseException) -> bool:
    return isinstance(exc, ApiException) and exc.status == 404
