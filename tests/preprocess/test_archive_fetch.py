"""Fetching the archive: local paths, file:// and http:// through a real server on 127.0.0.1; upload:// ids."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from preprocess_svc.errors import ArchiveError, ArchiveReason
from preprocess_svc.fetch import fetch_archive
from preprocess_svc.uploads import resolve_upload_uri

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes


def fetch(url: str, dest: Path, *, max_bytes: int = 1 << 30, read_timeout_s: float = 5.0) -> Path:
    return fetch_archive(url, dest, max_bytes=max_bytes, connect_timeout_s=5.0, read_timeout_s=read_timeout_s)


def test_local_path_is_copied(tmp_path: Path) -> None:
    src = tmp_path / "in" / "data set.zip"
    src.parent.mkdir()
    src.write_bytes(PAYLOAD)

    dest = fetch(str(src), tmp_path / "ds" / "archive.zip")

    assert dest.read_bytes() == PAYLOAD


def test_file_url_is_copied(tmp_path: Path) -> None:
    src = tmp_path / "data set.zip"
    src.write_bytes(PAYLOAD)

    dest = fetch(src.as_uri(), tmp_path / "ds" / "archive.zip")

    assert dest.read_bytes() == PAYLOAD


def test_missing_local_archive_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError) as info:
        fetch(str(tmp_path / "nope.zip"), tmp_path / "archive.zip")

    assert info.value.reason == ArchiveReason.NOT_FOUND
    assert "nope.zip" in info.value.message


def test_local_archive_over_the_cap_is_refused(tmp_path: Path) -> None:
    src = tmp_path / "big.zip"
    src.write_bytes(PAYLOAD)

    with pytest.raises(ArchiveError) as info:
        fetch(str(src), tmp_path / "ds" / "archive.zip", max_bytes=1000)

    assert info.value.reason == ArchiveReason.ARCHIVE_TOO_LARGE
    assert not (tmp_path / "ds" / "archive.zip").exists()


def test_unsupported_scheme_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError) as info:
        fetch("ftp://example.com/a.zip", tmp_path / "archive.zip")

    assert info.value.reason == ArchiveReason.FETCH_FAILED
    assert "'ftp'" in info.value.message


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


def test_http_content_length_over_the_cap_is_refused_up_front(tmp_path: Path, http_server) -> None:
    (http_server.root / "data.zip").write_bytes(PAYLOAD)
    dest = tmp_path / "ds" / "archive.zip"

    with pytest.raises(ArchiveError) as info:
        fetch(f"{http_server.base_url}/data.zip", dest, max_bytes=50_000)

    assert info.value.reason == ArchiveReason.ARCHIVE_TOO_LARGE
    assert "Content-Length" in info.value.message
    assert not dest.parent.exists() or list(dest.parent.iterdir()) == []


def test_http_body_over_the_cap_without_content_length_is_cut_off(tmp_path: Path, http_server) -> None:
    (http_server.root / "data.zip").write_bytes(PAYLOAD * 20)  # 2 MB, sent without Content-Length
    dest = tmp_path / "ds" / "archive.zip"

    with pytest.raises(ArchiveError) as info:
        fetch(f"{http_server.base_url}/no-length/data.zip", dest, max_bytes=1_500_000)

    assert info.value.reason == ArchiveReason.ARCHIVE_TOO_LARGE
    assert "more than the limit of 1,500,000 bytes" in info.value.message
    assert list(dest.parent.iterdir()) == []  # no partial download left behind


def test_http_server_that_stalls_hits_the_read_timeout(tmp_path: Path, http_server) -> None:
    started = time.monotonic()

    with pytest.raises(ArchiveError) as info:
        fetch(f"{http_server.base_url}/stall", tmp_path / "archive.zip", read_timeout_s=0.3)

    assert info.value.reason == ArchiveReason.FETCH_FAILED
    assert "timed out" in info.value.message
    assert time.monotonic() - started < 1.4  # the server stalls for 1.5 s


def test_upload_uri_resolves_to_the_stored_upload(tmp_path: Path) -> None:
    stored = tmp_path / "uploads" / f"{'ab' * 16}.zip"
    stored.parent.mkdir()
    stored.write_bytes(PAYLOAD)

    assert resolve_upload_uri(f"upload://{'ab' * 16}", tmp_path / "uploads") == stored


def test_unknown_upload_id_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError) as info:
        resolve_upload_uri(f"upload://{'0' * 32}", tmp_path / "uploads")

    assert info.value.reason == ArchiveReason.NOT_FOUND
    assert "never uploaded, or deleted" in info.value.message


@pytest.mark.parametrize("upload_id", ["../datasets/x/archive", "ABCDEF" * 6, "", "a" * 31, f"{'a' * 32}/x"])
def test_upload_id_that_is_not_32_hex_digits_is_not_found_without_touching_the_disk(
    tmp_path: Path, upload_id: str
) -> None:
    with pytest.raises(ArchiveError) as info:
        resolve_upload_uri(f"upload://{upload_id}", tmp_path / "uploads")

    assert info.value.reason == ArchiveReason.NOT_FOUND
    assert "32 lowercase hex digits" in info.value.message
