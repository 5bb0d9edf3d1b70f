"""The spec's with_audio rules, decided once every sample of a dataset is known."""

from __future__ import annotations

import pytest

from shared.bundle_ref import BundleRef
from train_svc.job_run.audio_decision import NO_AUDIO_TRACK, decide_audio
from train_svc.jobs.events import DatasetFailure


def bundle(sample_id: str, has_audio: bool, source_path: str | None = None) -> BundleRef:
    return BundleRef(
        sample_id=sample_id,
        uri="file:///x",
        sha256="0" * 64,
        size_bytes=1,
        frames=9,
        height=32,
        width=32,
        fps=24.0,
        caption="",
        source_path=source_path or sample_id,
        has_audio=has_audio,
    )


LOUD = [bundle("a.mp4", True), bundle("b.mp4", True)]
ONE_SILENT = [*LOUD, bundle("long.mp4#shot1", False, "long.mp4"), bundle("long.mp4#shot2", False, "long.mp4")]


def test_unset_trains_audio_when_every_clip_has_sound() -> None:
    decision = decide_audio(None, LOUD, images=False)
    assert (decision.train_audio, decision.warnings(), decision.describe()) == (True, [], "video and audio")


def test_unset_falls_back_to_video_only_naming_each_silent_clip_once() -> None:
    decision = decide_audio(None, ONE_SILENT, images=False)
    assert not decision.train_audio
    assert [(w.path, w.code) for w in decision.warnings()] == [("long.mp4", NO_AUDIO_TRACK)]
    assert decision.describe() == "video only (1 clip(s) without sound)"


def test_true_with_a_silent_clip_fails_naming_every_one() -> None:
    silent = [*ONE_SILENT, bundle("c.mp4", False)]
    with pytest.raises(DatasetFailure) as caught:
        decide_audio(True, silent, images=False)
    error = caught.value.error
    assert (error.code, error.reason, error.files) == ("INVALID_ARGUMENT", "AUDIO_MISSING", ("c.mp4", "long.mp4"))
    assert "c.mp4, long.mp4" in error.message


def test_true_with_sound_everywhere_trains_audio() -> None:
    assert decide_audio(True, LOUD, images=False).train_audio


def test_false_ignores_audio_even_when_every_clip_has_it() -> None:
    decision = decide_audio(False, LOUD, images=False)
    assert (decision.train_audio, decision.warnings()) == (False, [])


def test_images_train_video_only_quietly_unless_audio_is_required() -> None:
    stills = [bundle("a.png", False), bundle("b.png", False)]
    assert decide_audio(None, stills, images=True).warnings() == []
    with pytest.raises(DatasetFailure):
        decide_audio(True, stills, images=True)
