"""Zips for the extraction tests: written by zipfile, or byte by byte where zipfile cannot write them
(tests.fuzz.fuzz_archive.zip_bytes), and what extraction made of them."""

from __future__ import annotations

import zipfile
from pathlib import Path

from preprocess_svc.extract import EntryReason, ExtractedArchive, extract_zip
from tests.fuzz.fuzz_archive import RawEntry, zip_bytes

BIG = 1 << 30
GOOD = RawEntry(b"good.mp4", b"frames")


def make_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def raw_zip(path: Path, entries: list[RawEntry]) -> Path:
    path.write_bytes(zip_bytes(entries))
    return path


def text_entry(name: str, data: bytes = b"data") -> RawEntry:
    """An entry named name in UTF-8, flagged as UTF-8 when it is not ASCII (as zipfile's writer does)."""
    return RawEntry(name.encode("utf-8"), data, utf8=not name.isascii())


def extract(archive: Path, dest: Path, max_bytes: int = BIG) -> ExtractedArchive:
    return extract_zip(archive, dest, max_uncompressed_bytes=max_bytes, max_entries=100)


def files_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def everything_under(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def reasons(result: ExtractedArchive) -> list[tuple[str, EntryReason]]:
    return [(entry.path, entry.reason) for entry in result.skipped]
