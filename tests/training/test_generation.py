"""Generation on the tiny preset: real LTX2Pipeline, real LoRA files, real mp4s read back with PyAV."""

from __future__ import annotations

import os
from dataclasses import replace
from fractions import Fraction
from types import SimpleNamespace

import av
import numpy as np
import pytest

from tests.lora_files import random_lora_state, write_test_lora
from train_svc.generation.generator import GeneratedVideo, Generator, stg_blocks
from train_svc.generation.lora_check import LoraFileError
from train_svc.generation.mp4 import fit_audio, write_mp4
from train_svc.generation.request import DEFAULT_NEGATIVE_PROMPT, GenerationRequest, InvalidGenerationRequest
from train_svc.models.version_profiles import LTX_23, LTX_25

SMALL = dict(prompt="zqx blue stripes drifting", num_frames=9, width=64, height=64, steps=2, seed=7)


@pytest.fixture(scope="module")
def generator(tiny_model, placement) -> Generator:
    return Generator(tiny_model, placement)


@pytest.fixture(scope="module")
def lora_state(tiny_model):
    return random_lora_state(tiny_model.path)


@pytest.fixture(scope="module")
def lora_file(tmp_path_factory, lora_state):
    return write_test_lora(tmp_path_factory.mktemp("lora") / "lora.safetensors", lora_state)


@pytest.fixture(scope="module")
def base_video(generator) -> GeneratedVideo:
    return generator.generate(GenerationRequest(**SMALL))


def _read_mp4(path):
    with av.open(str(path)) as container:
        assert len(container.streams.video) == 1 and len(container.streams.audio) == 1
        video, audio = container.streams.video[0], container.streams.audio[0]
        facts = {
            "video_codec": video.codec_context.name,
            "pix_fmt": video.codec_context.pix_fmt,
            "size": (video.codec_context.width, video.codec_context.height),
            "rate": video.average_rate,
            "video_s": float(video.duration * video.time_base),
            "audio_codec": audio.codec_context.name,
            "sample_rate": audio.rate,
            "channels": audio.codec_context.layout.nb_channels,
            "audio_s": float(audio.duration * audio.time_base),
        }
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    with av.open(str(path)) as container:
        facts["decoded_samples"] = sum(f.samples for f in container.decode(audio=0))
    return facts, frames


def test_request_snaps_frames_and_defaults_to_the_quality_negative_prompt():
    request = GenerationRequest(prompt="x", num_frames=100)
    assert request.num_frames == 97
    assert request.negative_prompt == DEFAULT_NEGATIVE_PROMPT and "blurry" in DEFAULT_NEGATIVE_PROMPT
    assert GenerationRequest(prompt="x", num_frames=257).num_frames == 257


def test_request_reports_every_bad_value_at_once():
    with pytest.raises(InvalidGenerationRequest) as caught:
        GenerationRequest(
            prompt=" ",
            num_frames=300,
            frame_rate=0,
            width=100,
            height=0,
            steps=0,
            guidance_scale=0.5,
            stg_scale=-1,
            lora_scale=float("nan"),
            seed=-1,
        )
    fields = [field for field, _ in caught.value.problems]
    assert fields == [
        "prompt",
        "seed",
        "num_frames",
        "frame_rate",
        "width",
        "height",
        "steps",
        "guidance_scale",
        "stg_scale",
        "lora_scale",
    ]


def test_stg_targets_a_block_the_model_has(generator):
    assert generator.stg_blocks == [1]  # the tiny preset has 2 blocks; the pipeline default 28 would be a no-op
    for profile in (LTX_23, LTX_25):  # the full-size transformers: the versions' recommended block
        assert stg_blocks(SimpleNamespace(transformer_blocks=[None] * 48), profile) == [28]


