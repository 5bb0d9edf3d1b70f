"""Media: files that are damaged, disguised, empty, tiny, huge on paper or lying about themselves, each
reported with its exact verdict (SKIPPED with its reason, or USED where it still makes a good sample).

A dataset is all videos or all images, so the cases share two archives, one of videos and one of images,
each with one usable file beside the hostile ones and each preprocessed once per session; a case reads its
file's report from that run. Every file is a few KB and at most 1 s at 24 fps, whatever it claims.
"""

from __future__ import annotations

import random
import struct
import zlib
from pathlib import Path

from shared.demo_dataset import write_zip
from tests.hostile.cases_archives import H264, one_second_clip, render, reported, scratch, shared_run
from tests.hostile.corpus import CORPUS, Outcome

SKIPPED, USED = "SKIPPED", "USED"
LAVFI = ("-f", "lavfi", "-i")
H264_444 = ("-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv444p")  # any size, odd or 1 pixel


def _noise(size: int) -> bytes:
    """size bytes that look random, the same ones on every run."""
    return random.Random(size).randbytes(size)


def _png_chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _png_claiming(width: int, height: int) -> bytes:
    """A well-formed PNG whose header says width x height, with a few bytes of pixels."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(bytes(1000)))
        + _png_chunk(b"IEND", b"")
    )


def _jpeg_claiming(jpeg: bytes, width: int, height: int) -> bytes:
    """A baseline JPEG with its frame header (SOF0) rewritten to say width x height."""
    sof = jpeg.index(b"\xff\xc0")
    data = bytearray(jpeg)
    struct.pack_into(">HH", data, sof + 5, height, width)
    return bytes(data)


def _ebml(element_id: bytes, payload: bytes) -> bytes:
    """One Matroska element, its size written as an 8-byte EBML number."""
    return element_id + ((1 << 56) | len(payload)).to_bytes(8, "big") + payload


def _mkv_without_streams() -> bytes:
    """A valid Matroska file whose track list is empty, with one empty cluster."""
    header = _ebml(
        b"\x1a\x45\xdf\xa3",
        _ebml(b"\x42\x86", b"\x01")  # EBML version
        + _ebml(b"\x42\xf7", b"\x01")  # read version
        + _ebml(b"\x42\xf2", b"\x04")  # longest ID
        + _ebml(b"\x42\xf3", b"\x08")  # longest size
        + _ebml(b"\x42\x82", b"matroska")
        + _ebml(b"\x42\x87", b"\x04")  # doc type version
        + _ebml(b"\x42\x85", b"\x02"),  # doc type read version
    )
    info = _ebml(b"\x15\x49\xa9\x66", _ebml(b"\x2a\xd7\xb1", (1_000_000).to_bytes(3, "big")))  # 1 ms ticks
    tracks = _ebml(b"\x16\x54\xae\x6b", b"")
    cluster = _ebml(b"\x1f\x43\xb6\x75", _ebml(b"\xe7", b"\x00"))  # cluster time 0, no blocks
    return header + _ebml(b"\x18\x53\x80\x67", info + tracks + cluster)


def _claiming_duration(mkv: bytes, seconds: float) -> bytes:
    """A Matroska file with its segment's Duration (a float64 of milliseconds) rewritten."""
    duration = mkv.index(b"\x44\x89\x88") + 3
    data = bytearray(mkv)
    struct.pack_into(">d", data, duration, seconds * 1000)
    return bytes(data)


