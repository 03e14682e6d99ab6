"""The gRPC transport for the IAM admin API (the official client has no REST transport): service accounts.

Each RPC goes through the same gateway as REST (faults, request log, error mapping)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from concurrent import futures
from typing import TYPE_CHECKING, Any

import grpc
from google.cloud.iam_admin_v1 import types
from google.protobuf import empty_pb2

from emulator.gateway import Call

if TYPE_CHECKING:
    from emulator.server import Emulator

SERVICE = "google.iam.admin.v1.IAM"


def _sa(d: dict[str, Any]) -> types.ServiceAccount:
    return types.ServiceAccount.from_json(json.dumps(d), ignore_unknown_fields=True)


class IamGrpc:
    def __init__(self, emu: Emulator) -> None:
        self.emu = emu

    def _call(self, method: str, request: Any, context: grpc.ServicerContext, fn: Callable[[], Any]) -> Any:
        named = re.match(r"^projects/([^/]+)", getattr(request, "name", ""))
        call = Call(
            api="iam",
            method="GRPC",
            path=f"/{SERVICE}/{method}",
            project=named.group(1) if named and named.group(1) != "-" else None,
            body=json.loads(type(request).to_json(request, use_integers_for_enums=False, indent=None)),
            service="iam.googleapis.com",
        )
        outcome = self.emu.gateway.call(call, lambda _project, _caller: fn())
        if outcome.drop:
            # What a client sees when the connection goes away before the answer: UNAVAILABLE.
            context.abort(grpc.StatusCode.UNAVAILABLE, "Connection reset by peer")
        if outcome.error is not None:
            context.abort(grpc.StatusCode[outcome.error.status], outcome.error.message)
        return outcome.result

    def create(self, request: types.CreateServiceAccountRequest, context: grpc.ServicerContext) -> Any:
        def run() -> Any:
            project = self.emu.backend.project(request.name.split("/")[1])
            sa = json.loads(types.ServiceAccount.to_json(request.service_account, indent=None))
            return _sa(self.emu.iam.create(project, request.account_id, sa))

        return self._call("CreateServiceAccount", request, context, run)

    def get(self, request: types.GetServiceAccountRequest, context: grpc.ServicerContext) -> Any:
        return self._call("GetServiceAccount", request, context, lambda: _sa(self.emu.iam.get(request.name)))

    def list(self, request: types.ListServiceAccountsRequest, context: grpc.ServicerContext) -> Any:
        def run() -> Any:
            project = self.emu.backend.project(request.name.split("/")[1])
            accounts = self.emu.iam.list(project)
            start = int(request.page_token or 0)
            size = request.page_size or 100
            chunk = accounts[start : start + size]
            token = str(start + size) if start + size < len(accounts) else ""
            return types.ListServiceAccountsResponse(accounts=[_sa(a) for a in chunk], next_page_token=token)

        return self._call("ListServiceAccounts", request, context, run)

    def delete(self, request: types.DeleteServiceAccountRequest, context: grpc.ServicerContext) -> Any:
        def run() -> Any:
            self.emu.iam.delete(request.name)
            return empty_pb2.Empty()

        return self._call("DeleteServiceAccount", request, context, run)

    def handler(self) -> grpc.GenericRpcHandler:
        def unary(
            fn: Callable[..., Any], req: Any, resp_ser: Callable[[Any], bytes]
        ) -> grpc.RpcMethodHandler:
            return grpc.unary_unary_rpc_method_handler(
                fn, request_deserializer=req.deserialize, response_serializer=resp_ser
            )

        return grpc.method_handlers_generic_handler(
            SERVICE,
            {
                "CreateServiceAccount": unary(
                    self.create, types.CreateServiceAccountRequest, types.ServiceAccount.serialize
                ),
                "GetServiceAccount": unary(
                    self.get, types.GetServiceAccountRequest, types.ServiceAccount.serialize
                ),
                "ListServiceAccounts": unary(
                    self.list, types.ListServiceAccountsRequest, types.ListServiceAccountsResponse.serialize
                ),
                "DeleteServiceAccount": unary(
                    self.delete, types.DeleteServiceAccountRequest, lambda m: m.SerializeToString()
                ),
            },
        )


def serve(emu: Emulator, host: str, port: int = 0) -> tuple[grpc.Server, int]:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16, thread_name_prefix="emulator-iam"))
    server.add_generic_rpc_handlers((IamGrpc(emu).handler(),))
    bound = server.add_insecure_port(f"{host}:{port}")
    server.start()
    return server, bound
