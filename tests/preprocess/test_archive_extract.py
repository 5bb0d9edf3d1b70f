"""Safe zip extraction: unsafe entries refuse the whole archive, caps hold, metadata files are skipped."""

from __future__ import annotations

import stat
import struct
import zipfile
from pathlib import Path

import pytest

from preprocess_svc.errors import ArchiveError, ArchiveReason
from preprocess_svc.extract import extract_zip

BIG = 1 << 30


def make_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    "bad_name",
    ["../evil.txt", "a/../../evil.txt", "/tmp/evil.txt", "C:/evil.txt", "c:evil.txt", "a\\..\\..\\evil.txt"],
)
def test_entry_escaping_the_folder_refuses_the_whole_archive(tmp_path: Path, bad_name: str) -> None:
    archive = make_zip(tmp_path / "a.zip", {"good.mp4": b"x", bad_name: b"evil"})
    dest = tmp_path / "box" / "extracted"
    before = files_under(tmp_path)

    with pytest.raises(ArchiveError) as info:
        extract_zip(archive, dest, max_uncompressed_bytes=BIG, max_entries=100)

    assert info.value.reason == ArchiveReason.UNSAFE_ARCHIVE
    assert repr(bad_name) in info.value.message
    assert not dest.exists()
    assert files_under(tmp_path) == before


def test_symlink_entry_refuses_the_whole_archive(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("good.mp4", b"x")
        link = zipfile.ZipInfo("clip.mp4")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    dest = tmp_path / "extracted"

    with pytest.raises(ArchiveError) as info:
        extract_zip(archive, dest, max_uncompressed_bytes=BIG, max_entries=100)

    assert info.value.reason == ArchiveReason.UNSAFE_ARCHIVE
    assert "'clip.mp4' is a symbolic link" in info.value.message
    assert not dest.exists()


def test_too_many_entries_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "many.zip", {f"f{i}.txt": b"x" for i in range(5)})

    with pytest.raises(ArchiveError) as info:
        extract_zip(archive, tmp_path / "out", max_uncompressed_bytes=BIG, max_entries=4)

    assert info.value.reason == ArchiveReason.ARCHIVE_TOO_LARGE
    assert "5 entries" in info.value.message
    assert not (tmp_path / "out").exists()


def test_declared_uncompressed_size_over_the_cap_is_refused_before_writing(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "big.zip", {"a.bin": bytes(600), "b.bin": bytes(600)})

    with pytest.raises(ArchiveError) as info:
        extract_zip(archive, tmp_path / "out", max_uncompressed_bytes=1000, max_entries=100)

    assert info.value.reason == ArchiveReason.ARCHIVE_TOO_LARGE
    assert "1,200 bytes" in info.value.message
    assert not (tmp_path / "out").exists()


def _lie_about_sizes(archive: Path, declared: int) -> None:
    """Rewrite the uncompressed size in the local and central headers of a one-entry zip."""
    data = bytearray(archive.read_bytes())
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, declared)
    struct.pack_into("<I", data, central + 24, declared)
    archive.write_bytes(bytes(data))


def test_entry_with_a_lying_size_header_is_refused_and_nothing_is_left(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "bomb.zip", {"bomb.bin": bytes(2_000_000)})
    _lie_about_sizes(archive, declared=10)
    dest = tmp_path / "out"

    with pytest.raises(ArchiveError) as info:
        extract_zip(archive, dest, max_uncompressed_bytes=1000, max_entries=100)

    # The reader stops at the declared size, so the real 2 MB never land; the entry fails its CRC.
    assert info.value.reason == ArchiveReason.NOT_A_ZIP
    assert "'bomb.bin' cannot be extracted" in info.value.message
    assert not dest.exists()


def test_macos_metadata_and_dotfiles_are_not_extracted(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "mac.zip",
        {
            "clips/walk.mp4": b"v",
            "clips/walk.txt": b"a walk",
            "__MACOSX/clips/._walk.mp4": b"resource fork",
            "clips/.DS_Store": b"finder",
            ".hidden/secret.mp4": b"v",
            "clips/.cache/x.mp4": b"v",
            "./top.txt": b"t",
            "win\\path.txt": b"w",
        },
    )
    dest = tmp_path / "out"

    paths = extract_zip(archive, dest, max_uncompressed_bytes=BIG, max_entries=100)

    assert sorted(paths) == ["clips/walk.mp4", "clips/walk.txt", "top.txt", "win/path.txt"]
    assert files_under(dest) == set(paths)
    assert (dest / "clips" / "walk.txt").read_bytes() == b"a walk"


def test_a_file_that_is_not_a_zip_is_refused(tmp_path: Path) -> None:
    not_zip = tmp_path / "archive.zip"
    not_zip.write_bytes(b"this is plainly text, not a zip archive")

    with pytest.raises(ArchiveError) as info:
        extract_zip(not_zip, tmp_path / "out", max_uncompressed_bytes=BIG, max_entries=100)

    assert info.value.reason == ArchiveReason.NOT_A_ZIP
