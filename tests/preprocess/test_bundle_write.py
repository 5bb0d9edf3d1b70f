"""write_bundle lays out the safetensors file itself and hashes it while writing: check it against safetensors."""

from __future__ import annotations

import hashlib
import stat
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from shared.bundle import AUDIO_SAMPLE_RATE, FORMAT_VERSION, BundleWriter, SampleBundle, read_bundle, write_bundle


def _bundle(frames: np.ndarray, *, caption: str = "a clip", source: dict[str, str] | None = None) -> SampleBundle:
    return SampleBundle(
        sample_id="set/clip.mp4",
        frames=frames,
        fps=24.0,
        caption=caption,
        source_path="set/clip.mp4",
        source=source or {"codec": "h264", "width": "1280"},
    )


@pytest.mark.parametrize("shape", [(1, 32, 32, 3), (17, 64, 96, 3), (3, 1, 5, 3)])
def test_safetensors_reads_back_tensor_and_metadata(tmp_path: Path, shape: tuple[int, ...]) -> None:
    frames = np.random.default_rng(7).integers(0, 256, size=shape, dtype=np.uint8)
    path = tmp_path / "b.safetensors"
    written = write_bundle(path, _bundle(frames))

    with safe_open(str(path), framework="numpy") as fh:
        assert list(fh.keys()) == ["frames"]
        np.testing.assert_array_equal(fh.get_tensor("frames"), frames)
        assert fh.metadata() == {
            "format_version": FORMAT_VERSION,
            "sample_id": "set/clip.mp4",
            "caption": "a clip",
            "fps": "24.0",
            "source_path": "set/clip.mp4",
            "source.codec": "h264",
            "source.width": "1280",
        }
    data = path.read_bytes()
    assert written.sha256 == hashlib.sha256(data).hexdigest()
    assert written.size_bytes == len(data) == path.stat().st_size
    header_len = int.from_bytes(data[:8], "little")
    assert header_len % 8 == 0 and len(data) == 8 + header_len + frames.nbytes


def test_non_ascii_metadata_and_strided_frames(tmp_path: Path) -> None:
    base = np.random.default_rng(3).integers(0, 256, size=(4, 16, 24, 3), dtype=np.uint8)
    frames = base[:, ::2, ::-1]  # not contiguous: written from a contiguous copy
    caption = 'tronlog0, ein Mädchen läuft über die Brücke — 桥上的女孩 🌉 "quoted"\n\\ backslash'
    path = tmp_path / "b.safetensors"
    written = write_bundle(path, _bundle(frames, caption=caption, source={"title": "Ünïcode ✓"}))

    with safe_open(str(path), framework="numpy") as fh:
        meta = fh.metadata()
        np.testing.assert_array_equal(fh.get_tensor("frames"), frames)
    assert meta["caption"] == caption and meta["source.title"] == "Ünïcode ✓"
    assert written.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    back = read_bundle(path)
    assert (back.caption, back.source) == (caption, {"title": "Ünïcode ✓"})


def test_large_bundle_spans_several_write_steps(tmp_path: Path) -> None:
    frames = np.random.default_rng(1).integers(0, 256, size=(9, 448, 768, 3), dtype=np.uint8)  # ~9 MiB
    path = tmp_path / "big.safetensors"
    written = write_bundle(path, _bundle(frames))
    assert written.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    np.testing.assert_array_equal(read_bundle(path).frames, frames)


def test_atomic_and_mode_0644(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "b.safetensors"
    path.parent.mkdir()
    path.write_bytes(b"old")
    written = write_bundle(path, _bundle(np.zeros((1, 8, 8, 3), np.uint8)))
    assert written.path == path
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    assert sorted(p.name for p in path.parent.iterdir()) == ["b.safetensors"]  # no temp file left


def test_rejects_wrong_frames_and_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="uint8"):
        write_bundle(tmp_path / "b.safetensors", _bundle(np.zeros((1, 8, 8, 3), np.float32)))
    assert list(tmp_path.iterdir()) == []


def test_frames_written_one_at_a_time_make_the_same_file(tmp_path: Path) -> None:
    frames = np.random.default_rng(5).integers(0, 256, size=(5, 16, 24, 3), dtype=np.uint8)
    whole = write_bundle(tmp_path / "whole.safetensors", _bundle(frames))
    fields = dict(sample_id="set/clip.mp4", caption="a clip", fps=24.0, source_path="set/clip.mp4")
    with BundleWriter(
        tmp_path / "streamed.safetensors",
        **fields,
        source={"codec": "h264", "width": "1280"},
        frames=5,
        height=16,
        width=24,
    ) as writer:
        for frame in frames:
            writer.add_frame(frame.copy())
        streamed = writer.finish()
    assert (streamed.sha256, streamed.size_bytes) == (whole.sha256, whole.size_bytes)
    assert (tmp_path / "streamed.safetensors").read_bytes() == (tmp_path / "whole.safetensors").read_bytes()


