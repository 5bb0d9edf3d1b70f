"""A sample's audio: the first audio stream of its file, cut or fitted to the sample's time span.

Out comes float32 [2, N] at AUDIO_SAMPLE_RATE (16 kHz, what LTX-2.3's audio VAE takes), with
N = round(target_s * 16000) exactly, target_s being the sample's duration (frames / frame_rate). The
ffmpeg binary does the work: first audio stream only, mixed to stereo (mono is copied to both sides
at its own level with `pan`, where `-ac 2` alone would lower it 3 dB; 5.1 and other layouts are
downmixed by `-ac 2`, centre and surrounds folded in at -3 dB, the LFE left out), resampled to
16 kHz, raw float32 out of a pipe straight into the sample's array. Its timestamps are honoured
(`aresample=async=1:first_pts=0`), so a track that starts after the video starts late in the sample
too, and a click lands where it is heard in the clip.

Fitting (AudioPlan), by how the sample's frames were fitted:
  - first frames of a clip or shot: "cut", the audio of the same span [start_s, start_s + target_s].
  - auto_scale (the span [start_s, end_s] plays in target_s seconds):
    with preserve_pitch, "stretch": the span's audio time-stretched by atempo, pitch kept. atempo
    is chained in factors within 0.5..2.0 (the range every ffmpeg build accepts, and where it sounds
    best), e.g. a 5x speed-up is atempo=2,atempo=2,atempo=1.25;
    without it, "trim_pad": the span's audio from its start at its own speed, trimmed to target_s.
In every case the result is trimmed or padded with silence at its end to exactly N samples: a track
that ends before the span does (or before the video) gives silence, not an error.

Normalisation: the peak is brought to -1 dBFS (PEAK_TARGET = 10 ** (-1 / 20)) with gain
PEAK_TARGET / peak, which is reported. Audio whose peak is below SILENCE_PEAK (-80 dBFS) counts as
silence and is left as it is (gain 1): amplifying dither or hiss by 80 dB would only teach noise.

Memory: only the sample's own audio is ever held (ffmpeg reads just the span, anything it outputs past
N samples is read and dropped; the interleaved array is transposed to [2, N] once, a second copy for
a moment). Like media.py, a failure or a timeout of ffmpeg raises
UnusableMediaError (UNDECODABLE or DECODE_TIMEOUT) with ffmpeg's own words.

DECISION, a broken audio track: it never costs the video sample. sample_audio() catches the error and
returns an AudioOutcome with no audio and the problem; the worker keeps the sample without audio
(BundleWritten.has_audio false, SampleFacts.audio_fit "", bundle metadata source.audio_error), and the
run emits a DatasetWarning with code AUDIO_UNREADABLE naming the file and the sample, next to the
sample's BundleWritten, so the live display and the job's event log show it. A caller that requires
audio (with_audio true on the training side) sees the missing track through BundleRef.has_audio.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import av
import ffmpeg
import numpy as np
import structlog

from preprocess_svc.errors import SkipReason, UnusableMediaError
from shared.bundle import AUDIO_SAMPLE_RATE
from shared.ffmpeg import FfmpegError, ffmpeg_exe, stream_ffmpeg_into

PEAK_TARGET = 10 ** (-1 / 20)  # -1 dBFS
SILENCE_PEAK = 10 ** (-80 / 20)  # -80 dBFS: quieter than this is left alone
ATEMPO_MIN = 0.5
ATEMPO_MAX = 2.0
_CHANNELS = 2
AUDIO_UNREADABLE = "AUDIO_UNREADABLE"  # DatasetWarning code of a track that could not be used

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class AudioOptions:
    """The request's audio settings for a sample that is to carry audio."""

    normalize: bool = True  # peak-normalise to -1 dBFS
    preserve_pitch: bool = True  # auto_scale: time-stretch keeping the pitch, rather than trim or pad


@dataclass(frozen=True)
class AudioPlan:
    """Which audio of the source to read and how to fit it to the sample."""

    fit: str  # "cut" | "stretch" | "trim_pad"
    start_s: float  # where reading starts in the source
    read_s: float  # how much source audio is read
    target_s: float  # the sample's duration
    tempo: float = 1.0  # atempo factor (source seconds per sample second), "stretch" only

    @property
    def samples(self) -> int:
        return round(self.target_s * AUDIO_SAMPLE_RATE)


@dataclass(frozen=True)
class SampleAudio:
    samples: np.ndarray  # float32 [2, N] at AUDIO_SAMPLE_RATE
    fit: str  # as AudioPlan.fit
    gain: float  # applied by normalisation; 1.0 when off or silent


@dataclass(frozen=True)
class AudioOutcome:
    """What became of a sample's audio: prepared, none wanted or present, or a track that could not be used."""

    audio: SampleAudio | None = None
    problem: str = ""  # set when the file has a track that could not be used: the reason and ffmpeg's words


def plan_audio(sample_fit: str, *, start_s: float, end_s: float, target_s: float, preserve_pitch: bool) -> AudioPlan:
    """The audio plan for a video sample fitted as `sample_fit` ("first_frames" or "auto_scale")."""
    if target_s <= 0:
        raise ValueError(f"a sample's duration must be positive, got {target_s:g} s")
    if sample_fit == "first_frames":
        return AudioPlan("cut", start_s, target_s, target_s)
    if sample_fit != "auto_scale":
        raise ValueError(f"no audio for a sample fitted as {sample_fit!r}")
    span_s = max(end_s - start_s, 0.0)
    if preserve_pitch and span_s > 0:
        return AudioPlan("stretch", start_s, span_s, target_s, tempo=span_s / target_s)
    return AudioPlan("trim_pad", start_s, min(span_s, target_s), target_s)


