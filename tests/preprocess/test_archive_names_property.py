"""Property tests of extraction over arbitrary entry names: text and raw bytes, with and without the UTF-8 flag.

For any names, extract_zip raises nothing (or NOT_A_ZIP when a name flagged UTF-8 is not UTF-8), writes
exactly the entries the rules admit, each at its normalised path inside dest with the first such entry's
data, reports every other entry once, and writes nothing outside dest. The expected outcome is worked out
here from the naming rules (expected_outcome), independently of extract.py's code.
"""

from __future__ import annotations

import re
import tempfile
import unicodedata
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from preprocess_svc.errors import ArchiveError, ArchiveReason
from preprocess_svc.extract import extract_zip, is_ignored
from tests.fuzz.fuzz_archive import RawEntry, zip_bytes

# Pieces that reach every rule: separators, dot parts, drive letters, control characters, metadata and
# dotfile names, non-ASCII text, parts at and over 255 bytes.
PIECES = st.sampled_from(
    [
        "a",
        "b",
        "clip.mp4",
        "",
        ".",
        "..",
        "...",
        "C:",
        "c:d",
        "__MACOSX",
        ".DS_Store",
        "é",
        "日本",
        "\x00",
        "\x1f",
        "\x7f",
        "\x85",
        "\u200b",
        " ",
        "x" * 255,
        "é" * 128,
        "~",
    ]
)
SEPARATORS = st.sampled_from(["/", "\\", "//"])


@st.composite
def structured_names(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(st.tuples(PIECES, SEPARATORS), min_size=1, max_size=6))
    name = "".join(piece + separator for piece, separator in pieces)
    return name if draw(st.booleans()) else name.rstrip("/\\")


@st.composite
def long_names(draw: st.DrawFn) -> str:
    """Paths around the 255-byte part and 1,024-byte total limits."""
    sizes = draw(st.lists(st.integers(1, 300), min_size=1, max_size=8))
    return "/".join(draw(st.sampled_from("aé")) * size for size in sizes)


TEXT_NAMES = st.one_of(structured_names(), long_names(), st.text(max_size=30))


@st.composite
def text_entries(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A name stored as UTF-8, flagged or not."""
    return draw(TEXT_NAMES).encode("utf-8"), draw(st.booleans())


@st.composite
def byte_entries(draw: st.DrawFn) -> tuple[bytes, bool]:
    """A name of arbitrary bytes, not flagged: zipfile reads it as cp437."""
    return draw(st.binary(max_size=30)), False


@st.composite
def archives(draw: st.DrawFn, names: st.SearchStrategy[tuple[bytes, bool]]) -> list[tuple[bytes, bool]]:
    """Entry names, some repeated (duplicates) or extended (a file and a folder of the same name)."""
    pool = draw(st.lists(names, min_size=1, max_size=6))
    entries = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=8))
    children = draw(st.lists(st.sampled_from(pool), max_size=2))
    return entries + [(name + b"/child.mp4", flagged) for name, flagged in children]


def expected_outcome(names: list[bytes]) -> tuple[list[str], dict[str, int], int]:
    """The paths written (in order), the entry index whose data each holds, and the number of entries skipped."""
    skipped = 0
    first: dict[str, int] = {}
    for index, raw in enumerate(names):
        if raw.endswith((b"/", b"\\")):
            continue  # a folder entry
        try:
            name = raw.decode("utf-8")
        except UnicodeDecodeError:
            skipped += 1
            continue
        slashed = name.replace("\\", "/")
        parts = [part for part in slashed.split("/") if part]
        path = "/".join(parts)
        refused = (
            any(unicodedata.category(char) == "Cc" for char in name)
            or slashed.startswith("/")
            or re.match("[A-Za-z]:", slashed) is not None
            or "." in parts
            or ".." in parts
            or not parts
            or any(len(part.encode()) > 255 for part in parts)
            or len(path.encode()) > 1024
        )
        if refused or path in first:
            skipped += 1
        elif not is_ignored(path):
            first[path] = index
    folders = {path.rsplit("/", depth)[0] for path in first for depth in range(1, path.count("/") + 1)}
    written = [path for path in first if path not in folders]
    return written, {path: first[path] for path in written}, skipped + len(first) - len(written)


def check_extraction(entries: list[tuple[bytes, bool]]) -> None:
    names = [name for name, _ in entries]
    data = [f"entry {index}".encode() for index in range(len(entries))]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        archive = root / "a.zip"
        archive.write_bytes(zip_bytes(RawEntry(n, d, utf8=flag) for (n, flag), d in zip(entries, data, strict=True)))
        dest = root / "box" / "out"
        try:
            result = extract_zip(archive, dest, max_uncompressed_bytes=1 << 20, max_entries=100)
        except ArchiveError as exc:
            assert exc.reason == ArchiveReason.NOT_A_ZIP
            assert any(flag and not _is_utf8(name) for name, flag in entries)
            assert {p.name for p in root.iterdir()} == {"a.zip"}
            return
        assert all(_is_utf8(name) for name, flag in entries if flag)

        written, source, skipped = expected_outcome(names)
        assert result.paths == written
        assert len(result.skipped) == skipped
        on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}
        assert on_disk == {"a.zip"} | {f"box/out/{path}" for path in written}
        for path in written:
            target = dest.joinpath(*path.split("/"))
            assert target.resolve().is_relative_to(dest.resolve())
            assert target.read_bytes() == data[source[path]]
        for entry in result.skipped:
            assert len(entry.path) <= 200
            entry.path.encode("utf-8")  # valid UTF-8: no lone surrogates
            assert entry.message


def _is_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


PROPERTY = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(archives(text_entries()))
def test_text_names_are_written_or_reported_once(entries: list[tuple[bytes, bool]]) -> None:
    check_extraction(entries)


@PROPERTY
@given(archives(byte_entries()))
def test_byte_names_without_the_utf8_flag_are_written_or_reported_once(entries: list[tuple[bytes, bool]]) -> None:
    check_extraction(entries)


@PROPERTY
@given(archives(st.tuples(st.binary(max_size=12), st.just(True))))
def test_byte_names_flagged_utf8_are_used_or_refuse_the_archive(entries: list[tuple[bytes, bool]]) -> None:
    check_extraction(entries)
