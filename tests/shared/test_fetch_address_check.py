"""The fetch policy's pure checks: which addresses are blocked, how URL hosts are read, and what the
training service refuses when a job is created. Nothing here connects anywhere or resolves a name.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from pathlib import Path

import pytest

from shared.fetch_policy import (
    BlockedHost,
    FetchPolicy,
    blocked_because,
    create_time_problem,
    host_literal,
    parse_cidrs,
)

UPLOAD_ID = "0123456789abcdef" * 2


def ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    return ipaddress.ip_address(text)


def no_lookups(host: str, port: int) -> Sequence[str]:
    raise AssertionError(f"create_time_problem looked up {host!r}")


# -- blocked_because ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback (127.0.0.0/8)"),
        ("127.255.255.254", "loopback (127.0.0.0/8)"),
        ("::1", "loopback (::1/128)"),
        ("10.0.0.1", "private (10.0.0.0/8)"),
        ("10.255.255.255", "private (10.0.0.0/8)"),
        ("172.16.0.1", "private (172.16.0.0/12)"),
        ("172.31.255.254", "private (172.16.0.0/12)"),
        ("192.168.1.1", "private (192.168.0.0/16)"),
        ("169.254.169.254", "link-local (169.254.0.0/16)"),  # the cloud metadata service
        ("fe80::1", "link-local (fe80::/10)"),
        ("100.64.0.1", "shared address space (100.64.0.0/10)"),
        ("100.127.255.254", "shared address space (100.64.0.0/10)"),
        ("224.0.0.1", "multicast (224.0.0.0/4)"),  # Python 3.11 calls this one global
        ("239.255.255.250", "multicast (224.0.0.0/4)"),
        ("ff02::1", "multicast (ff00::/8)"),
        ("240.0.0.1", "reserved (240.0.0.0/4)"),
        ("0.0.0.0", "unspecified (0.0.0.0/32)"),
        ("::", "unspecified (::/128)"),
        ("0.1.2.3", "'this network' (0.0.0.0/8)"),
        ("255.255.255.255", "broadcast (255.255.255.255/32)"),
        ("192.0.0.8", "IETF protocol assignments (192.0.0.0/24)"),
        ("192.0.2.10", "documentation, TEST-NET-1 (192.0.2.0/24)"),
        ("198.51.100.10", "documentation, TEST-NET-2 (198.51.100.0/24)"),
        ("203.0.113.10", "documentation, TEST-NET-3 (203.0.113.0/24)"),
        ("2001:db8::1", "documentation (2001:db8::/32)"),
        ("3fff::1", "documentation (3fff::/20)"),
        ("198.18.0.1", "benchmarking (198.18.0.0/15)"),
        ("198.19.255.254", "benchmarking (198.18.0.0/15)"),
        ("192.88.99.1", "6to4 relay anycast, deprecated (192.88.99.0/24)"),
        ("fc00::1", "unique-local (fc00::/7)"),
        ("fd12:3456::1", "unique-local (fc00::/7)"),
        ("fec0::1", "site-local, deprecated (fec0::/10)"),
        ("100::1", "discard-only (100::/64)"),
        ("5f00::1", "SRv6 segment identifiers (5f00::/16)"),
        ("4000::1", "reserved"),  # in no table: the standard library's flags catch it
    ],
)
def test_special_purpose_addresses_are_blocked(address: str, why: str) -> None:
    assert blocked_because(ip(address)) == why


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("::ffff:127.0.0.1", "IPv4-mapped form of 127.0.0.1: loopback (127.0.0.0/8)"),
        ("::ffff:169.254.169.254", "IPv4-mapped form of 169.254.169.254: link-local (169.254.0.0/16)"),
        ("::127.0.0.1", "IPv4-compatible form of 127.0.0.1: loopback (127.0.0.0/8)"),
        ("::8.8.8.8", "IPv4-compatible, deprecated (::/96)"),
        ("2002:a00:1::1", "6to4 form of 10.0.0.1: private (10.0.0.0/8)"),
        ("2002:7f00:1::", "6to4 form of 127.0.0.1: loopback (127.0.0.0/8)"),
        # Teredo: server 8.8.8.8, client 127.0.0.1 (stored inverted: 80ff:fffe)
        ("2001:0:808:808::80ff:fffe", "Teredo (client) form of 127.0.0.1: loopback (127.0.0.0/8)"),
        ("2001:0:a00:1::f7f7:f7f7", "Teredo (server) form of 10.0.0.1: private (10.0.0.0/8)"),
        ("2001:0:808:808::f7f7:f7f7", "Teredo (2001::/32)"),
        ("64:ff9b::7f00:1", "NAT64 form of 127.0.0.1: loopback (127.0.0.0/8)"),
        ("64:ff9b::a9fe:a9fe", "NAT64 form of 169.254.169.254: link-local (169.254.0.0/16)"),
        ("64:ff9b:1::c0a8:101", "NAT64 form of 192.168.1.1: private (192.168.0.0/16)"),
        ("64:ff9b:1::808:808", "local-use NAT64 (64:ff9b:1::/48)"),
    ],
)
def test_ipv6_forms_carrying_an_ipv4_address_are_judged_on_it(address: str, why: str) -> None:
    assert blocked_because(ip(address)) == why


@pytest.mark.parametrize(
    "address",
    [
        "8.8.8.8",
        "1.1.1.1",
        "151.101.1.140",
        "2606:4700:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_public_addresses_are_allowed(address: str) -> None:
    assert blocked_because(ip(address)) is None


def test_an_allowed_cidr_lets_its_addresses_through_and_no_others() -> None:
    mirror = parse_cidrs(["10.20.0.0/16", "fd00:abcd::/32"])

    assert blocked_because(ip("10.20.3.4"), mirror) is None
    assert blocked_because(ip("fd00:abcd::5"), mirror) is None
    assert blocked_because(ip("::ffff:10.20.3.4"), mirror) is None  # the same host, IPv4-mapped
    assert blocked_because(ip("10.21.0.1"), mirror) == "private (10.0.0.0/8)"
    assert blocked_because(ip("fd00:abce::5"), mirror) == "unique-local (fc00::/7)"


def test_an_ipv4_cidr_does_not_allow_ipv6_addresses_with_the_same_bits() -> None:
    loopback = parse_cidrs(["127.0.0.0/8"])

    assert blocked_because(ip("::7f00:1"), loopback) == "IPv4-compatible, deprecated (::/96)"
    assert blocked_because(ip("127.0.0.1"), loopback) is None


# -- host_literal ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "address"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("8.8.8.8", "8.8.8.8"),
        ("0.0.0.0", "0.0.0.0"),
        ("::1", "::1"),
        ("[::1]", "::1"),
        ("[2606:4700::1111]", "2606:4700::1111"),
        ("[::ffff:127.0.0.2]", "::ffff:127.0.0.2"),
    ],
)
def test_canonical_literals_are_addresses(host: str, address: str) -> None:
    assert host_literal(host) == ip(address)


@pytest.mark.parametrize("host", ["example.com", "files.example.com.", "a.1", "1.2.3.4.5", "x0x7f", "localhost"])
def test_names_are_left_to_the_resolver(host: str) -> None:
    assert host_literal(host) is None


@pytest.mark.parametrize(
    ("host", "read_as"),
    [
        ("2130706433", "127.0.0.1"),  # decimal
        ("2130706433.", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),  # octal
        ("017700000001", "127.0.0.1"),
        ("0x7f.1", "127.0.0.1"),  # hex, short
        ("0x7F000001", "127.0.0.1"),
        ("0x7f.0x0.0x0.0x1", "127.0.0.1"),
        ("127.1", "127.0.0.1"),  # short forms
        ("127.0.1", "127.0.0.1"),
        ("10.1", "10.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),  # trailing dot
        ("0x7f.1.", "127.0.0.1"),
        ("０x7f.0.0.1", "127.0.0.1"),  # a fullwidth digit, as IDNA would fold it
        ("1.2.3.04", "1.2.3.4"),  # a leading zero is octal to some, decimal to others
    ],
)
def test_non_canonical_numeric_spellings_are_refused(host: str, read_as: str) -> None:
    with pytest.raises(BlockedHost) as info:
        host_literal(host)

    assert info.value.address == read_as
    assert "non-canonical numeric host" in str(info.value)
    assert f"read it as {read_as}" in str(info.value)


@pytest.mark.parametrize("host", ["256.0.0.1", "09.0.0.1", "1.2.3.0x100", "4294967296"])
def test_numeric_hosts_that_are_no_address_at_all_are_refused(host: str) -> None:
    with pytest.raises(BlockedHost) as info:
        host_literal(host)

    assert info.value.address == ""
    assert "non-canonical numeric host" in str(info.value)


@pytest.mark.parametrize("host", ["[fe80::1%25eth0]", "fe80::1%eth0", "[fe80::1%eth0]"])
def test_ipv6_zone_ids_are_refused(host: str) -> None:
    with pytest.raises(BlockedHost, match="zone id"):
        host_literal(host)


def test_a_bracketed_host_must_be_ipv6() -> None:
    with pytest.raises(BlockedHost, match="neither a host name nor a valid IPv6 address"):
        host_literal("[example.com]")


# -- create_time_problem -----------------------------------------------------------------------------------


def policy(**overrides) -> FetchPolicy:
    return FetchPolicy(resolver=no_lookups, **overrides)


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com/data/clips.zip",
        "http://files.example.com:8080/a.zip?sig=abc",
        "https://localhost/a.zip",  # a name: its addresses are checked when the preprocessor connects
        "http://8.8.8.8/a.zip",
        "http://[2606:4700::1111]:8443/a.zip",
        f"upload://{UPLOAD_ID}",
    ],
)
def test_acceptable_urls_have_no_problem(url: str) -> None:
    assert create_time_problem(url, policy()) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("clips.zip", "relative path"),
        ("./data/clips.zip", "relative path"),
        ("../clips.zip", "relative path"),
        ("ftp://example.com/a.zip", "scheme 'ftp'"),
        ("gopher://example.com/a.zip", "scheme 'gopher'"),
        ("s3://bucket/a.zip", "scheme 's3'"),
        ("C:\\data\\a.zip", "scheme 'c'"),
        ("http:///a.zip", "names no host"),
        ("https://", "names no host"),
        ("http://user:secret@example.com/a.zip", "user name or password"),
        ("http://user@example.com/a.zip", "user name or password"),
        ("http://example.com:99999/a.zip", "invalid port"),
        ("http://example.com:0/a.zip", "port 0"),
        ("http://[::1/a.zip", "not a valid URL"),
        ("http://127.0.0.1/a.zip", "loopback (127.0.0.0/8)"),
        ("http://169.254.169.254/latest/meta-data/", "link-local (169.254.0.0/16)"),
        ("http://[::1]/a.zip", "loopback (::1/128)"),
        ("http://[::ffff:10.0.0.1]/a.zip", "IPv4-mapped form of 10.0.0.1"),
        ("http://0x7f.1/a.zip", "non-canonical numeric host"),
        ("http://2130706433/a.zip", "non-canonical numeric host"),
        ("http://[fe80::1%25eth0]/a.zip", "zone id"),
        ("file://fileserver/share/a.zip", "'fileserver'"),
        ("file:relative/a.zip", "absolute path"),
        ("/data/a\x00.zip", "NUL character"),
        ("file:///data/a%00.zip", "NUL character"),
        ("upload://" + UPLOAD_ID.upper(), "32 lowercase hex digits"),
        ("upload://abc", "32 lowercase hex digits"),
        (f"upload://{UPLOAD_ID}/x.zip", "32 lowercase hex digits"),
    ],
)
def test_unacceptable_urls_say_why(url: str, problem: str) -> None:
    found = create_time_problem(url, policy())

    assert found is not None and problem in found


def test_an_allowed_cidr_accepts_its_literal_addresses() -> None:
    internal = policy(allow_cidrs=parse_cidrs(["10.0.0.0/8"]))

    assert create_time_problem("http://10.1.2.3/a.zip", internal) is None
    assert "private (192.168.0.0/16)" in create_time_problem("http://192.168.0.1/a.zip", internal)


def test_a_long_url_is_quoted_at_most_200_characters() -> None:
    url = "gopher://" + "x" * 5000

    found = create_time_problem(url, policy())

    assert "more characters" in found
    assert len(found) < 400


@pytest.fixture
def folders(tmp_path: Path) -> dict[str, Path]:
    """An allowed folder holding the service's storage, and a folder outside it."""
    made = {
        "allowed": tmp_path / "datasets",
        "storage": tmp_path / "datasets" / "storage",
        "outside": tmp_path / "home",
    }
    for folder in made.values():
        folder.mkdir(parents=True)
    (made["allowed"] / "clips.zip").write_bytes(b"zip")
    (made["outside"] / "private.zip").write_bytes(b"zip")
    return made