def test_generation_gives_frames_and_audio_that_mux_into_a_matching_mp4(generator, base_video, tmp_path):
    assert base_video.frames.shape == (9, 64, 64, 3) and base_video.frames.dtype == np.uint8
    assert base_video.frames.std() > 0
    assert base_video.sample_rate == 48000  # the BWE vocoder's output rate, read from its config
    assert base_video.audio.shape[0] == 2 and base_video.audio.shape[1] > 0

    path = write_mp4(
        tmp_path / "clip.mp4", base_video.frames, base_video.frame_rate, base_video.audio, base_video.sample_rate
    )
    facts, frames = _read_mp4(path)
    assert not list(tmp_path.glob(".*"))  # the temporary file is gone
    assert facts["video_codec"] == "h264" and facts["pix_fmt"] == "yuv420p" and facts["size"] == (64, 64)
    assert facts["rate"] == 24 and frames.shape == (9, 64, 64, 3)
    assert facts["audio_codec"] == "aac" and facts["sample_rate"] == 48000 and facts["channels"] == 2
    one_frame = 1 / 24
    assert facts["video_s"] == pytest.approx(9 / 24, abs=1e-3)
    assert abs(facts["audio_s"] - facts["video_s"]) < one_frame
    assert abs(facts["decoded_samples"] / 48000 - 9 / 24) < one_frame
    luma = np.array([0.299, 0.587, 0.114])  # compared on luma: yuv420p halves the chroma resolution
    assert np.abs(frames @ luma - base_video.frames @ luma).mean() < 6  # H.264 at crf 18


def test_same_seed_gives_identical_output_and_reports_progress(generator, base_video):
    steps = []
    again = generator.generate(GenerationRequest(**SMALL), on_step=lambda step, total: steps.append((step, total)))
    assert steps == [(1, 2), (2, 2)]
    assert np.array_equal(again.frames, base_video.frames)
    assert np.array_equal(again.audio, base_video.audio)
    other = generator.generate(GenerationRequest(**{**SMALL, "seed": 8}))
    assert not np.array_equal(other.frames, base_video.frames)


def test_lora_changes_the_output_and_scale_zero_is_exactly_the_base(generator, base_video, lora_file):
    request = GenerationRequest(**SMALL, lora_path=lora_file)
    tuned = generator.generate(request)
    assert np.abs(tuned.frames.astype(int) - base_video.frames.astype(int)).max() > 8

    off = generator.generate(replace(request, lora_scale=0.0))
    assert np.array_equal(off.frames, base_video.frames)
    assert np.array_equal(off.audio, base_video.audio)

    half = generator.generate(replace(request, lora_scale=0.5))
    assert not np.array_equal(half.frames, tuned.frames) and not np.array_equal(half.frames, base_video.frames)
    assert np.array_equal(generator.generate(request).frames, tuned.frames)  # the scale is not sticky

    without = generator.generate(GenerationRequest(**SMALL))
    assert np.array_equal(without.frames, base_video.frames)  # no LoRA named: none applied


def test_a_rewritten_lora_file_is_reloaded(generator, lora_state, tmp_path):
    path = write_test_lora(tmp_path / "lora.safetensors", lora_state)
    first = generator.generate(GenerationRequest(**SMALL, lora_path=path))
    write_test_lora(path, {k: -v if ".lora_B." in k else v for k, v in lora_state.items()})
    second = generator.generate(GenerationRequest(**SMALL, lora_path=path))
    assert not np.array_equal(first.frames, second.frames)


def _passes(generator, request) -> list[tuple[int, object, bool]]:
    """(batch, STG blocks, modalities isolated) of every transformer call during one generation."""
    calls = []

    def record(module, args, kwargs):
        calls.append(
            (
                kwargs["hidden_states"].shape[0],
                kwargs["spatio_temporal_guidance_blocks"],
                kwargs["isolate_modalities"],
            )
        )

    hook = generator._pipe.transformer.register_forward_pre_hook(record, with_kwargs=True)
    try:
        generator.generate(request)
    finally:
        hook.remove()
    return calls


