"""FetchPolicy: what a service may fetch a training archive from, and how long it may take."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Annotated

from pydantic import BeforeValidator, Field

from shared.fetch_policy.addresses import IPNetwork
from shared.quoting import quote
from shared.settings import Setting, SettingsModel

Resolver = Callable[[str, int], Sequence[str]]
"""Maps (host name, port) to the IP addresses (as text) to connect to."""


def system_resolver(host: str, port: int) -> Sequence[str]:
    """The operating system's answer (getaddrinfo) for a TCP connection to host:port, duplicates dropped."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(sockaddr[0]) for *_, sockaddr in answers))


def _cidr_blocks(values: object) -> object:
    """Text values (flags, the environment) become networks, with parse_cidrs' message when one is not."""
    if isinstance(values, list | tuple) and all(isinstance(value, str) for value in values):
        return parse_cidrs(values)
    return values


class FetchPolicy(SettingsModel):
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
    The operator sets the first three (flags and environment); a service adds its storage root at start.
    """

    allow_local_roots: Annotated[
        tuple[Path, ...],
        Setting(
            "--allow-local-root",
            "LTX_ALLOW_LOCAL_ROOTS",
            "a folder whose files may be named as training_data_url, links resolved",
            separator=os.pathsep,
        ),
    ] = ()
    allow_cidrs: Annotated[
        tuple[IPNetwork, ...],
        Setting("--allow-fetch-cidr", "LTX_ALLOW_FETCH_CIDRS", "an internal address range http(s) fetches may reach"),
        BeforeValidator(_cidr_blocks),
    ] = ()
    deadline_s: Annotated[
        float, Setting("--fetch-deadline-seconds", "LTX_FETCH_DEADLINE_SECONDS", "time limit of one archive download")
    ] = Field(1800.0, gt=0)
    storage_root: Path | None = None
    connect_timeout_s: float = Field(10.0, gt=0)
    read_timeout_s: float = Field(60.0, gt=0)
    max_redirects: int = Field(5, ge=0)
    resolver: Resolver = system_resolver

    def rooted_at(self, storage_root: Path) -> FetchPolicy:
        """This policy for a service whose storage is `storage_root` (no local read may land inside it)."""
        return self.model_copy(update={"storage_root": storage_root})


def parse_cidrs(values: Iterable[str]) -> tuple[IPNetwork, ...]:
    """CIDR blocks from flag or environment values ("10.1.0.0/16", "fd00::/8", a bare address for one host)."""
    networks = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip()))
        except ValueError as exc:
            raise ValueError(f"{quote(value)} is not a CIDR block such as 10.1.0.0/16 or fd00::/8 ({exc})") from None
    return tuple(networks)
