"""Scene splitting on a real clip of three shots joined by hard cuts: detection, samples, skips, settings."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from preprocess_svc.events import BundleWritten, Progress, SkippedFile, Summary
from preprocess_svc.media import probe
from preprocess_svc.pipeline import bundle_file_name, run_preprocess
from preprocess_svc.scenes import analysis_argv, detect_shots
from preprocess_svc.server import settings_from_request
from shared.api import preprocess_service_pb2 as pb
from shared.bundle import read_bundle
from shared.dataset_report import FileOutcome, FileReport, PartSkipped
from shared.demo_dataset import render_clip, write_zip
from shared.disk_space import NO_RESERVE
from shared.fetch_policy import FetchPolicy
from shared.ffmpeg import ffmpeg_exe
from shared.request.errors import InvalidRequest
from tests.ffmpeg_argv import parse_argv

FPS = 24
WIDTH, HEIGHT = 128, 96
# Unequal shot lengths (2.0 s, 1.5 s, 2.5 s), so the cut positions are not symmetric.
SHOT_FRAMES = (48, 36, 60)
TRUE_CUTS = (48, 84)
CAPTION = "three unrelated shots"

LIMITS = {"workers": 1, "fetch": FetchPolicy(), "space": NO_RESERVE}  # what the service passes


def _shot(source: str, frames: int) -> str:
    return f"{source},trim=end_frame={frames},setpts=PTS-STARTPTS"


@pytest.fixture(scope="session")
def three_shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s at 24 fps: a test card, then a fractal zoom, then an orange box moving on navy, hard cuts."""
    size = f"s={WIDTH}x{HEIGHT}:r={FPS}"
    a, b, c = SHOT_FRAMES
    graph = (
        f"{_shot(f'testsrc2={size}', a)}[a];"
        f"{_shot(f'mandelbrot={size}', b)}[b];"
        f"color=c=navy:{size}[bg];color=c=orange:s=24x24:r={FPS}[box];"
        f"[bg][box]overlay=x='(W-w)*abs(sin(t*1.5))':y='(H-h)*abs(sin(t*2.1))',{_shot('null', c)}[c];"
        "[a][b][c]concat=n=3:v=1:a=0"
    )
    return render_clip(tmp_path_factory.mktemp("scenes") / "three.mp4", graph, frames=sum(SHOT_FRAMES), fps=FPS)


