"""Text-to-video+audio generation with LTX2Pipeline, optionally through an exported LoRA.

The pipeline is loaded once per Generator (GenerationService drops it after --pipeline-idle-seconds
without a generation); each `generate` call may name a different LoRA file (loaded under one adapter
name, replaced when the file changes) and scale.

`sample` is the one pipeline call: GenerateVideo and the validation previews (train_svc.validation.renderer)
both run it, with the text given as Gemma states (`prompt_states`) in both, so a preview at a step is exactly
what GenerateVideo gives with the LoRA of that step. Guidance is passed to the pipeline explicitly for both
modalities, because it reads `audio_x = audio_x or x`: an audio value of 0 silently becomes the video value.
STG is aimed at a block the loaded transformer has; the pipeline's default block 28 does not exist in a small
model and would be a silent no-op that still costs a transformer pass per step. What differs between LTX
versions (the STG block, modality guidance and rescale, the video decoder) comes from the base's profile
(train_svc.models.version_profiles); video_decoding decodes LTX-2.5 with its diffusion decoder.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sized
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import structlog
import torch

from train_svc.generation.lora_check import LoraVersionMismatch, check_lora_file, fitting_state, version_fit
from train_svc.generation.request import GenerationRequest
from train_svc.generation.video_decoding import decode_latents, load_video_decoder
from train_svc.lora_tools.version_fit import LoraFit
from train_svc.models.base_model import BaseModel
from train_svc.models.device import Placement, release
from train_svc.models.version_profiles import GuidanceDefaults, VersionProfile
from train_svc.training.encoding import MAX_TEXT_TOKENS, UNUSED_OPTIONAL_PARTS, PromptStates, prompt_states

log = structlog.get_logger(__name__)

ADAPTER_NAME = "generate"

ProgressCallback = Callable[[int, int], None]  # (steps done, total steps)


@dataclass(frozen=True)
class GeneratedVideo:
    frames: np.ndarray  # uint8 [F, H, W, 3]
    audio: np.ndarray  # float32 [channels, samples], nominally in [-1, 1]
    sample_rate: int  # of `audio`, from the vocoder's config
    frame_rate: int
    lora_fit: LoraFit | None = None  # set when the LoRA was made for another LTX version than the base's

    @property
    def duration_s(self) -> float:
        return self.frames.shape[0] / self.frame_rate


def stg_blocks(transformer: torch.nn.Module, profile: VersionProfile) -> list[int]:
    """The version's STG block (28) on a full-depth transformer; the last block on a shallower one."""
    blocks = transformer.transformer_blocks
    if not isinstance(blocks, Sized):
        raise TypeError(f"the transformer's blocks are not a list of layers (got {type(blocks).__name__})")
    depth = len(blocks)
    block = profile.guidance.stg_block
    return [block] if depth > block else [depth - 1]


def sample(
    pipe: Any,
    request: GenerationRequest,
    prompt: PromptStates,
    negative: PromptStates,
    *,
    blocks: list[int],
    guidance: GuidanceDefaults,
    sample_rate: int,
    device: torch.device,
    decoder: torch.nn.Module | None = None,
    on_step: ProgressCallback | None = None,
) -> GeneratedVideo:
    """The one LTX2Pipeline call behind both GenerateVideo and the validation previews: `request`'s size,
    length, steps, seed, guidance and STG (aimed at `blocks`, see `stg_blocks`), its text given as Gemma states
    (`prompt_states`), decoded to uint8 frames and float audio at `sample_rate`. The callers differ only in
    `pipe`'s transformer (the base with an exported LoRA loaded, or the trainer's own with its live adapter)
    and in where the video goes. `guidance` gives the version's modality guidance and rescale; with a
    `decoder` (LTX-2.5's diffusion decoder) the pipeline stops at the latents and the decoder makes the frames.
    `on_step(done, total)` runs after every denoising step; what it raises stops the sampling."""

    def step_done(pipe, index: int, timestep, tensors: dict) -> dict:
        if on_step is not None:
            on_step(index + 1, request.steps)
        return {}

    # Every audio_* value is explicit and is 0 only when its video value is 0 too (STG off), so the
    # pipeline's `audio_x or x` fallback never swaps in a value nobody asked for.
    generator = torch.Generator().manual_seed(request.seed)
    with torch.no_grad():
        output = pipe(
            prompt_embeds=prompt.embeds.to(device),
            prompt_attention_mask=prompt.mask.to(device),
            negative_prompt_embeds=negative.embeds.to(device),
            negative_prompt_attention_mask=negative.mask.to(device),
            width=request.width,
            height=request.height,
            num_frames=request.num_frames,
            frame_rate=float(request.frame_rate),
            num_inference_steps=request.steps,
            generator=generator,
            output_type="np" if decoder is None else "latent",
            guidance_scale=request.guidance_scale,
            audio_guidance_scale=request.audio_guidance_scale,
            stg_scale=request.stg_scale,
            audio_stg_scale=request.stg_scale,
            spatio_temporal_guidance_blocks=blocks if request.stg_scale > 0 else None,
            modality_scale=guidance.modality_scale,
            audio_modality_scale=guidance.modality_scale,
            guidance_rescale=guidance.guidance_rescale,
            audio_guidance_rescale=guidance.guidance_rescale,
            callback_on_step_end=step_done,
            callback_on_step_end_tensor_inputs=[],
        )
        if decoder is None:
            pixels, waveform = output.frames[0], output.audio[0]
        else:
            pixels, waveform = decode_latents(pipe, decoder, output.frames, output.audio, generator)
    frames = np.rint(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8)
    audio = waveform.float().cpu().numpy()
    return GeneratedVideo(frames=frames, audio=audio, sample_rate=sample_rate, frame_rate=request.frame_rate)


