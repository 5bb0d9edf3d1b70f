"""Fitting videos in time: auto_scale_input resamples a whole clip to the sample's frame count; without
it a clip gives its first number_of_frames frames. Clips encode their frame index as a grey level."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from preprocess_svc.errors import ALL_CLIPS_TOO_SHORT_MESSAGE, DatasetError, DatasetReason
from preprocess_svc.events import BundleWritten, Summary
from preprocess_svc.media import fit_resampled, probe
from preprocess_svc.pipeline import run_preprocess
from shared.bundle import read_bundle
from shared.demo_dataset import make_short_clips_zip, render_clip, render_image, write_zip


def grey_clip(out: Path, *, frames: int, fps: int, step: int) -> Path:
    """A 64x64 clip whose frame n is uniformly grey at luma 16 + n * step (limited range)."""
    source = f"color=c=black:s=64x64:r={fps},geq=lum='16+N*{step}':cb=128:cr=128"
    return render_clip(out, source, frames=frames, fps=fps)


def frame_indices(pixels: np.ndarray, step: int) -> list[int]:
    """The source frame index of each frame of a grey_clip, read back from its grey level."""
    luma = pixels.reshape(len(pixels), -1).mean(axis=1) * 219 / 255
    return [round(value / step) for value in luma]


def resample(clip: Path, frames: int, source_frames: int | None = None) -> tuple[np.ndarray, int]:
    expected = probe(clip).frame_count if source_frames is None else source_frames
    return fit_resampled(clip, source_frames=expected, frames=frames, width=64, height=64, timeout_s=60)


def test_a_short_clip_is_stretched_to_exactly_the_frame_count_in_order(tmp_path: Path) -> None:
    clip = grey_clip(tmp_path / "ten.mp4", frames=10, fps=24, step=20)

    pixels, decoded = resample(clip, 25)

    indices = frame_indices(pixels, step=20)
    assert pixels.shape == (25, 64, 64, 3) and decoded == 10
    assert indices == sorted(indices)
    assert (indices[0], indices[-1]) == (0, 9)
    assert set(indices) == set(range(10))  # every source frame is used, none skipped


def test_a_long_clip_is_squeezed_to_the_frame_count_covering_all_of_it(tmp_path: Path) -> None:
    clip = grey_clip(tmp_path / "long.mp4", frames=200, fps=30, step=1)

    pixels, decoded = resample(clip, 17)

    # One grey level per frame is within the codec's noise: allow one frame either way.
    indices = np.array(frame_indices(pixels, step=1))
    evenly_spread = np.round(np.arange(17) * 199 / 16)  # first and last frame included, 12.4 apart
    assert pixels.shape == (17, 64, 64, 3) and decoded == 200
    assert np.abs(indices - evenly_spread).max() <= 1
    assert (indices[0], indices[-1]) == pytest.approx((0, 199), abs=1)


def test_a_wrong_frame_count_from_the_container_still_gives_exactly_the_frame_count(tmp_path: Path) -> None:
    clip = grey_clip(tmp_path / "ten.mp4", frames=10, fps=24, step=20)

    for guess in (6, 15):
        pixels, decoded = resample(clip, 25, source_frames=guess)

        indices = frame_indices(pixels, step=20)
        assert pixels.shape[0] == 25 and decoded == 10
        assert (indices[0], indices[-1]) == (0, 9) and indices == sorted(indices)


def test_auto_scale_makes_an_all_too_short_dataset_trainable(tmp_path: Path, make_settings, worker_pool) -> None:
    archive = make_short_clips_zip(tmp_path / "short.zip", frames=9, count=2)

    with pytest.raises(DatasetError) as info:
        list(run_preprocess(make_settings(archive), tmp_path / "storage", worker_pool=worker_pool))
    assert info.value.reason == DatasetReason.ALL_CLIPS_TOO_SHORT
    assert ALL_CLIPS_TOO_SHORT_MESSAGE in info.value.message

    events = list(
        run_preprocess(make_settings(archive, auto_scale_input=True), tmp_path / "storage", worker_pool=worker_pool)
    )

    written = [e for e in events if isinstance(e, BundleWritten)]
    assert sorted(e.sample_id for e in written) == ["short_0.mp4", "short_1.mp4"]
    assert events[-1] == Summary(media_kind="video", samples=2, files_skipped=0, wall_seconds=events[-1].wall_seconds)
    for event in written:
        bundle = read_bundle(event.path)
        assert bundle.frames.shape == (17, 64, 64, 3)
        assert bundle.fps == 24.0  # played at frame_rate, so 9 frames of motion now last 17 frames
        assert bundle.source["fit"] == "auto_scale"
        assert bundle.source["source_frames"] == "9"
        assert float(bundle.source["time_scale"]) == pytest.approx(9 / 17, rel=1e-4)
        assert (float(bundle.source["start_s"]), float(bundle.source["end_s"])) == pytest.approx((0.0, 9 / 24))


def test_without_auto_scale_a_long_clip_gives_its_first_frames_as_one_sample(
    tmp_path: Path, make_settings, worker_pool
) -> None:
    clip = grey_clip(tmp_path / "long.mp4", frames=72, fps=24, step=3)
    archive = write_zip(tmp_path / "long.zip", {"long.mp4": clip, "long.txt": "a grey ramp"})

    events = list(run_preprocess(make_settings(archive), tmp_path / "storage", worker_pool=worker_pool))

    (written,) = [e for e in events if isinstance(e, BundleWritten)]
    bundle = read_bundle(written.path)
    assert written.sample_id == "long.mp4"
    assert frame_indices(bundle.frames, step=3) == list(range(17))
    assert bundle.source["fit"] == "first_frames"
    assert (float(bundle.source["start_s"]), float(bundle.source["end_s"])) == pytest.approx((0.0, 17 / 24))


def test_auto_scale_leaves_images_as_single_frames(tmp_path: Path, make_settings, worker_pool) -> None:
    image = render_image(tmp_path / "still.png", "testsrc2=s=96x64")
    archive = write_zip(tmp_path / "images.zip", {"still.png": image, "still.txt": "a still"})

    events = list(
        run_preprocess(make_settings(archive, auto_scale_input=True), tmp_path / "storage", worker_pool=worker_pool)
    )

    (written,) = [e for e in events if isinstance(e, BundleWritten)]
    bundle = read_bundle(written.path)
    assert bundle.frames.shape == (1, 64, 64, 3)
    assert bundle.source["fit"] == written.facts.fit == "image"
    assert written.facts.time_scale == 1.0


def test_auto_scale_resamples_each_shot_of_a_split_clip_on_its_own(tmp_path: Path, make_settings, worker_pool) -> None:
    # 60 frames, luma 16 + 3n; a hard cut at frame 30 from grey to a strongly coloured picture.
    ramp = "color=c=black:s=64x64:r=24,geq=lum='16+N*3'"
    graph = f"{ramp}:cb=128:cr=128,trim=end_frame=30[a];{ramp}:cb=40:cr=220,trim=start_frame=30[b];[a][b]concat"
    clip = render_clip(tmp_path / "cut.mp4", graph, frames=60, fps=24)
    archive = write_zip(tmp_path / "cut.zip", {"cut.mp4": clip, "cut.txt": "two shots"})
    settings = make_settings(archive, auto_scale_input=True, split_input_duration_threshold=1.0)

    events = list(run_preprocess(settings, tmp_path / "storage", worker_pool=worker_pool))

    written = {e.sample_id: read_bundle(e.path) for e in events if isinstance(e, BundleWritten)}
    assert sorted(written) == ["cut.mp4#shot1", "cut.mp4#shot2"]
    with av.open(str(clip)) as container:  # uniform frames: the mean colour identifies each source frame
        source = np.stack([f.to_ndarray(format="rgb24").reshape(-1, 3).mean(axis=0) for f in container.decode(video=0)])
    for name, (first, last) in {"cut.mp4#shot1": (0, 29), "cut.mp4#shot2": (30, 59)}.items():
        bundle = written[name]
        means = bundle.frames.reshape(17, -1, 3).mean(axis=1)
        indices = [int(np.abs(source - mean).sum(axis=1).argmin()) for mean in means]
        assert bundle.frames.shape[0] == 17 and bundle.source["source_frames"] == "30"
        assert indices == sorted(indices)
        assert (indices[0], indices[-1]) == pytest.approx((first, last), abs=1)
