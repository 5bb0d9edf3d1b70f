"""Unpacking the dataset archive safely.

extract_zip refuses the whole archive if any entry could write outside the target folder (.., absolute
paths, drive letters, symlinks), caps the entry count and the uncompressed size (declared sizes up
front, actual bytes while writing), and skips macOS metadata (__MACOSX/) and dotfiles.
"""

from __future__ import annotations

import re
import shutil
import stat
import zipfile
import zlib
from pathlib import Path

import structlog

from preprocess_svc.errors import ArchiveError, ArchiveReason

log = structlog.get_logger(__name__)

_CHUNK = 1 << 20
_DRIVE_LETTER = re.compile(r"^[A-Za-z]:")


def _too_large(what: str, size: int, max_bytes: int) -> ArchiveError:
    return ArchiveError(
        ArchiveReason.ARCHIVE_TOO_LARGE, f"{what} is {size:,} bytes, more than the limit of {max_bytes:,} bytes"
    )


def _path_parts(name: str) -> list[str]:
    return [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]


def _unsafe_because(info: zipfile.ZipInfo) -> str | None:
    name = info.filename.replace("\\", "/")
    if stat.S_ISLNK(info.external_attr >> 16):
        return "is a symbolic link"
    if name.startswith("/"):
        return "is an absolute path"
    if _DRIVE_LETTER.match(name):
        return "starts with a drive letter"
    if ".." in name.split("/"):
        return "contains a '..' component"
    return None


def is_ignored(relative_path: str) -> bool:
    """macOS metadata (__MACOSX/) and dotfiles (any path component starting with '.') are not data."""
    return any(part == "__MACOSX" or part.startswith(".") for part in _path_parts(relative_path))


def extract_zip(archive: Path, dest: Path, *, max_uncompressed_bytes: int, max_entries: int) -> list[str]:
    """Extract the data files of archive into dest (created, must not exist); return their relative paths.

    Nothing is written unless every entry is safe; if extraction fails midway dest is removed.
    """
    try:
        zf = zipfile.ZipFile(archive)
    except (zipfile.BadZipFile, OSError) as exc:
        raise ArchiveError(ArchiveReason.NOT_A_ZIP, f"{archive.name} is not a readable zip archive: {exc}") from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > max_entries:
            raise ArchiveError(
                ArchiveReason.ARCHIVE_TOO_LARGE,
                f"archive has {len(infos):,} entries, more than the limit of {max_entries:,}",
            )
        for info in infos:
            if problem := _unsafe_because(info):
                raise ArchiveError(
                    ArchiveReason.UNSAFE_ARCHIVE, f"archive entry {info.filename!r} {problem}; refusing the archive"
                )
        wanted = [i for i in infos if not i.is_dir() and not is_ignored(i.filename)]
        for info in wanted:
            if info.flag_bits & 0x1:
                raise ArchiveError(
                    ArchiveReason.NOT_A_ZIP, f"archive entry {info.filename!r} is encrypted; use an unencrypted zip"
                )
        declared = sum(i.file_size for i in wanted)
        if declared > max_uncompressed_bytes:
            raise _too_large("archive content (uncompressed)", declared, max_uncompressed_bytes)
        dest.mkdir(parents=True)
        try:
            paths = _write_entries(zf, wanted, dest, max_uncompressed_bytes)
        except BaseException:
            shutil.rmtree(dest, ignore_errors=True)
            raise
    log.info("archive_extracted", archive=str(archive), files=len(paths), ignored=len(infos) - len(paths))
    return paths


def _write_entries(zf: zipfile.ZipFile, wanted: list[zipfile.ZipInfo], dest: Path, max_bytes: int) -> list[str]:
    written = 0
    paths: list[str] = []
    for info in wanted:
        parts = _path_parts(info.filename)
        target = dest.joinpath(*parts)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with zf.open(info) as src, open(target, "wb") as out:
                while chunk := src.read(_CHUNK):
                    written += len(chunk)
                    if written > max_bytes:
                        raise _too_large("archive content (uncompressed, counted while extracting)", written, max_bytes)
                    out.write(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as exc:
            raise ArchiveError(
                ArchiveReason.NOT_A_ZIP, f"archive entry {info.filename!r} cannot be extracted: {exc}"
            ) from exc
        paths.append("/".join(parts))
    return paths