def test_guidance_reaches_the_pipeline_for_both_modalities(generator):
    on = _passes(generator, GenerationRequest(**SMALL))
    # per step: CFG (negative + positive), STG on the last block, modality isolation
    assert on == [(2, None, False), (1, [1], False), (1, None, True)] * 2

    no_stg = _passes(generator, GenerationRequest(**SMALL, stg_scale=0.0))
    assert no_stg == [(2, None, False), (1, None, True)] * 2  # STG off for audio too, not a fallback to video

    # Video CFG off but audio CFG on: the negative pass still runs, for the audio stream.
    audio_cfg = _passes(generator, GenerationRequest(**SMALL, guidance_scale=1.0, stg_scale=0.0))
    assert audio_cfg == [(2, None, False), (1, None, True)] * 2
    no_cfg = _passes(generator, GenerationRequest(**SMALL, guidance_scale=1.0, audio_guidance_scale=1.0, stg_scale=0))
    assert no_cfg == [(1, None, False), (1, None, True)] * 2


def test_a_lora_that_does_not_fit_the_model_is_refused(generator, lora_state, tmp_path):
    missing = tmp_path / "missing.safetensors"
    with pytest.raises(LoraFileError, match="does not exist"):
        generator.generate(GenerationRequest(**SMALL, lora_path=missing))

    deeper = {k.replace("transformer_blocks.1.", "transformer_blocks.30."): v for k, v in lora_state.items()}
    with pytest.raises(LoraFileError, match="layers this model does not have: diffusion_model.transformer_blocks.30"):
        generator.generate(GenerationRequest(**SMALL, lora_path=write_test_lora(tmp_path / "deep.safetensors", deeper)))

    wider = {k: v.repeat(1, 2) if ".lora_A." in k else v for k, v in lora_state.items()}
    with pytest.raises(LoraFileError, match="do not fit their layer"):
        generator.generate(GenerationRequest(**SMALL, lora_path=write_test_lora(tmp_path / "wide.safetensors", wider)))

    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a safetensors file at all")
    with pytest.raises(LoraFileError, match="not a readable safetensors file"):
        generator.generate(GenerationRequest(**SMALL, lora_path=junk))


def test_fit_audio_trims_and_pads_to_the_video_duration():
    long = np.ones((2, 20_000), dtype=np.float32)
    assert fit_audio(long, 9, 24, 48_000).shape == (2, 18_000)
    short = fit_audio(np.full((1, 100), 2.0, dtype=np.float32), 25, 25, 16_000)
    assert short.shape == (1, 16_000) and short[0, :100].max() == 1.0 and short[0, 100:].max() == 0.0


def test_odd_sized_frames_are_padded_to_even_sides(tmp_path):
    frames = np.random.default_rng(0).integers(0, 255, (9, 33, 31, 3), dtype=np.uint8)
    path = write_mp4(tmp_path / "odd.mp4", frames, 12, np.zeros((1, 4000), np.float32), 16_000)
    facts, decoded = _read_mp4(path)
    assert facts["size"] == (32, 34) and decoded.shape == (9, 34, 32, 3) and facts["rate"] == Fraction(12)
    assert facts["channels"] == 1 and abs(facts["audio_s"] - 9 / 12) < 1 / 12


def test_the_same_frames_encode_to_the_same_file_whatever_cpus_the_process_may_use(tmp_path):
    """x264's automatic thread count follows the process's CPU affinity and changes its output; ours is fixed."""
    rng = np.random.default_rng(3)
    frames = np.clip(np.cumsum(rng.normal(0, 3, (17, 288, 512, 3)), axis=2) + 128, 0, 255).astype(np.uint8)
    audio = rng.normal(0, 0.1, (2, 17 * 2000)).astype(np.float32)
    first = write_mp4(tmp_path / "first.mp4", frames, 24, audio, 48_000).read_bytes()
    assert write_mp4(tmp_path / "again.mp4", frames, 24, audio, 48_000).read_bytes() == first
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    try:
        pinned = write_mp4(tmp_path / "pinned.mp4", frames, 24, audio, 48_000).read_bytes()
    finally:
        os.sched_setaffinity(0, cpus)
    assert pinned == first
