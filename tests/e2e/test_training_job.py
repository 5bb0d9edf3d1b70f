"""A real job through both services: zip in, LoRA out; the events tell the whole story."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors import safe_open

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.bundle import path_from_uri, sha256_file
from train_svc.models.base_model import resolve_base_model
from train_svc.models.tiny_preset import PRESET_NAME

pytestmark = pytest.mark.integration

SUCCEEDED = pb.TrainingJob.State.STATE_SUCCEEDED


@pytest.fixture(scope="module")
def finished(services, demo_zip):
    return services.run(
        training_data_url=str(demo_zip),
        trigger_phrase="sepiatone",
        rank=8,
        number_of_steps=100,
        number_of_frames=25,
        resolution=common_pb2.RESOLUTION_LOW,
    )


def test_job_succeeds_and_bills_its_steps(finished):
    job, _ = finished
    assert job.state == SUCCEEDED, job.error
    assert job.billable_units == 100
    assert job.result.billable_units == 100
    assert (job.resolved.width, job.resolved.height, job.resolved.number_of_frames) == (512, 512, 25)


def test_every_output_exists_and_matches_its_checksum(finished):
    job, _ = finished
    for field in ("lora_file", "config_file", "dataset_report", "result_file"):
        artifact = getattr(job.result, field)
        path = path_from_uri(artifact.uri)
        assert path.is_file(), field
        assert sha256_file(path) == artifact.sha256
        assert path.stat().st_size == artifact.size_bytes
    result = json.loads(path_from_uri(job.result.result_file.uri).read_text())
    assert set(result) == {
        *("lora_file", "config_file", "video", "debug_dataset", "dataset_report"),
        *("tensorboard", "loss_plot", "billable_units"),
    }
    assert result["billable_units"] == 100
    assert result["video"] is None and result["debug_dataset"] is None
    config = json.loads(path_from_uri(job.result.config_file.uri).read_text())
    assert config["trigger_phrase"] == "sepiatone"
    assert config["training_type"] == "t2v"
    assert config["ltx_version"] == "2.3"  # the tiny preset's, as the LoRA's metadata names it


def test_lora_file_is_in_original_format_with_metadata(finished):
    job, _ = finished
    with safe_open(str(path_from_uri(job.result.lora_file.uri)), framework="pt") as fh:
        keys = list(fh.keys())
        meta = fh.metadata()
    assert keys and all(k.startswith("diffusion_model.transformer_blocks.") for k in keys)
    # Every demo clip has sound, so with_audio unset trains audio too: all six attention types adapted.
    attentions = {k.split(".")[3] for k in keys}
    assert attentions == {"attn1", "attn2", "audio_attn1", "audio_attn2", "audio_to_video_attn", "video_to_audio_attn"}
    assert meta["trigger_phrase"] == "sepiatone"
    assert meta["rank"] == "8" and float(meta["alpha"]) == 8.0
    assert meta["base_model"] == PRESET_NAME and meta["steps"] == "100"
    assert meta["training_type"] == "t2v" and meta["audio"] == "true"
    assert meta["ltx_version"] == "2.3"


def test_lora_loads_into_the_pipeline_and_changes_its_output(finished):
    from diffusers import LTX2Pipeline

    job, _ = finished
    pipe = LTX2Pipeline.from_pretrained(resolve_base_model(PRESET_NAME).path, local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    args = dict(
        prompt="sepiatone a glowing fractal",
        height=64,
        width=64,
        num_frames=9,
        num_inference_steps=2,
        guidance_scale=1.0,
        stg_scale=0.0,
        output_type="latent",
    )
    base = pipe(generator=torch.Generator().manual_seed(0), **args).frames
    pipe.load_lora_weights(str(path_from_uri(job.result.lora_file.uri)))
    tuned = pipe(generator=torch.Generator().manual_seed(0), **args).frames
    assert torch.isfinite(tuned).all()
    assert (tuned - base).abs().max() > 1e-4


def test_same_named_clips_in_different_folders_stay_distinct(finished):
    _, events = finished
    encoded = {
        e.sample_encoded.bundle.sample_id: e.sample_encoded.bundle for e in events if e.HasField("sample_encoded")
    }
    assert {"set_a/clip.mp4", "set_b/clip.mp4"} <= set(encoded)
    assert encoded["set_a/clip.mp4"].caption != encoded["set_b/clip.mp4"].caption
    assert encoded["set_a/clip.mp4"].uri != encoded["set_b/clip.mp4"].uri
    assert all(b.caption.startswith("sepiatone") for b in encoded.values())


def test_clip_without_caption_is_reported_and_trains_on_the_trigger_phrase(finished):
    _, events = finished
    warnings = [e.warning for e in events if e.HasField("warning")]
    assert any(w.code == "NO_CAPTION" and w.path == "set_b/drifting_light.mp4" for w in warnings)
    encoded = {
        e.sample_encoded.bundle.sample_id: e.sample_encoded.bundle for e in events if e.HasField("sample_encoded")
    }
    assert encoded["set_b/drifting_light.mp4"].caption == "sepiatone"


def test_without_validation_prompts_there_are_no_previews_and_no_reel(finished):
    job, events = finished
    assert not [e for e in events if e.HasField("preview")]
    assert not job.result.HasField("video")


def test_events_tell_the_story_in_order(finished):
    _, events = finished
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    states = [pb.TrainingJob.State.Name(e.state_change.state) for e in events if e.HasField("state_change")]
    assert states == ["STATE_QUEUED", "STATE_PREPROCESSING", "STATE_TRAINING", "STATE_EXPORTING", "STATE_SUCCEEDED"]
    steps = [e.step for e in events if e.HasField("step")]
    assert [s.step for s in steps] == list(range(1, 101))
    assert all(s.total_steps == 100 and s.loss > 0 and s.learning_rate > 0 for s in steps)
    assert steps[0].learning_rate > steps[-1].learning_rate  # linear decay
    assert sum(e.HasField("sample_encoded") for e in events) == 5
    artifacts = [e.artifact.name for e in events if e.HasField("artifact")]
    assert artifacts == ["dataset_report", "lora_file", "config_file", "tensorboard", "loss_plot", "result_file"]
    # Every file's report arrives during preprocessing, before training starts.
    training_at = next(e.sequence for e in events if e.state_change.state == pb.TrainingJob.State.STATE_TRAINING)
    assert all(e.sequence < training_at for e in events if e.HasField("file_report"))


def test_get_training_job_holds_the_dataset_report(finished):
    job, events = finished
    report = job.dataset_report
    assert [f.path for f in report.files] == sorted(
        ["life.mp4", "set_a/bouncing_box.mp4", "set_a/clip.mp4", "set_b/clip.mp4", "set_b/drifting_light.mp4"]
    )
    assert list(report.files) == sorted(
        (e.file_report for e in events if e.HasField("file_report")), key=lambda f: f.path
    )
    assert (report.media_kind, report.files_used, report.files_skipped, report.samples) == (
        common_pb2.MEDIA_KIND_VIDEO,
        5,
        0,
        5,
    )
    by_path = {f.path: f for f in report.files}
    light = by_path["set_b/drifting_light.mp4"]
    assert (light.caption_found, by_path["set_a/clip.mp4"].caption_found) == (False, True)
    (sample,) = light.samples
    # 192x192 at 24 fps in, 25 frames at 512x512 (low 1:1) and 24 fps out, with its sine-tone soundtrack.
    assert (light.source.width, light.source.height, light.source.fps, light.source.has_audio) == (192, 192, 24, True)
    assert (sample.frames, sample.width, sample.height, sample.fps, sample.fit) == (25, 512, 512, 24, "first_frames")
    stored = json.loads(path_from_uri(job.result.dataset_report.uri).read_text())
    assert stored["samples"] == 5 and [f["path"] for f in stored["files"]] == [f.path for f in report.files]


def test_a_watcher_that_connects_after_the_end_gets_every_event_from_1(services, finished):
    job, live = finished
    late = services.events(job.name)
    assert [e.SerializeToString() for e in late] == [e.SerializeToString() for e in live]
    tail = services.events(job.name, after=len(live) - 2)
    assert [e.sequence for e in tail] == [len(live) - 1, len(live)]
