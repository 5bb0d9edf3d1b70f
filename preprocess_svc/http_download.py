"""Downloading an archive over http(s) with httpx, on the guarded network layer.

httpx follows redirects (at most policy.max_redirects). Before a hop is followed its target is vetted
here (http or https only, no non-canonical numeric host); its connection then goes through
GuardedBackend like the first one, so the addresses of every hop are checked. httpx reads a redirect's
own body into memory, so GuardedTransport caps that body at REDIRECT_BODY_BYTES. Proxy settings from
the environment are ignored (trust_env=False): they must not route around the address checks.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpcore
import httpx
import structlog

from preprocess_svc.errors import ArchiveError, ArchiveReason
from preprocess_svc.fetch_clock import FetchClock
from preprocess_svc.guarded_network import GuardedBackend
from preprocess_svc.part_file import PartFile, too_large
from shared.disk_space import SpaceGuard
from shared.fetch_policy import BlockedHost, FetchPolicy, HttpSource, host_literal
from shared.quoting import clip, quote

log = structlog.get_logger(__name__)

REDIRECT_BODY_BYTES = 64 << 10
_USER_AGENT = "ltx-trainer-preprocess/1"

# httpcore's errors as the httpx errors a transport is expected to raise; looked up along the MRO.
_HTTPX_ERROR_FOR: dict[type[Exception], type[httpx.TransportError]] = {
    httpcore.ConnectTimeout: httpx.ConnectTimeout,
    httpcore.ReadTimeout: httpx.ReadTimeout,
    httpcore.WriteTimeout: httpx.WriteTimeout,
    httpcore.PoolTimeout: httpx.PoolTimeout,
    httpcore.TimeoutException: httpx.TimeoutException,
    httpcore.ConnectError: httpx.ConnectError,
    httpcore.ReadError: httpx.ReadError,
    httpcore.WriteError: httpx.WriteError,
    httpcore.NetworkError: httpx.NetworkError,
    httpcore.RemoteProtocolError: httpx.RemoteProtocolError,
    httpcore.LocalProtocolError: httpx.LocalProtocolError,
    httpcore.ProtocolError: httpx.ProtocolError,
    httpcore.UnsupportedProtocol: httpx.UnsupportedProtocol,
}
_HTTPCORE_ERRORS = (
    httpcore.TimeoutException,
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
)


def download_archive(
    source: HttpSource, dest: Path, *, policy: FetchPolicy, clock: FetchClock, max_bytes: int, space: SpaceGuard
) -> None:
    """Stream the archive at source.url into dest; ArchiveError FETCH_BLOCKED, NOT_FOUND, FETCH_FAILED or
    ARCHIVE_TOO_LARGE (DeadlineExceeded, FetchCancelled and StorageFull pass through)."""
    hops = _Hops(source.url)
    try:
        host_literal(source.host)  # a non-canonical numeric host is refused before httpx reads it
        client = httpx.Client(
            transport=GuardedTransport(policy, clock),
            follow_redirects=True,
            max_redirects=policy.max_redirects,
            trust_env=False,
            timeout=httpx.Timeout(policy.read_timeout_s, connect=policy.connect_timeout_s),
            headers={"User-Agent": _USER_AGENT, "Accept-Encoding": "identity"},
            event_hooks={"response": [hops.vet_redirect]},
        )
        with client, client.stream("GET", source.url) as response:
            where = hops.where()
            _check_status(response, where)
            declared = response.headers.get("Content-Length", "")
            length = int(declared) if declared.isdigit() else None
            if length is not None and length > max_bytes:
                raise too_large(f"{where} (Content-Length)", length, max_bytes)
            with PartFile(dest, what=where, max_bytes=max_bytes, space=space, expected_bytes=length) as part:
                for chunk in response.iter_bytes():
                    part.write(chunk)
    except BlockedHost as exc:
        raise ArchiveError(
            ArchiveReason.FETCH_BLOCKED, f"{hops.where()}: {exc}", {"host": clip(exc.host), "address": exc.address}
        ) from None
    except httpx.TooManyRedirects:
        raise ArchiveError(
            ArchiveReason.FETCH_FAILED, f"{hops.where()}: more than {policy.max_redirects} redirects"
        ) from None
    except httpx.TimeoutException as exc:
        raise ArchiveError(ArchiveReason.FETCH_FAILED, f"{hops.where()}: {_timed_out(exc, policy)}") from None
    except httpx.ConnectError as exc:
        raise ArchiveError(ArchiveReason.FETCH_FAILED, f"{hops.where()}: cannot connect: {exc}") from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise ArchiveError(ArchiveReason.FETCH_FAILED, f"{hops.where()}: {exc}") from None


class _Hops:
    """The URL being fetched as redirects move it, and the check of each redirect's target."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.current = url

    def where(self) -> str:
        shown = f"archive at {quote(self.url)}"
        return shown if self.current == self.url else f"{shown} (redirected to {quote(self.current)})"

    def vet_redirect(self, response: httpx.Response) -> None:
        """httpx response hook: refuse a redirect to anything but http(s) or to a non-canonical numeric host."""
        if not response.has_redirect_location:
            return
        target = urljoin(str(response.url), response.headers["Location"])
        log.info("archive_redirected", from_url=clip(str(response.url)), to_url=clip(target))
        self.current = target
        try:
            parts = urlsplit(target)
        except ValueError:
            return  # httpx refuses this Location itself (FETCH_FAILED)
        if parts.scheme not in ("http", "https"):
            raise ArchiveError(
                ArchiveReason.FETCH_BLOCKED,
                f"archive at {quote(self.url)}: {quote(str(response.url))} redirects to {quote(target)}; "
                "only redirects to http:// and https:// are followed",
                {"redirect_to": clip(target)},
            )
        if parts.hostname:
            host_literal(parts.hostname)