def pipeline_bytes(pipe: Any, *extra: torch.nn.Module | None) -> int:
    """Bytes of the parameters and buffers of a pipeline's modules and of `extra` modules (their weights as
    loaded, in their dtype)."""
    total = 0
    for component in [*pipe.components.values(), *extra]:
        if isinstance(component, torch.nn.Module):
            tensors = [*component.parameters(), *component.buffers()]
            total += sum(tensor.numel() * tensor.element_size() for tensor in tensors)
    return total


@dataclass(frozen=True)
class _LoadedLora:
    path: Path
    mtime_ns: int
    size: int
    fit: LoraFit | None = field(default=None, compare=False)  # its version and modules against the base

    @classmethod
    def of(cls, path: Path) -> _LoadedLora:
        stat = path.stat()
        return cls(path, stat.st_mtime_ns, stat.st_size)


class Generator:
    def __init__(self, base_model: BaseModel, placement: Placement):
        from diffusers import LTX2Pipeline

        started = time.perf_counter()
        self.base_model = base_model
        self.placement = placement
        # Kept in host memory between generations (see _on_device).
        self._pipe = LTX2Pipeline.from_pretrained(
            base_model.path, dtype=placement.base_dtype, local_files_only=True, **UNUSED_OPTIONAL_PARTS
        )
        self._pipe.set_progress_bar_config(disable=True)
        self._decoder = load_video_decoder(base_model.path, base_model.profile, placement.base_dtype)
        self._lora: _LoadedLora | None = None
        self.sample_rate = int(self._pipe.vocoder.config.output_sampling_rate)
        self.max_sequence_length = min(int(self._pipe.tokenizer.model_max_length), MAX_TEXT_TOKENS)
        self.stg_blocks = stg_blocks(self._pipe.transformer, base_model.profile)
        self.parameter_bytes = pipeline_bytes(self._pipe, self._decoder)
        log.info(
            "generation pipeline loaded",
            base_model=base_model.name,
            ltx_version=base_model.version,
            video_decoder="diffusion decoder" if self._decoder is not None else "vae",
            device=str(placement.device),
            dtype=str(placement.base_dtype),
            stg_blocks=self.stg_blocks,
            sample_rate=self.sample_rate,
            parameter_bytes=self.parameter_bytes,
            seconds=round(time.perf_counter() - started, 2),
        )

    @contextmanager
    def _on_device(self) -> Iterator[None]:
        """The pipeline on the accelerator for one generation, then back in host memory: a training job
        that takes the accelerator slot next must find the device free (the full pipeline alone is
        ~60 GB in bf16). On the CPU this moves nothing."""
        self._pipe.to(self.placement.device)
        if self._decoder is not None:
            self._decoder.to(self.placement.device)
        try:
            yield
        finally:
            if self.placement.device.type != "cpu":
                self._pipe.to("cpu")
                if self._decoder is not None:
                    self._decoder.to("cpu")
                release()

    def _use_lora(self, path: Path | None, scale: float, allow_version_mismatch: bool) -> LoraFit | None:
        """Make `path` (or no LoRA) the active adapter, at `scale`. Raises LoraFileError for a bad file and
        LoraVersionMismatch for a LoRA made for another LTX version than the base's, unless
        `allow_version_mismatch`: then only its modules that fit are loaded, and how it fitted is returned."""
        wanted = _LoadedLora.of(path) if path is not None and path.is_file() else None
        if self._lora is not None and self._lora != wanted:
            self._pipe.unload_lora_weights()
            self._lora = None
            log.info("lora unloaded")
        if path is None:
            return None
        fit = self._lora.fit if self._lora is not None else None
        if fit is None:
            fit = version_fit(path, self._pipe.transformer, self.base_model.version)
        if fit.mismatched and not allow_version_mismatch:
            raise LoraVersionMismatch(fit, path)
        if self._lora is None:
            if fit.mismatched:
                self._pipe.load_lora_weights(fitting_state(path, fit), adapter_name=ADAPTER_NAME)
                layers = len(fit.loaded)
            else:
                layers = check_lora_file(path, self._pipe.transformer)
                self._pipe.load_lora_weights(str(path), adapter_name=ADAPTER_NAME)
            self._lora = replace(_LoadedLora.of(path), fit=fit)
            log.info(
                "lora loaded",
                path=str(path),
                layers=layers,
                lora_version=fit.lora_version or None,
                skipped_modules=len(fit.skipped) if fit.mismatched else None,
            )
        self._pipe.set_adapters([ADAPTER_NAME], adapter_weights=[scale])
        return fit if fit.mismatched else None

    def generate(self, request: GenerationRequest, on_step: ProgressCallback | None = None) -> GeneratedVideo:
        fit = self._use_lora(request.lora_path, request.lora_scale, request.allow_version_mismatch)
        started = time.perf_counter()
        device = self.placement.device
        with self._on_device():
            prompt, negative = (
                prompt_states(self._pipe, text, self.max_sequence_length, device)
                for text in (request.prompt, request.negative_prompt)
            )
            video = sample(
                self._pipe,
                request,
                prompt,
                negative,
                blocks=self.stg_blocks,
                guidance=self.base_model.profile.guidance,
                sample_rate=self.sample_rate,
                device=device,
                decoder=self._decoder,
                on_step=on_step,
            )
        frames, audio = video.frames, video.audio
        log.info(
            "video generated",
            frames=int(frames.shape[0]),
            size=f"{frames.shape[2]}x{frames.shape[1]}",
            audio_samples=int(audio.shape[-1]),
            lora=str(request.lora_path) if request.lora_path else None,
            lora_scale=request.lora_scale,
            seconds=round(time.perf_counter() - started, 2),
        )
        return replace(video, lora_fit=fit)
