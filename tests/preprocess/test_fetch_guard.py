"""What fetch_archive refuses and where it stops: blocked addresses and spellings, redirects, DNS answers,
the deadline, cancellation, local paths outside the allowed folders, size caps and the storage guard.

Real HTTP servers on 127.0.0.1 and real files only; no name is looked up except through an injected
resolver, and no connection goes anywhere but 127.0.0.1.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlencode

import pytest
from pydantic import Field

from preprocess_svc.errors import ArchiveError, ArchiveReason, FetchCancelled
from preprocess_svc.fetch import fetch_archive
from shared.disk_space import SpaceGuard, StorageFull
from shared.fetch_policy import FetchPolicy, parse_cidrs

PAYLOAD = bytes(range(256)) * 400  # 102,400 bytes
TEST_SERVER_ONLY = parse_cidrs(["127.0.0.1/32"])


def no_lookups(host: str, port: int) -> Sequence[str]:
    raise AssertionError(f"the fetch looked up {host!r}, which it had no reason to")


class RecordingResolver:
    """Answers each lookup of a name with the next of `answers` (the last one again once they run out)."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.lookups.append(host)
        sequence = self.answers[host]
        return sequence[min(self.lookups.count(host), len(sequence)) - 1]


def make_policy(**overrides) -> FetchPolicy:
    fields = {
        "allow_cidrs": TEST_SERVER_ONLY,
        "connect_timeout_s": 5.0,
        "read_timeout_s": 5.0,
        "deadline_s": 20.0,
        "resolver": no_lookups,
    }
    return FetchPolicy(**{**fields, **overrides})


def fetch(url: str, dest: Path, *, max_bytes: int = 1 << 30, **overrides) -> Path:
    space = overrides.pop("space", SpaceGuard())
    cancel = overrides.pop("cancel", None)
    return fetch_archive(url, dest, policy=make_policy(**overrides), max_bytes=max_bytes, cancel=cancel, space=space)


def refused(call: Callable[[], object]) -> ArchiveError:
    with pytest.raises(ArchiveError) as info:
        call()
    return info.value


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def dest(tmp_path: Path) -> Path:
    return tmp_path / "ds" / "archive.zip"


# -- addresses and host spellings -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("host", "address", "why"),
    [
        ("127.0.0.2", "127.0.0.2", "loopback"),
        ("[::1]", "::1", "loopback"),
        ("[::ffff:127.0.0.2]", str(ipaddress.ip_address("::ffff:127.0.0.2")), "IPv4-mapped form of 127.0.0.2"),
        ("0x7f.0.0.2", "127.0.0.2", "non-canonical numeric host"),
        ("2130706434", "127.0.0.2", "non-canonical numeric host"),
        ("0177.0.0.2", "127.0.0.2", "non-canonical numeric host"),
        ("127.2", "127.0.0.2", "non-canonical numeric host"),
        ("127.0.0.1.", "127.0.0.1", "non-canonical numeric host"),
    ],
)
def test_loopback_outside_the_allow_list_is_blocked_without_connecting(
    dest: Path, http_server, host: str, address: str, why: str
) -> None:
    (http_server.root / "data.zip").write_bytes(PAYLOAD)

    error = refused(lambda: fetch(f"http://{host}:{http_server.port}/data.zip", dest))

    assert error.reason == ArchiveReason.FETCH_BLOCKED
    assert error.metadata["address"] == address
    assert why in error.message and address in error.message
    assert http_server.requests == []
    assert leftovers(dest.parent) == []


def test_the_allowed_address_is_fetched(dest: Path, http_server) -> None:
    (http_server.root / "data.zip").write_bytes(PAYLOAD)

    assert fetch(f"{http_server.base_url}/data.zip", dest).read_bytes() == PAYLOAD


def test_a_name_with_one_blocked_address_among_its_answers_is_blocked(dest: Path, http_server) -> None:
    resolver = RecordingResolver({"mirror.test": [["127.0.0.1", "10.1.2.3"]]})

    error = refused(lambda: fetch(f"http://mirror.test:{http_server.port}/data.zip", dest, resolver=resolver))

    assert error.reason == ArchiveReason.FETCH_BLOCKED
    assert error.metadata == {"host": "mirror.test", "address": "10.1.2.3"}
    assert "'mirror.test' (10.1.2.3)" in error.message and "private (10.0.0.0/8)" in error.message
    assert http_server.requests == []


