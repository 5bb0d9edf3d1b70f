"""Where generated videos live: <storage>/generations/<id>/video.mp4, one folder per generation."""

from __future__ import annotations

import re
import shutil
import uuid
from pathlib import Path

NAME_PREFIX = "generations/"
VIDEO_FILE = "video.mp4"
_ID = re.compile(r"^[0-9a-f]{16}$")


class GenerationStore:
    def __init__(self, storage_root: Path):
        self.root = storage_root / "generations"

    @staticmethod
    def new_id() -> str:
        return uuid.uuid4().hex[:16]

    @staticmethod
    def name(generation_id: str) -> str:
        return NAME_PREFIX + generation_id

    def video_path(self, generation_id: str) -> Path:
        return self.root / generation_id / VIDEO_FILE

    def find_video(self, name: str) -> Path | None:
        """The video of "generations/{id}", or None when the name is malformed or nothing was kept under it."""
        generation_id = name.removeprefix(NAME_PREFIX)
        if not name.startswith(NAME_PREFIX) or not _ID.match(generation_id):
            return None
        path = self.video_path(generation_id)
        return path if path.is_file() else None

    def discard(self, generation_id: str) -> None:
        shutil.rmtree(self.root / generation_id, ignore_errors=True)
