"""Unpacking the dataset archive safely, entry by entry.

extract_zip writes the archive's data files under dest and reports each entry it refuses (a SkippedEntry
with an EntryReason and a message): unsafe, over-long, non-UTF-8, duplicate or conflicting names, symbolic
links, encrypted entries, and entries that cannot be read (bad CRC, damaged stream, compression other than
stored or deflate). Directory entries, macOS metadata (__MACOSX/) and dotfiles are left out silently.
Only the archive as a whole raises ArchiveError: it is not a readable zip, or it has too many entries or
bytes (declared sizes up front, actual bytes while writing). Targets are built from checked name parts
only, so nothing is ever written outside dest.
"""

from __future__ import annotations

import bisect
import re
import shutil
import stat
import unicodedata
import zipfile
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import structlog

from preprocess_svc.errors import ArchiveError, ArchiveReason
from shared.disk_space import NO_RESERVE, SpaceGuard
from shared.quoting import clip, quote

log = structlog.get_logger(__name__)

_CHUNK = 1 << 20
_DRIVE_LETTER = re.compile(r"[A-Za-z]:")
_UTF8_NAME_FLAG = 0x800
_ENCRYPTED_FLAG = 0x1
_MAX_PART_BYTES = 255
_MAX_PATH_BYTES = 1024
_SHOWN_PATH_CHARS = 200
# bzip2 and LZMA are refused: zipfile inflates each chunk of them without an output bound, so a zip of a
# few hundred bytes takes gigabytes of memory before any size cap can see a byte.
_READABLE_METHODS = {zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED}
_METHOD_NAMES = {zipfile.ZIP_BZIP2: "bzip2", zipfile.ZIP_LZMA: "LZMA", 9: "deflate64", 99: "AES"}


class EntryReason(StrEnum):
    UNSAFE_NAME = "UNSAFE_NAME"
    NAME_TOO_LONG = "NAME_TOO_LONG"
    NAME_NOT_UTF8 = "NAME_NOT_UTF8"
    DUPLICATE_NAME = "DUPLICATE_NAME"
    NAME_CONFLICT = "NAME_CONFLICT"
    SYMLINK = "SYMLINK"
    ENCRYPTED = "ENCRYPTED"
    UNREADABLE_ENTRY = "UNREADABLE_ENTRY"


@dataclass(frozen=True)
class SkippedEntry:
    """An archive entry that was not extracted: its name for display (UTF-8, at most 200 characters), why."""

    path: str
    reason: EntryReason
    message: str


@dataclass(frozen=True)
class ExtractedArchive:
    """The files written (archive-relative POSIX paths) and the entries refused, both in archive order."""

    paths: list[str]
    skipped: list[SkippedEntry]


@dataclass(frozen=True)
class _Entry:
    """An entry cleared for writing: its archive position, checked name parts and display name."""

    index: int
    info: zipfile.ZipInfo
    parts: list[str]
    shown: str

    @property
    def path(self) -> str:
        return "/".join(self.parts)


def is_ignored(relative_path: str) -> bool:
    """macOS metadata (a __MACOSX part) and dotfiles (a part starting with '.', other than . and ..) are not data."""
    return any(
        part == "__MACOSX" or (part.startswith(".") and part not in (".", ".."))
        for part in relative_path.replace("\\", "/").split("/")
    )


def extract_zip(
    archive: Path,
    dest: Path,
    *,
    max_uncompressed_bytes: int,
    max_entries: int,
    space: SpaceGuard = NO_RESERVE,
) -> ExtractedArchive:
    """Extract the data files of archive into dest (created, must not exist), skipping the entries it refuses.

    Raises ArchiveError for the archive as a whole and StorageFull when the volume cannot take the files;
    on any failure after dest was created, dest is removed.
    """
    zf = _open(archive)
    with zf:
        infos = zf.infolist()
        if len(infos) > max_entries:
            raise ArchiveError(
                ArchiveReason.ARCHIVE_TOO_LARGE,
                f"archive has {len(infos):,} entries, more than the limit of {max_entries:,}",
            )
        entries, skipped = _plan(infos)
        declared = sum(entry.info.file_size for entry in entries)
        if declared > max_uncompressed_bytes:
            raise _too_large("archive content (uncompressed)", declared, max_uncompressed_bytes)
        space.check(dest, declared)
        dest.mkdir(parents=True)
        try:
            paths = _write_entries(zf, entries, dest, max_uncompressed_bytes, space, skipped)
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
    refused = [skipped[index] for index in sorted(skipped)]
    for entry in refused:
        log.info("archive_entry_skipped", path=entry.path, reason=entry.reason, why=clip(entry.message))
    log.info(
        "archive_extracted",
        archive=clip(str(archive)),
        files=len(paths),
        skipped=len(refused),
        left_out=len(infos) - len(paths) - len(refused),
    )
    return ExtractedArchive(paths=paths, skipped=refused)


