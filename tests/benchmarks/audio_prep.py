"""Audio preparation time per minute of clip: a 60 s stereo 48 kHz AAC clip, cut and stretched (medians of 5).

Run: python -m tests.benchmarks.audio_prep
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from preprocess_svc.audio import extract_audio, plan_audio
from shared.ffmpeg import ffmpeg_exe, run_ffmpeg
from shared.logs import configure_logging

CLIP_S = 60.0
FPS = 24
REPS = 5
# (name, how the sample is fitted, its frames at FPS, pitch kept)
CASES = (
    ("cut 60 s (first 1440 frames)", "first_frames", 1440, True),
    ("stretch 60 s -> 89 frames (16.2x, atempo x5)", "auto_scale", 89, True),
    ("stretch 60 s -> 1801 frames (0.8x)", "auto_scale", 1801, True),
    ("trim_pad 60 s -> 89 frames", "auto_scale", 89, False),
)


def make_clip(out: Path) -> Path:
    """60 s of a small test card with stereo 48 kHz AAC audio: two tones and some noise."""
    audio = "aevalsrc=0.3*sin(2*PI*440*t)+0.05*(random(0)-0.5)|0.3*sin(2*PI*554*t)+0.05*(random(1)-0.5):s=48000"
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y"]
    argv += ["-f", "lavfi", "-i", f"testsrc2=s=64x64:r={FPS}", "-f", "lavfi", "-i", audio, "-t", f"{CLIP_S}"]
    argv += ["-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "128k", str(out)]
    run_ffmpeg(argv, timeout=300)
    return out


def main() -> None:
    configure_logging(json=False, level="WARNING")
    with tempfile.TemporaryDirectory(prefix="audio-bench-") as tmp:
        clip = make_clip(Path(tmp) / "clip.mp4")
        print(f"{CLIP_S:g} s stereo 48 kHz AAC, median of {REPS} runs; per clip-minute: per minute of source read")
        for name, fit, frames, preserve_pitch in CASES:
            target_s = frames / FPS
            plan = plan_audio(fit, start_s=0.0, end_s=CLIP_S, target_s=target_s, preserve_pitch=preserve_pitch)
            times = []
            for _ in range(REPS):
                started = time.perf_counter()
                audio = extract_audio(clip, plan, normalize=True, timeout_s=600)
                times.append(time.perf_counter() - started)
            median = statistics.median(times)
            print(
                f"  {name:46s} read {plan.read_s:5.1f} s, out {audio.samples.shape}: {median:.3f} s, "
                f"{median / (plan.read_s / 60):.3f} s per clip-minute"
            )


if __name__ == "__main__":
    main()
