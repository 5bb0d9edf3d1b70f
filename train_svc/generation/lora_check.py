"""Does a LoRA file fit the loaded transformer? Checked before loading, because diffusers does not say.

`LTX2Pipeline.load_lora_weights` silently skips keys that name no layer of the model (a LoRA for another
depth or another model loads "fine" and changes nothing, or only part of what it should). Every key must
name a Linear layer of the transformer, with A/B shapes that fit its input and output sizes.
"""

from __future__ import annotations

from pathlib import Path

from safetensors import SafetensorError, safe_open
from torch import nn

from train_svc.lora_tools.keys import parse_key

_SHOWN = 3


class LoraFileError(Exception):
    """The LoRA file is missing, unreadable, or does not fit the base model."""


def _split(key: str) -> tuple[str, str] | None:
    """(module name, "A" or "B") for a LoRA weight key, or None when the key is not one (kohya `.alpha` keys
    do not load with diffusers, so they count as foreign here)."""
    parsed = parse_key(key)
    if parsed is None or parsed.part == "alpha":
        return None
    return parsed.module, parsed.part


def _listed(items: list[str]) -> str:
    shown = ", ".join(items[:_SHOWN])
    return shown + (f" and {len(items) - _SHOWN} more" if len(items) > _SHOWN else "")


def check_lora_file(path: Path, transformer: nn.Module) -> int:
    """Raise LoraFileError unless every tensor of the file adapts a layer of `transformer`; return the layer count."""
    if not path.is_file():
        raise LoraFileError(f"LoRA file {path} does not exist")
    try:
        with safe_open(str(path), framework="pt") as fh:
            names = fh.keys()  # a safe_open handle is not iterable
            shapes = {key: tuple(fh.get_slice(key).get_shape()) for key in names}
    except (SafetensorError, OSError) as exc:
        raise LoraFileError(f"LoRA file {path} is not a readable safetensors file: {exc}") from exc
    linears = {name: m for name, m in transformer.named_modules() if isinstance(m, nn.Linear)}
    unknown, missing, misfit = [], [], []
    pairs: dict[str, dict[str, tuple[int, ...]]] = {}
    for key, shape in shapes.items():
        parsed = _split(key)
        if parsed is None:
            unknown.append(key)
            continue
        module, part = parsed
        if module not in linears:
            missing.append(key)
            continue
        pairs.setdefault(module, {})[part] = shape
    for module, parts in pairs.items():
        layer = linears[module]
        a, b = parts.get("A"), parts.get("B")
        if a is None or b is None:
            misfit.append(f"{module} (lacks lora_{'A' if a is None else 'B'})")
        elif len(a) != 2 or len(b) != 2 or a[1] != layer.in_features or b[0] != layer.out_features or a[0] != b[1]:
            misfit.append(f"{module} (A {list(a)}, B {list(b)} for a {layer.in_features}->{layer.out_features} layer)")
    problems = []
    if unknown:
        problems.append(f"keys that are not LoRA A/B weights: {_listed(unknown)}")
    if missing:
        problems.append(f"keys for layers this model does not have: {_listed(missing)}")
    if misfit:
        problems.append(f"weights that do not fit their layer: {_listed(misfit)}")
    if not problems and not pairs:
        problems.append("no LoRA weights at all")
    if problems:
        raise LoraFileError(f"LoRA file {path} does not match the base model: " + "; ".join(problems))
    return len(pairs)
