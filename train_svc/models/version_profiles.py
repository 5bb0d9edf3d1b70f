"""Everything that differs between the LTX versions this service trains and generates with, one profile each.

Code that depends on the version asks the base model's profile (`profile_of(version)`) rather than testing
the version itself. Telling a folder's version apart (train_svc.models.versions) reads the transformer flags
and the text-encoder class from here too.

What the two versions share, and so is not in a profile: the prompt path (`LTX2Pipeline.encode_prompt` with
no chat template, then the same `LTX2TextConnectors`), the video and audio VAEs and their latent packing,
the vocoder, the scheduler and the LoRA target modules (the attention and feed-forward names are the same).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal

LtxVersion = Literal["2.3", "2.5"]
VideoDecoder = Literal["vae", "diffusion_decoder"]


@dataclass(frozen=True)
class GuidanceDefaults:
    """A version's recommended sampling settings (diffusers' guider defaults for it)."""

    guidance_scale: float  # video classifier-free guidance
    audio_guidance_scale: float
    stg_scale: float  # spatio-temporal guidance, both streams
    stg_block: int  # the block STG perturbs on the full-depth transformer
    modality_scale: float  # modality-isolation guidance, both streams
    guidance_rescale: float  # both streams


@dataclass(frozen=True)
class VersionProfile:
    version: LtxVersion
    # The architecture flags of LTX2VideoTransformer3DModel that identify the version (all of them listed).
    transformer_flags: Mapping[str, Any]
    text_encoder_class: str  # the transformers class of its text encoder
    guidance: GuidanceDefaults
    # How generation turns latents into frames: the convolutional VAE, or the diffusion decoder (a folder
    # `diffusion_decoder/` beside the pipeline's; a base without one decodes with its VAE).
    video_decoder: VideoDecoder


_GUIDANCE = GuidanceDefaults(
    guidance_scale=3.0,
    audio_guidance_scale=7.0,
    stg_scale=1.0,
    stg_block=28,
    modality_scale=3.0,
    guidance_rescale=0.7,
)
_SHARED_FLAGS: dict[str, Any] = {
    "gated_attn": True,
    "cross_attn_mod": True,
    "perturbed_attn": True,
    "rope_type": "split",
    "use_prompt_embeddings": False,
}

LTX_23 = VersionProfile(
    version="2.3",
    transformer_flags=MappingProxyType(
        {**_SHARED_FLAGS, "ff_bias": True, "use_prompt_adaln_single": True, "use_keyframes_abs_pos_embedding": False}
    ),
    text_encoder_class="Gemma3ForConditionalGeneration",
    guidance=_GUIDANCE,
    video_decoder="vae",
)
# LTX-2.5: Gemma 4, no bias in the video feed-forward, a fixed per-layer prompt modulation table instead
# of a timestep-dependent one, keyframe positions, and the diffusion decoder as its native video decoder.
LTX_25 = VersionProfile(
    version="2.5",
    transformer_flags=MappingProxyType(
        {**_SHARED_FLAGS, "ff_bias": False, "use_prompt_adaln_single": False, "use_keyframes_abs_pos_embedding": True}
    ),
    text_encoder_class="Gemma4UnifiedForConditionalGeneration",
    guidance=_GUIDANCE,
    video_decoder="diffusion_decoder",
)
PROFILES: Mapping[LtxVersion, VersionProfile] = MappingProxyType({"2.3": LTX_23, "2.5": LTX_25})


def profile_of(version: str) -> VersionProfile:
    """The profile of `version` ("2.3" or "2.5"); KeyError names the known ones."""
    try:
        return PROFILES[version]  # type: ignore[index]
    except KeyError:
        raise KeyError(f"LTX-{version} is not a known version (known: {', '.join(PROFILES)})") from None