def local_policy(folders: dict[str, Path]) -> FetchPolicy:
    return policy(allow_local_roots=(folders["allowed"],), storage_root=folders["storage"])


def test_local_files_inside_an_allowed_folder_are_accepted(folders: dict[str, Path]) -> None:
    inside = folders["allowed"] / "clips.zip"
    (folders["allowed"] / "link.zip").symlink_to(inside)

    for url in (str(inside), inside.as_uri(), f"file://localhost{inside}", str(folders["allowed"] / "link.zip")):
        assert create_time_problem(url, local_policy(folders)) is None


def test_a_local_file_that_does_not_exist_yet_is_accepted(folders: dict[str, Path]) -> None:
    assert create_time_problem(str(folders["allowed"] / "later" / "clips.zip"), local_policy(folders)) is None


def test_a_local_file_outside_the_allowed_folders_is_refused(folders: dict[str, Path]) -> None:
    found = create_time_problem(str(folders["outside"] / "private.zip"), local_policy(folders))

    assert found is not None and "outside the folders local archives may come from" in found
    assert "/etc/passwd" in create_time_problem("file:///etc/passwd", local_policy(folders))


def test_a_symlink_in_an_allowed_folder_pointing_outside_is_refused(folders: dict[str, Path]) -> None:
    link = folders["allowed"] / "innocent.zip"
    link.symlink_to(folders["outside"] / "private.zip")

    found = create_time_problem(str(link), local_policy(folders))

    assert found is not None
    assert f"real path {str(folders['outside'] / 'private.zip')!r}" in found