def _open(archive: Path) -> zipfile.ZipFile:
    """The archive opened and its central directory read; any failure to do so is NOT_A_ZIP."""
    try:
        return zipfile.ZipFile(archive)
    except UnicodeDecodeError as exc:
        raise ArchiveError(
            ArchiveReason.NOT_A_ZIP,
            f"{clip(archive.name)} is not a readable zip archive: an entry name is flagged as UTF-8 but byte "
            f"0x{exc.object[exc.start]:02x} at offset {exc.start} of it is not valid UTF-8",
        ) from exc
    except Exception as exc:  # damaged input surfaces as BadZipFile, struct.error, ValueError, OSError, ...
        raise ArchiveError(
            ArchiveReason.NOT_A_ZIP, f"{clip(archive.name)} is not a readable zip archive: {_describe(exc)}"
        ) from exc


def _plan(infos: list[zipfile.ZipInfo]) -> tuple[list[_Entry], dict[int, SkippedEntry]]:
    """The entries to write, in archive order, and the refused ones by archive position."""
    skipped: dict[int, SkippedEntry] = {}
    first_by_path: dict[str, _Entry] = {}
    repeats: list[tuple[_Entry, _Entry]] = []  # (a later entry, the first of its path)
    for index, info in enumerate(infos):
        outcome = _examine(index, info)
        if outcome is None:
            continue
        if isinstance(outcome, SkippedEntry):
            skipped[index] = outcome
        elif (first := first_by_path.get(outcome.path)) is None:
            first_by_path[outcome.path] = outcome
        else:
            repeats.append((outcome, first))
    # Sorted, the paths under folder F are exactly those from F + "/" up to F + "0" ("0" follows "/").
    ordered = sorted(first_by_path)
    entries: list[_Entry] = []
    for entry in first_by_path.values():
        start = bisect.bisect_left(ordered, entry.path + "/")
        inside = bisect.bisect_left(ordered, entry.path + "0", lo=start) - start
        if inside:
            skipped[entry.index] = SkippedEntry(
                entry.shown,
                EntryReason.NAME_CONFLICT,
                f"the path is also the folder of {inside:,} other entr{'y' if inside == 1 else 'ies'} (such as "
                f"{quote(ordered[start], 60)}); the folder's files are kept",
            )
        else:
            entries.append(entry)
    for later, first in repeats:
        fate = "that path is also a folder, so neither is kept" if first.index in skipped else "the first is kept"
        skipped[later.index] = SkippedEntry(
            later.shown,
            EntryReason.DUPLICATE_NAME,
            f"an earlier entry ({quote(first.shown, 60)}) has the same path; {fate}",
        )
    return entries, skipped


def _examine(index: int, info: zipfile.ZipInfo) -> _Entry | SkippedEntry | None:
    """One entry cleared for writing, refused, or None for one left out silently (folder, metadata)."""
    # zipfile decodes a name without the UTF-8 flag as cp437, which maps every byte: encoding back gives the
    # stored bytes. orig_filename is the whole name; .filename stops at a NUL.
    raw = info.orig_filename.encode("utf-8" if info.flag_bits & _UTF8_NAME_FLAG else "cp437")
    if raw.endswith((b"/", b"\\")):  # a folder entry; some Windows tools end them with a backslash
        return None
    try:
        name = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return SkippedEntry(
            _shown(raw.decode("utf-8", "backslashreplace")),
            EntryReason.NAME_NOT_UTF8,
            f"the name is not valid UTF-8 (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
            "zip the files again with a tool that stores UTF-8 names",
        )
    shown = _shown(name)
    parts = [part for part in name.replace("\\", "/").split("/") if part]
    if problem := _unsafe_because(name, parts):
        return SkippedEntry(shown, EntryReason.UNSAFE_NAME, problem)
    if problem := _too_long_because(parts):
        return SkippedEntry(shown, EntryReason.NAME_TOO_LONG, problem)
    entry = _Entry(index, info, parts, shown)
    if is_ignored(entry.path):
        return None
    if stat.S_ISLNK(info.external_attr >> 16):
        return SkippedEntry(shown, EntryReason.SYMLINK, "the entry is a symbolic link; links are not extracted")
    if info.flag_bits & _ENCRYPTED_FLAG:
        return SkippedEntry(shown, EntryReason.ENCRYPTED, "the entry is encrypted; use a zip without a password")
    if info.compress_type not in _READABLE_METHODS:
        method = _METHOD_NAMES.get(info.compress_type, "unknown")
        return SkippedEntry(
            shown,
            EntryReason.UNREADABLE_ENTRY,
            f"the entry uses compression method {info.compress_type} ({method}); only stored and deflate are read",
        )
    return entry


