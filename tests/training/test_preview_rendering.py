"""Previews are rendered with the transformer as trained so far and leave training exactly as it was."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from train_svc.generation.request import GenerationRequest
from train_svc.training.config import TrainConfig
from train_svc.training.trainer import LoraTrainer, StepReport, TrainingSample
from train_svc.validation.previews import PREVIEW_FAILED, JobPreviews
from train_svc.validation.renderer import EncodedPrompts, PreviewRenderer

FPS = 24.0
CAPTION = "zqx cyan stripes drifting left"
CONFIG = TrainConfig(rank=8, learning_rate=5e-3, steps=4, seed=5, feed_forward=True, gradient_checkpointing=True)
REQUEST = GenerationRequest(prompt=CAPTION, seed=11, num_frames=9, width=64, height=64, steps=2)


def _sample(video_encoder, caption_encoder, make_clip) -> TrainingSample:
    clip = make_clip(9, 64, 64, base=(0.0, 0.8, 0.9), accent=(0.7, 0.0, 0.2), direction=-1)
    return TrainingSample("cyan", video_encoder.encode(clip, FPS), caption_encoder.encode(CAPTION))


@pytest.mark.integration  # two 4-step trainings and six full preview renders: ~3-4 s
def test_a_run_with_previews_trains_exactly_the_same_lora(
    tiny_model, placement, video_encoder, caption_encoder, make_clip
):
    sample = _sample(video_encoder, caption_encoder, make_clip)
    prompts = EncodedPrompts((caption_encoder.text_states(CAPTION),), caption_encoder.text_states("blurry"))

    plain = LoraTrainer(tiny_model.path, placement, CONFIG)
    plain.train([sample])

    watched = LoraTrainer(tiny_model.path, placement, CONFIG)
    renderer = PreviewRenderer(tiny_model.path, placement, watched.transformer)
    before = renderer.render(REQUEST, prompts.prompts[0], prompts.negative)
    previews, modes = [], []

    def on_step(report: StepReport) -> None:
        previews.append(renderer.render(REQUEST, prompts.prompts[0], prompts.negative))
        modes.append(watched.transformer.training)

    assert watched.train([sample], on_step=on_step) == CONFIG.steps
    assert modes == [True] * CONFIG.steps  # train mode restored after each preview
    expected, got = plain.lora_state_dict(), watched.lora_state_dict()
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[key], got[key]) for key in expected)

    # A preview is the live LoRA at work: fixed seed, so only training changes it; same state, same video.
    assert previews[0].frames.shape == (9, 64, 64, 3) and previews[0].frames.dtype == np.uint8
    assert previews[-1].audio.shape[0] == 2 and previews[-1].sample_rate == renderer.sample_rate
    assert not np.array_equal(before.frames, previews[-1].frames)
    again = renderer.render(REQUEST, prompts.prompts[0], prompts.negative)
    assert np.array_equal(again.frames, previews[-1].frames)


def test_a_preview_that_fails_is_reported_and_training_goes_on(
    tmp_path, tiny_model, placement, video_encoder, caption_encoder, make_clip
):
    sample = _sample(video_encoder, caption_encoder, make_clip)
    prompts = EncodedPrompts((caption_encoder.text_states(CAPTION),), caption_encoder.text_states("blurry"))
    trainer = LoraTrainer(tiny_model.path, placement, CONFIG)
    blocked = tmp_path / "outputs"
    blocked.write_text("a file where the previews folder should be: every preview's mp4 write fails")
    recorded, warnings = [], []
    previews = JobPreviews(
        PreviewRenderer(tiny_model.path, placement, trainer.transformer),
        (REQUEST,),
        prompts,
        total_steps=CONFIG.steps,
        output_dir=blocked,
        with_audio=False,
        record=recorded.append,
        warn=warnings.append,
    )

    assert trainer.train([sample], on_step=lambda report: previews.after_step(report.step)) == CONFIG.steps

    assert recorded == []
    assert [(w.path, w.code) for w in warnings] == [("validation[0]", PREVIEW_FAILED)] * len(previews.schedule)
    assert "training goes on" in warnings[0].message
