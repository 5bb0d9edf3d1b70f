"""The demo dataset: H.264 clips with motion and a sound track, a name clash, one clip without caption."""

from __future__ import annotations

import zipfile
from pathlib import Path

import av
import numpy as np

from preprocess_svc.extract import extract_zip


def test_demo_zip_has_the_promised_layout(demo_zip: Path) -> None:
    names = zipfile.ZipFile(demo_zip).namelist()
    clips = [n for n in names if n.endswith(".mp4")]

    assert len(clips) >= 4
    assert {"set_a/clip.mp4", "set_b/clip.mp4"} <= set(clips)
    uncaptioned = [c for c in clips if c.removesuffix(".mp4") + ".txt" not in names]
    assert uncaptioned == ["set_b/drifting_light.mp4"]


def test_demo_clips_are_h264_with_motion_and_sound(demo_zip: Path, tmp_path: Path) -> None:
    extracted = extract_zip(demo_zip, tmp_path / "x", max_uncompressed_bytes=1 << 30, max_entries=100)

    clips = [path for path in extracted.paths if path.endswith(".mp4")]
    assert len(clips) >= 4
    for clip in clips:
        with av.open(str(tmp_path / "x" / clip)) as container:
            assert container.streams.video[0].codec_context.name == "h264"
            assert container.streams.audio, f"{clip} has no audio"
            frames = [f.to_ndarray(format="rgb24").astype(int) for f in container.decode(video=0)]
        assert len(frames) == 48
        assert np.abs(frames[0] - frames[-1]).mean() > 1.0, f"{clip} does not move"
