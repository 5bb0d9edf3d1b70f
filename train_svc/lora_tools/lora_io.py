"""Reading a LoRA file, and writing one atomically (temp file + rename) beside its destination.

A file that is missing, not safetensors, or truncated raises LoraReadError. A write never replaces its
input, and never leaves a partial file: the tensors go to a temp file in the destination's folder, which
is renamed over the destination only once complete, and removed on any error.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file


class LoraReadError(Exception):
    """The LoRA file cannot be read (missing, not a safetensors file, or truncated)."""


class LoraWriteError(Exception):
    """The output cannot be written where asked (its input, or a missing folder)."""


@dataclass(frozen=True)
class LoraFile:
    tensors: dict[str, torch.Tensor]
    metadata: dict[str, str]  # the safetensors header's __metadata__ (empty when it has none)


def read_lora(path: Path) -> LoraFile:
    if not path.is_file():
        raise LoraReadError(f"{path}: no such file")
    try:
        with safe_open(str(path), framework="pt") as handle:
            metadata = dict(handle.metadata() or {})
            names = handle.keys()  # a safe_open handle is not iterable
            tensors = {key: handle.get_tensor(key) for key in names}
    except (SafetensorError, OSError, ValueError) as exc:
        raise LoraReadError(f"{path} is not a readable safetensors file (truncated or another format): {exc}") from exc
    return LoraFile(tensors, metadata)


def _same_file(a: Path, b: Path) -> bool:
    return a.resolve() == b.resolve() or (a.exists() and b.exists() and os.path.samefile(a, b))


def write_lora_file(path: Path, lora: LoraFile, *, source: Path) -> Path:
    """Write `lora` to `path` atomically; `source` (the input) is never overwritten."""
    if _same_file(path, source):
        raise LoraWriteError(f"{path} is the input file; write the result to another path")
    if not path.parent.is_dir():
        raise LoraWriteError(f"{path.parent} is not a folder")
    tensors = {key: value.contiguous() for key, value in lora.tensors.items()}
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        save_file(tensors, str(tmp), metadata=lora.metadata)
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