def test_a_name_is_looked_up_once_and_its_checked_answer_is_connected_to(dest: Path, http_server) -> None:
    # A rebinding DNS server: the check sees 127.0.0.1, a second lookup would give 127.0.0.2.
    resolver = RecordingResolver({"rebind.test": [["127.0.0.1"], ["127.0.0.2"]]})
    (http_server.root / "data.zip").write_bytes(PAYLOAD)

    fetched = fetch(f"http://rebind.test:{http_server.port}/data.zip", dest, resolver=resolver)

    assert fetched.read_bytes() == PAYLOAD
    assert resolver.lookups == ["rebind.test"]
    assert http_server.requests == ["/data.zip"]


def test_each_new_connection_checks_the_name_again(dest: Path, http_server) -> None:
    # The test server closes every connection after one answer, so the redirect's hop connects anew.
    resolver = RecordingResolver({"rebind.test": [["127.0.0.1"], ["127.0.0.2"]]})

    error = refused(lambda: fetch(f"http://rebind.test:{http_server.port}/chain/1/data.zip", dest, resolver=resolver))

    assert error.reason == ArchiveReason.FETCH_BLOCKED
    assert error.metadata == {"host": "rebind.test", "address": "127.0.0.2"}
    assert resolver.lookups == ["rebind.test", "rebind.test"]
    assert http_server.requests == ["/chain/1/data.zip"]


# -- redirects ----------------------------------------------------------------------------------------


def test_a_redirect_to_a_blocked_address_is_blocked(dest: Path, http_server) -> None:
    target = f"http://127.0.0.2:{http_server.port}/data.zip"

    error = refused(lambda: fetch(f"{http_server.base_url}/redirect?{urlencode({'to': target})}", dest))

    assert error.reason == ArchiveReason.FETCH_BLOCKED
    assert error.metadata == {"host": "127.0.0.2", "address": "127.0.0.2"}
    assert f"redirected to {target!r}" in error.message
    assert len(http_server.requests) == 1


def test_a_redirect_to_a_non_canonical_numeric_host_is_blocked(dest: Path, http_server) -> None:
    target = f"http://0x7f.0.0.1:{http_server.port}/data.zip"  # the allowed address, spelt in hex

    error = refused(lambda: fetch(f"{http_server.base_url}/redirect?{urlencode({'to': target})}", dest))

    assert error.reason == ArchiveReason.FETCH_BLOCKED
    assert "non-canonical numeric host" in error.message
    assert len(http_server.requests) == 1


def test_a_redirect_to_a_local_file_is_blocked(dest: Path, http_server) -> None:
    error = refused(lambda: fetch(f"{http_server.base_url}/redirect?{urlencode({'to': 'file:///etc/passwd'})}", dest))

    assert error.reason == ArchiveReason.FETCH_BLOCKED
    assert error.metadata == {"redirect_to": "file:///etc/passwd"}
    assert "'file:///etc/passwd'" in error.message
    assert leftovers(dest.parent) == []


def test_five_redirects_are_followed_and_a_sixth_is_refused(dest: Path, http_server) -> None:
    (http_server.root / "data.zip").write_bytes(PAYLOAD)
    assert fetch(f"{http_server.base_url}/chain/5/data.zip", dest).read_bytes() == PAYLOAD
    dest.unlink()

    error = refused(lambda: fetch(f"{http_server.base_url}/chain/6/data.zip", dest))

    assert error.reason == ArchiveReason.FETCH_FAILED
    assert "more than 5 redirects" in error.message
    assert leftovers(dest.parent) == []


# -- deadline and cancellation -------------------------------------------------------------------------


