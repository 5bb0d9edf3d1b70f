"""Archives: zips built to break the extractor, each entry reported with its exact verdict, or the whole
archive refused with its exact status.

The per-entry cases share one archive (a usable clip and every hostile entry beside it), preprocessed once
per session; each case then reads its entry's verdict from that run's events. Archives refused as a whole
are one small run each. Hand-made zips (names, flags and header fields zipfile's writer cannot produce)
come from tests.fuzz.fuzz_archive.zip_bytes.
"""

from __future__ import annotations

import bz2
import struct
import zipfile
from collections.abc import Callable
from pathlib import Path

import grpc

from shared.api import common_pb2
from shared.api import preprocess_service_pb2 as ppb
from shared.api.report_codec import skip_reason
from shared.demo_dataset import make_mixed_zip
from shared.ffmpeg import ffmpeg_exe, run_ffmpeg
from tests.fuzz.fuzz_archive import DEFLATED, ENCRYPTED_FLAG, SYMLINK_ATTR, RawEntry, zip_bytes
from tests.hostile.corpus import CORPUS, Outcome, attempt
from tests.hostile.world import ESCAPE_PREFIX

INVALID = "INVALID_ARGUMENT"
PRECONDITION = "FAILED_PRECONDITION"
SKIPPED = "SKIPPED"

Events = list[ppb.PreprocessResponse]


# --- shared helpers (cases_media uses them too) --------------------------------------------------
def scratch(world, folder: str) -> Path:
    """A folder of this corpus class under the only place local archives may be read from."""
    path = world.allowed / folder
    path.mkdir(parents=True, exist_ok=True)
    return path


