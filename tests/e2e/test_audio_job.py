"""Joint audio-video jobs through both services: the with_audio rules, audio loss, audio LoRA keys."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import av
import grpc
import pytest
from google.rpc import error_details_pb2
from safetensors import safe_open

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.bundle import path_from_uri
from shared.demo_dataset import write_zip
from shared.ffmpeg import ffmpeg_exe, run_ffmpeg
from train_svc.models.tiny_preset import PRESET_NAME

pytestmark = pytest.mark.integration

SUCCEEDED, FAILED = pb.TrainingJob.State.STATE_SUCCEEDED, pb.TrainingJob.State.STATE_FAILED
AUDIO_ATTENTIONS = {"audio_attn1", "audio_attn2", "audio_to_video_attn", "video_to_audio_attn"}
JOB = dict(rank=8, number_of_steps=100, number_of_frames=9, resolution=common_pb2.RESOLUTION_LOW)


def clip(out: Path, *, source: str, tone_hz: int | None = None, channels: int = 2, rate: int = 48_000) -> Path:
    """1.2 s of video at 24 fps, with a tone on `channels` channels at `rate` Hz, or silent (no audio stream)."""
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"{source}=s=128x128:r=24"]
    if tone_hz is not None:
        argv += ["-f", "lavfi", "-i", f"sine=frequency={tone_hz}:sample_rate={rate}", "-ac", str(channels)]
        argv += ["-ar", str(rate), "-c:a", "aac"]
    argv += ["-t", "1.2", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(out)]
    run_ffmpeg(argv, timeout=60)
    return out


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("audio-clips")
    return {
        "mono_8k.mp4": clip(folder / "a.mp4", source="testsrc2", tone_hz=330, channels=1, rate=8_000),
        "stereo_44k.mp4": clip(folder / "b.mp4", source="mandelbrot", tone_hz=440, channels=2, rate=44_100),
        "surround_48k.mp4": clip(folder / "c.mp4", source="rgbtestsrc", tone_hz=550, channels=6, rate=48_000),
        "silent.mp4": clip(folder / "d.mp4", source="smptebars"),
    }


def archive(tmp_path: Path, clips: dict[str, Path], names: list[str]) -> str:
    entries: dict[str, Path | str] = {name: clips[name] for name in names}
    entries |= {name.replace(".mp4", ".txt"): f"zqx {name.split('.')[0].replace('_', ' ')}" for name in names}
    return str(write_zip(tmp_path / "clips.zip", entries))


def lora_attentions(job: pb.TrainingJob) -> tuple[set[str], dict[str, str]]:
    """The attention types the job's LoRA adapts, and its metadata."""
    with safe_open(str(path_from_uri(job.result.lora_file.uri)), framework="pt") as fh:
        names = fh.keys()
        return {key.split(".")[3] for key in names}, fh.metadata()


@pytest.fixture(scope="module")
def joint(services, clips, tmp_path_factory):
    url = archive(tmp_path_factory.mktemp("joint"), clips, ["mono_8k.mp4", "stereo_44k.mp4", "surround_48k.mp4"])
    return services.run(training_data_url=url, learning_rate=1e-3, **JOB)


def test_clips_with_mono_stereo_and_surround_sound_train_jointly(joint):
    job, events = joint
    assert job.state == SUCCEEDED, job.error
    assert job.resolved.with_audio
    steps = [e.step for e in events if e.HasField("step")]
    assert all(s.audio_loss > 0 and s.loss == pytest.approx(s.video_loss + s.audio_loss) for s in steps)
    attentions, meta = lora_attentions(job)
    assert AUDIO_ATTENTIONS | {"attn1", "attn2"} == attentions
    assert meta["audio"] == "true"
    assert json.loads(path_from_uri(job.result.config_file.uri).read_text())["with_audio"] is True
    samples = [s for f in job.dataset_report.files for s in f.samples]
    assert [s.audio_fit for s in samples] == ["cut", "cut", "cut"]
    assert all(f.source.has_audio for f in job.dataset_report.files)


