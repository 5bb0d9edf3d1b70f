"""A whole preprocessing run on real zips: events, bundles on disk, dataset-level failures, cancellation."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from preprocess_svc.errors import ALL_CLIPS_TOO_SHORT_MESSAGE, DatasetError, DatasetReason
from preprocess_svc.events import BundleWritten, DatasetWarning, Progress, SkippedFile, Summary
from preprocess_svc.pipeline import bundle_file_name, dataset_paths, run_preprocess
from shared.bundle import read_bundle, sha256_file
from shared.demo_dataset import make_mixed_zip, make_short_clips_zip, render_clip, render_image, write_zip


def of_type(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def test_demo_dataset_over_http_gives_one_readable_bundle_per_clip(
    tmp_path: Path, demo_zip: Path, http_server, make_settings
) -> None:
    (http_server.root / "demo.zip").write_bytes(demo_zip.read_bytes())
    settings = make_settings(f"{http_server.base_url}/demo.zip", trigger_phrase="s3p1a")

    events = list(run_preprocess(settings, tmp_path / "storage"))  # no worker_pool: a private pool, started and stopped

    # Order: pairing warnings, an initial Progress, then (result, Progress, FileReport) per file, then Summary.
    assert events[0] == DatasetWarning(
        "set_b/drifting_light.mp4",
        "NO_CAPTION",
        "no drifting_light.txt beside it; it trains on the trigger phrase 's3p1a'",
    )
    assert events[1] == Progress(files_total=5, files_done=0, samples_written=0, files_skipped=0)
    assert all(isinstance(e, BundleWritten) for e in events[2:-1:3])
    assert [e.files_done for e in events[3:-1:3]] == [1, 2, 3, 4, 5]
    assert [e.path for e in events[4:-1:3]] == [e.sample_id for e in events[2:-1:3]]
    assert events[-1] == Summary(media_kind="video", samples=5, files_skipped=0, wall_seconds=events[-1].wall_seconds)

    written = {e.sample_id: e for e in of_type(events, BundleWritten)}
    assert sorted(written) == [
        "life.mp4",
        "set_a/bouncing_box.mp4",
        "set_a/clip.mp4",
        "set_b/clip.mp4",
        "set_b/drifting_light.mp4",
    ]
    assert written["set_a/clip.mp4"].path != written["set_b/clip.mp4"].path
    assert written["set_b/drifting_light.mp4"].caption == "s3p1a"
    run_folders = dataset_paths(tmp_path / "storage", "ds1").all_bundles
    assert {event.path.parent for event in written.values()} == set(run_folders.iterdir())  # one run, one folder
    for event in written.values():
        assert event.uri == event.path.resolve().as_uri()
        assert (event.sha256, event.size_bytes) == (sha256_file(event.path), event.path.stat().st_size)
        bundle = read_bundle(event.path)
        assert bundle.frames.shape == (17, 64, 64, 3) == (event.frames, event.height, event.width, 3)
        assert (bundle.sample_id, bundle.caption, bundle.fps) == (event.sample_id, event.caption, 24.0)
        assert bundle.caption.startswith("s3p1a")
        assert bundle.source_path == event.source_path == event.sample_id
        assert bundle.source["codec"] == "h264"
        assert bundle.source["has_audio"] == "true"
        assert (bundle.source["width"], bundle.source["height"], bundle.source["fps"]) == ("96", "64", "24")


def test_bundle_names_stay_unique_for_look_alike_sample_ids() -> None:
    names = {bundle_file_name(i) for i in ("a/clip.mp4", "a__clip.mp4", "a_clip.mp4", "a/clip.MP4", "b/clip.mp4")}
    assert len(names) == 5
    assert all(n.endswith(".safetensors") and "/" not in n for n in names)


def test_all_clips_too_short_fails_with_the_spec_sentence(tmp_path: Path, make_settings, worker_pool) -> None:
    archive = make_short_clips_zip(tmp_path / "short.zip", frames=9, count=2)
    events: list = []

    with pytest.raises(DatasetError) as info:
        events.extend(run_preprocess(make_settings(archive), tmp_path / "storage", worker_pool=worker_pool))

    assert info.value.reason == DatasetReason.ALL_CLIPS_TOO_SHORT
    assert ALL_CLIPS_TOO_SHORT_MESSAGE in info.value.message
    assert sorted(info.value.files) == ["short_0.mp4", "short_1.mp4"]
    skipped = of_type(events, SkippedFile)
    assert [s.reason for s in skipped] == ["TOO_SHORT", "TOO_SHORT"]
    assert "gives 9 frames at 24 fps" in skipped[0].message
    assert of_type(events, Summary) == []


def test_corrupt_files_are_skipped_with_a_reason_and_the_rest_is_used(
    tmp_path: Path, make_settings, worker_pool
) -> None:
    good = render_clip(tmp_path / "good.mp4", "testsrc2=s=64x64:r=24", frames=20, fps=24)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    archive = write_zip(
        tmp_path / "mixed_quality.zip",
        {"good.mp4": good, "good.txt": "fine", "empty.mp4": empty, "noise.avi": "not a video at all"},
    )

    events = list(run_preprocess(make_settings(archive), tmp_path / "storage", worker_pool=worker_pool))

    assert sorted((s.path, s.reason) for s in of_type(events, SkippedFile)) == [
        ("empty.mp4", "UNDECODABLE"),
        ("noise.avi", "UNDECODABLE"),
    ]
    assert [b.sample_id for b in of_type(events, BundleWritten)] == ["good.mp4"]
    assert of_type(events, Progress)[-1] == Progress(files_total=3, files_done=3, samples_written=1, files_skipped=2)
    assert isinstance(events[-1], Summary) and events[-1].files_skipped == 2


def test_no_usable_file_at_all_fails_listing_the_reasons(tmp_path: Path, make_settings, worker_pool) -> None:
    archive = write_zip(tmp_path / "bad.zip", {"a.mp4": "garbage", "b.mp4": "more garbage"})

    with pytest.raises(DatasetError) as info:
        list(run_preprocess(make_settings(archive), tmp_path / "storage", worker_pool=worker_pool))

    assert info.value.reason == DatasetReason.NO_USABLE_MEDIA
    assert "2 UNDECODABLE" in info.value.message


def test_mixed_images_and_videos_fail_before_any_work(tmp_path: Path, make_settings) -> None:
    archive = make_mixed_zip(tmp_path / "mixed.zip")
    run = run_preprocess(make_settings(archive), tmp_path / "storage")

    with pytest.raises(DatasetError) as info:
        next(run)

    assert info.value.reason == DatasetReason.MIXED_MEDIA


def test_image_dataset_gives_single_frame_samples(tmp_path: Path, make_settings, worker_pool) -> None:
    cat = render_image(tmp_path / "cat.png", "testsrc2=s=80x60")
    dog = render_image(tmp_path / "dog.jpg", "mandelbrot=s=60x80")
    archive = write_zip(tmp_path / "images.zip", {"cat.png": cat, "cat.txt": "a cat", "pets/dog.jpg": dog})

    events = list(
        run_preprocess(make_settings(archive, trigger_phrase="p3t"), tmp_path / "storage", worker_pool=worker_pool)
    )

    bundles = {b.sample_id: read_bundle(b.path) for b in of_type(events, BundleWritten)}
    assert {k: (v.frames.shape, v.caption, v.fps) for k, v in bundles.items()} == {
        "cat.png": ((1, 64, 64, 3), "p3t a cat", 24.0),
        "pets/dog.jpg": ((1, 64, 64, 3), "p3t", 24.0),
    }
    assert events[-1].media_kind == "image"


def test_a_second_run_replaces_the_bundles_of_the_first(
    tmp_path: Path, demo_zip: Path, make_settings, worker_pool
) -> None:
    storage = tmp_path / "storage"
    list(run_preprocess(make_settings(demo_zip), storage, worker_pool=worker_pool))
    one_clip = write_zip(
        tmp_path / "one.zip", {"only.mp4": render_clip(tmp_path / "o.mp4", "testsrc2", frames=20, fps=24)}
    )

    list(run_preprocess(make_settings(one_clip), storage, worker_pool=worker_pool))

    bundles = list(dataset_paths(storage, "ds1").all_bundles.rglob("*.safetensors"))
    assert [read_bundle(p).sample_id for p in bundles] == ["only.mp4"]


def test_closing_the_run_early_cancels_the_queued_files_and_leaves_nothing_of_the_run(
    tmp_path: Path, make_settings
) -> None:
    clip = render_clip(tmp_path / "c.mp4", "testsrc2=s=160x120:r=24", frames=60, fps=24)
    archive = write_zip(tmp_path / "many.zip", {f"clip_{i:02d}.mp4": clip for i in range(16)})
    settings = make_settings(archive, number_of_frames=49, width=128, height=96)
    run = run_preprocess(settings, tmp_path / "storage")

    first = next(e for e in run if isinstance(e, BundleWritten))
    started = time.monotonic()
    run.close()
    closed_in = time.monotonic() - started
    # The files already handed to workers finish there; what they write is removed as they end.
    deadline, absent_since = time.monotonic() + 60, None
    while absent_since is None or time.monotonic() - absent_since < 1.5:
        assert time.monotonic() < deadline, list(first.path.parent.iterdir())
        absent = not first.path.parent.exists()
        absent_since = (absent_since or time.monotonic()) if absent else None
        time.sleep(0.05)

    assert closed_in < 1.0
    dataset = dataset_paths(tmp_path / "storage", "ds1")
    assert not dataset.extracted.exists() and not dataset.archive.exists()
    assert list(dataset.root.rglob("*")) in ([], [dataset.all_bundles])