def _write_videos(parts: Path, files: Path) -> None:
    """The video archive's files into `files`, from what is rendered into `parts` first."""
    clip = one_second_clip(files / "clip.mp4").read_bytes()
    still = render(parts / "still.png", *LAVFI, "testsrc2=s=64x64", "-frames:v", "1")
    webm = render(
        parts / "clip.webm", *LAVFI, "testsrc2=s=64x64:r=24", "-frames:v", "24",
        "-c:v", "libvpx-vp9", "-deadline", "realtime", "-cpu-used", "8",
    )  # fmt: skip
    mkv = render(parts / "clip.mkv", *LAVFI, "testsrc2=s=64x64:r=24", "-frames:v", "24", *H264)
    quarter = render(parts / "quarter.mkv", *LAVFI, "testsrc2=s=64x64:r=24", "-frames:v", "6", *H264)
    srt = parts / "captions.srt"
    srt.write_text("1\n00:00:00,000 --> 00:00:01,000\nHELLO\n", encoding="utf-8")
    written = {
        "empty.mp4": b"",
        "noise.mp4": _noise(4096),
        "notes.mov": b"a text file wearing a video's name\n" * 20,
        "cut_in_half.mp4": clip[: len(clip) // 2],  # the index (moov) is at the end: cut off
        "ftyp_box_only.mp4": clip[: struct.unpack(">I", clip[:4])[0]],  # the first box, by its own size
        "garbage_after_the_header.webm": webm.read_bytes()[:200] + _noise(8192),
        "no_streams.mkv": _mkv_without_streams(),
        "png_inside.mp4": still.read_bytes(),
        "one_second_claiming_an_hour.mkv": _claiming_duration(mkv.read_bytes(), 3600),
        "quarter_second_claiming_an_hour.mkv": _claiming_duration(quarter.read_bytes(), 3600),
    }
    for name, data in written.items():
        (files / name).write_bytes(data)
    render(files / "song.mp4", *LAVFI, "sine=d=1", "-c:a", "aac")
    render(files / "subtitles_only.mkv", "-i", str(srt), "-c:s", "ass")
    render(files / "four_frames.mp4", *LAVFI, "testsrc2=s=64x64:r=24", "-frames:v", "4", *H264)
    render(files / "one_pixel.mp4", *LAVFI, "color=c=red:s=1x1:r=24", "-frames:v", "24", *H264_444)
    render(files / "sliver_4096x2.mp4", *LAVFI, "testsrc2=s=4096x2:r=24", "-frames:v", "24", *H264_444)
    render(files / "odd_63x47.mp4", *LAVFI, "testsrc2=s=63x47:r=24", "-frames:v", "24", *H264_444)


def _write_images(parts: Path, files: Path) -> None:
    """The image archive's files into `files`, from what is rendered into `parts` first."""
    png = render(files / "still.png", *LAVFI, "testsrc2=s=64x64", "-frames:v", "1").read_bytes()
    jpeg = render(parts / "still.jpg", *LAVFI, "testsrc2=s=64x64", "-frames:v", "1").read_bytes()
    gif = render(parts / "moving.gif", *LAVFI, "testsrc2=s=64x64:r=10", "-frames:v", "5")
    render(files / "one_pixel.png", *LAVFI, "color=c=red:s=1x1", "-frames:v", "1")
    written = {
        "empty.png": b"",
        "noise.jpg": _noise(4096),
        "cut_in_half.png": png[: len(png) // 2],
        "cut_in_half.jpg": jpeg[: len(jpeg) // 2],
        "claims_65535x65535.png": _png_claiming(65535, 65535),
        "claims_65500x65500.jpg": _jpeg_claiming(jpeg, 65500, 65500),
        "mp4_inside.png": one_second_clip(parts / "clip.mp4").read_bytes(),
        "gif_inside.png": gif.read_bytes(),
    }
    for name, data in written.items():
        (files / name).write_bytes(data)


_WRITERS = {"videos": _write_videos, "images": _write_images}


def _run(world, kind: str):
    def build() -> Path:
        folder = scratch(world, f"hostile-media-{kind}")
        parts, files = folder / "parts", folder / "files"
        parts.mkdir(exist_ok=True)
        files.mkdir(exist_ok=True)
        _WRITERS[kind](parts, files)
        return write_zip(folder / f"{kind}.zip", {path.name: path for path in sorted(files.iterdir())})

    return shared_run(world, f"media/{kind}", build)


def _case(name: str, kind: str, path: str, code: str, reason: str = "") -> None:
    @CORPUS.add("media", name, code, reason)
    def act(world) -> Outcome:
        return reported(_run(world, kind), path)


# Videos (beside a usable 1 s clip).
_case("zero_byte_mp4", "videos", "empty.mp4", SKIPPED, "UNDECODABLE")
_case("random_bytes_as_mp4", "videos", "noise.mp4", SKIPPED, "UNDECODABLE")
_case("text_file_as_mov", "videos", "notes.mov", SKIPPED, "UNDECODABLE")
_case("audio_only_mp4", "videos", "song.mp4", SKIPPED, "NO_VIDEO_STREAM")
_case("subtitles_only_mkv", "videos", "subtitles_only.mkv", SKIPPED, "NO_VIDEO_STREAM")
_case("mkv_with_no_streams", "videos", "no_streams.mkv", SKIPPED, "NO_VIDEO_STREAM")
_case("mp4_cut_in_half_before_its_index", "videos", "cut_in_half.mp4", SKIPPED, "UNDECODABLE")
_case("mp4_of_only_its_ftyp_box", "videos", "ftyp_box_only.mp4", SKIPPED, "UNDECODABLE")
_case("webm_with_garbage_after_its_header", "videos", "garbage_after_the_header.webm", SKIPPED, "UNDECODABLE")
_case("clip_of_4_frames", "videos", "four_frames.mp4", SKIPPED, "TOO_SHORT")
_case("png_named_mp4", "videos", "png_inside.mp4", SKIPPED, "TOO_SHORT")
_case(
    "quarter_second_clip_claiming_an_hour",
    "videos",
    "quarter_second_claiming_an_hour.mkv",
    SKIPPED,
    "UNDECODABLE",
)
_case("one_second_clip_claiming_an_hour", "videos", "one_second_claiming_an_hour.mkv", USED)
_case("video_of_1x1_pixel", "videos", "one_pixel.mp4", USED)
_case("video_4096x2_aspect_2048_to_1", "videos", "sliver_4096x2.mp4", USED)
_case("video_of_odd_size_63x47", "videos", "odd_63x47.mp4", USED)

# Images (beside a usable 64x64 PNG).
_case("zero_byte_png", "images", "empty.png", SKIPPED, "UNDECODABLE")
_case("random_bytes_as_jpg", "images", "noise.jpg", SKIPPED, "UNDECODABLE")
_case("png_cut_in_half", "images", "cut_in_half.png", SKIPPED, "UNDECODABLE")
_case("png_header_claiming_65535x65535", "images", "claims_65535x65535.png", SKIPPED, "UNDECODABLE")
_case("jpeg_header_claiming_65500x65500", "images", "claims_65500x65500.jpg", SKIPPED, "UNDECODABLE")
_case("jpeg_cut_in_half", "images", "cut_in_half.jpg", USED)
_case("image_of_1x1_pixel", "images", "one_pixel.png", USED)
_case("mp4_named_png", "images", "mp4_inside.png", USED)
_case("gif_named_png", "images", "gif_inside.png", USED)
