"""What a set of folders occupies on disk: the bytes of their files, each inode counted once."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def bytes_under(folders: Iterable[Path]) -> int:
    """Bytes of the files under `folders` (missing ones count 0); a file hard-linked twice counts once."""
    seen: set[tuple[int, int]] = set()
    total = 0
    for folder in folders:
        for root, _dirs, files in os.walk(folder):
            for name in files:
                try:
                    stat = os.lstat(os.path.join(root, name))
                except OSError:  # removed while we walked
                    continue
                if (stat.st_dev, stat.st_ino) not in seen:
                    seen.add((stat.st_dev, stat.st_ino))
                    total += stat.st_size
    return total
