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
from typing import TYPE_CHECKING, Any, TypeVar

# Each Google client library is imported by the property that builds its client, on first use: together
# they take seconds to import, and most commands (plan, list, kubeconfig, extend) need one or two of them.
if TYPE_CHECKING:
    from google.auth.credentials import Credentials
    from google.cloud import (
        compute_v1,
        container_v1,
        iam_admin_v1,
        kms_v1,
        resourcemanager_v3,
        service_usage_v1,
    )

EMULATOR_ENV = "GKE_LAB_EMULATOR_HOST"
SCOPES = ("https://www.googleapis.com/auth/cloud-platform",)
SERVICE_USAGE_HOST = "https://serviceusage.googleapis.com"

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
        self._block_credentials = credentials if emulator_host else None
        if emulator_host:
            from google.auth.credentials import AnonymousCredentials

            self.credentials: Credentials = AnonymousCredentials()  # type: ignore[no-untyped-call]
        elif credentials is not None:
            self.credentials = credentials
        else:
            import google.auth

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
            from google.api_core.client_options import ClientOptions

            options = ClientOptions(api_endpoint=f"http://{self._emulator_host}")
            return build(credentials=self.credentials, client_options=options, transport="rest", **extra)
        return build(credentials=self.credentials, transport="rest", **extra)

    # --- compute (REST only) ----------------------------------------------------------------------------
    @cached_property
    def networks(self) -> compute_v1.NetworksClient:
        from google.cloud import compute_v1

        return self._rest(compute_v1.NetworksClient)

    @cached_property
    def regions(self) -> compute_v1.RegionsClient:
        from google.cloud import compute_v1

        return self._rest(compute_v1.RegionsClient)

    @cached_property
    def subnetworks(self) -> compute_v1.SubnetworksClient:
        from google.cloud import compute_v1

        return self._rest(compute_v1.SubnetworksClient)

    @cached_property
    def firewalls(self) -> compute_v1.FirewallsClient:
        from google.cloud import compute_v1

        return self._rest(compute_v1.FirewallsClient)

    @cached_property
    def routes(self) -> compute_v1.RoutesClient:
        from google.cloud import compute_v1

        return self._rest(compute_v1.RoutesClient)

    @cached_property
    def routers(self) -> compute_v1.RoutersClient:
        from google.cloud import compute_v1

        return self._rest(compute_v1.RoutersClient)

    @cached_property
    def instances(self) -> compute_v1.InstancesClient:
        from google.cloud import compute_v1

        return self._rest(compute_v1.InstancesClient)

    @cached_property
    def forwarding_rules(self) -> compute_v1.ForwardingRulesClient:
        from google.cloud import compute_v1

        return self._rest(compute_v1.ForwardingRulesClient)

    @cached_property
    def global_forwarding_rules(self) -> compute_v1.GlobalForwardingRulesClient:
        from google.cloud import compute_v1

        return self._rest(compute_v1.GlobalForwardingRulesClient)

    @cached_property
    def addresses(self) -> compute_v1.AddressesClient:
        from google.cloud import compute_v1

        return self._rest(compute_v1.AddressesClient)

    @cached_property
    def global_addresses(self) -> compute_v1.GlobalAddressesClient:
        from google.cloud import compute_v1

        return self._rest(compute_v1.GlobalAddressesClient)

    @cached_property
    def vpn_gateways(self) -> compute_v1.VpnGatewaysClient:
        from google.cloud import compute_v1

        return self._rest(compute_v1.VpnGatewaysClient)

    @cached_property
    def target_vpn_gateways(self) -> compute_v1.TargetVpnGatewaysClient:
        from google.cloud import compute_v1

        return self._rest(compute_v1.TargetVpnGatewaysClient)

    @cached_property
    def vpn_tunnels(self) -> compute_v1.VpnTunnelsClient:
        from google.cloud import compute_v1

        return self._rest(compute_v1.VpnTunnelsClient)

    @cached_property
    def global_operations(self) -> compute_v1.GlobalOperationsClient:
        from google.cloud import compute_v1

        return self._rest(compute_v1.GlobalOperationsClient)

    @cached_property
    def region_operations(self) -> compute_v1.RegionOperationsClient:
        from google.cloud import compute_v1

        return self._rest(compute_v1.RegionOperationsClient)

    @cached_property
    def zone_operations(self) -> compute_v1.ZoneOperationsClient:
        from google.cloud import compute_v1

        return self._rest(compute_v1.ZoneOperationsClient)

    # --- container, KMS, resource manager (REST) ----------------------------------------------------------
    @cached_property
    def container(self) -> container_v1.ClusterManagerClient:
        from google.cloud import container_v1

        return self._rest(container_v1.ClusterManagerClient)

    @cached_property
    def kms(self) -> kms_v1.KeyManagementServiceClient:
        from google.cloud import kms_v1

        return self._rest(kms_v1.KeyManagementServiceClient)

    @cached_property
    def projects(self) -> resourcemanager_v3.ProjectsClient:
        from google.cloud import resourcemanager_v3

        return self._rest(resourcemanager_v3.ProjectsClient)

    @cached_property
    def service_usage(self) -> service_usage_v1.ServiceUsageClient:
        from google.cloud import service_usage_v1

        return self._rest(service_usage_v1.ServiceUsageClient)

    def generate_service_identity(self, parent: str, service: str, timeout: float = 120.0) -> str:
        """Service Usage v1beta1 `services.generateServiceIdentity`: the service agent's email.

        The official client only has v1, which lacks this method, so it is one authorized REST call (and
        its operation polled) on the same target and credentials as the other clients.
        """
        from google.api_core import exceptions as api_exceptions
        from google.auth.transport.requests import AuthorizedSession

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
        from google.cloud import iam_admin_v1

        if self._emulator_host:
            import grpc
            from google.cloud.iam_admin_v1.services.iam.transports import IAMGrpcTransport

            with urllib.request.urlopen(f"http://{self._emulator_host}/_emulator/info", timeout=30) as resp:
                address = json.load(resp)["grpc_address"]
            channel = grpc.insecure_channel(address)
            return iam_admin_v1.IAMClient(transport=IAMGrpcTransport(channel=channel))
        return iam_admin_v1.IAMClient(credentials=self.credentials)

    # --- tokens ------------------------------------------------------------------------------------------
    def access_token(self) -> str:
        """An OAuth2 access token for the Kubernetes API server (as gke-gcloud-auth-plugin provides),
        refreshed before it expires: ask for it at every request, not once per client."""
        with self._token_lock:
            credentials = self._token_credentials
            if not credentials.valid or not credentials.token:
                from google.auth.transport.requests import Request

                credentials.refresh(Request())  # type: ignore[no-untyped-call]
            return str(credentials.token)

    @cached_property
    def _token_credentials(self) -> Credentials:
        if not self._emulator_host:
            return self.credentials
        if self._block_credentials is not None:
            return self._block_credentials
        # The emulator's token endpoint issues the only tokens its clusters accept, as Google's does.
        from google.oauth2.credentials import Credentials as UserCredentials

        return UserCredentials(  # type: ignore[no-untyped-call]
            token=None,
            refresh_token="gke-lab",
            token_uri=f"http://{self._emulator_host}/token",
            client_id="gke-lab",
            client_secret="gke-lab",
        )