def test_a_trickling_server_is_stopped_at_the_overall_deadline(dest: Path, http_server) -> None:
    # One byte every 0.3 s never trips the 1 s read timeout; only the 2 s deadline ends it.
    started = time.monotonic()

    error = refused(lambda: fetch(f"{http_server.base_url}/trickle/100", dest, read_timeout_s=1.0, deadline_s=2.0))

    elapsed = time.monotonic() - started
    assert error.reason == ArchiveReason.FETCH_FAILED
    assert "deadline of 2 s" in error.message
    assert 1.9 <= elapsed < 2.6
    assert leftovers(dest.parent) == []


@pytest.mark.parametrize("route", ["stall/10", "trickle-headers"])
def test_cancel_stops_a_stalled_fetch_at_once_and_keeps_nothing(dest: Path, http_server, route: str) -> None:
    cancel = threading.Event()
    cancelled_at: list[float] = []

    def cancel_soon() -> None:
        time.sleep(0.5)
        cancelled_at.append(time.monotonic())
        cancel.set()

    threading.Thread(target=cancel_soon, daemon=True).start()
    with pytest.raises(FetchCancelled):
        fetch(f"{http_server.base_url}/{route}", dest, read_timeout_s=30.0, deadline_s=60.0, cancel=cancel)

    assert time.monotonic() - cancelled_at[0] < 1.0
    assert leftovers(dest.parent) == []


def test_a_fetch_cancelled_before_it_starts_sends_nothing(dest: Path, http_server) -> None:
    cancel = threading.Event()
    cancel.set()

    with pytest.raises(FetchCancelled):
        fetch(f"{http_server.base_url}/data.zip", dest, cancel=cancel)

    assert http_server.requests == []


# -- local files ----------------------------------------------------------------------------------------


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path, Path]:
    """(an allowed folder, the service's storage inside it, a folder outside it)."""
    allowed, outside = tmp_path / "allowed", tmp_path / "outside"
    storage = allowed / "storage"
    for folder in (allowed, storage, outside):
        folder.mkdir()
    return allowed, storage, outside


def local_fetch(path: Path | str, roots: tuple[Path, Path, Path], dest: Path, **overrides) -> Path:
    allowed, storage, _ = roots
    return fetch(str(path), dest, allow_local_roots=(allowed,), storage_root=storage, **overrides)


def test_a_file_inside_the_allowed_folder_is_copied(roots, dest: Path) -> None:
    (roots[0] / "data.zip").write_bytes(PAYLOAD)
    (roots[0] / "link.zip").symlink_to(roots[0] / "data.zip")

    assert local_fetch(roots[0] / "link.zip", roots, dest).read_bytes() == PAYLOAD


def test_a_file_outside_the_allowed_folders_is_blocked(roots, dest: Path) -> None:
    (roots[2] / "data.zip").write_bytes(PAYLOAD)

    error = refused(lambda: local_fetch(roots[2] / "data.zip", roots, dest))

    assert error.reason == ArchiveReason.FETCH_BLOCKED
    assert error.metadata == {"path": str(roots[2] / "data.zip")}
    assert "outside the folders local archives may come from" in error.message
    assert leftovers(dest.parent) == []


def test_a_missing_file_outside_the_allowed_folders_is_blocked_not_reported_missing(roots, dest: Path) -> None:
    assert refused(lambda: local_fetch("/nonexistent/x.zip", roots, dest)).reason == ArchiveReason.FETCH_BLOCKED
    assert refused(lambda: local_fetch(roots[0] / "x.zip", roots, dest)).reason == ArchiveReason.NOT_FOUND


def test_a_file_in_the_storage_root_is_blocked_even_inside_an_allowed_folder(roots, dest: Path) -> None:
    (roots[1] / "uploads").mkdir()
    (roots[1] / "uploads" / "someone_elses.zip").write_bytes(PAYLOAD)

    error = refused(lambda: local_fetch((roots[1] / "uploads" / "someone_elses.zip").as_uri(), roots, dest))

    assert error.reason == ArchiveReason.FETCH_BLOCKED
    assert "service's storage" in error.message and "upload://" in error.message


