"""Safe zip extraction: refused entries are skipped and reported one by one, the caps and the folder hold.

The odd archives are built byte by byte (tests.fuzz.fuzz_archive.zip_bytes) where zipfile's writer cannot
make them: encryption flags, wrong CRCs, damaged streams. Entry names: test_archive_entry_names.
"""

from __future__ import annotations

import stat
import struct
import zipfile
from pathlib import Path

import pytest

from preprocess_svc.errors import ArchiveError, ArchiveReason
from preprocess_svc.extract import EntryReason, ExtractedArchive, SkippedEntry, extract_zip
from shared.disk_space import SpaceGuard, StorageFull
from tests.fuzz.fuzz_archive import DEFLATED, ENCRYPTED_FLAG, SYMLINK_ATTR, RawEntry, deflate, zip_bytes
from tests.preprocess.zip_cases import (
    BIG,
    GOOD,
    everything_under,
    extract,
    files_under,
    make_zip,
    raw_zip,
    reasons,
)


def test_data_files_are_written_with_their_contents_in_archive_order(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "a.zip",
        {
            "clips/": b"",
            "clips/walk.mp4": b"walk",
            "clips/walk.txt": b"a walk",
            "日本/クリップ.mp4": b"jp",
            "x.mp4": b"",
        },
    )
    dest = tmp_path / "out"

    result = extract(archive, dest)

    assert result == ExtractedArchive(
        paths=["clips/walk.mp4", "clips/walk.txt", "日本/クリップ.mp4", "x.mp4"], skipped=[]
    )
    assert files_under(dest) == set(result.paths)
    assert (dest / "clips" / "walk.txt").read_bytes() == b"a walk"
    assert (dest / "日本" / "クリップ.mp4").read_bytes() == b"jp"


def test_symlink_entry_is_skipped(tmp_path: Path) -> None:
    archive = tmp_path / "link.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("good.mp4", b"x")
        link = zipfile.ZipInfo("clip.mp4")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, "/etc/passwd")
    dest = tmp_path / "extracted"

    result = extract(archive, dest)

    assert result.paths == ["good.mp4"]
    assert result.skipped == [
        SkippedEntry("clip.mp4", EntryReason.SYMLINK, "the entry is a symbolic link; links are not extracted")
    ]
    assert [p for p in dest.rglob("*") if p.is_symlink()] == []


def test_encrypted_entry_is_skipped(tmp_path: Path) -> None:
    archive = raw_zip(tmp_path / "a.zip", [RawEntry(b"locked.mp4", b"\x00" * 24, flags=ENCRYPTED_FLAG), GOOD])

    result = extract(archive, tmp_path / "out")

    assert result.paths == ["good.mp4"]
    assert result.skipped == [
        SkippedEntry("locked.mp4", EntryReason.ENCRYPTED, "the entry is encrypted; use a zip without a password")
    ]


@pytest.mark.parametrize(
    ("damaged", "why"),
    [
        (RawEntry(b"bad.mp4", b"frames", crc=0), "Bad CRC-32 for file 'bad.mp4'"),
        (
            RawEntry(b"bad.mp4", b"frames" * 50, method=DEFLATED, compressed=b"\xff" * 30),
            "Error -3 while decompressing data: invalid block type",
        ),
        (
            RawEntry(b"bad.mp4", b"frames" * 50, method=DEFLATED, compressed=deflate(b"frames" * 50)[:9]),
            "Bad CRC-32 for file 'bad.mp4'",
        ),
    ],
)
def test_an_unreadable_entry_is_skipped_and_removed_and_the_others_kept(
    tmp_path: Path, damaged: RawEntry, why: str
) -> None:
    archive = raw_zip(tmp_path / "a.zip", [GOOD, damaged, RawEntry(b"later.mp4", b"later", method=DEFLATED)])
    dest = tmp_path / "out"

    result = extract(archive, dest)

    assert result.paths == ["good.mp4", "later.mp4"]
    assert result.skipped == [SkippedEntry("bad.mp4", EntryReason.UNREADABLE_ENTRY, f"the entry cannot be read: {why}")]
    assert files_under(dest) == {"good.mp4", "later.mp4"}
    assert (dest / "later.mp4").read_bytes() == b"later"


def _lie_about_sizes(archive: Path, declared: int) -> None:
    """Rewrite the uncompressed size in the local and central headers of a one-entry zip."""
    data = bytearray(archive.read_bytes())
    local = data.find(b"PK\x03\x04")
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, local + 22, declared)
    struct.pack_into("<I", data, central + 24, declared)
    archive.write_bytes(bytes(data))


def test_entry_with_a_lying_size_header_is_skipped_and_nothing_is_left(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "bomb.zip", {"bomb.bin": bytes(2_000_000)})
    _lie_about_sizes(archive, declared=10)
    dest = tmp_path / "out"

    result = extract(archive, dest, max_bytes=1000)

    # The reader stops at the declared size, so the real 2 MB never land; the entry fails its CRC.
    assert result.paths == []
    assert result.skipped == [
        SkippedEntry(
            "bomb.bin", EntryReason.UNREADABLE_ENTRY, "the entry cannot be read: Bad CRC-32 for file 'bomb.bin'"
        )
    ]
    assert files_under(dest) == set()


def test_compression_methods_other_than_stored_and_deflate_are_skipped(tmp_path: Path) -> None:
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("good.mp4", b"x")
        zf.writestr("packed.mp4", bytes(10_000), compress_type=zipfile.ZIP_BZIP2)
        zf.writestr("squeezed.mp4", bytes(10_000), compress_type=zipfile.ZIP_LZMA)
    result = extract(archive, tmp_path / "out")

    assert result.paths == ["good.mp4"]
    assert [(s.path, s.reason, s.message) for s in result.skipped] == [
        (
            "packed.mp4",
            EntryReason.UNREADABLE_ENTRY,
            "the entry uses compression method 12 (bzip2); only stored and deflate are read",
        ),
        (
            "squeezed.mp4",
            EntryReason.UNREADABLE_ENTRY,
            "the entry uses compression method 14 (LZMA); only stored and deflate are read",
        ),
    ]


