"""Archive entry names: unsafe, over-long, undecodable, duplicate or conflicting names are skipped and
reported one by one, and nothing lands outside the extraction folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from preprocess_svc.errors import ArchiveError, ArchiveReason
from preprocess_svc.extract import EntryReason, ExtractedArchive, SkippedEntry
from tests.fuzz.fuzz_archive import RawEntry
from tests.preprocess.zip_cases import (
    GOOD,
    everything_under,
    extract,
    files_under,
    raw_zip,
    reasons,
    text_entry,
)


@pytest.mark.parametrize(
    ("bad_name", "why"),
    [
        ("../evil.txt", "the name has a '..' part"),
        ("a/../../evil.txt", "the name has a '..' part"),
        ("a\\..\\..\\evil.txt", "the name has a '..' part"),
        ("a/..", "the name has a '..' part"),
        ("/tmp/evil.txt", "the name is an absolute path"),
        ("\\\\server\\share\\evil.txt", "the name is an absolute path"),
        ("C:/evil.txt", "the name starts with the drive letter 'C:'"),
        ("c:evil.txt", "the name starts with the drive letter 'c:'"),
        (".", "the name has a '.' part"),
        ("a/./b.mp4", "the name has a '.' part"),
        ("./top.txt", "the name has a '.' part"),
        ("", "the name is empty"),
        ("clip\x00.mp4", "the name contains the control character U+0000"),
        ("clip\x1b[31m.mp4", "the name contains the control character U+001B"),
        ("clip\x85.mp4", "the name contains the control character U+0085"),
    ],
)
def test_unsafe_names_are_skipped_and_nothing_lands_outside_the_folder(tmp_path: Path, bad_name: str, why: str) -> None:
    archive = raw_zip(tmp_path / "a.zip", [GOOD, text_entry(bad_name, b"evil"), RawEntry(b"after.mp4", b"x")])
    dest = tmp_path / "box" / "out"
    before = everything_under(tmp_path)

    result = extract(archive, dest)

    assert result.paths == ["good.mp4", "after.mp4"]
    [skipped] = result.skipped
    assert (skipped.reason, skipped.message) == (EntryReason.UNSAFE_NAME, why)
    assert files_under(dest) == {"good.mp4", "after.mp4"}
    assert everything_under(tmp_path) - before == {"box", "box/out", "box/out/good.mp4", "box/out/after.mp4"}


def test_control_characters_are_escaped_in_the_reported_path(tmp_path: Path) -> None:
    archive = raw_zip(tmp_path / "a.zip", [RawEntry(b"clip\x00.mp4/../../x"), RawEntry(b"a\tb.mp4")])

    result = extract(archive, tmp_path / "out")

    assert reasons(result) == [
        ("clip\\x00.mp4/../../x", EntryReason.UNSAFE_NAME),
        ("a\\x09b.mp4", EntryReason.UNSAFE_NAME),
    ]


def test_a_huge_name_is_reported_in_at_most_200_characters(tmp_path: Path) -> None:
    archive = raw_zip(tmp_path / "a.zip", [RawEntry(b"\x01" * 65_535)])

    [skipped] = extract(archive, tmp_path / "out").skipped

    assert skipped.reason == EntryReason.UNSAFE_NAME
    assert skipped.path.startswith("\\x01\\x01")
    assert skipped.path.endswith("more characters)")
    assert len(skipped.path) <= 200


def test_names_over_the_length_limits_are_skipped(tmp_path: Path) -> None:
    part_256 = "é" * 128  # 128 characters, 256 bytes in UTF-8
    part_255 = "é" * 127 + "x"
    deep = "/".join(["d" * 99] * 10)  # 999 bytes
    archive = raw_zip(
        tmp_path / "a.zip",
        [
            text_entry(f"clips/{part_256}"),
            text_entry(part_255, b"255"),
            text_entry(f"{deep}/{'e' * 100}"),  # 1,100 bytes
            text_entry(f"{deep}/{'e' * 24}", b"1024"),  # 1,024 bytes
        ],
    )
    dest = tmp_path / "out"

    result = extract(archive, dest)

    assert result.paths == [part_255, f"{deep}/{'e' * 24}"]
    assert (dest / part_255).read_bytes() == b"255"
    assert [(s.reason, s.message) for s in result.skipped] == [
        (
            EntryReason.NAME_TOO_LONG,
            f"the name part '{'é' * 40}'... (88 more characters) is 256 bytes in UTF-8, more than the limit of "
            "255 bytes",
        ),
        (EntryReason.NAME_TOO_LONG, "the path is 1,100 bytes in UTF-8, more than the limit of 1,024 bytes"),
    ]
    assert all(len(s.path) <= 200 for s in result.skipped)


def test_a_utf8_name_without_the_flag_is_used_as_utf8(tmp_path: Path) -> None:
    archive = raw_zip(tmp_path / "a.zip", [RawEntry("café/übung.mp4".encode(), b"u", utf8=False)])
    dest = tmp_path / "out"

    result = extract(archive, dest)

    assert result == ExtractedArchive(paths=["café/übung.mp4"], skipped=[])
    assert (dest / "café" / "übung.mp4").read_bytes() == b"u"


def test_names_that_are_not_utf8_are_skipped_and_shown_with_escapes(tmp_path: Path) -> None:
    archive = raw_zip(
        tmp_path / "a.zip",
        [
            RawEntry("café.mp4".encode("latin-1"), b"latin-1"),
            RawEntry("été.mp4".encode("cp437"), b"cp437"),
            GOOD,
        ],
    )
    dest = tmp_path / "out"

    result = extract(archive, dest)

    assert result.paths == ["good.mp4"]
    assert result.skipped == [
        SkippedEntry(
            "caf\\xe9.mp4",
            EntryReason.NAME_NOT_UTF8,
            "the name is not valid UTF-8 (byte 0xe9 at offset 3); zip the files again with a tool that stores UTF-8 "
            "names",
        ),
        SkippedEntry(
            "\\x82t\\x82.mp4",
            EntryReason.NAME_NOT_UTF8,
            "the name is not valid UTF-8 (byte 0x82 at offset 0); zip the files again with a tool that stores UTF-8 "
            "names",
        ),
    ]
    assert files_under(dest) == {"good.mp4"}


def test_a_name_flagged_utf8_that_is_not_utf8_makes_the_archive_unreadable(tmp_path: Path) -> None:
    archive = raw_zip(tmp_path / "a.zip", [GOOD, RawEntry(b"caf\xe9.mp4", utf8=True)])
    dest = tmp_path / "out"

    with pytest.raises(ArchiveError) as info:
        extract(archive, dest)

    assert info.value.reason == ArchiveReason.NOT_A_ZIP
    assert info.value.message == (
        "a.zip is not a readable zip archive: an entry name is flagged as UTF-8 but byte 0xe9 at offset 3 of it "
        "is not valid UTF-8"
    )
    assert not dest.exists()


def test_later_entries_with_the_same_path_are_skipped_and_the_first_is_kept(tmp_path: Path) -> None:
    archive = raw_zip(
        tmp_path / "a.zip",
        [
            RawEntry(b"clips/a.mp4", b"first"),
            RawEntry(b"clips\\a.mp4", b"second"),
            RawEntry(b"clips/b.mp4", b"b"),
            RawEntry(b"clips//a.mp4", b"third"),
        ],
    )
    dest = tmp_path / "out"

    result = extract(archive, dest)

    assert result.paths == ["clips/a.mp4", "clips/b.mp4"]
    assert (dest / "clips" / "a.mp4").read_bytes() == b"first"
    duplicate = "an earlier entry ('clips/a.mp4') has the same path; the first is kept"
    assert result.skipped == [
        SkippedEntry("clips\\a.mp4", EntryReason.DUPLICATE_NAME, duplicate),
        SkippedEntry("clips//a.mp4", EntryReason.DUPLICATE_NAME, duplicate),
    ]


@pytest.mark.parametrize("file_first", [True, False])
def test_a_file_that_is_also_a_folder_is_skipped_and_the_folder_kept(tmp_path: Path, file_first: bool) -> None:
    entries = [RawEntry(b"a", b"file"), RawEntry(b"a/b.mp4", b"clip")]
    archive = raw_zip(tmp_path / "a.zip", entries if file_first else entries[::-1])
    dest = tmp_path / "out"

    result = extract(archive, dest)

    assert result.paths == ["a/b.mp4"]
    assert result.skipped == [
        SkippedEntry(
            "a",
            EntryReason.NAME_CONFLICT,
            "the path is also the folder of 1 other entry (such as 'a/b.mp4'); the folder's files are kept",
        )
    ]
    assert (dest / "a" / "b.mp4").read_bytes() == b"clip"


def test_nested_conflicts_keep_the_deepest_files(tmp_path: Path) -> None:
    archive = raw_zip(
        tmp_path / "a.zip",
        [
            RawEntry(b"a/b"),
            RawEntry(b"a/b/c.mp4"),
            RawEntry(b"a"),
            RawEntry(b"ab"),
            RawEntry(b"a.mp4"),
            RawEntry(b"a/d.mp4"),
            RawEntry(b"a"),
        ],
    )
    dest = tmp_path / "out"

    result = extract(archive, dest)

    assert result.paths == ["a/b/c.mp4", "ab", "a.mp4", "a/d.mp4"]
    assert [(s.path, s.reason, s.message) for s in result.skipped] == [
        (
            "a/b",
            EntryReason.NAME_CONFLICT,
            "the path is also the folder of 1 other entry (such as 'a/b/c.mp4'); the folder's files are kept",
        ),
        (
            "a",
            EntryReason.NAME_CONFLICT,
            "the path is also the folder of 3 other entries (such as 'a/b'); the folder's files are kept",
        ),
        (
            "a",
            EntryReason.DUPLICATE_NAME,
            "an earlier entry ('a') has the same path; that path is also a folder, so neither is kept",
        ),
    ]
    assert files_under(dest) == {"a/b/c.mp4", "ab", "a.mp4", "a/d.mp4"}
