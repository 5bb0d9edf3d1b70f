"""Which IP addresses an archive may be fetched from, and which URL hosts are addresses at all.

blocked_because() keeps its own tables of the IANA special-purpose ranges (IPv4 and IPv6), because the
standard library's flags move between Python versions (3.11 calls multicast 224.0.0.1 global); the
flags only catch what the tables miss. An IPv6 address that carries an IPv4 address (IPv4-mapped,
IPv4-compatible, 6to4, Teredo, NAT64) is judged on that IPv4 address too.

host_literal() reads a URL host: a canonical dotted quad or an IPv6 literal is an address to check, a
name is left to the resolver, and every other numeric spelling that some resolvers take as IPv4
(2130706433, 0177.0.0.1, 0x7f.1, 127.1, a trailing dot) is refused outright rather than normalised.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from collections.abc import Iterable

from shared.quoting import quote

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


def _table(rows: Iterable[tuple[str, str]]) -> tuple[tuple[IPNetwork, str], ...]:
    """(network, label) rows, most specific first so a small range wins over the block around it."""
    parsed = [(ipaddress.ip_network(cidr), label) for cidr, label in rows]
    return tuple(sorted(parsed, key=lambda row: row[0].prefixlen, reverse=True))


_IPV4_SPECIAL = _table(
    [
        ("0.0.0.0/32", "unspecified"),
        ("0.0.0.0/8", "'this network'"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared address space"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "IETF protocol assignments"),
        ("192.0.2.0/24", "documentation, TEST-NET-1"),
        ("192.88.99.0/24", "6to4 relay anycast, deprecated"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation, TEST-NET-2"),
        ("203.0.113.0/24", "documentation, TEST-NET-3"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("255.255.255.255/32", "broadcast"),
    ]
)

_IPV6_SPECIAL = _table(
    [
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "IPv4-compatible, deprecated"),
        ("64:ff9b:1::/48", "local-use NAT64"),
        ("100::/64", "discard-only"),
        ("100:0:0:1::/64", "dummy prefix"),
        # All of 2001::/23 goes, including its few globally reachable services (AMT, AS112, ORCHIDv2
        # and two anycast addresses): nobody serves a training archive from them.
        ("2001::/23", "IETF protocol assignments"),
        ("2001::/32", "Teredo"),
        ("2001:db8::/32", "documentation"),
        ("3fff::/20", "documentation"),
        ("5f00::/16", "SRv6 segment identifiers"),
        ("fc00::/7", "unique-local"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "site-local, deprecated"),
        ("ff00::/8", "multicast"),
    ]
)

_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")


class BlockedHost(Exception):
    """A URL host, or an address it resolved to, that may not be fetched; `reason` says why."""

    def __init__(self, host: str, address: str, reason: str) -> None:
        self.host, self.address, self.reason = host, address, reason
        shown = quote(host) if address in ("", host) else f"{quote(host)} ({address})"
        super().__init__(f"host {shown} may not be fetched: {reason}")


def blocked_because(address: IPAddress, allow_cidrs: Iterable[IPNetwork] = ()) -> str | None:
    """Why `address` may not be fetched from, or None when it may. Addresses in allow_cidrs always may."""
    allowed = tuple(allow_cidrs)
    if any(address.version == network.version and address in network for network in allowed):
        return None
    if isinstance(address, ipaddress.IPv6Address):
        for form, embedded in _embedded_ipv4(address):
            why = blocked_because(embedded, allowed)
            if why is not None:
                return f"{form} form of {embedded}: {why}"
        if address.ipv4_mapped is not None or address in _NAT64:
            return None  # it stands for its IPv4 address, which has just passed
    table = _IPV4_SPECIAL if isinstance(address, ipaddress.IPv4Address) else _IPV6_SPECIAL
    for network, label in table:
        if address in network:
            return f"{label} ({network})"
    return _flagged(address)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> list[tuple[str, ipaddress.IPv4Address]]:
    """The IPv4 addresses an IPv6 address carries, each with the name of the form carrying it."""
    low32 = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.ipv4_mapped is not None:
        return [("IPv4-mapped", address.ipv4_mapped)]
    if address.sixtofour is not None:
        return [("6to4", address.sixtofour)]
    if address.teredo is not None:
        server, client = address.teredo
        return [("Teredo (client)", client), ("Teredo (server)", server)]
    if address in _NAT64 or address in _LOCAL_NAT64:
        return [("NAT64", low32)]
    if address in _IPV4_COMPATIBLE and int(address) > 1:  # :: and ::1 are not IPv4-compatible addresses
        return [("IPv4-compatible", low32)]
    return []


def _flagged(address: IPAddress) -> str | None:
    """The standard library's verdict, for whatever the tables above do not list."""
    if address.is_multicast:
        return "multicast"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return "not globally reachable"
    return None


_NUMERIC_LABEL = re.compile(r"0[xX][0-9a-fA-F]*|[0-9]+")
_DOTTED_QUAD_PART = re.compile(r"0|[1-9][0-9]{0,2}")


def host_literal(host: str) -> IPAddress | None:
    """The address a URL host spells out, or None when the host is a name (the resolver's business).

    `host` may carry IPv6 brackets. Raises BlockedHost for an IPv6 zone id, a bracketed host that is
    not IPv6, and any numeric IPv4 spelling other than the canonical dotted quad.
    """
    bracketed = host.startswith("[") and host.endswith("]")
    bare = host[1:-1] if bracketed else host
    if bracketed or ":" in bare:
        if "%" in bare:
            raise BlockedHost(host, "", "an IPv6 zone id ('%...') names a local interface")
        try:
            return ipaddress.IPv6Address(bare)
        except ValueError:
            raise BlockedHost(host, "", "it is neither a host name nor a valid IPv6 address") from None
    # NFKC folds look-alike digits (fullwidth and the like) into ASCII, as IDNA processing would.
    folded = unicodedata.normalize("NFKC", bare)
    labels = folded.removesuffix(".").split(".")
    if len(labels) > 4 or not all(_NUMERIC_LABEL.fullmatch(label) for label in labels):
        return None
    canonical = folded == bare and not bare.endswith(".") and len(labels) == 4
    if canonical and all(_DOTTED_QUAD_PART.fullmatch(label) and int(label) <= 255 for label in labels):
        return ipaddress.IPv4Address(bare)
    read_as = _legacy_ipv4(labels)
    meaning = f"some resolvers read it as {read_as}" if read_as is not None else "it is no valid IPv4 address"
    raise BlockedHost(
        host,
        "" if read_as is None else str(read_as),
        f"non-canonical numeric host ({meaning}); only dotted-quad addresses such as 192.0.2.7 are accepted",
    )


def _legacy_ipv4(labels: list[str]) -> ipaddress.IPv4Address | None:
    """What inet_aton() makes of 1 to 4 numeric labels (decimal, 0-prefixed octal, 0x hex), or None."""
    values = []
    for label in labels:
        if label[:2].lower() == "0x":
            values.append(int(label[2:] or "0", 16))
        elif len(label) > 1 and label.startswith("0"):
            if not set(label) <= set("01234567"):
                return None
            values.append(int(label, 8))
        else:
            values.append(int(label))
    *leading, last = values
    last_bits = 8 * (4 - len(leading))
    if any(value > 255 for value in leading) or last >= 1 << last_bits:
        return None
    number = 0
    for value in leading:
        number = number << 8 | value
    return ipaddress.IPv4Address(number << last_bits | last)
