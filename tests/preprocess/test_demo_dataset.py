"""The demo dataset: H.264 clips with motion and a sound track, a name clash, one clip without caption."""

from __future__ import annotations

import zipfile
from pathlib import Path

import av
import numpy as np

from preprocess_svc.extract import extract_zip
from shared.demo_dataset import render_clip_argv, render_image_argv
from shared.ffmpeg import ffmpeg_exe
from tests.ffmpeg_argv import parse_argv, values


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


def test_a_clip_with_a_tone_is_two_lavfi_inputs_mapped_to_h264_and_aac() -> None:
    command = parse_argv(
        render_clip_argv(Path("out/a.mp4"), "testsrc2=s=64x64:r=24[out0]", frames=48, fps=24, tone_hz=440)
    )

    assert command.binary == ffmpeg_exe()
    assert command.inputs == [
        ("testsrc2=s=64x64:r=24[out0]", [("-f", "lavfi")]),
        ("sine=frequency=440:sample_rate=48000:duration=3.0", [("-f", "lavfi")]),
    ]
    [(target, options)] = command.outputs
    assert target == "out/a.mp4"
    assert values(options, "-map") == ["0:v", "1:a"]
    assert {key: value for key, value in options if key != "-map"} == {
        "-frames:v": "48",
        "-c:v": "libx264",
        "-preset": "veryfast",
        "-pix_fmt": "yuv420p",
        "-c:a": "aac",
        "-b:a": "64k",
        "-t": "2.0",  # an output option: the tone is cut to the video's length
    }
    assert command.global_flags == {"-hide_banner", "-y"} and command.global_options == {"-loglevel": "error"}


def test_a_silent_clip_and_an_image_are_one_lavfi_input_with_its_default_streams() -> None:
    clip = parse_argv(render_clip_argv(Path("b.mp4"), "testsrc2", frames=24, fps=24, video_codec="mpeg4"))
    image = parse_argv(render_image_argv(Path("c.png"), "testsrc2=s=64x64"))

    assert clip.inputs == [("testsrc2", [("-f", "lavfi")])]
    assert clip.outputs == [("b.mp4", [("-c:v", "mpeg4"), ("-frames:v", "24")])]  # no -map, no x264 options
    assert image.inputs == [("testsrc2=s=64x64", [("-f", "lavfi")])]
    assert image.outputs == [("c.png", [("-frames:v", "1"), ("-update", "1")])]
    for command in (clip, image):
        assert command.global_flags == {"-hide_banner", "-y"} and command.global_options == {"-loglevel": "error"}
