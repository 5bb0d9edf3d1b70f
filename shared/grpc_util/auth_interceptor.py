"""Authenticates every call before its handler runs, and makes the caller known to it (current_caller).

Health checks and server reflection stay open (probes, grpcurl). A call that cannot be authenticated
ends UNAUTHENTICATED with an ErrorInfo saying why; its handler never runs. Each call is served in its
own asyncio task, so the caller set here is that call's alone.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import grpc
import structlog
from grpc_status import rpc_status

from shared.auth import Authenticator, Unauthenticated
from shared.auth.caller import set_current_caller
from shared.grpc_util.errors import domain_status_proto
from shared.grpc_util.handler_wrapping import WrappingInterceptor

OPEN_METHOD_PREFIXES = ("/grpc.health.v1.Health/", "/grpc.reflection.v1alpha.ServerReflection/", "/grpc.reflection.v1.")
log = structlog.get_logger(__name__)


def certificate_principal(context: grpc.aio.ServicerContext) -> str | None:
    """The principal a verified client certificate names: its first URI SAN, else its CN."""
    auth = context.auth_context()
    for key in ("peer_uri", "x509_common_name"):
        first = next(iter(auth.get(key, ())), None)
        if first is not None:
            return first.decode("utf-8", "replace")
    return None


class AuthInterceptor(WrappingInterceptor):
    def __init__(self, authenticator: Authenticator):
        self._authenticator = authenticator

    def leaves_alone(self, method: str) -> bool:
        return method.startswith(OPEN_METHOD_PREFIXES)

    def wrap(self, behavior: Callable, method: str, handler: grpc.RpcMethodHandler) -> Callable:
        return self._guard(behavior, method)

    async def _authenticate(self, context: grpc.aio.ServicerContext, method: str) -> None:
        metadata = context.invocation_metadata() or ()
        authorization = [value for key, value in metadata if key == "authorization" and isinstance(value, str)]
        try:
            caller = self._authenticator.authenticate(authorization, certificate_principal(context))
        except Unauthenticated as exc:
            log.info("rpc_unauthenticated", method=method, reason=exc.reason, peer=context.peer())
            await context.abort_with_status(rpc_status.to_status(domain_status_proto(exc)))
        set_current_caller(caller)

    def _guard(self, behavior: Callable, method: str) -> Callable:
        if inspect.isasyncgenfunction(behavior):

            async def guarded_stream(request: Any, context: grpc.aio.ServicerContext):
                await self._authenticate(context, method)
                async for response in behavior(request, context):
                    yield response

            return guarded_stream

        async def guarded(request: Any, context: grpc.aio.ServicerContext):
            await self._authenticate(context, method)
            return await behavior(request, context)

        return guarded
