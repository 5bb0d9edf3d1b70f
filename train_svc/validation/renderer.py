"""Rendering prompts with the transformer as trained so far, not a reload of the LoRA.

An LTX2Pipeline is assembled from the base model's VAE, audio VAE, vocoder, text connectors and
scheduler (and, for LTX-2.5, its diffusion decoder: see train_svc.generation.video_decoding) around the
trainer's own transformer, whose peft adapter is live. There is no text encoder:
it is freed once the dataset is encoded, so the prompts' Gemma states are computed before that
(`CaptionEncoder.text_states`), as GenerateVideo computes its own, and handed to the pipeline as
prompt_embeds; the pipeline runs the connectors itself. The pipeline call is generation's own
(`train_svc.generation.generator.sample`, STG at `stg_blocks`): a preview is exactly what GenerateVideo gives
with the LoRA of that step (tests/training/test_preview_equals_generation.py checks it frame for frame).

While rendering, the transformer is in eval mode under no_grad (gradient checkpointing only applies
with grad enabled) and the helper modules sit on the accelerator; afterwards they go back to the CPU
and the transformer to its previous mode. Noise comes from a fresh generator seeded per request, so
the trainer's generator is never touched and a run with previews trains the same LoRA as one without.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import structlog
import torch

from train_svc.generation.generator import GeneratedVideo, sample, stg_blocks
from train_svc.generation.request import GenerationRequest
from train_svc.generation.video_decoding import load_video_decoder, version_profile
from train_svc.models.device import Placement, release
from train_svc.training.encoding import UNUSED_OPTIONAL_PARTS, PromptStates

log = structlog.get_logger(__name__)


class RenderInterrupted(Exception):
    """The render was abandoned because its job is stopping."""


@dataclass(frozen=True)
class EncodedPrompts:
    """The validation prompts' and the negative prompt's Gemma states, on the CPU until a render needs them."""

    prompts: tuple[PromptStates, ...]
    negative: PromptStates


class PreviewRenderer:
    def __init__(self, model_path: Path, placement: Placement, transformer: torch.nn.Module):
        from diffusers import LTX2Pipeline

        started = time.perf_counter()
        self._placement = placement
        self._transformer = transformer
        self._pipe = LTX2Pipeline.from_pretrained(
            model_path,
            transformer=transformer,
            text_encoder=None,
            tokenizer=None,
            dtype=placement.base_dtype,
            local_files_only=True,
            **UNUSED_OPTIONAL_PARTS,
        )
        self._pipe.set_progress_bar_config(disable=True)
        self._profile = version_profile(model_path)
        self._decoder = load_video_decoder(model_path, self._profile, placement.base_dtype)
        helpers = (self._pipe.vae, self._pipe.audio_vae, self._pipe.vocoder, self._pipe.connectors, self._decoder)
        # on the device only while a preview renders (the estimate's "encoders" part)
        self.helpers = tuple(module for module in helpers if module is not None)
        for module in self.helpers:
            module.eval().requires_grad_(False)
        self.sample_rate = int(self._pipe.vocoder.config.output_sampling_rate)
        self.stg_blocks = stg_blocks(transformer, self._profile)
        log.info(
            "preview pipeline assembled",
            stg_blocks=self.stg_blocks,
            seconds=round(time.perf_counter() - started, 2),
        )

    @contextmanager
    def _rendering(self) -> Iterator[None]:
        was_training = self._transformer.training
        for module in self.helpers:
            module.to(self._placement.device)
        self._transformer.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            self._transformer.train(was_training)
            release(*self.helpers)

    def render(
        self,
        request: GenerationRequest,
        prompt: PromptStates,
        negative: PromptStates,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> GeneratedVideo:
        """One single-stage generation of `request` (its text given as Gemma states), seeded by request.seed;
        raises RenderInterrupted at the first denoising step after `should_stop()` turns true."""

        def check(done: int, total: int) -> None:
            if should_stop():
                raise RenderInterrupted()

        with self._rendering():
            return sample(
                self._pipe,
                request,
                prompt,
                negative,
                blocks=self.stg_blocks,
                guidance=self._profile.guidance,
                sample_rate=self.sample_rate,
                device=self._placement.device,
                decoder=self._decoder,
                on_step=check,
            )
