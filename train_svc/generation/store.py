"""Where generated videos live: <storage>/generations/<owner key>/<id>/video.mp4, one folder per generation.

A generation is found only under its owner's folder, so another principal's "generations/{id}" names
nothing for them; an admin's lookup searches every owner's folder.
With a time to live (--generation-ttl-hours), retention removes a generation's folder once its newest
file is that old (train_svc.retention.sweep); it is then NOT_FOUND like one that never was.
"""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

from shared.auth import Caller, owner_key

NAME_PREFIX = "generations/"
VIDEO_FILE = "video.mp4"
_ID = re.compile(r"[0-9a-f]{16}")


class GenerationStore:
    def __init__(self, storage_root: Path):
        self.root = storage_root / "generations"

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex[:16]

    @staticmethod
    def name(generation_id: str) -> str:
        return NAME_PREFIX + generation_id

    def video_path(self, owner: str, generation_id: str) -> Path:
        return self.root / owner_key(owner) / generation_id / VIDEO_FILE

    def find_video(self, name: str, caller: Caller) -> Path | None:
        """The video of "generations/{id}" if `caller` may see it, or None (malformed, absent, or not theirs)."""
        generation_id = name.removeprefix(NAME_PREFIX)
        if not name.startswith(NAME_PREFIX) or not _ID.fullmatch(generation_id):
            return None
        if caller.admin:
            return next((p for p in self.root.glob(f"*/{generation_id}/{VIDEO_FILE}") if p.is_file()), None)
        path = self.video_path(caller.principal, generation_id)
        return path if path.is_file() else None

    def discard(self, owner: str, generation_id: str) -> None:
        shutil.rmtree(self.root / owner_key(owner) / generation_id, ignore_errors=True)

    def older_than(self, before: float) -> list[Path]:
        """The folders of generations whose folder and files were all last modified before `before`
        (time.time()): finished long ago (one being made keeps writing to its folder)."""
        old: list[Path] = []
        for folder in self.root.glob("*/*"):
            if not _ID.fullmatch(folder.name):
                continue
            try:
                newest = max([folder.stat().st_mtime] + [item.stat().st_mtime for item in folder.iterdir()])
            except OSError:  # removed meanwhile (another replica's sweep)
                continue
            if newest < before:
                old.append(folder)
        return old
