"""The network layer under the archive download: every connection vetted, every wait bounded.

GuardedBackend is an httpcore network backend. For each connection (the first request and every redirect
hop alike) it resolves the host once with the policy's resolver (or takes a literal address), refuses
the host with BlockedHost if any of its addresses is blocked, and then connects to those checked
addresses themselves, never to the name, so a second DNS answer (rebinding) is never used.

GuardedStream runs every read, write and TLS handshake on that socket in ticks of at most TICK_S, each
capped by the time left before the fetch's deadline, so a cancel is noticed within a tick and a server
trickling bytes cannot outlive the deadline; the per-operation timeout httpcore passes (the policy's
read timeout for a read) still bounds each operation as a whole. Two waits are single calls that a
cancel does not interrupt: the resolver's lookup, and the TCP connect (bounded by the connect timeout
and the time left before the deadline).
"""

from __future__ import annotations

import ipaddress
import selectors
import socket
import ssl
import time
from collections.abc import Callable, Iterable
from functools import partial
from typing import Any, TypeVar

import httpcore
import structlog

from preprocess_svc.fetch_clock import FetchClock
from shared.fetch_policy import BlockedHost, FetchPolicy, IPAddress, blocked_because, host_literal
from shared.quoting import clip, quote

log = structlog.get_logger(__name__)

TICK_S = 0.2

_T = TypeVar("_T")


class GuardedBackend(httpcore.NetworkBackend):
    def __init__(self, policy: FetchPolicy, clock: FetchClock) -> None:
        self._policy = policy
        self._clock = clock
        self._tcp = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = self._vetted_addresses(host, port)
        failure: httpcore.ConnectError | httpcore.ConnectTimeout | None = None
        for address in addresses:
            left = self._clock.time_left()
            try:
                stream = self._tcp.connect_tcp(
                    str(address),
                    port,
                    timeout=left if timeout is None else min(timeout, left),
                    local_address=local_address,
                    socket_options=socket_options,
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                failure = exc
                continue
            log.info("archive_connected", host=clip(host), address=str(address), port=port)
            return GuardedStream(stream.get_extra_info("socket"), self._clock)
        self._clock.time_left()  # a connect cut short by the deadline is reported as the deadline
        assert failure is not None  # _vetted_addresses never returns an empty list
        raise failure

    def _vetted_addresses(self, host: str, port: int) -> list[IPAddress]:
        """The addresses to connect to for host; BlockedHost if any of them may not be fetched."""
        self._clock.time_left()
        literal = host_literal(host)
        addresses = [literal] if literal is not None else self._resolve(host, port)
        for address in addresses:
            why = blocked_because(address, self._policy.allow_cidrs)
            if why is not None:
                log.warning("archive_host_blocked", host=clip(host), address=str(address), why=why)
                raise BlockedHost(host, str(address), why)
        return addresses

    def _resolve(self, host: str, port: int) -> list[IPAddress]:
        try:
            answers = self._policy.resolver(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve host {quote(host)}: {exc}") from exc
        try:
            addresses = [ipaddress.ip_address(answer) for answer in answers]
        except ValueError as exc:
            raise httpcore.ConnectError(f"the resolver answered {quote(host)} with a non-address: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"host {quote(host)} resolved to no address")
        return addresses


class GuardedStream(httpcore.NetworkStream):
    """A TCP (or TLS) socket whose every wait runs in short ticks under the fetch's clock."""

    def __init__(self, sock: socket.socket, clock: FetchClock) -> None:
        self._sock = sock
        self._clock = clock

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        try:
            return self._in_ticks(partial(self._sock.recv, max_bytes), _ends_at(timeout), httpcore.ReadTimeout)
        except OSError as exc:
            raise httpcore.ReadError(str(exc)) from exc

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # A send that times out has sent nothing, so the same remainder is simply offered again.
        ends_at = _ends_at(timeout)
        remaining = memoryview(buffer)
        try:
            while remaining:
                sent = self._in_ticks(partial(self._sock.send, remaining), ends_at, httpcore.WriteTimeout)
                remaining = remaining[sent:]
        except OSError as exc:
            raise httpcore.WriteError(str(exc)) from exc

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        # wrap_socket takes the file descriptor over: from here on only the TLS socket is usable.
        tls = ssl_context.wrap_socket(self._sock, server_hostname=server_hostname, do_handshake_on_connect=False)
        stream = GuardedStream(tls, self._clock)
        try:
            stream._in_ticks(tls.do_handshake, _ends_at(timeout), httpcore.ConnectTimeout)
        except OSError as exc:
            tls.close()
            raise httpcore.ConnectError(f"TLS handshake with {server_hostname} failed: {exc}") from exc
        except BaseException:
            tls.close()
            raise
        return stream

    def close(self) -> None:
        self._sock.close()

    def get_extra_info(self, info: str) -> Any:
        if info == "ssl_object":
            return self._sock if isinstance(self._sock, ssl.SSLSocket) else None
        if info == "client_addr":
            return self._sock.getsockname()
        if info == "server_addr":
            return self._sock.getpeername()
        if info == "socket":
            return self._sock
        if info == "is_readable":  # an idle kept-alive connection the server closed (or wrote to)
            with selectors.DefaultSelector() as selector:
                selector.register(self._sock, selectors.EVENT_READ)
                return bool(selector.select(0))
        return None

    def _in_ticks(
        self, operation: Callable[[], _T], ends_at: float | None, on_timeout: type[httpcore.TimeoutException]
    ) -> _T:
        """Run operation until it completes, trying again after each tick that passes without progress.

        Raises on_timeout at `ends_at` (time.monotonic()), FetchCancelled or DeadlineExceeded from the
        clock between ticks.
        """
        while True:
            tick = min(TICK_S, self._clock.time_left())
            if ends_at is not None:
                left = ends_at - time.monotonic()
                if left <= 0:
                    raise on_timeout("timed out")
                tick = min(tick, left)
            self._sock.settimeout(tick)
            try:
                return operation()
            except TimeoutError as exc:
                if exc.errno is not None:  # the kernel gave up on the connection (ETIMEDOUT): a real failure
                    raise


def _ends_at(timeout: float | None) -> float | None:
    return None if timeout is None else time.monotonic() + timeout
