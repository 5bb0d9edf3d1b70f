"""The dataset report of a real run: one FileReport per file of the archive, saying what became of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from preprocess_svc.events import BundleWritten, Progress, SkippedFile
from preprocess_svc.pipeline import run_preprocess
from shared.api.report_codec import dataset_report_to_proto, file_report_from_proto, file_report_to_proto
from shared.dataset_report import DatasetReport, FileOutcome, FileReport
from shared.demo_dataset import render_clip, render_image, write_zip


def reports_of(events: list) -> dict[str, FileReport]:
    reports = [e for e in events if isinstance(e, FileReport)]
    by_path = {r.path: r for r in reports}
    assert len(by_path) == len(reports), "a file was reported twice"
    return by_path


@pytest.fixture(scope="module")
def messy_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A used clip (caption), a used clip with sound (empty caption), a too-short clip, an empty file,
    an orphan caption and a file that is not media (made once: the runs only read it)."""
    tmp_path = tmp_path_factory.mktemp("messy")
    good = render_clip(tmp_path / "good.mp4", "testsrc2=s=96x64:r=30", frames=45, fps=30)
    loud = render_clip(tmp_path / "loud.mp4", "testsrc2=s=64x64:r=24", frames=24, fps=24, tone_hz=440)
    short = render_clip(tmp_path / "short.mp4", "testsrc2=s=64x64:r=24", frames=9, fps=24)
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    return write_zip(
        tmp_path / "messy.zip",
        {
            "clips/good.mp4": good,
            "clips/good.txt": "a test card",
            "clips/loud.mp4": loud,
            "clips/loud.txt": "   ",
            "clips/short.mp4": short,
            "clips/short.txt": "too short",
            "empty.mp4": empty,
            "notes/orphan.txt": "no clip for me",
            "notes/readme.md": "# not media",
        },
    )


def test_every_file_of_the_archive_gets_exactly_one_report(
    tmp_path: Path, messy_zip: Path, make_settings, worker_pool
) -> None:
    events = list(
        run_preprocess(make_settings(messy_zip, trigger_phrase="tok"), tmp_path / "storage", worker_pool=worker_pool)
    )

    reports = reports_of(events)
    assert {path: r.outcome for path, r in reports.items()} == {
        "clips/good.mp4": FileOutcome.USED,
        "clips/loud.mp4": FileOutcome.USED,
        "clips/short.mp4": FileOutcome.SKIPPED,
        "empty.mp4": FileOutcome.SKIPPED,
        "notes/orphan.txt": FileOutcome.IGNORED,
        "notes/readme.md": FileOutcome.IGNORED,
    }
    # Each media file's report comes after its bundle or skip and the Progress that counts it.
    for path in ("clips/good.mp4", "clips/short.mp4"):
        at = events.index(reports[path])
        assert isinstance(events[at - 1], Progress)
        assert isinstance(events[at - 2], BundleWritten | SkippedFile)


def test_a_used_clip_reports_its_source_its_sample_and_its_caption(
    tmp_path: Path, messy_zip: Path, make_settings, worker_pool
) -> None:
    events = list(run_preprocess(make_settings(messy_zip), tmp_path / "storage", worker_pool=worker_pool))
    good, loud = reports_of(events)["clips/good.mp4"], reports_of(events)["clips/loud.mp4"]

    assert (good.media_kind, good.caption_path, good.caption_found) == ("video", "clips/good.txt", True)
    assert (loud.caption_path, loud.caption_found) == ("clips/loud.txt", False)  # blank caption
    src = good.source
    assert (src.width, src.height, src.coded_width, src.coded_height) == (96, 64, 96, 64)
    assert (src.fps, src.frames, src.codec, src.rotation) == (30.0, 45, "h264", 0)
    assert src.duration_s == pytest.approx(1.5, abs=0.05)
    assert (src.has_audio, loud.source.has_audio) == (False, True)
    (sample,) = good.samples
    assert (sample.sample_id, sample.frames, sample.fps, sample.width, sample.height) == (
        "clips/good.mp4",
        17,
        24,
        64,
        64,
    )
    assert (sample.fit, sample.start_s, sample.time_scale) == ("first_frames", 0.0, 1.0)
    assert sample.end_s == pytest.approx(17 / 24)
    assert good.scene_cuts_s == () and good.skipped_parts == ()


def test_skipped_files_say_why_with_what_could_be_read(
    tmp_path: Path, messy_zip: Path, make_settings, worker_pool
) -> None:
    reports = reports_of(list(run_preprocess(make_settings(messy_zip), tmp_path / "storage", worker_pool=worker_pool)))

    short, empty = reports["clips/short.mp4"], reports["empty.mp4"]
    assert (short.reason, short.samples) == ("TOO_SHORT", ())
    assert "gives 9 frames at 24 fps" in short.message
    assert (short.source.frames, short.source.fps) == (9, 24.0)  # probed before it was found too short
    assert (empty.reason, empty.message, empty.source) == ("UNDECODABLE", "the file is empty (0 bytes)", None)
    assert (empty.caption_path, empty.caption_found) == ("", False)
    orphan, other = reports["notes/orphan.txt"], reports["notes/readme.md"]
    assert (orphan.reason, other.reason) == ("ORPHAN_CAPTION", "IGNORED_FILE")
    assert orphan.media_kind == other.media_kind == ""


def test_an_image_reports_no_frame_rate_and_one_frame(tmp_path: Path, make_settings, worker_pool) -> None:
    image = render_image(tmp_path / "still.png", "testsrc2=s=96x64")
    archive = write_zip(tmp_path / "images.zip", {"still.png": image})

    (report,) = reports_of(
        list(run_preprocess(make_settings(archive), tmp_path / "storage", worker_pool=worker_pool))
    ).values()

    assert (report.outcome, report.media_kind, report.caption_found) == (FileOutcome.USED, "image", False)
    assert (report.source.width, report.source.height, report.source.fps, report.source.frames) == (96, 64, 0.0, 1)
    (sample,) = report.samples
    assert (sample.fit, sample.frames, sample.width, sample.height) == ("image", 1, 64, 64)


def test_reports_survive_the_trip_through_protobuf_and_sum_up(
    tmp_path: Path, messy_zip: Path, make_settings, worker_pool
) -> None:
    reports = reports_of(list(run_preprocess(make_settings(messy_zip), tmp_path / "storage", worker_pool=worker_pool)))

    for report in reports.values():
        assert file_report_from_proto(file_report_to_proto(report)) == report
    summary = dataset_report_to_proto(DatasetReport.of(list(reports.values())))
    assert (summary.files_used, summary.files_skipped, summary.files_ignored, summary.samples) == (2, 2, 2, 2)
    assert [f.path for f in summary.files] == sorted(reports)
