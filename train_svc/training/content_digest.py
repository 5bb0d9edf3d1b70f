"""A SHA-256 over tensors and the plain containers holding them, types and shapes included.

For files whose own format would not notice a flipped byte inside a tensor (torch's zip reader,
safetensors): the digest is stored with the content and checked on every load. Dict entries are
hashed in their order, so callers hash what they read back in the order they wrote it.
"""

from __future__ import annotations

import hashlib
from typing import Any

import torch


def content_digest(value: Any) -> str:
    h = hashlib.sha256()
    _feed(h, value)
    return h.hexdigest()


def _feed(h, value: Any) -> None:
    """Hash a payload of tensors and plain containers, types and shapes included."""
    if isinstance(value, torch.Tensor):
        t = value.detach().cpu().contiguous().reshape(-1)
        h.update(f"tensor {t.dtype} {tuple(value.shape)}:".encode())
        h.update(t.view(torch.uint8).numpy())
    elif isinstance(value, dict):
        h.update(f"dict {len(value)}:".encode())
        for key, item in value.items():
            _feed(h, key)
            _feed(h, item)
    elif isinstance(value, list | tuple):
        h.update(f"{type(value).__name__} {len(value)}:".encode())
        for item in value:
            _feed(h, item)
    else:
        h.update(f"{type(value).__name__} {value!r};".encode())
