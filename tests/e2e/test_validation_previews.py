"""Validation previews through both services: streamed while training, joined into preview.mp4 at the end."""

from __future__ import annotations

import io
import json
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from shared.api import common_pb2
from shared.api import generation_pb2 as gen_pb
from shared.api import training_service_pb2 as pb
from shared.bundle import path_from_uri, sha256_file
from shared.demo_dataset import write_zip
from shared.ffmpeg import ffmpeg_exe, run_ffmpeg
from shared.request import defaults
from tests.e2e.conftest import PREVIEW_STEPS
from train_svc.cli.progress import ProgressDisplay
from train_svc.generation.request import AUDIO_GUIDANCE_SCALE, GUIDANCE_SCALE

pytestmark = pytest.mark.integration

STATE = pb.TrainingJob.State
PROMPTS = ("zqx a red ball bouncing", "zqx a blue cube spinning")
PREVIEW_FRAMES = 9
SCHEDULE = [20, 40, 60, 80, 100]  # round(k * 100 / 5) for k = 1..4, and the last step
JOB = dict(
    trigger_phrase="zqx",
    rank=8,
    number_of_steps=100,
    number_of_frames=9,
    resolution=common_pb2.RESOLUTION_LOW,
    validation_number_of_frames=PREVIEW_FRAMES,
    validation_resolution=common_pb2.RESOLUTION_LOW,
    validation_aspect_ratio=common_pb2.ASPECT_RATIO_16_9,
)


def _run(services, prompts: tuple[str, ...], **fields) -> tuple[pb.TrainingJob, list[pb.WatchTrainingJobResponse]]:
    validation = [pb.ValidationPrompt(prompt=p) for p in prompts]
    job, events = services.run(validation=validation, **JOB, **fields)
    assert job.state == STATE.STATE_SUCCEEDED, job.error
    return job, events


def _clip(out: Path, source: str, tone_hz: int | None) -> Path:
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"{source}=s=128x128:r=24"]
    if tone_hz is not None:
        argv += ["-f", "lavfi", "-i", f"sine=frequency={tone_hz}:sample_rate=48000", "-c:a", "aac"]
    argv += ["-t", "1.2", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(out)]
    run_ffmpeg(argv, timeout=60)
    return out


@pytest.fixture(scope="module")
def with_audio(services, demo_zip):
    """Every demo clip has sound: audio is trained, two prompts."""
    return _run(services, PROMPTS, training_data_url=str(demo_zip))


@pytest.fixture(scope="module")
def video_only(services, tmp_path_factory):
    """One clip has no sound track: video only is trained, one prompt."""
    folder = tmp_path_factory.mktemp("previews-silent")
    entries = {
        "tone.mp4": _clip(folder / "a.mp4", "testsrc2", 440),
        "silent.mp4": _clip(folder / "b.mp4", "mandelbrot", None),
        "tone.txt": "zqx test pattern",
        "silent.txt": "zqx fractal",
    }
    return _run(services, PROMPTS[:1], training_data_url=str(write_zip(folder / "clips.zip", entries)))


def _previews(events: list[pb.WatchTrainingJobResponse]) -> list[pb.ValidationPreview]:
    return [e.preview for e in events if e.HasField("preview")]


def _decoded(path: Path) -> tuple[int, int]:
    """(video frames, audio streams) of an mp4."""
    with av.open(str(path)) as container:
        audio_streams = len(container.streams.audio)
        frames = sum(1 for _ in container.decode(video=0))
    return frames, audio_streams


def test_previews_stream_while_training_with_decodable_jpeg_frames(with_audio):
    job, events = with_audio
    previews = _previews(events)
    assert [(p.step, p.prompt_index) for p in previews] == [(s, i) for s in SCHEDULE for i in (0, 1)]
    assert all(p.prompt == PROMPTS[p.prompt_index] for p in previews)
    assert {p.prompt_index: p.seed for p in previews} == {0: 42, 1: 43}  # one seed per prompt, all run long
    exporting = next(e.sequence for e in events if e.state_change.state == STATE.STATE_EXPORTING)
    steps = {e.step.step: e.sequence for e in events if e.HasField("step")}
    for event in (e for e in events if e.HasField("preview")):
        assert event.sequence < exporting
        if event.preview.step < 100:  # rendered while training: the next step comes after it
            assert steps[event.preview.step] < event.sequence < steps[event.preview.step + 1]
    for preview in previews:
        assert len(preview.jpeg_frames) == 4 and preview.render_seconds > 0
        for jpeg in preview.jpeg_frames:
            image = Image.open(io.BytesIO(jpeg))
            image.load()
            assert image.format == "JPEG" and image.size == (512, 288)
        path = path_from_uri(preview.video.uri)
        assert preview.video.name == "preview" and path.name == f"step{preview.step:05d}_p{preview.prompt_index}.mp4"
        assert sha256_file(path) == preview.video.sha256 and path.stat().st_size == preview.video.size_bytes
        assert _decoded(path) == (PREVIEW_FRAMES, 1)


