"""The real LTX-2.3 components, instantiated on the meta device: exact parameter counts with no weights.

The committed configs (`real_configs/ltx2.3/*.json`, no hub access needed) are each component's constructor
arguments, every argument written out, so a change of a library default cannot change the architecture:

- transformer, connectors, vae, audio_vae, vocoder: diffusers' `scripts/convert_ltx2_to_diffusers.py`, its
  `version == "2.3"` branches (huggingface/diffusers 58eb52c0, 2026-08-23), checked against the constructors
  of diffusers 0.42.1. Arguments the script leaves out are at their 0.42.1 defaults: the transformer's
  LTX-2.5 switches at their 2.3 values (`ff_bias`, `audio_ff_bias`, `use_prompt_adaln_single` True,
  `use_keyframes_abs_pos_embedding` False), the VAE's `timestep_conditioning` False (the script's default)
  and `scaling_factor` 1.0.
- text_encoder: Gemma 3 12B (`google/gemma-3-12b-it`, the architecture of the script's default
  `google/gemma-3-12b-it-qat-q4_0-unquantized`) as transformers 5.14.1 writes it: `Gemma3Config.to_diff_dict()`
  of the hub config, so `rope_scaling` / `rope_local_base_freq` appear as `rope_parameters` and the
  sliding-window pattern (5 local : 1 global) as `layer_types`.

The couplings of the tiny preset hold here too: caption channels 3840 == Gemma hidden size, text_proj_in_factor
49 == Gemma layers + 1, connector widths 4096 / 2048 == the transformer's cross-attention dims, audio VAE
base channels 128 == 8 latent channels * 64 mel bins / 4 == the transformer's audio in/out channels, vocoder
in_channels 128 == 2 * 64 mel bins.

Counts (diffusers 0.42.1, transformers 5.14.1): transformer 18,988,838,144 (48 blocks of 386,695,360 + 427,460,864);
connectors 3,172,227,584; vae 726,105,969; audio_vae 53,248,146; vocoder 128,537,448; text_encoder
12,187,325,040 (lm_head tied to the embedding, counted once). Parameters only: buffers (VAE latent statistics,
vocoder filters) are not counted.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import torch

REAL_CONFIG_DIR = Path(__file__).with_name("real_configs")
COMPONENTS = ("transformer", "connectors", "vae", "audio_vae", "vocoder", "text_encoder")


def available_versions() -> list[str]:
    """The versions with committed configs ("2.3" for `real_configs/ltx2.3`)."""
    return sorted(p.name.removeprefix("ltx") for p in REAL_CONFIG_DIR.glob("ltx*") if p.is_dir())


def real_config(component: str, version: str = "2.3") -> dict[str, Any]:
    """The committed constructor arguments (transformers config dict for the text encoder); a fresh copy."""
    if component not in COMPONENTS:
        raise ValueError(f"unknown component {component!r}; expected one of {', '.join(COMPONENTS)}")
    path = REAL_CONFIG_DIR / f"ltx{version}" / f"{component}.json"
    if not path.is_file():
        raise ValueError(f"no real config for LTX-{version}; available: {', '.join(available_versions()) or 'none'}")
    config: dict[str, Any] = json.loads(path.read_text())
    return config


def _diffusers_class(component: str) -> Any:
    if component == "transformer":
        from diffusers.models.transformers.transformer_ltx2 import LTX2VideoTransformer3DModel

        return LTX2VideoTransformer3DModel
    if component == "connectors":
        from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors

        return LTX2TextConnectors
    if component == "vae":
        from diffusers.models.autoencoders.autoencoder_kl_ltx2 import AutoencoderKLLTX2Video

        return AutoencoderKLLTX2Video
    if component == "audio_vae":
        from diffusers.models.autoencoders.autoencoder_kl_ltx2_audio import AutoencoderKLLTX2Audio

        return AutoencoderKLLTX2Audio
    if component == "diffusion_decoder":
        from diffusers import LTX2VideoDiffusionDecoderModel

        return LTX2VideoDiffusionDecoderModel
    from diffusers.pipelines.ltx2.vocoder import LTX2VocoderWithBWE

    return LTX2VocoderWithBWE


def meta_component(component: str, version: str = "2.3", **overrides: Any) -> torch.nn.Module:
    """Build `component` from its committed config on the meta device (no memory for weights, no init cost).

    `overrides` replace top-level config keys (e.g. `num_layers=1` to trace one transformer block); a key the
    config does not have is an error, so a misspelt override cannot be silently ignored (Gemma3Config would).
    """
    config = real_config(component, version)
    unknown = sorted(set(overrides) - set(config))
    if unknown:
        raise ValueError(f"{component} config has no key(s) {', '.join(unknown)}")
    config.update(overrides)
    return build_on_meta(component, config)


def build_on_meta(component: str, config: dict[str, Any]) -> torch.nn.Module:
    """`component` built from `config` (its constructor arguments) on the meta device."""
    with torch.device("meta"):
        if component == "text_encoder":
            from transformers import Gemma3Config, Gemma3ForConditionalGeneration

            return Gemma3ForConditionalGeneration(Gemma3Config(**config))
        module: torch.nn.Module = _diffusers_class(component)(**config)
        return module


def directory_config(model_dir: Path, component: str) -> dict[str, Any]:
    """A diffusers pipeline folder's config of `component` (its `<component>/config.json`), without the keys
    the libraries add about themselves (`_class_name`, `_diffusers_version`, ...)."""
    config: dict[str, Any] = json.loads((model_dir / component / "config.json").read_text())
    return {key: value for key, value in config.items() if not key.startswith("_")}


@functools.lru_cache(maxsize=64)  # 6 components per version
def parameter_count(component: str, version: str = "2.3") -> int:
    """Exact number of parameters of the real component (shared/tied tensors counted once)."""
    return sum(p.numel() for p in meta_component(component, version).parameters())