@pytest.fixture(scope="session")
def source_means(three_shots: Path) -> np.ndarray:
    """Mean RGB of each source frame's centre square (what fill + centre-crop to a square keeps)."""
    with av.open(str(three_shots)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    left = (WIDTH - HEIGHT) // 2
    return np.stack([f[:, left : left + HEIGHT].reshape(-1, 3).mean(axis=0) for f in frames])


@pytest.fixture
def three_shots_zip(tmp_path: Path, three_shots: Path) -> Path:
    return write_zip(tmp_path / "long.zip", {"set_a/long.mp4": three_shots, "set_a/long.txt": CAPTION})


def test_detect_shots_cuts_within_two_frames_of_the_true_cuts(three_shots: Path) -> None:
    shots = detect_shots(three_shots, probe(three_shots), timeout_s=60)

    assert len(shots) == 3
    cuts = [shot.start_frame for shot in shots[1:]]
    errors = [abs(found - true) for found, true in zip(cuts, TRUE_CUTS, strict=True)]
    print(f"cuts found at frames {cuts}, true {list(TRUE_CUTS)}, errors {errors} frames")
    assert max(errors) <= 2
    assert (shots[0].start_frame, shots[-1].end_frame) == (0, sum(SHOT_FRAMES))
    assert all(a.end_frame == b.start_frame for a, b in zip(shots, shots[1:], strict=False))
    assert shots[-1].end_s == pytest.approx(sum(SHOT_FRAMES) / FPS)


def test_the_analysis_command_line_pipes_small_bgr_frames_on_a_constant_rate_grid() -> None:
    command = parse_argv(analysis_argv(Path("long clip.mp4"), Fraction(24000, 1001), 160, 90))

    assert command.binary == ffmpeg_exe()
    assert command.inputs == [("long clip.mp4", [])]
    assert command.global_options["-filter_complex"] == "[0:v:0]scale=160:90:flags=area[s0]"  # first video stream
    [(target, options)] = command.outputs
    assert target == "pipe:"
    assert dict(options) == {
        "-map": "[s0]",
        "-f": "rawvideo",
        "-pix_fmt": "bgr24",
        "-fps_mode": "cfr",
        "-r": "24000/1001",  # the exact rational rate: frame n is at n * 1001 / 24000 s
    }
    assert command.global_flags == {"-hide_banner", "-nostats"} and command.global_options["-loglevel"] == "error"


def test_a_long_clip_becomes_one_sample_per_shot_sharing_its_caption(
    tmp_path: Path, three_shots_zip: Path, source_means: np.ndarray, make_settings, worker_pool
) -> None:
    settings = make_settings(three_shots_zip, trigger_phrase="tok", split_input_duration_threshold=2.0)

    events = list(run_preprocess(settings, tmp_path / "storage", worker_pool=worker_pool))

    written = {e.sample_id: e for e in events if isinstance(e, BundleWritten)}
    assert sorted(written) == [f"set_a/long.mp4#shot{n}" for n in (1, 2, 3)]
    assert len({e.path for e in written.values()}) == 3
    assert events[-1] == Summary(media_kind="video", samples=3, files_skipped=0, wall_seconds=events[-1].wall_seconds)
    last_progress = [e for e in events if isinstance(e, Progress)][-1]
    assert (last_progress.files_total, last_progress.files_done) == (3, 3)

    starts = (0, *TRUE_CUTS)
    for n, start in enumerate(starts, start=1):
        event = written[f"set_a/long.mp4#shot{n}"]
        bundle = read_bundle(event.path)
        assert bundle.caption == event.caption == f"tok {CAPTION}"
        assert bundle.source_path == "set_a/long.mp4"
        assert float(bundle.source["shot_start_s"]) == pytest.approx(start / FPS, abs=2 / FPS)
        assert bundle.source["cuts_s"] == ",".join(f"{cut / FPS:.6g}" for cut in TRUE_CUTS)
        # The sample's first frame is the shot's first frame, not the last one of the shot before.
        first = bundle.frames[0].reshape(-1, 3).mean(axis=0)
        assert np.abs(first - source_means[start]).max() < 12
        if start > 0:
            assert np.abs(first - source_means[start - 1]).max() > 30

    # One report for the clip, after its last shot, with the cuts and one sample per shot in time order.
    (report,) = [e for e in events if isinstance(e, FileReport)]
    assert events.index(report) == len(events) - 2  # just before the Summary
    assert (report.path, report.outcome, report.caption_found) == ("set_a/long.mp4", FileOutcome.USED, True)
    assert report.scene_cuts_s == pytest.approx([cut / FPS for cut in TRUE_CUTS], abs=2 / FPS)
    assert [s.sample_id for s in report.samples] == [f"set_a/long.mp4#shot{n}" for n in (1, 2, 3)]
    assert [s.start_s for s in report.samples] == pytest.approx([start / FPS for start in starts], abs=2 / FPS)
    assert report.source.frames == sum(SHOT_FRAMES)


def test_a_clip_no_longer_than_the_threshold_stays_one_sample(
    tmp_path: Path, three_shots_zip: Path, make_settings, worker_pool
):
    settings = make_settings(three_shots_zip, split_input_duration_threshold=6.0)  # the clip lasts exactly 6 s

    events = list(run_preprocess(settings, tmp_path / "storage", worker_pool=worker_pool))

    assert [e.sample_id for e in events if isinstance(e, BundleWritten)] == ["set_a/long.mp4"]


def test_splitting_off_gives_one_sample(tmp_path: Path, three_shots_zip: Path, make_settings, worker_pool) -> None:
    settings = make_settings(three_shots_zip, split_input_into_scenes=False, split_input_duration_threshold=2.0)

    events = list(run_preprocess(settings, tmp_path / "storage", worker_pool=worker_pool))

    written = [e for e in events if isinstance(e, BundleWritten)]
    assert [e.sample_id for e in written] == ["set_a/long.mp4"]
    assert "shot_start_s" not in read_bundle(written[0].path).source


def test_a_shot_shorter_than_a_sample_is_skipped_as_too_short_by_name(
    tmp_path: Path, three_shots_zip: Path, make_settings, worker_pool
) -> None:
    # 41 frames at 24 fps need 1.71 s: shots 1 (2.0 s) and 3 (2.5 s) fit, shot 2 (1.5 s) does not.
    settings = make_settings(three_shots_zip, number_of_frames=41, split_input_duration_threshold=2.0)

    events = list(run_preprocess(settings, tmp_path / "storage", worker_pool=worker_pool))

    assert sorted(e.sample_id for e in events if isinstance(e, BundleWritten)) == [
        "set_a/long.mp4#shot1",
        "set_a/long.mp4#shot3",
    ]
    [skip] = [e for e in events if isinstance(e, SkippedFile)]
    assert (skip.path, skip.reason) == ("set_a/long.mp4#shot2", "TOO_SHORT")
    assert skip.message.startswith("shot 2 of 3 (2.00-3.50 s of the clip, 1.50 s) gives 36 frames at 24 fps")
    (report,) = [e for e in events if isinstance(e, FileReport)]
    assert report.outcome is FileOutcome.USED
    assert [s.sample_id for s in report.samples] == ["set_a/long.mp4#shot1", "set_a/long.mp4#shot3"]
    assert report.skipped_parts == (PartSkipped(skip.path, skip.reason, skip.message),)
    assert events[-1] == Summary(media_kind="video", samples=2, files_skipped=1, wall_seconds=events[-1].wall_seconds)


def test_shot_bundle_names_differ_from_the_clip_and_each_other() -> None:
    names = {bundle_file_name(i) for i in ("a/long.mp4", "a/long.mp4#shot1", "a/long.mp4#shot2", "a/long.mp4_shot1")}
    assert len(names) == 4


def test_the_request_carries_the_split_settings_with_their_defaults() -> None:
    base = {
        "dataset_id": "0123456789abcdef",
        "owner": "alice",
        "training_data_url": "x.zip",
        "number_of_frames": 17,
        "frame_rate": 24,
    }
    unset = settings_from_request(
        pb.PreprocessRequest(**base, width=64, height=64), workers=1, fetch=FetchPolicy(), space=NO_RESERVE
    )
    assert (unset.split_input_into_scenes, unset.split_input_duration_threshold) == (True, 30.0)

    given = pb.PreprocessRequest(
        **base, width=64, height=64, split_input_into_scenes=False, split_input_duration_threshold=12.5
    )
    settings = settings_from_request(given, **LIMITS)
    assert (settings.split_input_into_scenes, settings.split_input_duration_threshold) == (False, 12.5)

    with pytest.raises(InvalidRequest) as err:
        settings_from_request(
            pb.PreprocessRequest(**base, width=64, height=64, split_input_duration_threshold=61), **LIMITS
        )
    assert [v.field for v in err.value.violations] == ["split_input_duration_threshold"]


def test_shots_past_the_limit_of_one_clip_are_left_out_and_reported(
    tmp_path: Path, three_shots: Path, monkeypatch
) -> None:
    from preprocess_svc import sample_worker
    from preprocess_svc.pairing import MediaSample
    from preprocess_svc.report import ReportBuilder

    monkeypatch.setattr(sample_worker, "MAX_SHOTS_PER_CLIP", 2)  # _plan_shots runs here, in this process
    sample = MediaSample("long.mp4", three_shots, "video", CAPTION)
    job = sample_worker.SampleJob(
        sample=sample,
        bundle_path=tmp_path / "long.safetensors",
        frames=9,
        frame_rate=FPS,
        width=64,
        height=64,
        timeout_base_s=30.0,
        timeout_per_second_s=2.0,
        split_threshold_s=1.0,
    )
    plan = sample_worker.process_sample(job)
    assert isinstance(plan, sample_worker.ShotPlan)
    assert [shot.sample_id for shot in plan.shots] == ["long.mp4#shot1", "long.mp4#shot2"]
    assert plan.dropped == 1 and plan.dropped_from_s == pytest.approx(TRUE_CUTS[1] / FPS, abs=2 / FPS)

    report = ReportBuilder([sample])
    report.split(plan)
    for shot in plan.shots:
        done = report.outcome(sample_worker.SkippedFile(path=shot.sample_id, reason="TOO_SHORT", message="short"))
    assert done is not None
    assert [(p.sample_id, p.reason) for p in done.skipped_parts] == [
        ("long.mp4#shot1", "TOO_SHORT"),
        ("long.mp4#shot2", "TOO_SHORT"),
        ("long.mp4#shot3..3", "TOO_MANY_SHOTS"),
    ]
    assert done.reason == "NO_USABLE_SHOT"