def test_one_silent_clip_under_auto_trains_video_only_and_names_the_clip(services, clips, tmp_path):
    url = archive(tmp_path, clips, ["mono_8k.mp4", "silent.mp4", "stereo_44k.mp4"])
    job, events = services.run(training_data_url=url, **JOB)

    assert job.state == SUCCEEDED, job.error
    assert not job.resolved.with_audio
    notes = [(e.warning.path, e.warning.code) for e in events if e.HasField("warning")]
    assert ("silent.mp4", "NO_AUDIO_TRACK") in notes
    assert [e.state_change.message for e in events if e.state_change.state == pb.TrainingJob.State.STATE_TRAINING] == [
        "training on 3 samples, video only (1 clip(s) without sound)"
    ]
    assert {f.path: f.source.has_audio for f in job.dataset_report.files}["silent.mp4"] is False
    assert all(e.step.audio_loss == 0 for e in events if e.HasField("step"))
    attentions, meta = lora_attentions(job)
    assert attentions == {"attn1", "attn2"} and meta["audio"] == "false"


def test_forced_audio_with_a_silent_clip_fails_naming_it_and_bills_0(services, clips, tmp_path):
    url = archive(tmp_path, clips, ["mono_8k.mp4", "silent.mp4"])
    job, events = services.run(training_data_url=url, with_audio=True, **JOB)

    assert job.state == FAILED
    assert job.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    info = error_details_pb2.ErrorInfo()
    assert any(d.Unpack(info) for d in job.error.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR))
    assert (info.reason, info.metadata["files"]) == ("AUDIO_MISSING", "silent.mp4")
    assert "silent.mp4" in job.error.message
    assert job.billable_units == 0
    assert not [e for e in events if e.HasField("step")]


def test_generate_with_the_trained_lora_writes_sound_as_long_as_the_picture(joint, tmp_path):
    job, _ = joint
    out = tmp_path / "generated.mp4"
    args = ["--base-model", PRESET_NAME, "--lora", str(path_from_uri(job.result.lora_file.uri)), "--out", str(out)]
    args += ["--prompt", "zqx stereo 44k", "--num-frames", "17", "--resolution", "low", "--steps", "2"]
    done = subprocess.run([sys.executable, "-m", "train_svc.cli", "generate", *args], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

    with av.open(str(out)) as container:
        video, audio = container.streams.video[0], container.streams.audio[0]
        video_s = float(video.duration * video.time_base)
        audio_s = float(audio.duration * audio.time_base)
        assert (video.frames, audio.rate) == (17, 48_000)
    assert video_s == pytest.approx(17 / 24, abs=1e-3)
    assert abs(audio_s - video_s) <= 1 / 24


def test_the_lora_tools_work_on_the_jobs_lora(joint, tmp_path):
    """Every `ltx-trainer lora` command on the LoRA the service trained; each output loads with diffusers."""
    from diffusers import LTX2Pipeline
    from peft.tuners.lora import LoraLayer
    from safetensors.torch import load_file

    from train_svc.cli.main import main
    from train_svc.lora_tools.keys import branch_of, parse_key
    from train_svc.models.base_model import resolve_base_model

    job, _ = joint
    lora = path_from_uri(job.result.lora_file.uri)
    done = subprocess.run(
        [sys.executable, "-m", "train_svc.cli", "lora", "inspect", str(lora), "--json"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["rank"], report["nonfinite"]) == (8, 0) and report["audio_keys"] > 0 and report["video_keys"] > 0
    assert main(["lora", "check", str(lora), "--base-model", PRESET_NAME]) == 0
    outputs = {
        "no_audio": ["strip-audio"],
        "no_video": ["strip-video"],
        "diffusers": ["convert", "--to", "diffusers"],
        "halved": ["scale", "0.5"],
    }
    pipe = LTX2Pipeline.from_pretrained(resolve_base_model(PRESET_NAME).path, local_files_only=True)
    for name, (verb, *rest) in outputs.items():
        out = tmp_path / f"{name}.safetensors"
        assert main(["lora", verb, str(lora), str(out), *rest]) == 0
        pipe.load_lora_weights(str(out), adapter_name=name)
        adapted = {n for n, m in pipe.transformer.named_modules() if isinstance(m, LoraLayer) and name in m.lora_A}
        modules = {parse_key(key).module for key in load_file(out)}
        assert adapted == modules, name
        if name == "no_audio":
            assert {branch_of(m) for m in adapted} == {"video"}
