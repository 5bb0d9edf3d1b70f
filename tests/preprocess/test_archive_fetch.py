"""Fetching the archive: local paths, file:// and http:// through a real server on 127.0.0.1; upload:// ids.

The limits and refusals of a fetch (blocked addresses, redirects, deadline, cancel, size caps, storage
guard) are in test_fetch_guard.py.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from preprocess_svc.errors import ArchiveError, ArchiveReason
from preprocess_svc.fetch import fetch_archive
from preprocess_svc.uploads import resolve_upload_uri
from shared.fetch_policy import FetchPolicy, parse_cidrs
from shared.uploads_layout import upload_path

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes


def fetch(url: str, dest: Path, *, max_bytes: int = 1 << 30, read_timeout_s: float = 5.0) -> Path:
    """fetch_archive with local files allowed under dest's test folder and the test server's address."""
    policy = FetchPolicy(
        allow_local_roots=(dest.parent.parent,),
        allow_cidrs=parse_cidrs(["127.0.0.1/32"]),
        connect_timeout_s=5.0,
        read_timeout_s=read_timeout_s,
        deadline_s=20.0,
    )
    return fetch_archive(url, dest, policy=policy, max_bytes=max_bytes)


def test_local_path_is_copied(tmp_path: Path) -> None:
    src = tmp_path / "in" / "data set.zip"
    src.parent.mkdir()
    src.write_bytes(PAYLOAD)

    dest = fetch(str(src), tmp_path / "ds" / "archive.zip")

    assert dest.read_bytes() == PAYLOAD
    assert [p.name for p in dest.parent.iterdir()] == ["archive.zip"]


def test_file_url_is_copied(tmp_path: Path) -> None:
    src = tmp_path / "data set.zip"
    src.write_bytes(PAYLOAD)

    dest = fetch(src.as_uri(), tmp_path / "ds" / "archive.zip")

    assert dest.read_bytes() == PAYLOAD


def test_file_url_on_localhost_is_copied(tmp_path: Path) -> None:
    src = tmp_path / "data.zip"
    src.write_bytes(PAYLOAD)

    dest = fetch(f"file://localhost{src}", tmp_path / "ds" / "archive.zip")

    assert dest.read_bytes() == PAYLOAD


def test_missing_local_archive_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError) as info:
        fetch(str(tmp_path / "nope.zip"), tmp_path / "ds" / "archive.zip")

    assert info.value.reason == ArchiveReason.NOT_FOUND
    assert "nope.zip" in info.value.message
    assert info.value.metadata == {"path": str(tmp_path / "nope.zip")}


def test_local_archive_over_the_cap_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "big.zip"
    src.write_bytes(PAYLOAD)

    with pytest.raises(ArchiveError) as info:
        fetch(str(src), tmp_path / "ds" / "archive.zip", max_bytes=1000)

    assert info.value.reason == ArchiveReason.ARCHIVE_TOO_LARGE
    assert not (tmp_path / "ds").exists()


@pytest.mark.parametrize(
    ("url", "quoted"),
    [
        ("ftp://example.com/a.zip", "'ftp'"),
        ("data/archive.zip", "relative path"),
        ("file://fileserver/share/a.zip", "'fileserver'"),
        (f"upload://{'ab' * 16}", "stored upload"),
    ],
)
def test_what_is_no_fetchable_url_is_blocked(tmp_path: Path, url: str, quoted: str) -> None:
    with pytest.raises(ArchiveError) as info:
        fetch(url, tmp_path / "ds" / "archive.zip")

    assert info.value.reason == ArchiveReason.FETCH_BLOCKED
    assert quoted in info.value.message


def test_http_archive_is_downloaded(tmp_path: Path, http_server) -> None:
    (http_server.root / "data.zip").write_bytes(PAYLOAD)

    dest = fetch(f"{http_server.base_url}/data.zip", tmp_path / "ds" / "archive.zip")

    assert dest.read_bytes() == PAYLOAD
    assert [p.name for p in dest.parent.iterdir()] == ["archive.zip"]


def test_http_404_is_not_found(tmp_path: Path, http_server) -> None:
    with pytest.raises(ArchiveError) as info:
        fetch(f"{http_server.base_url}/missing.zip", tmp_path / "archive.zip")

    assert info.value.reason == ArchiveReason.NOT_FOUND
    assert "HTTP 404" in info.value.message
    assert info.value.metadata == {"http_status": "404"}


@pytest.mark.parametrize(("status", "reason"), [(410, ArchiveReason.NOT_FOUND), (500, ArchiveReason.FETCH_FAILED)])
def test_http_error_status(tmp_path: Path, http_server, status: int, reason: ArchiveReason) -> None:
    with pytest.raises(ArchiveError) as info:
        fetch(f"{http_server.base_url}/status/{status}", tmp_path / "ds" / "archive.zip")

    assert info.value.reason == reason
    assert f"HTTP {status}" in info.value.message


def test_http_redirects_are_followed(tmp_path: Path, http_server) -> None:
    (http_server.root / "data.zip").write_bytes(PAYLOAD)

    dest = fetch(f"{http_server.base_url}/chain/3/data.zip", tmp_path / "ds" / "archive.zip")

    assert dest.read_bytes() == PAYLOAD
    assert http_server.requests == ["/chain/3/data.zip", "/chain/2/data.zip", "/chain/1/data.zip", "/data.zip"]


def test_https_to_a_plain_http_server_fails_in_the_tls_handshake(tmp_path: Path, http_server) -> None:
    with pytest.raises(ArchiveError) as info:
        fetch(f"https://127.0.0.1:{http_server.port}/data.zip", tmp_path / "ds" / "archive.zip")

    assert info.value.reason == ArchiveReason.FETCH_FAILED
    assert "TLS handshake with 127.0.0.1 failed" in info.value.message


def test_connection_refused_is_a_failed_fetch(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port that was free a moment ago: nothing listens on it
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]

    with pytest.raises(ArchiveError) as info:
        fetch(f"http://127.0.0.1:{port}/data.zip", tmp_path / "ds" / "archive.zip")

    assert info.value.reason == ArchiveReason.FETCH_FAILED
    assert "cannot connect" in info.value.message


def test_http_server_that_stalls_hits_the_read_timeout(tmp_path: Path, http_server) -> None:
    started = time.monotonic()

    with pytest.raises(ArchiveError) as info:
        fetch(f"{http_server.base_url}/stall", tmp_path / "archive.zip", read_timeout_s=0.3)

    assert info.value.reason == ArchiveReason.FETCH_FAILED
    assert "timed out" in info.value.message
    assert time.monotonic() - started < 1.4  # the server stalls for 1.5 s


def test_upload_uri_resolves_to_the_stored_upload(tmp_path: Path) -> None:
    stored = upload_path(tmp_path, "alice", "ab" * 16)
    stored.parent.mkdir(parents=True)
    stored.write_bytes(PAYLOAD)

    assert resolve_upload_uri(f"upload://{'ab' * 16}", tmp_path, "alice") == stored


def test_unknown_upload_id_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError) as info:
        resolve_upload_uri(f"upload://{'0' * 32}", tmp_path, "alice")

    assert info.value.reason == ArchiveReason.NOT_FOUND
    assert "never uploaded, or deleted" in info.value.message


@pytest.mark.parametrize("upload_id", ["../datasets/x/archive", "ABCDEF" * 6, "", "a" * 31, f"{'a' * 32}/x"])
def test_upload_id_that_is_not_32_hex_digits_is_not_found_without_touching_the_disk(
    tmp_path: Path, upload_id: str
) -> None:
    with pytest.raises(ArchiveError) as info:
        resolve_upload_uri(f"upload://{upload_id}", tmp_path, "alice")

    assert info.value.reason == ArchiveReason.NOT_FOUND
    assert "32 lowercase hex digits" in info.value.message