def test_an_unknown_compression_method_is_skipped(tmp_path: Path) -> None:
    archive = raw_zip(tmp_path / "a.zip", [RawEntry(b"odd.mp4", b"x", method=77), GOOD])

    result = extract(archive, tmp_path / "out")

    assert result.paths == ["good.mp4"]
    assert result.skipped == [
        SkippedEntry(
            "odd.mp4",
            EntryReason.UNREADABLE_ENTRY,
            "the entry uses compression method 77 (unknown); only stored and deflate are read",
        )
    ]


def test_an_archive_whose_entries_are_all_skipped_reports_them_all_in_order(tmp_path: Path) -> None:
    archive = raw_zip(
        tmp_path / "a.zip",
        [
            RawEntry(b"../up.mp4", b"x"),
            RawEntry(b"link.mp4", b"target", external_attr=SYMLINK_ATTR),
            RawEntry(b"locked.mp4", b"x", flags=ENCRYPTED_FLAG),
            RawEntry(b"bad.mp4", b"x", crc=1),
            RawEntry(b"odd.mp4", b"x", method=99),
            RawEntry(b"bad.mp4", b"again"),
        ],
    )
    dest = tmp_path / "box" / "out"

    result = extract(archive, dest)

    assert result.paths == []
    assert reasons(result) == [
        ("../up.mp4", EntryReason.UNSAFE_NAME),
        ("link.mp4", EntryReason.SYMLINK),
        ("locked.mp4", EntryReason.ENCRYPTED),
        ("bad.mp4", EntryReason.UNREADABLE_ENTRY),
        ("odd.mp4", EntryReason.UNREADABLE_ENTRY),
        ("bad.mp4", EntryReason.DUPLICATE_NAME),
    ]
    assert dest.is_dir()
    assert everything_under(tmp_path) == {"a.zip", "box", "box/out"}


def test_too_many_entries_is_refused(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "many.zip", {f"f{i}.txt": b"x" for i in range(5)})

    with pytest.raises(ArchiveError) as info:
        extract_zip(archive, tmp_path / "out", max_uncompressed_bytes=BIG, max_entries=4)

    assert info.value.reason == ArchiveReason.ARCHIVE_TOO_LARGE
    assert info.value.message == "archive has 5 entries, more than the limit of 4"
    assert not (tmp_path / "out").exists()


def test_declared_uncompressed_size_over_the_cap_is_refused_before_writing(tmp_path: Path) -> None:
    # The skipped dotfile's 5,000 bytes do not count.
    archive = make_zip(tmp_path / "big.zip", {"a.bin": bytes(600), "b.bin": bytes(600), ".cache": bytes(5000)})

    with pytest.raises(ArchiveError) as info:
        extract(archive, tmp_path / "out", max_bytes=1000)

    assert info.value.reason == ArchiveReason.ARCHIVE_TOO_LARGE
    assert info.value.message == "archive content (uncompressed) is 1,200 bytes, more than the limit of 1,000 bytes"
    assert not (tmp_path / "out").exists()


def test_a_volume_without_room_refuses_before_writing(tmp_path: Path) -> None:
    archive = make_zip(tmp_path / "a.zip", {"a.mp4": bytes(600)})
    dest = tmp_path / "out"

    with pytest.raises(StorageFull):
        extract_zip(archive, dest, max_uncompressed_bytes=BIG, max_entries=10, space=SpaceGuard(min_free_bytes=1 << 62))

    assert not dest.exists()


def test_macos_metadata_dotfiles_and_folders_are_left_out_silently(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "mac.zip",
        {
            "clips/": b"",
            "clips/walk.mp4": b"v",
            "clips/walk.txt": b"a walk",
            "__MACOSX/clips/._walk.mp4": b"resource fork",
            "clips/.DS_Store": b"finder",
            ".hidden/secret.mp4": b"v",
            "clips/.cache/x.mp4": b"v",
            "win\\path.txt": b"w",
            "win\\folder\\": b"",
        },
    )
    dest = tmp_path / "out"

    result = extract(archive, dest)

    assert result == ExtractedArchive(paths=["clips/walk.mp4", "clips/walk.txt", "win/path.txt"], skipped=[])
    assert everything_under(dest) == {"clips", "clips/walk.mp4", "clips/walk.txt", "win", "win/path.txt"}


@pytest.mark.parametrize(
    "content",
    [
        b"this is plainly text, not a zip archive",
        zip_bytes([GOOD, GOOD])[:-30],  # cut inside the central directory
        zip_bytes([GOOD]).replace(b"PK\x01\x02", b"PK\x01\x09"),  # a damaged central directory
        b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, 46, 0, 0),  # a directory that is not there
        zip_bytes([GOOD])[:-22] + b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 1, 1, 80, 1 << 31, 0),
    ],
)
def test_a_file_that_is_not_a_readable_zip_is_refused(tmp_path: Path, content: bytes) -> None:
    not_zip = tmp_path / "archive.zip"
    not_zip.write_bytes(content)

    with pytest.raises(ArchiveError) as info:
        extract(not_zip, tmp_path / "out")

    assert info.value.reason == ArchiveReason.NOT_A_ZIP
    assert info.value.message.startswith("archive.zip is not a readable zip archive: ")
    assert not (tmp_path / "out").exists()
