"""Audio preparation on real ffmpeg-made clips: layouts, exact length, pitch, level, alignment, broken tracks."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from safetensors import safe_open

from preprocess_svc.audio import (
    PEAK_TARGET,
    AudioOptions,
    AudioPlan,
    SampleAudio,
    audio_argv,
    extract_audio,
    plan_audio,
)
from preprocess_svc.events import BundleWritten, DatasetWarning
from preprocess_svc.media import probe
from preprocess_svc.pairing import MediaSample
from preprocess_svc.pipeline import run_preprocess
from preprocess_svc.sample_worker import SampleJob, ShotJob, process_sample, process_shot
from preprocess_svc.scenes import Shot
from preprocess_svc.server import event_message, settings_from_request
from shared.api import preprocess_service_pb2 as pb
from shared.bundle import AUDIO_SAMPLE_RATE, read_bundle
from shared.dataset_report import FileReport
from shared.demo_dataset import render_image, write_zip
from shared.disk_space import NO_RESERVE
from shared.fetch_policy import FetchPolicy
from shared.ffmpeg import ffmpeg_exe, run_ffmpeg
from tests.ffmpeg_argv import parse_argv

FPS = 24
RATE = AUDIO_SAMPLE_RATE
TONE = 440.0
CLICKS_S = (0.75, 2.5)
AUDIO_ON = AudioOptions()

LIMITS = {"workers": 1, "fetch": FetchPolicy(), "space": NO_RESERVE}  # what the service passes


def render(
    out: Path, audio: str | None, *, seconds: float, audio_seconds: float | None = None, audio_delay_s: float = 0.0
) -> Path:
    """A 64x64 test card of `seconds` with the lavfi audio graph `audio` (PCM in .mkv, AAC in .mp4).

    audio_seconds: a shorter track; audio_delay_s: the track starts that much after the video.
    """
    argv = [ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", f"testsrc2=s=64x64:r={FPS}"]
    if audio is not None:
        argv += ["-itsoffset", f"{audio_delay_s}", "-f", "lavfi", "-t", f"{audio_seconds or seconds}", "-i", audio]
        argv += ["-map", "0:v", "-map", "1:a"]
        argv += ["-c:a", "pcm_s16le" if out.suffix == ".mkv" else "aac"]
    argv += ["-frames:v", str(round(seconds * FPS)), "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p"]
    run_ffmpeg([*argv, str(out)], timeout=60)
    return out


def tone(rate: int, amplitude: float = 0.5, hz: float = TONE) -> str:
    return f"aevalsrc={amplitude}*sin(2*PI*{hz}*t):s={rate}"


def clicks(rate: int = 48000) -> str:
    """Silence with a 1 ms click at each of CLICKS_S."""
    pulses = "+".join(f"0.9*lt(abs(t-{at})\\,0.0005)" for at in CLICKS_S)
    return f"aevalsrc={pulses}:s={rate}"


def frequency(samples: np.ndarray) -> float:
    """The dominant frequency of a mono signal: FFT peak with parabolic interpolation on log magnitudes."""
    window = samples * np.hanning(len(samples))
    spectrum = np.abs(np.fft.rfft(window, n=8 * len(samples))) + 1e-12
    k = int(np.argmax(spectrum))
    a, b, c = np.log(spectrum[k - 1 : k + 2])
    return (k + 0.5 * (a - c) / (a - 2 * b + c)) * RATE / (8 * len(samples))


def fitted(
    path: Path, sample_fit: str, *, frames: int, span_s: float = 0.0, preserve_pitch: bool = True, normalize=False
) -> SampleAudio:
    """The audio of a whole clip (or its first frames) fitted to a sample of `frames` frames at FPS."""
    plan = plan_audio(sample_fit, start_s=0.0, end_s=span_s, target_s=frames / FPS, preserve_pitch=preserve_pitch)
    return extract_audio(path, plan, normalize=normalize, timeout_s=60)


def job(path: Path, sample_id: str, bundles: Path, *, frames: int, audio: AudioOptions | None = AUDIO_ON) -> SampleJob:
    return SampleJob(
        sample=MediaSample(sample_id, path, "image" if path.suffix == ".png" else "video", "caption"),
        bundle_path=bundles / f"{sample_id}.safetensors",
        frames=frames,
        frame_rate=FPS,
        width=64,
        height=64,
        timeout_base_s=60,
        timeout_per_second_s=10,
        split_threshold_s=None,
        audio=audio,
    )


@pytest.mark.parametrize(
    ("name", "audio"),
    [
        ("mono_8k.mp4", tone(8000)),
        ("stereo_44k.mp4", "aevalsrc=0.5*sin(2*PI*440*t)|0.3*sin(2*PI*660*t):s=44100"),
        ("centre_only_5.1_48k.mp4", "aevalsrc=0|0|0.5*sin(2*PI*440*t)|0|0|0:s=48000:c=5.1"),
        ("surrounds_only_5.1_48k.mp4", "aevalsrc=0|0|0|0|0.5*sin(2*PI*440*t)|0.5*sin(2*PI*440*t):s=48000:c=5.1"),
    ],
)
def test_every_layout_and_rate_gives_stereo_16k_of_the_exact_length(tmp_path: Path, name: str, audio: str) -> None:
    clip = render(tmp_path / name, audio, seconds=4.0)
    frames = 89  # 3.708 s: N = round(89 / 24 * 16000) = 59333, not a whole number of anything

    got = fitted(clip, "first_frames", frames=frames)

    assert got.fit == "cut" and got.gain == 1.0
    assert got.samples.dtype == np.float32 and got.samples.shape == (2, 59_333)
    rms = np.sqrt(np.mean(got.samples[:, 1600:-1600] ** 2, axis=1))
    assert (rms > 0.05).all(), f"a channel is (nearly) silent: rms {rms}"
    if name.startswith("mono"):
        np.testing.assert_array_equal(got.samples[0], got.samples[1])  # mono goes to both sides...
        assert rms[0] == pytest.approx(0.5 / np.sqrt(2), rel=0.05)  # ...at its own level (a 0.5 sine)
    assert abs(frequency(got.samples[0, 1600:-1600]) - TONE) < 0.02 * TONE


@pytest.mark.parametrize(
    ("clip_s", "frames"),
    [(2.0, 89), (1.0, 89), (6.0, 49)],
    ids=["slowed_1.85x", "slowed_3.7x_chained", "sped_up_2.9x_chained"],
)
def test_a_stretched_clip_keeps_its_pitch_and_fills_the_sample(tmp_path: Path, clip_s: float, frames: int) -> None:
    clip = render(tmp_path / "tone.mp4", tone(48000), seconds=clip_s)

    got = fitted(clip, "auto_scale", frames=frames, span_s=clip_s)

    n = round(frames / FPS * RATE)
    assert got.fit == "stretch" and got.samples.shape == (2, n)
    found = frequency(got.samples[0, 1600:-1600])
    print(f"{clip_s} s played in {frames / FPS:.3f} s: {found:.2f} Hz")
    assert abs(found - TONE) < 0.02 * TONE
    tail = got.samples[0, -1600:-160]  # the last 0.1 s is still sound: the stretch spans the whole sample
    assert np.sqrt(np.mean(tail**2)) > 0.1


def test_without_preserve_pitch_a_slowed_clip_is_padded_with_silence_and_a_sped_up_one_trimmed(
    tmp_path: Path,
) -> None:
    short = render(tmp_path / "short.mp4", tone(48000), seconds=2.0)
    padded = fitted(short, "auto_scale", frames=89, span_s=2.0, preserve_pitch=False)
    assert padded.fit == "trim_pad" and padded.samples.shape == (2, 59_333)
    assert abs(frequency(padded.samples[0, 1600:30_400]) - TONE) < 0.02 * TONE  # played at its own speed
    assert np.abs(padded.samples[:, 2 * RATE + 320 :]).max() < 1e-4  # silence after the clip's 2 s

    long = render(tmp_path / "long.mp4", tone(48000, hz=660.0), seconds=6.0)
    trimmed = fitted(long, "auto_scale", frames=49, span_s=6.0, preserve_pitch=False)
    assert trimmed.fit == "trim_pad" and trimmed.samples.shape == (2, round(49 / FPS * RATE))
    assert abs(frequency(trimmed.samples[0, 1600:-1600]) - 660.0) < 0.02 * 660.0
    assert np.sqrt(np.mean(trimmed.samples[0, -1600:] ** 2)) > 0.1  # its first 2 s, sound to the end


def test_normalisation_brings_the_peak_to_minus_1_dbfs_and_off_keeps_the_source_level(tmp_path: Path) -> None:
    clip = render(tmp_path / "quiet.mkv", tone(48000, amplitude=0.25), seconds=2.0)

    raw = fitted(clip, "first_frames", frames=41, normalize=False)
    loud = fitted(clip, "first_frames", frames=41, normalize=True)

    assert raw.gain == 1.0
    assert np.abs(raw.samples).max() == pytest.approx(0.25, abs=0.01)
    assert np.abs(loud.samples).max() == pytest.approx(PEAK_TARGET, abs=1e-3)
    assert loud.gain == pytest.approx(PEAK_TARGET / np.abs(raw.samples).max(), rel=1e-4)
    np.testing.assert_allclose(loud.samples, raw.samples * loud.gain, atol=1e-6)

    silent = render(tmp_path / "silent.mkv", "anullsrc=r=48000:cl=stereo", seconds=2.0)
    hush = fitted(silent, "first_frames", frames=41, normalize=True)
    assert hush.gain == 1.0 and not hush.samples.any()


def test_a_click_lands_on_its_sample_in_a_first_frames_sample_and_in_a_shot(tmp_path: Path) -> None:
    clip = render(tmp_path / "clicks.mp4", clicks(), seconds=4.0)
    bundles = tmp_path / "bundles"
    whole = job(clip, "clicks", bundles, frames=25, audio=AudioOptions(normalize=False))

    first = process_sample(whole)
    shot = process_shot(
        ShotJob(whole, probe(clip), number=2, shot=Shot(2.0, 4.0, 48, 96), cuts_s=(2.0,)),
    )

    for event, click_s, start_s in ((first, CLICKS_S[0], 0.0), (shot, CLICKS_S[1], 2.0)):
        assert isinstance(event, BundleWritten) and event.has_audio
        assert (event.facts.audio_fit, event.facts.audio_gain) == ("cut", 1.0)
        audio = read_bundle(event.path).audio
        assert audio.shape == (2, round(25 / FPS * RATE))
        found = int(np.argmax(np.abs(audio[0])))
        print(f"{event.sample_id}: click at sample {found}, expected {(click_s - start_s) * RATE:.0f}")
        assert abs(found / RATE - (click_s - start_s)) < 0.010


def test_a_track_ending_before_the_video_is_padded_with_silence(tmp_path: Path) -> None:
    clip = render(tmp_path / "short_track.mp4", tone(48000), seconds=3.0, audio_seconds=1.0)

    event = process_sample(job(clip, "short_track", tmp_path, frames=49))

    assert isinstance(event, BundleWritten) and event.has_audio and event.facts.audio_fit == "cut"
    audio = read_bundle(event.path).audio
    assert audio.shape == (2, round(49 / FPS * RATE))
    assert np.sqrt(np.mean(audio[:, 1600:14_400] ** 2)) > 0.1  # the track's second of sound
    assert np.abs(audio[:, round(1.05 * RATE) :]).max() < 1e-4  # then silence up to the sample's end


def test_with_audio_off_or_an_image_or_a_silent_file_gives_no_audio_tensor(tmp_path: Path) -> None:
    toned = render(tmp_path / "toned.mp4", tone(48000), seconds=1.0)
    mute = render(tmp_path / "mute.mp4", None, seconds=1.0)
    image = render_image(tmp_path / "still.png", "testsrc2=s=64x64")

    events = [
        process_sample(job(toned, "off", tmp_path, frames=17, audio=None)),
        process_sample(job(mute, "mute", tmp_path, frames=17)),
        process_sample(job(image, "image", tmp_path, frames=17)),
    ]

    for event in events:
        assert isinstance(event, BundleWritten)
        assert (event.has_audio, event.facts.audio_fit, event.facts.audio_gain) == (False, "", 1.0)
        assert event_message(event).bundle.has_audio is False
        with safe_open(str(event.path), framework="numpy") as fh:
            assert list(fh.keys()) == ["frames"]
        assert read_bundle(event.path).audio is None


def _break_aac_config(clip: Path, out: Path) -> Path:
    """A copy of an MP4 whose AAC decoder config names audio object type 0: the track exists, no decoder opens."""
    data = bytearray(clip.read_bytes())
    at = data.index(bytes.fromhex("0580808005"), data.index(b"esds")) + 5  # DecoderSpecificInfo, 5 bytes
    data[at : at + 2] = b"\x00\x00"
    out.write_bytes(bytes(data))
    return out


@pytest.mark.parametrize(
    ("auto_scale", "preserve_pitch", "fit"),
    [(False, True, "cut"), (True, True, "stretch"), (True, False, "trim_pad")],
)
def test_a_run_reports_the_audio_of_every_sample_and_keeps_a_clip_with_a_broken_track(
    tmp_path: Path, make_settings, worker_pool, auto_scale: bool, preserve_pitch: bool, fit: str
) -> None:
    toned = render(tmp_path / "toned.mp4", tone(48000), seconds=1.0)
    archive = write_zip(
        tmp_path / "clips.zip",
        {
            "toned.mp4": toned,
            "mute.mp4": render(tmp_path / "mute.mp4", None, seconds=1.0),
            "broken.mp4": _break_aac_config(toned, tmp_path / "broken.mp4"),
        },
    )
    settings = make_settings(archive, auto_scale_input=auto_scale, audio_preserve_pitch=preserve_pitch)

    events = list(run_preprocess(settings, tmp_path / "storage", worker_pool=worker_pool))

    written = {e.sample_id: e for e in events if isinstance(e, BundleWritten)}
    assert sorted(written) == ["broken.mp4", "mute.mp4", "toned.mp4"]  # a broken track costs no video sample
    assert {k: (e.has_audio, e.facts.audio_fit) for k, e in written.items()} == {
        "toned.mp4": (True, fit),
        "mute.mp4": (False, ""),
        "broken.mp4": (False, ""),
    }
    toned_bundle = read_bundle(written["toned.mp4"].path)
    assert written["toned.mp4"].facts.audio_gain > 1  # a 0.5 sine, brought up to -1 dBFS
    assert np.abs(toned_bundle.audio).max() == pytest.approx(PEAK_TARGET, abs=1e-3)
    assert toned_bundle.audio.shape == (2, round(17 / FPS * RATE)) and toned_bundle.audio_sample_rate == RATE
    assert event_message(written["toned.mp4"]).bundle.has_audio is True

    # The broken track is named in a warning just before its sample, in the bundle, and in the report.
    (warning,) = [e for e in events if isinstance(e, DatasetWarning) and e.code != "NO_CAPTION"]
    assert (warning.path, warning.code) == ("broken.mp4", "AUDIO_UNREADABLE")
    assert "kept without audio" in warning.message and "Error while opening decoder" in warning.message
    assert events[events.index(warning) + 1] is written["broken.mp4"]
    assert "UNDECODABLE" in read_bundle(written["broken.mp4"].path).source["audio_error"]
    reports = {e.path: e for e in events if isinstance(e, FileReport)}
    assert reports["broken.mp4"].source.has_audio and reports["broken.mp4"].samples[0].audio_fit == ""
    assert reports["toned.mp4"].samples[0].audio_fit == fit


def test_with_audio_false_in_a_run_prepares_no_audio(tmp_path: Path, make_settings, worker_pool) -> None:
    archive = write_zip(tmp_path / "clips.zip", {"toned.mp4": render(tmp_path / "t.mp4", tone(48000), seconds=1.0)})

    events = list(
        run_preprocess(make_settings(archive, with_audio=False), tmp_path / "storage", worker_pool=worker_pool)
    )

    (event,) = [e for e in events if isinstance(e, BundleWritten)]
    assert (event.has_audio, event.facts.audio_fit, event.source.has_audio) == (False, "", True)
    assert read_bundle(event.path).audio is None


def test_the_request_maps_the_audio_switches_with_their_defaults() -> None:
    base = dict(
        training_data_url="a.zip",
        dataset_id="0123456789abcdef",
        owner="alice",
        number_of_frames=17,
        frame_rate=24,
        width=64,
        height=64,
    )

    unset = settings_from_request(pb.PreprocessRequest(**base), **LIMITS)
    off = settings_from_request(
        pb.PreprocessRequest(**base, with_audio=False, audio_normalize=False, audio_preserve_pitch=False), **LIMITS
    )

    assert (unset.with_audio, unset.audio_normalize, unset.audio_preserve_pitch) == (True, True, True)
    assert (off.with_audio, off.audio_normalize, off.audio_preserve_pitch) == (False, False, False)


def test_a_track_starting_after_the_video_starts_as_late_in_the_sample(tmp_path: Path) -> None:
    clip = render(tmp_path / "late.mp4", tone(48000), seconds=2.0, audio_delay_s=0.5)

    got = fitted(clip, "first_frames", frames=41)

    assert np.abs(got.samples[:, : round(0.48 * RATE)]).max() < 1e-3  # nothing before the track starts
    onset = int(np.argmax(np.abs(got.samples[0]) > 0.1))
    assert abs(onset / RATE - 0.5) < 0.010


def test_the_command_line_reads_the_span_of_the_first_track_as_16k_stereo_float_on_stdout() -> None:
    stretch = AudioPlan("stretch", start_s=1.5, read_s=5.0, target_s=1.0, tempo=5.0)

    mono = parse_argv(audio_argv(Path("in put.mp4"), stretch, mono=True))
    cut = parse_argv(audio_argv(Path("in.mkv"), AudioPlan("cut", 0.25, 2.0, 2.0), mono=False))

    assert mono.binary == ffmpeg_exe()
    assert mono.inputs == [("in put.mp4", [("-ss", "1.500000"), ("-t", "5.000000")])]  # input seek: just the span
    assert mono.global_options["-filter_complex"] == (
        "[0:a:0]aresample=async=1:first_pts=0[s0];[s0]pan=stereo|c0<c0|c1<c0[s1];"
        "[s1]atempo=2.000000000[s2];[s2]atempo=2.000000000[s3];[s3]atempo=1.250000000[s4]"
    )
    assert mono.outputs == [("pipe:", [("-map", "[s4]"), ("-f", "f32le"), ("-ac", "2"), ("-ar", "16000")])]
    assert mono.global_flags == {"-hide_banner", "-nostats"} and mono.global_options["-loglevel"] == "error"
    assert cut.inputs == [("in.mkv", [("-ss", "0.250000"), ("-t", "2.000000")])]
    assert cut.global_options["-filter_complex"] == "[0:a:0]aresample=async=1:first_pts=0[s0]"  # no pan, no atempo
    assert cut.outputs == [("pipe:", [("-map", "[s0]"), ("-f", "f32le"), ("-ac", "2"), ("-ar", "16000")])]
