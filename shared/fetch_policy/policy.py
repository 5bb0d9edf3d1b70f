"""FetchPolicy: what a service may fetch a training archive from, and how long it may take."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from shared.fetch_policy.addresses import IPNetwork
from shared.quoting import quote

Resolver = Callable[[str, int], Sequence[str]]
"""Maps (host name, port) to the IP addresses (as text) to connect to."""


def system_resolver(host: str, port: int) -> Sequence[str]:
    """The operating system's answer (getaddrinfo) for a TCP connection to host:port, duplicates dropped."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in answers))


@dataclass(frozen=True)
class FetchPolicy:
    """Where an archive may come from and the time limits of one fetch.

    allow_local_roots: local files (paths, file:// URLs) are read only when their real path lies in one
        of these folders; none means no local file at all.
    allow_cidrs: addresses that may be fetched from even though they are special-purpose (a private
        mirror, loopback in tests).
    storage_root: the service's own storage; no local read may land inside it, whatever the roots say
        (uploaded archives are named upload://<id> instead).
    deadline_s: the whole fetch, redirects and body included; connect_timeout_s and read_timeout_s bound
        each connection attempt and each read.
    resolver: turns a host name into addresses; tests inject their own.
    """

    allow_local_roots: tuple[Path, ...] = ()
    allow_cidrs: tuple[IPNetwork, ...] = ()
    storage_root: Path | None = None
    deadline_s: float = 1800.0
    connect_timeout_s: float = 10.0
    read_timeout_s: float = 60.0
    max_redirects: int = 5
    resolver: Resolver = system_resolver

    def __post_init__(self) -> None:
        for name in ("deadline_s", "connect_timeout_s", "read_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"FetchPolicy.{name} must be more than 0 seconds (got {getattr(self, name)})")
        if self.max_redirects < 0:
            raise ValueError(f"FetchPolicy.max_redirects must be 0 or more (got {self.max_redirects})")


def parse_cidrs(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR blocks from flag or environment values ("10.1.0.0/16", "fd00::/8", a bare address for one host)."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip()))
        except ValueError as exc:
            raise ValueError(f"{quote(value)} is not a CIDR block such as 10.1.0.0/16 or fd00::/8 ({exc})") from None
    return tuple(networks)