def test_a_symlink_inside_the_allowed_folder_pointing_outside_is_blocked(roots, dest: Path) -> None:
    (roots[2] / "secret.zip").write_bytes(PAYLOAD)
    (roots[0] / "innocent.zip").symlink_to(roots[2] / "secret.zip")

    error = refused(lambda: local_fetch(roots[0] / "innocent.zip", roots, dest))

    assert error.reason == ArchiveReason.FETCH_BLOCKED
    assert f"real path {str(roots[2] / 'secret.zip')!r}" in error.message
    assert leftovers(dest.parent) == []


@pytest.mark.parametrize("kind", ["fifo", "directory", "device link"])
def test_a_non_regular_file_is_blocked(roots, dest: Path, kind: str) -> None:
    target = roots[0] / "archive.zip"
    if kind == "fifo":
        os.mkfifo(target)  # opening it must not wait for a writer
    elif kind == "directory":
        target.mkdir()
    else:
        target.symlink_to("/dev/zero")

    error = refused(lambda: local_fetch(target, roots, dest))

    assert error.reason == ArchiveReason.FETCH_BLOCKED
    assert leftovers(dest.parent) == []


def test_a_character_device_in_an_allowed_folder_is_blocked(dest: Path) -> None:
    error = refused(lambda: fetch("/dev/zero", dest, allow_local_roots=(Path("/dev"),)))

    assert error.reason == ArchiveReason.FETCH_BLOCKED
    assert "a character device, not a regular file" in error.message


# -- size caps and the storage guard ----------------------------------------------------------------------


def test_content_length_over_the_cap_is_refused_before_writing(dest: Path, http_server) -> None:
    (http_server.root / "data.zip").write_bytes(PAYLOAD)

    error = refused(lambda: fetch(f"{http_server.base_url}/data.zip", dest, max_bytes=50_000))

    assert error.reason == ArchiveReason.ARCHIVE_TOO_LARGE
    assert "Content-Length" in error.message
    assert leftovers(dest.parent) == []


def test_a_body_over_the_cap_is_cut_off_while_streaming(dest: Path, http_server) -> None:
    (http_server.root / "data.zip").write_bytes(PAYLOAD * 20)  # 2 MB, sent without Content-Length

    error = refused(lambda: fetch(f"{http_server.base_url}/no-length/data.zip", dest, max_bytes=1_500_000))

    assert error.reason == ArchiveReason.ARCHIVE_TOO_LARGE
    assert "more than the limit of 1,500,000 bytes" in error.message
    assert leftovers(dest.parent) == []


def test_the_storage_guard_refuses_before_anything_is_written(roots, dest: Path, http_server) -> None:
    (http_server.root / "data.zip").write_bytes(PAYLOAD)
    (roots[0] / "data.zip").write_bytes(PAYLOAD)
    full = SpaceGuard(min_free_bytes=shutil.disk_usage(dest.parent.parent).free + (1 << 40))

    with pytest.raises(StorageFull):
        fetch(f"{http_server.base_url}/data.zip", dest, space=full)
    with pytest.raises(StorageFull):
        local_fetch(roots[0] / "data.zip", roots, dest, space=full)

    assert leftovers(dest.parent) == []


class RecordingGuard(SpaceGuard):
    """A real SpaceGuard that also notes the size of every check it is asked for."""

    asked: list[int] = Field(default_factory=list)

    def check(self, path: Path, about_to_write: int = 0) -> None:
        self.asked.append(about_to_write)
        super().check(path, about_to_write)


@pytest.mark.parametrize(("route", "first_check"), [("", 40 << 20), ("no-length/", 0)])
def test_the_storage_guard_is_asked_first_and_again_every_16_mib(
    dest: Path, http_server, route: str, first_check: int
) -> None:
    (http_server.root / "data.zip").write_bytes(bytes(40 << 20))
    guard = RecordingGuard()

    fetch(f"{http_server.base_url}/{route}data.zip", dest, space=guard)

    # Up front: the Content-Length, or nothing known yet. After 16 and 32 MiB: what is left of a known
    # length, or the next 16 MiB.
    assert len(guard.asked) == 3 and guard.asked[0] == first_check
    if first_check:
        assert (40 << 20) - (16 << 20) >= guard.asked[1] > guard.asked[2] > 0
    else:
        assert guard.asked[1:] == [16 << 20, 16 << 20]