def render(out: Path, *args: str) -> Path:
    """Run ffmpeg with args, writing out."""
    run_ffmpeg([ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", *args, str(out)], timeout=60)
    return out


H264 = ("-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p")


def one_second_clip(out: Path) -> Path:
    """A usable clip: 64x64, 24 fps, 1 s of H.264 with motion."""
    return render(out, "-f", "lavfi", "-i", "testsrc2=s=64x64:r=24", "-frames:v", "24", *H264)


def shared_run(world, purpose: str, build: Callable[[], Path]) -> Events | grpc.RpcError:
    """The events of preprocessing the archive `build` makes, or the error the run raised: once per session."""
    runs = world.__dict__.setdefault("hostile_shared_runs", {})
    if purpose not in runs:
        try:
            runs[purpose] = world.preprocess(str(build()))
        except grpc.RpcError as err:
            runs[purpose] = err
    return runs[purpose]


def reported(run: Events | grpc.RpcError, path: str | Callable[[str], bool]) -> Outcome:
    """The first file report of `path` (or of the first path it accepts) in a run, as an Outcome.

    Entry refusals come before anything else in a run, so for a name repeated in the archive the first
    report is the later entry's refusal, not the first entry's fate.
    """
    if isinstance(run, grpc.RpcError):
        return Outcome.of_error(run)
    matches = path if callable(path) else path.__eq__
    for event in run:
        if event.HasField("file_report") and matches(event.file_report.path):
            report = event.file_report
            outcome = common_pb2.FileReport.Outcome.Name(report.outcome).removeprefix("OUTCOME_")
            reason, message = skip_reason(report.error)
            return Outcome(outcome, reason, message=message)
    paths = [event.file_report.path for event in run if event.HasField("file_report")]
    raise AssertionError(f"no file report for {path!r}; reported: {paths}")


def warned(run: Events | grpc.RpcError, path: str) -> Outcome:
    """The first warning the run gave about `path`, as an Outcome."""
    if isinstance(run, grpc.RpcError):
        return Outcome.of_error(run)
    for event in run:
        if event.HasField("warning") and event.warning.path == path:
            return Outcome("WARNED", event.warning.code, message=event.warning.message)
    raise AssertionError(f"no warning for {path!r}")


# --- one archive of hostile entries beside a usable clip ------------------------------------------
_LONG_FOLDER = "long_path/"
_DEEP = _LONG_FOLDER + "/".join(["p" * 99] * 10) + "/"
_LONG_NAME = _DEEP + "q" * (1100 - len(_DEEP) - len(".mp4")) + ".mp4"  # 1,100 bytes, no part over 255
_PART_256 = "é" * 126 + ".mp4"  # one part of 256 bytes in UTF-8 (130 characters)


def _hostile_entries(clip: bytes) -> list[RawEntry]:
    return [
        RawEntry(b"clip.mp4", clip),
        RawEntry(b"clip.txt", b"a very long caption " * (10 * 1024 * 1024 // 20), method=DEFLATED),  # 10 MiB
        RawEntry(f"../../../../../../tmp/{ESCAPE_PREFIX}-dots.mp4".encode(), b"escape"),
        RawEntry(f"..\\..\\..\\..\\..\\..\\tmp\\{ESCAPE_PREFIX}-backslashes.mp4".encode(), b"escape"),
        RawEntry(f"/tmp/{ESCAPE_PREFIX}-absolute.mp4".encode(), b"escape"),
        RawEntry(b"C:/Windows/drive_letter.mp4", b"escape"),
        RawEntry(b".", b"dot"),
        RawEntry(b"a/./b.mp4", b"dot part"),
        RawEntry(b"nul\x00hidden.mp4", b"nul"),
        RawEntry(b"\x1b[31mred\x07.mp4", b"terminal codes"),
        RawEntry(_PART_256.encode(), b"long part", utf8=True),
        RawEntry(_LONG_NAME.encode(), b"long name"),
        RawEntry("café.mp4".encode("latin-1"), b"latin-1 name, no UTF-8 flag"),
        RawEntry(b"clip.mp4", b"a second clip.mp4, to replace the first"),
        RawEntry(b"clash", b"a file"),
        RawEntry(b"clash/notes.txt", b"a folder of the same name"),
        RawEntry(b"link.mp4", b"/etc/passwd", external_attr=SYMLINK_ATTR),
        RawEntry(b"locked.mp4", b"\x00" * 24, flags=ENCRYPTED_FLAG),
        RawEntry(b"bad_crc.mp4", b"frames", crc=0),
        RawEntry(b"packed.mp4", b"frames" * 100, method=zipfile.ZIP_BZIP2, compressed=bz2.compress(b"frames" * 100)),
        RawEntry(b"inner.zip", zip_bytes([RawEntry(b"nested/clip.mp4", b"not even a clip")])),
        RawEntry(b"lonely.txt", b"a caption without a clip"),
    ]


def _entries_run(world) -> Events | grpc.RpcError:
    def build() -> Path:
        folder = scratch(world, "hostile-archives")
        clip = one_second_clip(folder / "clip.mp4").read_bytes()
        archive = folder / "hostile-entries.zip"
        archive.write_bytes(zip_bytes(_hostile_entries(clip)))
        return archive

    return shared_run(world, "archives/entries", build)


def _entry_case(name: str, code: str, reason: str, path: str | Callable[[str], bool]) -> None:
    @CORPUS.add("archives", name, code, reason)
    def act(world) -> Outcome:
        return reported(_entries_run(world), path)


_entry_case("dot_dot_parts_aiming_at_tmp", SKIPPED, "UNSAFE_NAME", f"../../../../../../tmp/{ESCAPE_PREFIX}-dots.mp4")
_entry_case(
    "backslash_dot_dot_parts_aiming_at_tmp",
    SKIPPED,
    "UNSAFE_NAME",
    f"..\\..\\..\\..\\..\\..\\tmp\\{ESCAPE_PREFIX}-backslashes.mp4",
)
_entry_case("absolute_name_aiming_at_tmp", SKIPPED, "UNSAFE_NAME", f"/tmp/{ESCAPE_PREFIX}-absolute.mp4")
_entry_case("drive_letter", SKIPPED, "UNSAFE_NAME", "C:/Windows/drive_letter.mp4")
_entry_case("entry_named_dot", SKIPPED, "UNSAFE_NAME", ".")
_entry_case("dot_part_inside_a_name", SKIPPED, "UNSAFE_NAME", "a/./b.mp4")
_entry_case("nul_in_a_name", SKIPPED, "UNSAFE_NAME", "nul\\x00hidden.mp4")
_entry_case("terminal_control_characters_in_a_name", SKIPPED, "UNSAFE_NAME", "\\x1b[31mred\\x07.mp4")
_entry_case("name_part_of_256_bytes", SKIPPED, "NAME_TOO_LONG", _PART_256)
# Shown cut to 200 characters: found by its folder.
_entry_case("name_of_1100_bytes", SKIPPED, "NAME_TOO_LONG", lambda path: path.startswith(_LONG_FOLDER))
_entry_case("latin1_name_without_the_utf8_flag", SKIPPED, "NAME_NOT_UTF8", "caf\\xe9.mp4")
_entry_case("second_entry_of_the_same_name", SKIPPED, "DUPLICATE_NAME", "clip.mp4")
_entry_case("file_and_folder_of_the_same_name", SKIPPED, "NAME_CONFLICT", "clash")
_entry_case("symlink_to_etc_passwd", SKIPPED, "SYMLINK", "link.mp4")
_entry_case("encrypted_entry", SKIPPED, "ENCRYPTED", "locked.mp4")
_entry_case("bad_crc", SKIPPED, "UNREADABLE_ENTRY", "bad_crc.mp4")
_entry_case("bzip2_entry", SKIPPED, "UNREADABLE_ENTRY", "packed.mp4")
_entry_case("nested_zip", "IGNORED", "IGNORED_FILE", "inner.zip")
_entry_case("orphan_caption", "IGNORED", "ORPHAN_CAPTION", "lonely.txt")


@CORPUS.add("archives", "caption_of_10_mb", "WARNED", "CAPTION_TRUNCATED")
def _huge_caption(world) -> Outcome:
    return warned(_entries_run(world), "clip.txt")


# --- archives refused as a whole ----------------------------------------------------------------
def _refused(name: str, code: str, reason: str, write: Callable[[Path], object]) -> None:
    """A case whose archive (made by `write` at the path it is given) is refused as a whole."""

    @CORPUS.add("archives", name, code, reason)
    def act(world) -> Outcome:
        archive = scratch(world, "hostile-archives") / f"{name}.zip"
        write(archive)
        return attempt(lambda: world.preprocess(str(archive)))


def _bytes(data: Callable[[], bytes]) -> Callable[[Path], object]:
    return lambda archive: archive.write_bytes(data())


def _fake_sizes(data: bytes, size: int) -> bytes:
    """data (a zip) with every central directory entry declaring `size` uncompressed bytes."""
    faked = bytearray(data)
    at = faked.find(b"PK\x01\x02")
    while at != -1:
        struct.pack_into("<I", faked, at + 24, size)
        at = faked.find(b"PK\x01\x02", at + 4)
    return bytes(faked)


_SMALL = zip_bytes([RawEntry(b"a.mp4", b"frames" * 200), RawEntry(b"b.mp4", b"frames" * 200)])
_refused("plain_text_named_zip", INVALID, "NOT_A_ZIP", _bytes(lambda: b"this is a text file, not an archive\n"))
_refused("empty_file", INVALID, "NOT_A_ZIP", _bytes(lambda: b""))
_refused("zip_cut_in_half", INVALID, "NOT_A_ZIP", _bytes(lambda: _SMALL[: len(_SMALL) // 2]))
_refused(
    "utf8_flagged_name_that_is_not_utf8",
    INVALID,
    "NOT_A_ZIP",
    _bytes(lambda: zip_bytes([RawEntry(b"good.mp4", b"frames"), RawEntry(b"caf\xe9.mp4", b"x", utf8=True)])),
)
_refused(
    "ten_thousand_and_one_entries",
    INVALID,
    "ARCHIVE_TOO_LARGE",
    _bytes(lambda: zip_bytes(RawEntry(f"f{n:05d}.txt".encode(), b"x") for n in range(10_001))),
)
# 13 entries declaring just under 4 GiB each (the most a zip32 field holds): 52 GiB, in about 1 KB.
_refused(
    "declared_sizes_over_50_gib",
    INVALID,
    "ARCHIVE_TOO_LARGE",
    _bytes(lambda: _fake_sizes(zip_bytes(RawEntry(f"part{n:02d}.mp4".encode(), b"x") for n in range(13)), 0xFFFF_FFFE)),
)
_refused(
    "only_unsafe_entries",
    INVALID,
    "NO_USABLE_ENTRY",
    _bytes(
        lambda: zip_bytes(
            [
                RawEntry(f"../{ESCAPE_PREFIX}.mp4".encode(), b"x"),
                RawEntry(f"/tmp/{ESCAPE_PREFIX}-only.mp4".encode(), b"x"),
                RawEntry(b"D:evil.mp4", b"x"),
                RawEntry(b"link.mp4", b"/etc/shadow", external_attr=SYMLINK_ATTR),
            ]
        )
    ),
)
_refused(
    "only_dotfiles_and_macos_metadata",
    PRECONDITION,
    "NO_MEDIA",
    _bytes(
        lambda: zip_bytes(
            [
                RawEntry(b".DS_Store", b"finder"),
                RawEntry(b"__MACOSX/._clip.mp4", b"resource fork"),
                RawEntry(b".hidden/clip.mp4", b"frames"),
                RawEntry(b"clips/.thumbnail.png", b"png"),
            ]
        )
    ),
)
_refused("images_and_videos_mixed", PRECONDITION, "MIXED_MEDIA", make_mixed_zip)
