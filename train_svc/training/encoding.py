"""Turning samples into what the transformer trains on: packed video latents and caption embeddings.

Both encoders are built from the base model's own LTX2Pipeline (loaded without the transformer), so
captions go through exactly the tokenizer / Gemma / connector path that inference uses, and pixels
through the pipeline's VAE normalisation and token packing.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from train_svc.models.device import Placement, release

MAX_TEXT_TOKENS = 1024  # prompts are cut to this many tokens, in training and in generation alike
# LTX2Pipeline's optional parts that nothing here runs, never loaded: LTX-2.5's duration head (every request
# gives its frame count) and, where a folder ships them, the prompt enhancer (a Gemma 4 of its own) and its
# processor.
UNUSED_OPTIONAL_PARTS = dict.fromkeys(("duration_head", "prompt_enhancer", "processor"))


@dataclass(frozen=True)
class CaptionEmbedding:
    video: torch.Tensor  # [1, S, video_cross_attention_dim]
    audio: torch.Tensor  # [1, S, audio_cross_attention_dim]
    mask: torch.Tensor  # [1, S]


@dataclass(frozen=True)
class PromptStates:
    """Gemma 3's hidden states of a prompt (every layer, packed) and its attention mask, before the connectors."""

    embeds: torch.Tensor  # [1, S, hidden * (layers + 1)]
    mask: torch.Tensor  # [1, S]

    def to(self, device: torch.device | str) -> PromptStates:
        return PromptStates(self.embeds.to(device), self.mask.to(device))


@dataclass(frozen=True)
class VideoLatents:
    tokens: torch.Tensor  # [1, F'*H'*W', C] normalised and packed
    frames: int  # latent frames F'
    height: int  # latent height H'
    width: int  # latent width W'
    fps: float

    @property
    def num_tokens(self) -> int:
        return int(self.tokens.shape[1])


def _text_pipeline(model_path: Path, placement: Placement):
    """The base model's pipeline with only its text parts loaded."""
    from diffusers import LTX2Pipeline

    unused = ("transformer", "vae", "audio_vae", "vocoder", "scheduler")
    return LTX2Pipeline.from_pretrained(
        model_path, dtype=placement.base_dtype, local_files_only=True, **dict.fromkeys(unused), **UNUSED_OPTIONAL_PARTS
    )


@torch.no_grad()
def prompt_states(pipe, text: str, max_sequence_length: int, device: torch.device) -> PromptStates:
    """Gemma's hidden states for `text` from an LTX2Pipeline with a text encoder, the way it encodes a prompt
    (and, separately, a negative prompt) itself: training, previews and generation all take their text so."""
    embeds, mask, _, _ = pipe.encode_prompt(
        text, do_classifier_free_guidance=False, max_sequence_length=max_sequence_length, device=device
    )
    return PromptStates(embeds=embeds, mask=mask)


class CaptionEncoder:
    """Gemma 3 + text connectors, frozen. Connector outputs are what the transformer attends to."""

    def __init__(self, model_path: Path, placement: Placement):
        self._placement = placement
        self._pipe = _text_pipeline(model_path, placement)
        self._pipe.text_encoder.to(placement.device).eval().requires_grad_(False)
        self._pipe.connectors.to(placement.device).eval().requires_grad_(False)
        self.max_sequence_length = min(int(self._pipe.tokenizer.model_max_length), MAX_TEXT_TOKENS)

    def text_states(self, text: str) -> PromptStates:
        """Gemma's hidden states for `text`, before the connectors: what LTX2Pipeline takes as prompt_embeds."""
        return prompt_states(self._pipe, text, self.max_sequence_length, self._placement.device)

    @torch.no_grad()
    def encode(self, caption: str) -> CaptionEmbedding:
        pipe = self._pipe
        states = self.text_states(caption)
        video, audio, connector_mask = pipe.connectors(
            states.embeds, states.mask, padding_side=pipe.tokenizer.padding_side
        )
        return CaptionEmbedding(
            video=video.to(torch.float32).cpu(),
            audio=audio.to(torch.float32).cpu(),
            mask=connector_mask.cpu(),
        )

    def close(self) -> None:
        release(self._pipe.text_encoder, self._pipe.connectors)
        self._pipe = None


class VideoEncoder:
    """The video VAE encoder: uint8 frames at the bucket size -> normalised packed latent tokens."""

    def __init__(self, model_path: Path, placement: Placement):
        from diffusers import AutoencoderKLLTX2Video

        self._placement = placement
        self._vae = AutoencoderKLLTX2Video.from_pretrained(
            model_path, subfolder="vae", dtype=placement.base_dtype, local_files_only=True
        )
        self._vae.to(placement.device).eval().requires_grad_(False)
        self.spatial_ratio = int(self._vae.spatial_compression_ratio)
        self.temporal_ratio = int(self._vae.temporal_compression_ratio)

    @torch.no_grad()
    def encode(self, frames: np.ndarray, fps: float) -> VideoLatents:
        from diffusers import LTX2Pipeline

        count, height, width, _ = frames.shape
        if (count - 1) % self.temporal_ratio or height % self.spatial_ratio or width % self.spatial_ratio:
            raise ValueError(
                f"frames {count}x{height}x{width} do not fit the VAE grid: frames must be "
                f"{self.temporal_ratio}k+1 and sides multiples of {self.spatial_ratio}"
            )
        pixels = torch.from_numpy(frames).permute(3, 0, 1, 2).unsqueeze(0)  # [1, 3, F, H, W]
        pixels = pixels.to(self._placement.device, self._placement.base_dtype) / 127.5 - 1.0
        latents = self._vae.encode(pixels).latent_dist.mode()
        latents = LTX2Pipeline._normalize_latents(
            latents.float(),
            self._vae.latents_mean,
            self._vae.latents_std,
            self._vae.config.scaling_factor,
        )
        _, _, lf, lh, lw = latents.shape
        tokens = LTX2Pipeline._pack_latents(latents)
        return VideoLatents(tokens=tokens.cpu(), frames=lf, height=lh, width=lw, fps=float(fps))

    def close(self) -> None:
        release(self._vae)
        self._vae = None
