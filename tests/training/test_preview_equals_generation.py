"""A validation preview is what GenerateVideo gives, and each validation setting changes it as it should.

One tiny job is trained (fp32 on the CPU) with a preview at its last step; its LoRA is exported as the job
export writes it and generated with through the Generator that GenerateVideo runs. Both go through
train_svc.generation.generator.sample, so the frames must match exactly, and so must the mp4 files (the
encoder is deterministic). The setting tests re-render that last-step preview with one validation setting
changed, through the job's real path: TrainingSettings from the wire input -> preview_requests -> JobPreviews.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from shared.api import common_pb2, training_service_pb2
from shared.request.errors import InvalidRequest
from shared.request.field_limits import PROMPT_CHARS, length_violations
from shared.request.validate import resolve
from train_svc.export.lora_file import LoraMetadata, write_lora
from train_svc.generation.generator import Generator
from train_svc.generation.mp4 import write_mp4
from train_svc.generation.request import GenerationRequest
from train_svc.jobs.events import ValidationPreview
from train_svc.training.config import TrainConfig
from train_svc.training.encoding import CaptionEncoder, PromptStates, VideoEncoder
from train_svc.training.trainer import LoraTrainer, TrainingSample
from train_svc.validation.previews import JobPreviews, encode_prompts, preview_file, preview_requests
from train_svc.validation.renderer import PreviewRenderer

PROMPT = "zqx cyan stripes drifting left"
CONFIG = TrainConfig(rank=8, learning_rate=5e-3, steps=4, seed=5, feed_forward=True)
PREVIEW_STEPS, PREVIEW_SEED = 2, 42
# low 16:9 (512x288), 9 frames: the smallest preview the wire allows
BASE_INPUT = dict(
    training_data_url="upload://clips.zip",
    validation_resolution=common_pb2.RESOLUTION_LOW,
    validation_aspect_ratio=common_pb2.ASPECT_RATIO_16_9,
    validation_number_of_frames=9,
)


def _input(**fields) -> training_service_pb2.TrainingInput:
    message = training_service_pb2.TrainingInput(**{**BASE_INPUT, **fields})
    message.validation.add(prompt=PROMPT)
    return message


@dataclass(frozen=True)
class Previewer:
    """A job's validation previews with the trainer's live transformer, from a wire input."""

    renderer: PreviewRenderer
    text_states: Callable[[str], PromptStates]

    def previews(self, folder: Path, **fields) -> tuple[JobPreviews, list[ValidationPreview]]:
        settings = resolve(_input(**fields))
        recorded: list[ValidationPreview] = []
        previews = JobPreviews(
            self.renderer,
            preview_requests(settings, PREVIEW_STEPS, PREVIEW_SEED),
            encode_prompts(settings, self.text_states),  # type: ignore[arg-type]  # None only without prompts
            total_steps=CONFIG.steps,
            output_dir=folder,
            with_audio=True,
            record=recorded.append,
            warn=lambda warning: pytest.fail(f"preview failed: {warning}"),
        )
        return previews, recorded

    def last_preview(self, folder: Path, **fields) -> Path:
        """The last step's preview mp4 with `fields` set on the job's input."""
        previews, recorded = self.previews(folder, **fields)
        previews.after_step(CONFIG.steps)
        assert [p.step for p in recorded] == [CONFIG.steps]
        return preview_file(folder, CONFIG.steps, 0)


@dataclass(frozen=True)
class Job:
    previewer: Previewer
    preview: ValidationPreview  # rendered at the last training step, by the run itself
    preview_path: Path
    lora: Path  # exported as the job's export phase writes it on the CPU


def _train(folder: Path, model, placement, video_encoder, caption_encoder, make_clip) -> Job:
    """A 4-step job on `model` with a preview at its last step, and its LoRA exported."""
    clip = make_clip(9, 64, 64, base=(0.0, 0.8, 0.9), accent=(0.7, 0.0, 0.2), direction=-1)
    sample = TrainingSample("cyan", video_encoder.encode(clip, 24.0), caption_encoder.encode(PROMPT))
    trainer = LoraTrainer(model.path, placement, CONFIG)
    previewer = Previewer(PreviewRenderer(model.path, placement, trainer.transformer), caption_encoder.text_states)
    previews, recorded = previewer.previews(folder)
    assert trainer.train([sample], on_step=lambda report: previews.after_step(report.step)) == CONFIG.steps
    assert recorded[-1].step == CONFIG.steps
    save_dtype = torch.float32  # what the export phase writes on the CPU
    metadata = LoraMetadata("zqx", CONFIG.rank, CONFIG.lora_alpha, model.name, CONFIG.steps, "t2v", True, model.version)
    lora = write_lora(folder / "lora.safetensors", trainer.lora_state_dict(), metadata, save_dtype)
    return Job(previewer, recorded[-1], preview_file(folder, CONFIG.steps, 0), lora)


@pytest.fixture(scope="module")
def job(tmp_path_factory, tiny_model, placement, video_encoder, caption_encoder, make_clip) -> Job:
    return _train(tmp_path_factory.mktemp("job"), tiny_model, placement, video_encoder, caption_encoder, make_clip)


def _decoded(path: Path) -> tuple[np.ndarray, Fraction]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = np.stack([frame.to_ndarray(format="rgb24") for frame in container.decode(stream)])
        rate = stream.average_rate
    assert rate is not None
    return frames, Fraction(rate)


def _assert_preview_equals_generation(tmp_path: Path, job: Job, model, placement) -> None:
    request = GenerationRequest(
        prompt=PROMPT,
        seed=PREVIEW_SEED,
        num_frames=9,
        frame_rate=24,
        width=512,
        height=288,
        steps=PREVIEW_STEPS,
        stg_scale=1.0,
        lora_path=job.lora,
    )
    # What GenerationService._run does with a job's LoRA: generate, then write the mp4.
    generator = Generator(model, placement)
    video = generator.generate(request)
    generated = write_mp4(tmp_path / "video.mp4", video.frames, video.frame_rate, video.audio, video.sample_rate)

    preview = job.preview_path
    preview_frames, _ = _decoded(preview)
    generated_frames, _ = _decoded(generated)
    assert preview_frames.shape == (9, 288, 512, 3)
    assert np.array_equal(preview_frames, generated_frames)
    assert preview.read_bytes() == generated.read_bytes()  # same frames and sound, same encoder: same file
    assert job.preview.seed == request.seed
    # and the LoRA is at work in both: without it the same request gives another video
    base = generator.generate(replace(request, lora_scale=0.0))
    assert np.abs(base.frames.astype(int) - generated_frames.astype(int)).mean() > 1


@pytest.mark.integration  # trains 4 steps and renders 2 previews + 1 generation at 512x288: ~10 s
def test_the_last_steps_preview_equals_generate_video_with_the_jobs_lora(tmp_path, job, tiny_model, placement):
    _assert_preview_equals_generation(tmp_path, job, tiny_model, placement)


@pytest.mark.integration  # the same on LTX-2.5, whose previews and generations decode with its diffusion decoder
def test_on_ltx25_too_the_last_steps_preview_equals_generate_video(tmp_path, tiny_model_25, placement, make_clip):
    video_encoder, caption_encoder = (
        VideoEncoder(tiny_model_25.path, placement),
        CaptionEncoder(tiny_model_25.path, placement),
    )
    (tmp_path / "job").mkdir()
    try:
        job = _train(tmp_path / "job", tiny_model_25, placement, video_encoder, caption_encoder, make_clip)
    finally:
        video_encoder.close()
        caption_encoder.close()
    _assert_preview_equals_generation(tmp_path, job, tiny_model_25, placement)


@pytest.mark.integration
def test_a_validation_negative_prompt_changes_the_preview(tmp_path, job):
    default, _ = _decoded(job.preview_path)
    negative, _ = _decoded(job.previewer.last_preview(tmp_path, validation_negative_prompt="zqx cyan stripes, static"))
    assert negative.shape == default.shape and not np.array_equal(negative, default)


@pytest.mark.integration
def test_an_stg_scale_changes_the_preview_and_zero_turns_it_off(tmp_path, job):
    default, _ = _decoded(job.preview_path)  # stg_scale 1.0, the default
    off, _ = _decoded(job.previewer.last_preview(tmp_path / "off", stg_scale=0.0))
    strong, _ = _decoded(job.previewer.last_preview(tmp_path / "strong", stg_scale=3.0))
    assert not np.array_equal(off, default) and not np.array_equal(strong, default)
    assert not np.array_equal(off, strong)


@pytest.mark.integration
def test_the_validation_frame_rate_and_frame_count_show_in_the_preview_file(tmp_path, job):
    path = job.previewer.last_preview(
        tmp_path, validation_frame_rate=12, validation_number_of_frames=20
    )  # snapped to 17
    frames, rate = _decoded(path)
    assert rate == 12 and frames.shape[0] == 17
    with av.open(str(path)) as container:
        video, sound = container.streams.video[0], container.streams.audio[0]
        assert video.duration is not None and sound.duration is not None
        assert float(video.duration * video.time_base) == pytest.approx(17 / 12)
        assert float(sound.duration * sound.time_base) == pytest.approx(17 / 12, abs=0.03)


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"stg_scale": 3.01}, "stg_scale"),
        ({"stg_scale": -0.5}, "stg_scale"),
        ({"validation_frame_rate": 7}, "validation_frame_rate"),
        ({"validation_frame_rate": 61}, "validation_frame_rate"),
        ({"validation_number_of_frames": 122}, "validation_number_of_frames"),
    ],
)
def test_validation_settings_out_of_range_are_invalid_arguments_naming_the_field(fields, field):
    with pytest.raises(InvalidRequest) as caught:
        resolve(_input(**fields))
    assert caught.value.code.name == "INVALID_ARGUMENT"
    assert [v.field for v in caught.value.violations] == [field]


def test_a_validation_negative_prompt_over_its_maximum_is_named():
    assert length_violations(_input(validation_negative_prompt="x" * PROMPT_CHARS)) == []
    [violation] = length_violations(_input(validation_negative_prompt="x" * (PROMPT_CHARS + 1)))
    assert violation.field == "validation_negative_prompt"