def _unsafe_because(name: str, parts: list[str]) -> str | None:
    if control := next((char for char in name if unicodedata.category(char) == "Cc"), None):
        return f"the name contains the control character U+{ord(control):04X}"
    slashed = name.replace("\\", "/")
    if slashed.startswith("/"):
        return "the name is an absolute path"
    if _DRIVE_LETTER.match(slashed):
        return f"the name starts with the drive letter {slashed[:2]!r}"
    for dots in ("..", "."):
        if dots in parts:
            return f"the name has a {dots!r} part"
    if not parts:
        return "the name is empty"
    return None


def _too_long_because(parts: list[str]) -> str | None:
    for part in parts:
        if (size := len(part.encode("utf-8"))) > _MAX_PART_BYTES:
            return (
                f"the name part {quote(part, 40)} is {size:,} bytes in UTF-8, more than the limit of "
                f"{_MAX_PART_BYTES:,} bytes"
            )
    if (size := len("/".join(parts).encode("utf-8"))) > _MAX_PATH_BYTES:
        return f"the path is {size:,} bytes in UTF-8, more than the limit of {_MAX_PATH_BYTES:,} bytes"
    return None


def _shown(name: str) -> str:
    """name for display: control characters escaped, cut (with clip's note) to _SHOWN_PATH_CHARS characters."""
    text = "".join(f"\\x{ord(char):02x}" if unicodedata.category(char) == "Cc" else char for char in name)
    if len(text) <= _SHOWN_PATH_CHARS:
        return text
    longest_note = len(f"... ({len(text):,} more characters)")
    return clip(text, _SHOWN_PATH_CHARS - longest_note)


def _write_entries(
    zf: zipfile.ZipFile,
    entries: list[_Entry],
    dest: Path,
    max_bytes: int,
    space: SpaceGuard,
    skipped: dict[int, SkippedEntry],
) -> list[str]:
    """Write each entry under dest; an unreadable one is removed and added to skipped. Returns the paths written."""
    counted = 0
    paths: list[str] = []
    for entry in entries:
        space.check(dest, entry.info.file_size)
        target = dest.joinpath(*entry.parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        counted, failure = _copy(zf, entry.info, target, counted, max_bytes)
        if failure is None:
            paths.append(entry.path)
        else:
            target.unlink()
            skipped[entry.index] = SkippedEntry(
                entry.shown, EntryReason.UNREADABLE_ENTRY, f"the entry cannot be read: {failure}"
            )
    return paths


def _copy(
    zf: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path, counted: int, max_bytes: int
) -> tuple[int, str | None]:
    """Copy one entry into target (created); return the running byte count and why reading failed, if it did.

    Whatever the reader raises concerns this entry's bytes (a bad CRC, a damaged or truncated stream, a bad
    header), so it skips the entry; errors writing target propagate. The bytes read count against max_bytes
    whether or not the entry completes.
    """
    with target.open("xb") as out:
        try:
            src = zf.open(info)
        except Exception as exc:
            return counted, _describe(exc)
        with src:
            while True:
                try:
                    chunk = src.read(_CHUNK)
                except Exception as exc:
                    return counted, _describe(exc)
                if not chunk:
                    return counted, None
                counted += len(chunk)
                if counted > max_bytes:
                    raise _too_large("archive content (uncompressed, counted while extracting)", counted, max_bytes)
                out.write(chunk)


def _describe(exc: Exception) -> str:
    return clip(str(exc)) or type(exc).__name__


def _too_large(what: str, size: int, max_bytes: int) -> ArchiveError:
    return ArchiveError(
        ArchiveReason.ARCHIVE_TOO_LARGE, f"{what} is {size:,} bytes, more than the limit of {max_bytes:,} bytes"
    )