def _check_status(response: httpx.Response, where: str) -> None:
    if response.is_success:
        return
    status = f"HTTP {response.status_code} {response.reason_phrase}".rstrip()
    reason = ArchiveReason.NOT_FOUND if response.status_code in (404, 410) else ArchiveReason.FETCH_FAILED
    raise ArchiveError(reason, f"{where}: the server answered {status}", {"http_status": str(response.status_code)})


def _timed_out(exc: httpx.TimeoutException, policy: FetchPolicy) -> str:
    if isinstance(exc, httpx.ConnectTimeout):
        return f"connecting (TCP and TLS) timed out after {policy.connect_timeout_s:g} s"
    if isinstance(exc, httpx.ReadTimeout):
        return f"the server sent nothing for {policy.read_timeout_s:g} s: read timed out"
    if isinstance(exc, httpx.WriteTimeout):
        return f"sending the request timed out after {policy.read_timeout_s:g} s"
    return f"timed out ({exc})"


class GuardedTransport(httpx.BaseTransport):
    """An httpx transport over an httpcore connection pool whose connections all come from GuardedBackend."""

    def __init__(self, policy: FetchPolicy, clock: FetchClock) -> None:
        self._pool = httpcore.ConnectionPool(
            ssl_context=ssl.create_default_context(), network_backend=GuardedBackend(policy, clock)
        )

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        core_request = httpcore.Request(
            method=request.method,
            url=httpcore.URL(scheme=url.raw_scheme, host=url.raw_host, port=url.port, target=url.raw_path),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _as_httpx_errors(request):
            core_response = self._pool.handle_request(core_request)
        is_redirect = 300 <= core_response.status < 400 and any(
            name.lower() == b"location" for name, _ in core_response.headers
        )
        return httpx.Response(
            core_response.status,
            headers=core_response.headers,
            stream=_ResponseBody(core_response, request, REDIRECT_BODY_BYTES if is_redirect else None),
            extensions=core_response.extensions,
        )

    def close(self) -> None:
        self._pool.close()


class _ResponseBody(httpx.SyncByteStream):
    def __init__(self, response: httpcore.Response, request: httpx.Request, limit: int | None) -> None:
        self._response = response
        self._request = request
        self._limit = limit

    def __iter__(self) -> Iterator[bytes]:
        received = 0
        with _as_httpx_errors(self._request):
            for chunk in self._response.iter_stream():
                received += len(chunk)
                if self._limit is not None and received > self._limit:
                    raise ArchiveError(
                        ArchiveReason.FETCH_FAILED,
                        f"the redirect response from {quote(str(self._request.url))} carries more than "
                        f"{self._limit:,} bytes of body",
                    )
                yield chunk

    def close(self) -> None:
        self._response.close()


@contextmanager
def _as_httpx_errors(request: httpx.Request) -> Iterator[None]:
    try:
        yield
    except _HTTPCORE_ERRORS as exc:
        error = next(_HTTPX_ERROR_FOR[cls] for cls in type(exc).__mro__ if cls in _HTTPX_ERROR_FOR)
        raise error(str(exc), request=request) from exc
