"""Does a LoRA file fit a base model (`ltx-trainer lora check`)? Per module: where it maps and with what shapes.

The base's Linear layers and their shapes come from its transformer config, built on the meta device: no
weights are read, so this works on the real 22B base as fast as on the tiny preset. Every LoRA module must
name a Linear layer of the base, with lora_A [rank, in] and lora_B [out, rank] of one rank. A LoRA made for
another LTX version than the base's (train_svc.lora_tools.version_fit) is refused by `check` unless forced;
forced, `version_fit` lists the modules that load and those skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from torch import nn

from train_svc.lora_tools.keys import block_index
from train_svc.lora_tools.lora_io import LoraFile
from train_svc.lora_tools.summary import parsed_keys
from train_svc.lora_tools.version_fit import LoraFit, fit_modules, listed, lora_version

Status = Literal["maps", "unknown module", "shape mismatch", "rank mismatch", "incomplete", "not a LoRA weight"]


@dataclass(frozen=True)
class BaseLayers:
    linears: dict[str, tuple[int, int]]  # module name -> (out_features, in_features)
    num_layers: int


def base_layers(model_dir: Path) -> BaseLayers:
    """The Linear layers of the transformer of a diffusers LTX-2.3 or LTX-2.5 folder, from its config on the meta
    device."""
    from train_svc.models.real_size import build_on_meta, directory_config

    config = directory_config(model_dir, "transformer")
    transformer = build_on_meta("transformer", config)
    linears = {
        name: (module.out_features, module.in_features)
        for name, module in transformer.named_modules()
        if isinstance(module, nn.Linear)
    }
    return BaseLayers(linears, int(config["num_layers"]))


@dataclass(frozen=True)
class ModuleFit:
    module: str
    status: Status
    detail: str


@dataclass(frozen=True)
class FitReport:
    fits: list[ModuleFit]
    lora_blocks: list[int]
    base_blocks: int

    @property
    def ok(self) -> bool:
        return bool(self.fits) and all(f.status == "maps" for f in self.fits)

    @property
    def problems(self) -> list[ModuleFit]:
        return [f for f in self.fits if f.status != "maps"]


def _fit(module: str, shapes: dict[str, tuple[int, ...]], base: BaseLayers) -> ModuleFit:
    a, b = shapes.get("A"), shapes.get("B")
    if module not in base.linears:
        return ModuleFit(module, "unknown module", "the base has no Linear layer of this name")
    out_features, in_features = base.linears[module]
    layer = f"a {in_features}->{out_features} layer"
    if a is None or b is None:
        return ModuleFit(module, "incomplete", f"lora_{'A' if a is None else 'B'} is missing")
    if len(a) != 2 or len(b) != 2:
        return ModuleFit(module, "shape mismatch", f"A {list(a)}, B {list(b)} are not matrices")
    if a[0] != b[1]:
        return ModuleFit(module, "rank mismatch", f"lora_A has rank {a[0]}, lora_B rank {b[1]}")
    if a[1] != in_features or b[0] != out_features:
        expected = f"expected A [{a[0]}, {in_features}], B [{out_features}, {a[0]}]"
        return ModuleFit(module, "shape mismatch", f"{expected}, got A {list(a)}, B {list(b)} for {layer}")
    return ModuleFit(module, "maps", f"A {list(a)}, B {list(b)} onto {layer}")


def lora_shapes(lora: LoraFile) -> tuple[dict[str, dict[str, tuple[int, ...]]], list[str]]:
    """(module -> {"A" / "B": shape}, the keys that are not LoRA weights); kohya alpha keys are neither."""
    parsed, other = parsed_keys(lora)
    shapes: dict[str, dict[str, tuple[int, ...]]] = {}
    for key, found in parsed.items():
        if found.part != "alpha":
            shapes.setdefault(found.module, {})[found.part] = tuple(lora.tensors[key].shape)
    return shapes, other


def check_fit(lora: LoraFile, base: BaseLayers) -> FitReport:
    shapes, other = lora_shapes(lora)
    fits = [_fit(module, parts, base) for module, parts in sorted(shapes.items())]
    fits += [ModuleFit(key, "not a LoRA weight", "not a lora_A / lora_B weight of the transformer") for key in other]
    blocks = sorted({i for i in (block_index(m) for m in shapes) if i is not None})
    return FitReport(fits, blocks, base.num_layers)


def render_fit(report: FitReport, name: str, base_name: str, *, verbose: bool = False) -> str:
    modules = len(report.fits)
    if report.ok:
        head = f"{name} fits {base_name}: all {modules} modules map onto its layers"
    else:
        head = f"{name} does NOT fit {base_name}: {len(report.problems)} of {modules} modules do not map"
    lines = [head]
    if report.lora_blocks and report.lora_blocks[-1] >= report.base_blocks:
        lines.append(
            f"  the LoRA adapts transformer blocks {report.lora_blocks[0]}-{report.lora_blocks[-1]}; "
            f"the base has {report.base_blocks} blocks (0-{report.base_blocks - 1}): "
            "it was trained on a model of another depth"
        )
    if not report.fits:
        lines.append("  the file holds no LoRA weights")
    shown = report.fits if verbose or report.ok else report.problems
    width = max((len(f.module) for f in shown), default=0)
    lines += [f"  {f.module:<{width}}  {f.status}: {f.detail}" for f in shown]
    return "\n".join(lines)


def version_fit(lora: LoraFile, base: BaseLayers, base_version: str) -> LoraFit:
    """Which modules of `lora` would load onto the base (`--force-version`); keys that are not LoRA weights
    are skipped too."""
    shapes, other = lora_shapes(lora)
    fit = fit_modules(shapes, base.linears, lora_version=lora_version(lora.metadata), base_version=base_version)
    foreign = tuple(f"{key}: not a lora_A / lora_B weight" for key in other)
    return LoraFit(fit.lora_version, fit.base_version, fit.loaded, fit.skipped + foreign)


def render_version_fit(fit: LoraFit, name: str, base_name: str, *, verbose: bool = False) -> str:
    """The report of a forced check: both versions, then the modules that load and those skipped."""
    total = len(fit.loaded) + len(fit.skipped)
    lines = [
        f"{name} was made for LTX-{fit.lora_version}, {base_name} is LTX-{fit.base_version}; forced "
        f"(--force-version): {len(fit.loaded)} of {total} modules load, {len(fit.skipped)} skipped"
    ]
    if fit.skipped:
        lines += ["  skipped:", *(f"    {line}" for line in fit.skipped)]
    if verbose and fit.loaded:
        lines += ["  loaded:", *(f"    {module}" for module in fit.loaded)]
    elif fit.loaded:
        lines.append(f"  loaded: {listed(fit.loaded, 5)}")
    return "\n".join(lines)
