"""The model an estimate is for, as configs built on the meta device: exact parameter and state bytes.

`ModelSpec.real()` is the real LTX-2.3 (the committed configs, train_svc/models/real_configs);
`ModelSpec.from_directory()` is any diffusers-format LTX-2 folder (one of the service's bases, or the tiny
preset the estimate is checked against); its text encoder is built as its LTX version's class.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import torch

from train_svc.models.real_size import COMPONENTS, build_on_meta, directory_config, real_config
from train_svc.models.version_profiles import profile_of
from train_svc.training.lora_targets import target_module_names

_BYTES = {"bf16": 2, "fp32": 4}
# torchao's weight-only layouts: one byte per weight and, per output row, a scale in the compute dtype and an
# int8 zero point (int8), or a float32 scale (fp8).
_ROW_BYTES = {"int8": lambda compute: compute + 1, "fp8": lambda compute: 4}


class ModelSpec:
    def __init__(self, name: str, configs: dict[str, dict[str, Any]], version: str = "2.3"):
        missing = sorted(set(COMPONENTS) - set(configs))
        if missing:
            raise ValueError(f"{name}: no config for {', '.join(missing)}")
        self.name = name
        self.configs = configs
        self.version = version  # the LTX version: which text encoder class its config is for

    @classmethod
    def real(cls, version: str = "2.3") -> ModelSpec:
        return cls(f"LTX-{version}", {component: real_config(component, version) for component in COMPONENTS})

    @classmethod
    def from_directory(cls, path: Path, name: str | None = None, version: str = "2.3") -> ModelSpec:
        """The folder's components, and its diffusion decoder where its version decodes with one and the
        folder has it (as the preview renderer and the generator load it: video_decoding.load_video_decoder)."""
        configs = {component: directory_config(path, component) for component in COMPONENTS}
        decoder = profile_of(version).video_decoder
        if decoder != "vae" and (path / decoder / "config.json").is_file():
            configs[decoder] = directory_config(path, decoder)
        return cls(name or str(path), configs, version)

    @property
    def preview_helpers(self) -> tuple[str, ...]:
        """The components on the device while a preview renders, beside the transformer."""
        decoder = ("diffusion_decoder",) if "diffusion_decoder" in self.configs else ()
        return ("connectors", "vae", "audio_vae", "vocoder") + decoder

    @functools.cached_property
    def transformer(self) -> torch.nn.Module:
        return build_on_meta("transformer", self.configs["transformer"])

    @functools.cache  # noqa: B019  (one spec per model, kept for the process)
    def parameters(self, component: str) -> int:
        if component == "transformer":
            module = self.transformer
        elif component == "text_encoder":
            module = self._text_encoder()
        else:
            module = build_on_meta(component, self.configs[component])
        return sum(p.numel() for p in module.parameters())

    def _text_encoder(self) -> torch.nn.Module:
        """The text encoder on the meta device, as its version's transformers class (Gemma 3 or Gemma 4)."""
        import transformers

        model_class = profile_of(self.version).text_encoder_class
        config_class = getattr(transformers, model_class.replace("ForConditionalGeneration", "Config"))
        with torch.device("meta"):
            module: torch.nn.Module = getattr(transformers, model_class)(config_class(**self.configs["text_encoder"]))
        return module

    @functools.cached_property
    def compression(self) -> tuple[int, int]:
        """(temporal, spatial) compression of the video VAE."""
        vae: Any = build_on_meta("vae", self.configs["vae"])
        return int(vae.temporal_compression_ratio), int(vae.spatial_compression_ratio)

    @property
    def block_list(self) -> torch.nn.ModuleList:
        blocks = self.transformer.get_submodule("transformer_blocks")
        assert isinstance(blocks, torch.nn.ModuleList)
        return blocks

    @property
    def blocks(self) -> int:
        return len(self.block_list)

    @functools.cache  # noqa: B019  (asked for again by every GPU and suggestion of an estimate)
    def base_bytes(self, base_weights: str, compute: str) -> tuple[int, int]:
        """(bytes of the frozen transformer, bytes of its largest block) stored as `base_weights` (bf16, fp32,
        int8, fp8) with the unquantized rest in `compute` (bf16, fp32)."""
        block_bytes = [_module_bytes(block, base_weights, compute) for block in self.block_list]
        outside = sum(
            p.numel() * _BYTES[compute]
            for name, p in self.transformer.named_parameters()
            if not name.startswith("transformer_blocks.")
        )
        return outside + sum(block_bytes), max(block_bytes)

    @functools.cache  # noqa: B019
    def lora_parameters(self, rank: int, *, audio: bool, feed_forward: bool) -> int:
        names = target_module_names(self.transformer, audio=audio, feed_forward=feed_forward)
        modules: list[Any] = [self.transformer.get_submodule(name) for name in names]
        return sum(rank * (module.in_features + module.out_features) for module in modules)


def _module_bytes(block: torch.nn.Module, base_weights: str, compute: str) -> int:
    total = 0
    for module in block.modules():
        for name, param in module.named_parameters(recurse=False):
            if base_weights in _ROW_BYTES and isinstance(module, torch.nn.Linear) and name == "weight":
                total += param.numel() + param.shape[0] * _ROW_BYTES[base_weights](_BYTES[compute])
            else:
                total += param.numel() * _BYTES[compute if base_weights in _ROW_BYTES else base_weights]
    return total
