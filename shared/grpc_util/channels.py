"""Client channels that present credentials: a bearer token, TLS with our CA, a client certificate.

Over TLS the token rides as call credentials; over plain text (loopback, or a mesh whose sidecars do
the TLS) an interceptor adds the same `authorization: Bearer <token>` metadata to every call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc

ChannelOptions = Sequence[tuple[str, Any]]


@dataclass(frozen=True)
class ClientCredentials:
    token: str | None = None
    ca_cert: bytes | None = None  # PEM; set, the channel speaks TLS and checks the server against it
    client_cert: bytes | None = None  # PEM chain presented to a server that asks for one (mTLS)
    client_key: bytes | None = None

    @property
    def tls(self) -> bool:
        return self.ca_cert is not None or self.client_cert is not None

    @classmethod
    def from_files(
        cls,
        *,
        token: str | None = None,
        token_file: Path | None = None,
        ca_cert: Path | None = None,
        client_cert: Path | None = None,
        client_key: Path | None = None,
    ) -> ClientCredentials:
        """Read the files; a token file's first non-blank line is the token. Raises OSError/ValueError."""
        if token_file is not None:
            lines = [line.strip() for line in token_file.read_text().splitlines() if line.strip()]
            if not lines:
                raise ValueError(f"the token file {token_file} is empty")
            token = lines[0]
        if (client_cert is None) != (client_key is None):
            raise ValueError("a client certificate and its key go together")
        return cls(
            token=token or None,
            ca_cert=ca_cert.read_bytes() if ca_cert is not None else None,
            client_cert=client_cert.read_bytes() if client_cert is not None else None,
            client_key=client_key.read_bytes() if client_key is not None else None,
        )

    def metadata(self) -> tuple[tuple[str, str], ...]:
        return (("authorization", f"Bearer {self.token}"),) if self.token else ()

    def channel_credentials(self) -> grpc.ChannelCredentials:
        credentials = grpc.ssl_channel_credentials(self.ca_cert, self.client_key, self.client_cert)
        if self.token:
            credentials = grpc.composite_channel_credentials(
                credentials, grpc.access_token_call_credentials(self.token)
            )
        return credentials


def _with_metadata(details, extra: tuple[tuple[str, str], ...]):
    return details._replace(metadata=[*(details.metadata or ()), *extra])


class _AioToken:
    def __init__(self, metadata: tuple[tuple[str, str], ...]):
        self._metadata = metadata

    async def _add(self, continuation, client_call_details, request):
        return await continuation(_with_metadata(client_call_details, self._metadata), request)


# grpc.aio files each interceptor under the first call kind it is an instance of: one class per kind.
class _AioUnaryUnaryToken(_AioToken, grpc.aio.UnaryUnaryClientInterceptor):
    intercept_unary_unary = _AioToken._add


class _AioUnaryStreamToken(_AioToken, grpc.aio.UnaryStreamClientInterceptor):
    intercept_unary_stream = _AioToken._add


class _AioStreamUnaryToken(_AioToken, grpc.aio.StreamUnaryClientInterceptor):
    intercept_stream_unary = _AioToken._add


class _AioStreamStreamToken(_AioToken, grpc.aio.StreamStreamClientInterceptor):
    intercept_stream_stream = _AioToken._add


_AIO_TOKEN_KINDS = (_AioUnaryUnaryToken, _AioUnaryStreamToken, _AioStreamUnaryToken, _AioStreamStreamToken)


class _SyncTokenInterceptor(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    def __init__(self, metadata: tuple[tuple[str, str], ...]):
        self._metadata = metadata

    def _details(self, details):
        return sync_call_details(details, self._metadata)

    def intercept_unary_unary(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details), request)

    def intercept_unary_stream(self, continuation, client_call_details, request):
        return continuation(self._details(client_call_details), request)

    def intercept_stream_unary(self, continuation, client_call_details, request_iterator):
        return continuation(self._details(client_call_details), request_iterator)

    def intercept_stream_stream(self, continuation, client_call_details, request_iterator):
        return continuation(self._details(client_call_details), request_iterator)


@dataclass(frozen=True)
class _SyncCallDetails(grpc.ClientCallDetails):
    method: str
    timeout: float | None
    metadata: Any
    credentials: Any
    wait_for_ready: Any
    compression: Any


def sync_call_details(details: grpc.ClientCallDetails, extra: Sequence[tuple[str, str]]) -> grpc.ClientCallDetails:
    """A (non-aio) client interceptor's call details with `extra` metadata added."""
    return _SyncCallDetails(
        details.method,
        details.timeout,
        [*(details.metadata or ()), *extra],
        details.credentials,
        getattr(details, "wait_for_ready", None),
        getattr(details, "compression", None),
    )


def aio_channel(
    target: str, credentials: ClientCredentials | None = None, options: ChannelOptions = ()
) -> grpc.aio.Channel:
    credentials = credentials or ClientCredentials()
    if credentials.tls:
        return grpc.aio.secure_channel(target, credentials.channel_credentials(), options=list(options))
    interceptors = [kind(credentials.metadata()) for kind in _AIO_TOKEN_KINDS] if credentials.token else None
    return grpc.aio.insecure_channel(target, options=list(options), interceptors=interceptors)


def sync_channel(
    target: str, credentials: ClientCredentials | None = None, options: ChannelOptions = ()
) -> grpc.Channel:
    credentials = credentials or ClientCredentials()
    if credentials.tls:
        return grpc.secure_channel(target, credentials.channel_credentials(), options=list(options))
    channel = grpc.insecure_channel(target, options=list(options))
    if credentials.token:
        channel = grpc.intercept_channel(channel, _SyncTokenInterceptor(credentials.metadata()))
    return channel
