"""Neighbourhood attention for LTX-2.5's diffusion decoder that gathers each query's window.

The decoder's stock processor hands a FlexAttention block mask to `flex_attention`; run eagerly (without
torch.compile, which a CPU service does not have) that materialises the whole score matrix: at 512x288 and
9 frames, 83k tokens in the last stage, ~27 GB per head. The other stock processor needs NATTEN's GPU kernels.
This one computes the same attention (each query attends to the `kernel_size` window centred on it and
shifted inward at the grid's edges, the query pre-scaled by `project_qkv`) by gathering every query's
window of keys and values, a chunk of queries at a time, so memory grows with tokens x window, not tokens^2.
"""

from __future__ import annotations

from typing import Any

import torch

# Elements of gathered keys (and as many of values) held at once: 64 Mi, 256 MiB in fp32.
CHUNK_ELEMENTS = 64 * 1024 * 1024


def window_index(
    frames: int, height: int, width: int, kernel: tuple[int, int, int], device: torch.device
) -> torch.Tensor:
    """[tokens, window] flat indices of each token's neighbourhood, in the decoder's order (t, h, w)."""

    def axis(size: int, span: int) -> torch.Tensor:
        span = min(span, size)
        starts = (torch.arange(size) - span // 2).clamp(0, size - span)
        return starts[:, None] + torch.arange(span)[None, :]  # [size, span]

    t, h, w = axis(frames, kernel[0]), axis(height, kernel[1]), axis(width, kernel[2])
    index = (t[:, None, None, :, None, None] * height + h[None, :, None, None, :, None]) * width + w[
        None, None, :, None, None, :
    ]
    return index.reshape(frames * height * width, -1).to(device)


class GatheredNeighborhoodAttention:
    """A processor for `LTX2VideoVaeNeighborhoodAttention` (set with `install`)."""

    def __init__(self, chunk_elements: int = CHUNK_ELEMENTS):
        self._chunk_elements = chunk_elements

    def __call__(self, attn: Any, hidden_states: torch.Tensor, block_mask: Any = None) -> torch.Tensor:
        batch, frames, height, width, _ = hidden_states.shape
        query, key, value = attn.project_qkv(hidden_states)  # [B, T, H, W, heads, head_dim]
        heads, head_dim = query.shape[-2:]
        tokens = frames * height * width
        query, key, value = (x.reshape(batch, tokens, heads, head_dim) for x in (query, key, value))
        index = window_index(frames, height, width, attn.kernel_size, hidden_states.device)
        chunk = max(1, self._chunk_elements // (batch * index.shape[1] * heads * head_dim))
        out = torch.empty_like(query)
        for start in range(0, tokens, chunk):
            rows = index[start : start + chunk]
            keys, values = key[:, rows], value[:, rows]  # [B, chunk, window, heads, head_dim]
            scores = torch.einsum("bchd,bckhd->bchk", query[:, start : start + chunk], keys)  # scale 1: pre-scaled
            weights = scores.float().softmax(dim=-1).to(values.dtype)
            out[:, start : start + chunk] = torch.einsum("bchk,bckhd->bchd", weights, values)
        return attn.to_out[0](out.reshape(batch, frames, height, width, heads * head_dim))


def install(decoder: torch.nn.Module) -> int:
    """Give every neighbourhood attention of `decoder` this processor; returns how many it changed."""
    from diffusers.models.autoencoders.ltx2_diffusion_decoder import LTX2VideoVaeNeighborhoodAttention

    changed = 0
    for module in decoder.modules():
        if isinstance(module, LTX2VideoVaeNeighborhoodAttention):
            module.set_processor(GatheredNeighborhoodAttention())  # type: ignore[arg-type]  # any callable works
            changed += 1
    return changed
