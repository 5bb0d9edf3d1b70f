"""The process's host memory: its resident size, and handing memory it freed back to the system."""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
import os

import torch


def rss_bytes() -> int:
    """Resident set size of this process now (Linux: /proc/self/statm); 0 where it cannot be read."""
    try:
        with open("/proc/self/statm", encoding="ascii") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        libc = ctypes.CDLL(name) if name else None
    except OSError:
        return None
    return libc if libc is not None and hasattr(libc, "malloc_trim") else None  # glibc has it, musl does not


def trim_heap() -> bool:
    """glibc's malloc_trim(0): return the free pages of the malloc heaps to the system (many small tensors
    live there, not in their own mappings, and freeing them alone does not lower the resident size)."""
    libc = _libc()
    return bool(libc.malloc_trim(0)) if libc is not None else False


def return_memory() -> None:
    """After dropping the last references to large modules: collect them, empty torch's CUDA cache and give
    the freed host memory back to the system."""
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    trim_heap()
