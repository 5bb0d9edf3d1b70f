"""debug_dataset.zip: one viewable file and one caption per sample, made from the frames as trained."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import av
import numpy as np
import pytest

from shared.bundle import SampleBundle, read_bundle, write_bundle
from shared.ffmpeg import ffmpeg_exe
from tests.ffmpeg_argv import parse_argv
from train_svc.export.debug_dataset import MANIFEST_FILE, encode_argv, write_debug_dataset


def _frames(count: int, height: int, width: int) -> np.ndarray:
    ramp = np.linspace(0, 255, width, dtype=np.float32)[None, None, :, None]
    shift = np.arange(count, dtype=np.float32)[:, None, None, None] * 16
    return ((ramp + shift) % 256).astype(np.uint8).repeat(height, axis=1).repeat(3, axis=3)


@pytest.fixture
def bundles(tmp_path):
    samples = [
        SampleBundle("a/clip.mp4", _frames(9, 64, 96), 24.0, "sepiatone a red ball", "a/clip.mp4", {"codec": "h264"}),
        SampleBundle("b/clip.mp4", _frames(9, 64, 96), 24.0, "sepiatone a blue ball", "b/clip.mp4"),
        SampleBundle("c/still.png#0", _frames(1, 48, 32), 24.0, "sepiatone a still", "c/still.png"),
    ]
    return [write_bundle(tmp_path / f"{i}.safetensors", s).path for i, s in enumerate(samples)]


@pytest.fixture
def archive(tmp_path, bundles):
    path = write_debug_dataset(tmp_path / "out" / "debug_dataset.zip", bundles)
    with zipfile.ZipFile(path) as zf:
        yield zf


def test_archive_holds_one_media_file_and_one_caption_per_sample(archive, bundles):
    manifest = json.loads(archive.read(MANIFEST_FILE))["samples"]
    assert [m["sample_id"] for m in manifest] == ["a/clip.mp4", "b/clip.mp4", "c/still.png#0"]
    files = [m["file"] for m in manifest]
    assert len(set(files)) == 3 and all("/" not in f and "#" not in f for f in files)
    assert [f.rsplit(".", 1)[1] for f in files] == ["mp4", "mp4", "png"]
    for entry, bundle in zip(manifest, bundles, strict=True):
        caption = read_bundle(bundle).caption
        assert entry["caption"] == caption
        assert archive.read(entry["caption_file"]).decode() == caption + "\n"
        assert entry["caption_file"].removesuffix(".txt") == entry["file"].rsplit(".", 1)[0]
    assert manifest[0]["source"] == {"codec": "h264"} and manifest[0]["source_path"] == "a/clip.mp4"
    assert sorted(archive.namelist()) == sorted([MANIFEST_FILE, *files, *(m["caption_file"] for m in manifest)])


def test_clips_decode_to_the_trained_frame_count_and_size(archive):
    manifest = json.loads(archive.read(MANIFEST_FILE))["samples"]
    for entry in manifest:
        with av.open(io.BytesIO(archive.read(entry["file"]))) as container:
            frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert len(frames) == entry["frames"]
        assert frames[0].shape == (entry["height"], entry["width"], 3)
    clip = manifest[0]
    assert (clip["frames"], clip["width"], clip["height"], clip["fps"]) == (9, 96, 64, 24.0)


def test_pixels_survive_encoding(archive, bundles):
    expected = read_bundle(bundles[0]).frames
    with av.open(io.BytesIO(archive.read("0000_a_clip.mp4.mp4"))) as container:
        decoded = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    assert np.abs(decoded.astype(np.int16) - expected.astype(np.int16)).mean() < 8
    still = read_bundle(bundles[2]).frames[0]
    with av.open(io.BytesIO(archive.read("0002_c_still.png_0.png"))) as container:
        image = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert np.array_equal(image, still)  # png is lossless


def test_loaded_bundles_are_accepted_and_no_temporary_file_is_left(tmp_path, bundles):
    out = tmp_path / "loaded"
    write_debug_dataset(out / "debug_dataset.zip", [read_bundle(b) for b in bundles])
    assert [p.name for p in out.iterdir()] == ["debug_dataset.zip"]


def test_the_encoder_reads_raw_rgb_frames_from_stdin_and_writes_h264_or_png():
    clip = parse_argv(encode_argv(SampleBundle("a", _frames(9, 64, 96), 23.976, "c", "a"), Path("w/a.mp4")))
    still = parse_argv(encode_argv(SampleBundle("b", _frames(1, 48, 32), 24.0, "c", "b"), Path("w/b.png")))

    assert clip.binary == ffmpeg_exe()
    assert clip.inputs == [("-", [("-f", "rawvideo"), ("-pix_fmt", "rgb24"), ("-r", "23.976"), ("-s", "96x64")])]
    assert clip.outputs == [
        ("w/a.mp4", [("-c:v", "libx264"), ("-crf", "18"), ("-frames:v", "9"), ("-pix_fmt", "yuv420p")])
    ]
    assert still.inputs == [("-", [("-f", "rawvideo"), ("-pix_fmt", "rgb24"), ("-r", "24.0"), ("-s", "32x48")])]
    assert still.outputs == [("w/b.png", [("-c:v", "png"), ("-frames:v", "1")])]
    for command in (clip, still):
        assert command.global_flags == {"-hide_banner", "-y"} and command.global_options == {"-loglevel": "error"}
