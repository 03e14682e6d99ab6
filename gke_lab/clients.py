"""The one client factory: official Google Cloud clients, aimed at Google or at a local emulator.

The target is chosen the way Google's own emulators are chosen: when `GKE_LAB_EMULATOR_HOST=HOST:PORT` is
set, REST clients talk plain HTTP to it with anonymous credentials and the IAM gRPC client uses the address
the emulator announces. Otherwise Application Default Credentials, or explicit credentials (for example from
a prefect-gcp GcpCredentials block, resolved by the flow layer) are used. Nothing else in the code knows
which target it talks to.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.request
from collections.abc import Callable
from functools import cached_property
from typing import Any, TypeVar

import google.auth
import grpc
from google.api_core import exceptions as api_exceptions
from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials, Credentials
from google.auth.transport.requests import AuthorizedSession, Request
from google.cloud import (
    compute_v1,
    container_v1,
    iam_admin_v1,
    kms_v1,
    resourcemanager_v3,
    service_usage_v1,
)
from google.cloud.iam_admin_v1.services.iam.transports import IAMGrpcTransport

EMULATOR_ENV = "GKE_LAB_EMULATOR_HOST"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
SERVICE_USAGE_HOST = "https://serviceusage.googleapis.com"
_EMULATOR_TOKEN = "gke-lab-emulator-token"  # any non-empty bearer token is accepted there

_default_credentials: Credentials | None = None
_cache: dict[tuple[str | None, int], Clients] = {}
_lock = threading.Lock()

ClientT = TypeVar("ClientT")


def set_default_credentials(credentials: Credentials | None) -> None:
    """Credentials used by `Clients.from_env()` when none are passed (set once by the flow layer)."""
    global _default_credentials
    _default_credentials = credentials
    with _lock:
        _cache.clear()


def target_description() -> str:
    """Where calls go, for logs and the lab card ("Google Cloud" or the local address)."""
    host = os.environ.get(EMULATOR_ENV)
    return f"emulator at {host}" if host else "Google Cloud"


class Clients:
    """Lazily built, shared official clients for one target and one set of credentials."""

    def __init__(self, credentials: Credentials | None, emulator_host: str | None) -> None:
        self._emulator_host = emulator_host
        # On an emulator the API clients are anonymous (as with Google's own emulators), but explicit
        # credentials (a GcpCredentials block) still mint the Kubernetes API's token through their token_uri.
        self._token_credentials = credentials if emulator_host else None
        if emulator_host:
            self.credentials: Credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
        elif credentials is not None:
            self.credentials = credentials
        else:
            self.credentials, _ = google.auth.default(scopes=list(SCOPES))
        self._token_lock = threading.Lock()

    @classmethod
    def from_env(cls, credentials: Credentials | None = None) -> Clients:
        host = os.environ.get(EMULATOR_ENV) or None
        creds = credentials if credentials is not None else _default_credentials
        key = (host, id(creds) if creds is not None else 0)
        with _lock:
            found = _cache.get(key)
            if found is None:
                found = _cache[key] = cls(creds, host)
            return found

    # --- construction helpers -------------------------------------------------------------------------
    def _rest(self, client_cls: type[ClientT], **extra: Any) -> ClientT:
        build: Callable[..., ClientT] = client_cls  # GAPIC constructors share these keyword arguments
        if self._emulator_host:
            options = ClientOptions(api_endpoint=f"http://{self._emulator_host}")
            return build(credentials=self.credentials, client_options=options, transport="rest", **extra)
        return build(credentials=self.credentials, transport="rest", **extra)

    # --- compute (REST only) ----------------------------------------------------------------------------
    @cached_property
    def networks(self) -> compute_v1.NetworksClient:
        return self._rest(compute_v1.NetworksClient)

    @cached_property
    def subnetworks(self) -> compute_v1.SubnetworksClient:
        return self._rest(compute_v1.SubnetworksClient)

    @cached_property
    def firewalls(self) -> compute_v1.FirewallsClient:
        return self._rest(compute_v1.FirewallsClient)

    @cached_property
    def routes(self) -> compute_v1.RoutesClient:
        return self._rest(compute_v1.RoutesClient)

    @cached_property
    def routers(self) -> compute_v1.RoutersClient:
        return self._rest(compute_v1.RoutersClient)

    @cached_property
    def instances(self) -> compute_v1.InstancesClient:
        return self._rest(compute_v1.InstancesClient)

    @cached_property
    def global_operations(self) -> compute_v1.GlobalOperationsClient:
        return self._rest(compute_v1.GlobalOperationsClient)

    @cached_property
    def region_operations(self) -> compute_v1.RegionOperationsClient:
        return self._rest(compute_v1.RegionOperationsClient)

    @cached_property
    def zone_operations(self) -> compute_v1.ZoneOperationsClient:
        return self._rest(compute_v1.ZoneOperationsClient)

    # --- container, KMS, resource manager (REST) ----------------------------------------------------------
    @cached_property
    def container(self) -> container_v1.ClusterManagerClient:
        return self._rest(container_v1.ClusterManagerClient)

    @cached_property
    def kms(self) -> kms_v1.KeyManagementServiceClient:
        return self._rest(kms_v1.KeyManagementServiceClient)

    @cached_property
    def projects(self) -> resourcemanager_v3.ProjectsClient:
        return self._rest(resourcemanager_v3.ProjectsClient)

    @cached_property
    def service_usage(self) -> service_usage_v1.ServiceUsageClient:
        return self._rest(service_usage_v1.ServiceUsageClient)

    def generate_service_identity(self, parent: str, service: str, timeout: float = 120.0) -> str:
        """Service Usage v1beta1 `services.generateServiceIdentity`: the service agent's email.

        The official client only has v1, which lacks this method, so it is one authorized REST call (and
        its operation polled) on the same target and credentials as the other clients.
        """
        host = f"http://{self._emulator_host}" if self._emulator_host else SERVICE_USAGE_HOST
        session = AuthorizedSession(self.credentials)  # type: ignore[no-untyped-call]
        response = session.post(f"{host}/v1beta1/{parent}/services/{service}:generateServiceIdentity")
        start = time.monotonic()
        while True:
            if response.status_code >= 400:
                raise api_exceptions.from_http_response(response)  # type: ignore[no-untyped-call]  # google api_core is untyped
            operation = response.json()
            if operation.get("done") or time.monotonic() - start > timeout:
                # The operation's response is a GenerateServiceIdentityResponse: {identity: {email, ..}}.
                answer = operation.get("response") or {}
                return str((answer.get("identity") or {}).get("email") or answer.get("email") or "")
            time.sleep(1.0)
            response = session.get(f"{host}/v1beta1/{operation['name']}")

    # --- IAM admin (gRPC only in this package) ------------------------------------------------------------
    @cached_property
    def iam(self) -> iam_admin_v1.IAMClient:
        if self._emulator_host:
            with urllib.request.urlopen(f"http://{self._emulator_host}/_emulator/info", timeout=30) as resp:
                address = json.load(resp)["grpc_address"]
            channel = grpc.insecure_channel(address)
            return iam_admin_v1.IAMClient(transport=IAMGrpcTransport(channel=channel))
        return iam_admin_v1.IAMClient(credentials=self.credentials)

    # --- tokens ------------------------------------------------------------------------------------------
    def access_token(self) -> str:
        """An OAuth2 access token for the Kubernetes API server (as gke-gcloud-auth-plugin provides)."""
        if self._emulator_host and self._token_credentials is None:
            return _EMULATOR_TOKEN
        credentials = self._token_credentials or self.credentials
        with self._token_lock:
            if not credentials.valid or not credentials.token:
                credentials.refresh(Request())  # type: ignore[no-untyped-call]
            return str(credentials.token)
