"""Fuzz target for the archive reader: any bytes, read as a zip, may end in ArchiveError and nothing else.

Run it by hand with atheris (libFuzzer's options pass through), e.g. for two minutes:

    .venv/bin/python -m tests.fuzz.fuzz_archive -max_total_time=120 -artifact_prefix=/tmp/

The seed corpus (seed_corpus(), made by code) is written to a new temporary folder that is added after your
arguments, unless you replay files; new inputs go to the first folder given, so name one of your own first
to keep them (`... fuzz_archive my_corpus/ -max_total_time=120`). A crash is saved as
<artifact_prefix>crash-<sha1>; replay it with `.venv/bin/python -m tests.fuzz.fuzz_archive <that file>`.

one_input is the target; tests/fuzz/test_fuzz_target.py runs it over the seeds and mutations of them
without atheris. zip_bytes builds the seeds (and the tests' odd zips) byte by byte, with names and header
fields that zipfile's writer cannot produce.
"""

from __future__ import annotations

import logging
import stat
import struct
import sys
import tempfile
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import structlog

from preprocess_svc.errors import ArchiveError
from preprocess_svc.extract import extract_zip

STORED, DEFLATED = 0, 8
UTF8_FLAG, ENCRYPTED_FLAG = 0x800, 0x1
SYMLINK_ATTR = (stat.S_IFLNK | 0o777) << 16


@dataclass(frozen=True)
class RawEntry:
    """One entry of a hand-made zip: the name's exact bytes, the data, and header fields set as given."""

    name: bytes
    data: bytes = b""
    utf8: bool = False  # general-purpose flag bit 11: the name is UTF-8
    flags: int = 0  # any other general-purpose flag bits (bit 0: encrypted)
    method: int = STORED
    compressed: bytes | None = None  # the bytes stored; None: data, deflated for DEFLATED
    external_attr: int = 0
    crc: int | None = None  # None: the data's real CRC-32


def deflate(data: bytes) -> bytes:
    """data as a raw deflate stream, the form zip stores."""
    packer = zlib.compressobj(wbits=-15)
    return packer.compress(data) + packer.flush()


def zip_bytes(entries: Iterable[RawEntry]) -> bytes:
    """A zip archive of entries, in order: local headers and data, then the central directory (made on Unix)."""
    body, directory = bytearray(), bytearray()
    count = 0
    for entry in entries:
        payload = deflate(entry.data) if entry.method == DEFLATED else entry.data
        if entry.compressed is not None:
            payload = entry.compressed
        crc = zlib.crc32(entry.data) if entry.crc is None else entry.crc
        flags = entry.flags | (UTF8_FLAG if entry.utf8 else 0)
        # version needed, flags, method, DOS time and date (1980-01-01), CRC, sizes, name and extra lengths
        fields = struct.pack(
            "<HHHHHIIIHH", 20, flags, entry.method, 0, 0x21, crc, len(payload), len(entry.data), len(entry.name), 0
        )
        offset = len(body)
        body += b"PK\x03\x04" + fields + entry.name + payload
        # made by Unix 3.0, the same fields, comment length, disk, internal and external attributes, offset
        directory += b"PK\x01\x02" + struct.pack("<H", 0x031E) + fields
        directory += struct.pack("<HHHII", 0, 0, 0, entry.external_attr, offset) + entry.name
        count += 1
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, count, count, len(directory), len(body), 0)
    return bytes(body + directory + end)


