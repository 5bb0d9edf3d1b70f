"""A LoRA's LTX version against a base's, and which of the LoRA's modules fit that base.

A LoRA names the LTX version of the base it was trained on in its metadata (`ltx_version`, e.g. "2.5"). One
made for another version than the base it is offered to is refused where it would be applied
(`ltx-trainer lora check --base-model`, GenerateVideo) unless the caller forces it; forced, the modules that
fit the base are loaded and the others skipped. A LoRA that names no version (an older or third-party file)
is checked by fit only. The LTX-2.3 and LTX-2.5 transformers share their LoRA target names, so a LoRA made
for one may fit the other entirely: the refusal then says that every module would load.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

LTX_VERSION_KEY = "ltx_version"
SHOWN_MODULES = 20  # modules listed in a message before "and N more"

Shapes = Mapping[str, Mapping[str, tuple[int, ...]]]  # module -> {"A": shape, "B": shape}


def lora_version(metadata: Mapping[str, str]) -> str:
    """The LTX version a LoRA's metadata names, "" when it names none."""
    return metadata.get(LTX_VERSION_KEY, "").strip()


@dataclass(frozen=True)
class LoraFit:
    """How a LoRA's modules fit a base: `loaded` modules and `skipped` ones, each "<module>: why"."""

    lora_version: str  # "" when the LoRA names none
    base_version: str
    loaded: tuple[str, ...]
    skipped: tuple[str, ...]

    @property
    def mismatched(self) -> bool:
        """The LoRA names a version, and it is not the base's."""
        return bool(self.lora_version) and self.lora_version != self.base_version


def _skip_reason(parts: Mapping[str, tuple[int, ...]], layer: tuple[int, int] | None) -> str | None:
    a, b = parts.get("A"), parts.get("B")
    if layer is None:
        return "no such layer in the base"
    if a is None or b is None:
        return f"lora_{'A' if a is None else 'B'} is missing"
    if len(a) != 2 or len(b) != 2 or a[0] != b[1]:
        return f"A {list(a)} and B {list(b)} are not the matrices of one rank"
    if (b[0], a[1]) != layer:
        return f"shape [{b[0]}, {a[1]}] in the LoRA, [{layer[0]}, {layer[1]}] in the base"
    return None


def fit_modules(
    shapes: Shapes, linears: Mapping[str, tuple[int, int]], *, lora_version: str, base_version: str
) -> LoraFit:
    """Which modules of a LoRA (`shapes`, module names as the base's) fit `linears` (name -> (out, in))."""
    loaded: list[str] = []
    skipped: list[str] = []
    for module, parts in sorted(shapes.items()):
        reason = _skip_reason(parts, linears.get(module))
        if reason is None:
            loaded.append(module)
        else:
            skipped.append(f"{module}: {reason}")
    return LoraFit(lora_version, base_version, tuple(loaded), tuple(skipped))


def listed(items: tuple[str, ...] | list[str], shown: int = SHOWN_MODULES) -> str:
    """The first `shown` items, then "and N more"."""
    head = "; ".join(items[:shown])
    return head + (f"; and {len(items) - shown} more" if len(items) > shown else "")


def mismatch_message(fit: LoraFit, lora_name: str, forcing: str, base_name: str = "") -> str:
    """Why a LoRA made for another version is refused: both versions and what would not load, then `forcing`
    (how the caller forces it)."""
    total = len(fit.loaded) + len(fit.skipped)
    base = f"the base model {base_name}" if base_name else "the base model"
    head = f"{lora_name} was made for LTX-{fit.lora_version}, {base} is LTX-{fit.base_version}"
    if fit.skipped:
        body = f"{len(fit.skipped)} of its {total} modules do not fit the base: {listed(fit.skipped)}"
    else:
        body = f"every one of its {total} modules would load (their shapes fit), but it was trained on another model"
    return f"{head}; {body}. {forcing}"