def atempo_chain(tempo: float) -> list[float]:
    """atempo factors, each within ATEMPO_MIN..ATEMPO_MAX, whose product is `tempo`."""
    if tempo <= 0:
        raise ValueError(f"tempo must be positive, got {tempo:g}")
    factors = []
    while tempo > ATEMPO_MAX:
        factors.append(ATEMPO_MAX)
        tempo /= ATEMPO_MAX
    while tempo < ATEMPO_MIN:
        factors.append(ATEMPO_MIN)
        tempo /= ATEMPO_MIN
    return [*factors, tempo]


def _track_channels(path: Path) -> int:
    """Channels of the file's first audio stream (0 when its codec parameters are unreadable)."""
    try:
        with av.open(str(path)) as container:
            if not container.streams.audio:
                raise UnusableMediaError(SkipReason.UNDECODABLE, "the file has no audio stream")
            return container.streams.audio[0].codec_context.channels
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise UnusableMediaError(SkipReason.UNDECODABLE, f"the audio stream cannot be opened: {exc}") from exc


def audio_argv(path: Path, plan: AudioPlan, *, mono: bool) -> list[str]:
    """The ffmpeg command line that reads the plan's span of the first audio stream as 16 kHz stereo f32le on stdout."""
    source = ffmpeg.input(str(path), ss=f"{plan.start_s:.6f}", t=f"{plan.read_s:.6f}")
    # Keep a late-starting track late (pad its start with silence).
    audio = source["a:0"].filter("aresample", **{"async": 1, "first_pts": 0})
    if mono:
        # Both sides at the source's level (-ac 2 alone would put it there at -3 dB). Written with `<`
        # (gains renormalised to 1, the same single gain of 1) as ffmpeg-python escapes `=` in filter args.
        audio = audio.filter("pan", "stereo|c0<c0|c1<c0")
    if plan.fit == "stretch":
        for factor in atempo_chain(plan.tempo):
            audio = audio.filter("atempo", f"{factor:.9f}")
    return (
        audio.output("pipe:", format="f32le", ac=_CHANNELS, ar=AUDIO_SAMPLE_RATE)
        .global_args("-hide_banner", "-nostats", "-loglevel", "error")
        .compile(cmd=ffmpeg_exe())
    )


def normalize_peak(samples: np.ndarray) -> float:
    """Scale `samples` in place so that their peak is PEAK_TARGET; return the gain (1.0 for silence)."""
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    if peak < SILENCE_PEAK:
        return 1.0
    gain = PEAK_TARGET / peak
    samples *= np.float32(gain)
    return gain


def extract_audio(
    path: Path, plan: AudioPlan, *, normalize: bool, timeout_s: float, label: str = "the file"
) -> SampleAudio:
    """Read and fit a file's first audio stream as `plan` says; raise UnusableMediaError when ffmpeg cannot."""
    started = time.monotonic()
    argv = audio_argv(path, plan, mono=_track_channels(path) == 1)
    interleaved = np.zeros((plan.samples, _CHANNELS), dtype=np.float32)  # silence wherever the track has nothing
    try:
        # One buffer, filled to the end or as far as the track goes; what comes past it is dropped.
        for _ in stream_ffmpeg_into(argv, [interleaved.data.cast("B")], timeout=timeout_s):
            pass
    except FfmpegError as exc:
        reason = SkipReason.DECODE_TIMEOUT if exc.timed_out else SkipReason.UNDECODABLE
        raise UnusableMediaError(reason, f"ffmpeg could not read the audio of {label}: {exc}") from exc
    samples = np.ascontiguousarray(interleaved.T)
    del interleaved
    gain = normalize_peak(samples) if normalize else 1.0
    log.debug(
        "audio_prepared",
        path=str(path),
        fit=plan.fit,
        samples=plan.samples,
        gain=round(gain, 4),
        seconds=round(time.monotonic() - started, 3),
    )
    return SampleAudio(samples, plan.fit, gain)


def sample_audio(
    path: Path,
    *,
    options: AudioOptions | None,
    has_track: bool,
    sample_fit: str,
    start_s: float,
    end_s: float,
    target_s: float,
    timeout_s: float,
    label: str,
) -> AudioOutcome:
    """A video sample's audio, or why it has none; never raises for a broken track (see the module docstring).

    options None: the request wants no audio. has_track: the file has an audio stream.
    """
    if options is None or not has_track:
        return AudioOutcome()
    plan = plan_audio(
        sample_fit, start_s=start_s, end_s=end_s, target_s=target_s, preserve_pitch=options.preserve_pitch
    )
    try:
        return AudioOutcome(extract_audio(path, plan, normalize=options.normalize, timeout_s=timeout_s, label=label))
    except UnusableMediaError as exc:
        log.warning("audio_unreadable", path=str(path), label=label, reason=exc.reason.value, detail=exc.message)
        return AudioOutcome(problem=f"{exc.reason.value}: {exc.message}")