def seed_corpus() -> list[bytes]:
    """Small zips that reach each part of the reader: good, odd, unsafe and damaged entries, zip64, a prefix."""
    plain = BytesIO()
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr("clips/", b"")
        zf.writestr("clips/walk.mp4", b"video" * 20)
        zf.writestr(zipfile.ZipInfo("clips/walk.txt"), b"a walk", compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("clips/日本.mp4", b"v")
        zf.writestr("__MACOSX/clips/._walk.mp4", b"fork")
    wide = BytesIO()
    with (
        zipfile.ZipFile(wide, "w", compression=zipfile.ZIP_DEFLATED) as zf,
        zf.open("big.mp4", "w", force_zip64=True) as out,
    ):
        out.write(bytes(300))
    good = RawEntry(b"good.mp4", b"frames")
    return [
        plain.getvalue(),
        wide.getvalue(),
        b"self-extractor stub " + plain.getvalue(),  # data before the archive, as in self-extracting zips
        zip_bytes([]),
        zip_bytes(
            [good]
            + [RawEntry(name, b"evil") for name in (b"../x.mp4", b"/abs.mp4", b"C:x.mp4", b"a/./b", b"n\x00ul", b"")]
        ),
        zip_bytes([RawEntry(b"p" * 256), RawEntry(b"/".join([b"d" * 200] * 6)), RawEntry("é".encode(), b"e")]),
        zip_bytes([RawEntry("café.mp4".encode("latin-1"), b"c"), RawEntry("ü.mp4".encode(), b"u", utf8=True)]),
        zip_bytes(
            [RawEntry(b"a", b"1"), RawEntry(b"a/b.mp4", b"2"), RawEntry(b"a\\b.mp4", b"3"), RawEntry(b"a", b"4")]
        ),
        zip_bytes(
            [
                good,
                RawEntry(b"link.mp4", b"/etc/passwd", external_attr=SYMLINK_ATTR),
                RawEntry(b"locked.mp4", b"secret", flags=ENCRYPTED_FLAG),
                RawEntry(b"bad_crc.mp4", b"frames", crc=0),
                RawEntry(b"deflated.mp4", b"frames" * 50, method=DEFLATED),
                RawEntry(b"damaged.mp4", b"frames" * 50, method=DEFLATED, compressed=b"\xff" * 30),
                RawEntry(b"cut_short.mp4", b"frames" * 50, method=DEFLATED, compressed=deflate(b"frames" * 50)[:9]),
                RawEntry(b"bzip2.mp4", b"BZh9", method=zipfile.ZIP_BZIP2),
            ]
        ),
    ]


def one_input(data: bytes) -> None:
    """Extract data as a zip with small limits: ArchiveError is an answer, any other exception a crash.

    An AssertionError also reports a wrong answer: files on disk other than the paths reported, a path
    reported twice, a display path that is too long or not UTF-8.
    """
    with tempfile.TemporaryDirectory(prefix="fuzz_archive_") as tmp:
        root = Path(tmp)
        archive = root / "input.zip"
        archive.write_bytes(data)
        dest = root / "box" / "out"
        try:
            result = extract_zip(archive, dest, max_uncompressed_bytes=1 << 20, max_entries=64)
        except ArchiveError:
            written = {p for p in root.rglob("*") if p.is_file()} - {archive}
            assert not written, f"files left after ArchiveError: {sorted(written)}"
            return
        on_disk = {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file() and p != archive}
        reported = {f"box/out/{path}" for path in result.paths}
        assert on_disk == reported, f"written {sorted(on_disk)}, reported {result.paths}"
        assert len(set(result.paths)) == len(result.paths), f"a path reported twice: {result.paths}"
        for entry in result.skipped:
            assert len(entry.path) <= 200, f"display path of {len(entry.path)} characters"
            entry.path.encode("utf-8")  # no lone surrogates


def main() -> None:
    import atheris

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    args = sys.argv[1:]
    if not any(Path(arg).is_file() for arg in args if not arg.startswith("-")):
        seeds = Path(tempfile.mkdtemp(prefix="fuzz_archive_seeds_"))
        for number, seed in enumerate(seed_corpus()):
            (seeds / f"seed_{number:02d}.zip").write_bytes(seed)
        args.append(str(seeds))
    atheris.instrument_all()
    atheris.Setup([sys.argv[0], *args], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
