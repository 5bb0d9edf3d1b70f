"""Audio preparation time per minute of clip: a 60 s stereo 48 kHz AAC clip, cut and stretched (medians of 5).

Run: python -m tests.benchmarks.audio_prep [--seconds 60] [--reps 5]

Preconditions, checked as it runs (PreconditionFailed when false): the clip holds --seconds of stereo
48 kHz audio; each case is planned as it is named (cut, stretch, trim_pad); and ffmpeg filled every
output, each rep: the expected number of samples, with sound up to its end (extract_audio leaves
silence wherever ffmpeg gave nothing).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from preprocess_svc.audio import atempo_chain, extract_audio, plan_audio
from shared.ffmpeg import ffmpeg_exe, run_ffmpeg
from shared.logs import configure_logging
from tests.benchmarks.preconditions import Preconditions

FPS = 24
CLIP_AUDIO = "the clip holds the named seconds of stereo 48 kHz audio"
PLANNED = "each case is planned as named (cut, stretch, trim_pad)"
FILLED = "ffmpeg filled every output: the expected samples, sound up to the end"
AUDIBLE = 0.01  # peak above which the end of an output counts as sound (the tones peak at 0.35)


@dataclass(frozen=True)
class Case:
    name: str
    sample_fit: str  # how the video sample is fitted: "first_frames" or "auto_scale"
    frames: int  # the sample's frames at FPS
    preserve_pitch: bool
    audio_fit: str  # the plan this must give


@dataclass(frozen=True)
class Row:
    case: Case
    read_s: float  # source audio read
    shape: tuple[int, ...]
    median_s: float

    @property
    def per_clip_minute_s(self) -> float:
        return self.median_s / (self.read_s / 60)


def cases(clip_s: float) -> list[Case]:
    """For 60 s: cut 1440 frames, stretch to 89 frames (16.2x, atempo x5), to 1801 (0.8x), trim_pad to 89."""
    whole = round(clip_s * FPS)
    slow = round(whole / 0.8) + 1
    tempo = clip_s / (89 / FPS)
    return [
        Case(f"cut {clip_s:g} s (first {whole} frames)", "first_frames", whole, True, "cut"),
        Case(
            f"stretch {clip_s:g} s -> 89 frames ({tempo:.1f}x, atempo x{len(atempo_chain(tempo))})",
            "auto_scale",
            89,
            True,
            "stretch",
        ),
        Case(
            f"stretch {clip_s:g} s -> {slow} frames ({clip_s * FPS / slow:.1f}x)", "auto_scale", slow, True, "stretch"
        ),
        Case(f"trim_pad {clip_s:g} s -> 89 frames", "auto_scale", 89, False, "trim_pad"),
    ]


def make_clip(out: Path, clip_s: float) -> Path:
    """clip_s seconds of a small test card with stereo 48 kHz AAC audio: two tones and some noise."""
    audio = "aevalsrc=0.3*sin(2*PI*440*t)+0.05*(random(0)-0.5)|0.3*sin(2*PI*554*t)+0.05*(random(1)-0.5):s=48000"
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    argv += ["-f", "lavfi", "-i", f"testsrc2=s=64x64:r={FPS}", "-f", "lavfi", "-i", audio, "-t", f"{clip_s}"]
    argv += ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "128k", str(out)]
    run_ffmpeg(argv, timeout=300)
    return out


def check_clip(clip: Path, clip_s: float, checks: Preconditions) -> None:
    with av.open(str(clip)) as container:
        streams = container.streams.audio
        stream = streams[0] if streams else None
        facts = (
            (stream.codec_context.channels, stream.codec_context.sample_rate, float(stream.duration * stream.time_base))
            if stream is not None and stream.duration is not None
            else None
        )
    checks.require(
        CLIP_AUDIO,
        facts is not None and facts[:2] == (2, 48_000) and facts[2] >= clip_s - 0.1,
        f"{clip}: (channels, rate, seconds) = {facts}",
    )


def measure_audio_prep(clip: Path, clip_s: float, *, reps: int, checks: Preconditions) -> list[Row]:
    check_clip(clip, clip_s, checks)
    rows = []
    for case in cases(clip_s):
        target_s = case.frames / FPS
        plan = plan_audio(
            case.sample_fit, start_s=0.0, end_s=clip_s, target_s=target_s, preserve_pitch=case.preserve_pitch
        )
        checks.require(PLANNED, plan.fit == case.audio_fit, f"{case.name}: planned {plan}")
        times = []
        for _ in range(reps):
            started = time.perf_counter()
            audio = extract_audio(clip, plan, normalize=True, timeout_s=600)
            times.append(time.perf_counter() - started)
            tail = audio.samples[:, -max(1, plan.samples // 10) :]
            checks.require(
                FILLED,
                audio.samples.shape == (2, plan.samples) and tail.size > 0 and float(np.abs(tail).max()) > AUDIBLE,
                f"{case.name}: shape {audio.samples.shape} for {plan.samples} samples, "
                f"peak of the last tenth {float(np.abs(tail).max()) if tail.size else 0.0:.4f}",
            )
        rows.append(Row(case, plan.read_s, audio.samples.shape, statistics.median(times)))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args(argv)
    configure_logging(json=False, level="WARNING")
    checks = Preconditions("audio_prep")
    with tempfile.TemporaryDirectory(prefix="audio-bench-") as tmp:
        clip = make_clip(Path(tmp) / "clip.mp4", args.seconds)
        rows = measure_audio_prep(clip, args.seconds, reps=args.reps, checks=checks)
    print(
        f"{args.seconds:g} s stereo 48 kHz AAC, median of {args.reps} runs; per clip-minute: per minute of source read"
    )
    for row in rows:
        print(
            f"  {row.case.name:46s} read {row.read_s:5.1f} s, out {row.shape}: {row.median_s:.3f} s, "
            f"{row.per_clip_minute_s:.3f} s per clip-minute"
        )
    print(checks.summary())


if __name__ == "__main__":
    main()