def test_a_dot_dot_path_is_judged_where_it_leads(folders: dict[str, Path]) -> None:
    escaping = f"{folders['allowed']}/../home/private.zip"

    assert "outside the folders" in create_time_problem(escaping, local_policy(folders))


def test_the_storage_root_is_refused_even_inside_an_allowed_folder(folders: dict[str, Path]) -> None:
    upload = folders["storage"] / "uploads" / "someone" / f"{UPLOAD_ID}.zip"

    found = create_time_problem(str(upload), local_policy(folders))

    assert found is not None and "service's storage" in found and "upload://" in found


def test_without_allowed_folders_no_local_file_is_accepted(folders: dict[str, Path]) -> None:
    found = create_time_problem(str(folders["allowed"] / "clips.zip"), policy())

    assert found is not None and "reads no local files" in found


# -- parse_cidrs and the policy's own checks -------------------------------------------------------------------


def test_parse_cidrs_reads_blocks_and_single_addresses() -> None:
    assert parse_cidrs([" 10.0.0.0/8", "fd00::/8", "192.0.2.7"]) == (
        ipaddress.ip_network("10.0.0.0/8"),
        ipaddress.ip_network("fd00::/8"),
        ipaddress.ip_network("192.0.2.7/32"),
    )


@pytest.mark.parametrize("value", ["10.0.0.0/33", "10.0.0.1/8", "ten/8", "", "fd00::/129"])
def test_parse_cidrs_names_the_bad_value(value: str) -> None:
    with pytest.raises(ValueError, match="is not a CIDR block") as info:
        parse_cidrs(["10.0.0.0/8", value])

    assert repr(value) in str(info.value)


@pytest.mark.parametrize(
    "field", [{"deadline_s": 0}, {"connect_timeout_s": -1}, {"read_timeout_s": 0}, {"max_redirects": -1}]
)
def test_fetch_policy_refuses_impossible_limits(field: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(field))):
        FetchPolicy(**field)