def test_an_unfinished_or_short_bundle_leaves_nothing(tmp_path: Path) -> None:
    fields = dict(sample_id="a", caption="", fps=24.0, source_path="a", source={}, frames=3, height=8, width=8)
    with pytest.raises(RuntimeError), BundleWriter(tmp_path / "a.safetensors", **fields) as writer:
        writer.add_frame(np.zeros((8, 8, 3), np.uint8))
        raise RuntimeError("the decoder failed")
    with BundleWriter(tmp_path / "b.safetensors", **fields) as writer:
        writer.add_frame(np.zeros((8, 8, 3), np.uint8))
        with pytest.raises(ValueError, match="needs 3 frames, got 1"):
            writer.finish()
        with pytest.raises(ValueError, match=r"uint8 \(8, 8, 3\)"):
            writer.add_frame(np.zeros((8, 9, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("shape", [(17, 64, 96, 3), (3, 1, 5, 3)])
def test_audio_is_a_second_tensor_after_the_frames(tmp_path: Path, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(11)
    frames = rng.integers(0, 256, size=shape, dtype=np.uint8)
    audio = rng.uniform(-1, 1, size=(2, 11_333)).astype(np.float32)
    path = tmp_path / "b.safetensors"
    written = write_bundle(path, replace(_bundle(frames), audio=audio, audio_sample_rate=AUDIO_SAMPLE_RATE))

    with safe_open(str(path), framework="numpy") as fh:
        assert sorted(fh.keys()) == ["audio", "frames"]
        np.testing.assert_array_equal(fh.get_tensor("frames"), frames)
        back = fh.get_tensor("audio")
        assert back.dtype == np.float32 and back.shape == (2, 11_333)
        np.testing.assert_array_equal(back, audio)
        assert fh.metadata()["audio_sample_rate"] == "16000"
    data = path.read_bytes()
    assert written.sha256 == hashlib.sha256(data).hexdigest()
    assert written.size_bytes == len(data) == 8 + int.from_bytes(data[:8], "little") + frames.nbytes + audio.nbytes
    # The audio's bytes are the last of the file, right after the frames (contiguous offsets).
    assert data[-audio.nbytes :] == audio.astype("<f4").tobytes()
    bundle = read_bundle(path)
    np.testing.assert_array_equal(bundle.audio, audio)
    assert bundle.audio_sample_rate == AUDIO_SAMPLE_RATE
    np.testing.assert_array_equal(bundle.frames, frames)


def test_a_bundle_without_audio_reads_back_without_it(tmp_path: Path) -> None:
    path = tmp_path / "b.safetensors"
    write_bundle(path, _bundle(np.zeros((1, 8, 8, 3), np.uint8)))
    bundle = read_bundle(path)
    assert (bundle.audio, bundle.audio_sample_rate) == (None, None)
    with safe_open(str(path), framework="numpy") as fh:
        assert "audio_sample_rate" not in fh.metadata()


def test_streamed_frames_with_audio_make_the_same_file_and_bad_audio_is_refused(tmp_path: Path) -> None:
    frames = np.random.default_rng(2).integers(0, 256, size=(3, 16, 24, 3), dtype=np.uint8)
    audio = np.random.default_rng(3).uniform(-1, 1, size=(2, 1600)).astype(np.float32)
    whole = write_bundle(tmp_path / "whole.safetensors", replace(_bundle(frames), audio=audio))
    fields = dict(sample_id="set/clip.mp4", caption="a clip", fps=24.0, source_path="set/clip.mp4")
    source = {"codec": "h264", "width": "1280"}
    with BundleWriter(
        tmp_path / "streamed.safetensors", **fields, source=source, frames=3, height=16, width=24, audio=audio
    ) as writer:
        for frame in frames:
            writer.add_frame(frame)
        streamed = writer.finish()
    assert (streamed.sha256, streamed.size_bytes) == (whole.sha256, whole.size_bytes)
    for bad in (audio.astype(np.float64), audio[:1], audio[0]):
        with pytest.raises(ValueError, match=r"float32 \[2, N\]"):
            BundleWriter(tmp_path / "bad.safetensors", **fields, source={}, frames=3, height=16, width=24, audio=bad)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["streamed.safetensors", "whole.safetensors"]