def _frames(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)])


def test_the_last_preview_is_what_generate_video_gives_with_the_jobs_lora(services, with_audio):
    """Same prompt, seed, steps, guidance, STG, size, frames and rate: the same frames, and the same mp4."""
    job, events = with_audio
    last = next(p for p in _previews(events) if p.step == SCHEDULE[-1] and p.prompt_index == 1)
    request = gen_pb.GenerateVideoRequest(
        job=job.name,
        prompt=PROMPTS[1],
        seed=last.seed,
        steps=PREVIEW_STEPS,
        guidance_scale=GUIDANCE_SCALE,
        audio_guidance_scale=AUDIO_GUIDANCE_SCALE,
        stg_scale=defaults.STG_SCALE,  # the job's settings leave the validation ones at their defaults
        negative_prompt=defaults.VALIDATION_NEGATIVE_PROMPT,
        number_of_frames=PREVIEW_FRAMES,
        frame_rate=defaults.VALIDATION_FRAME_RATE,
        resolution=common_pb2.RESOLUTION_LOW,
        aspect_ratio=common_pb2.ASPECT_RATIO_16_9,
    )
    result = list(services.stub.GenerateVideo(request, timeout=300))[-1].result
    generated, preview = path_from_uri(result.video.uri), path_from_uri(last.video.uri)
    assert np.array_equal(_frames(generated), _frames(preview))
    assert result.video.sha256 == last.video.sha256


def test_the_reel_holds_every_preview_with_sound_when_audio_was_trained(with_audio):
    job, events = with_audio
    assert job.resolved.with_audio
    reel = path_from_uri(job.result.video.uri)
    assert reel.name == "preview.mp4" and sha256_file(reel) == job.result.video.sha256
    assert _decoded(reel) == (len(_previews(events)) * PREVIEW_FRAMES, 1)
    with av.open(str(reel)) as container:
        video, sound = container.streams.video[0], container.streams.audio[0]
        assert (video.codec_context.width, video.codec_context.height) == (512, 288)
        assert abs(float(sound.duration * sound.time_base) - 10 * PREVIEW_FRAMES / 24) < 0.1
    result = json.loads(path_from_uri(job.result.result_file.uri).read_text())
    assert result["video"]["file_name"] == "preview.mp4" and result["video"]["sha256"] == job.result.video.sha256
    artifacts = [e.artifact.name for e in events if e.HasField("artifact")]
    outputs = ["lora_file", "config_file", "video", "tensorboard", "loss_plot", "result_file"]
    assert artifacts == ["dataset_report", *outputs]


def test_a_video_only_run_has_silent_previews_and_a_silent_reel(video_only):
    job, events = video_only
    assert not job.resolved.with_audio
    previews = _previews(events)
    assert [(p.step, p.prompt_index) for p in previews] == [(s, 0) for s in SCHEDULE]
    assert all(_decoded(path_from_uri(p.video.uri)) == (PREVIEW_FRAMES, 0) for p in previews)
    assert _decoded(path_from_uri(job.result.video.uri)) == (len(previews) * PREVIEW_FRAMES, 0)


def test_the_cli_display_prints_a_line_per_preview(with_audio):
    _, events = with_audio
    out = io.StringIO()
    display = ProgressDisplay(out)
    for event in events:
        display.show(event)
    lines = [line for line in out.getvalue().splitlines() if line.strip().startswith("preview at step")]
    assert len(lines) == len(_previews(events))
    assert "step 20, prompt 1 'zqx a red ball bouncing' (seed 42" in lines[0]
