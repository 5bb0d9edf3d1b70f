"""The latent cache: a bundle encoded once for a base model is loaded, bit for bit, without loading any encoder.

Real bundles (a striped clip with a chord) are encoded with the tiny preset through SampleEncoders and a
LatentCache on disk; a second SampleEncoders with the same cache must hit, return exactly the same
tensors, and never construct an encoder, also once the bundle file is gone. Another model identity or
audio flag misses; a damaged entry is a miss and is rewritten; LoRAs trained on cached and fresh
encodings are identical.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from structlog.testing import capture_logs

from shared.bundle import AUDIO_SAMPLE_RATE, SampleBundle, write_bundle
from shared.bundle_ref import BundleRef
from train_svc.job_run.sample_encoding import SampleEncoders
from train_svc.jobs.events import DatasetFailure
from train_svc.models.device import Placement
from train_svc.training.config import TrainConfig
from train_svc.training.latent_cache import LatentCache, model_identity
from train_svc.training.trainer import LoraTrainer, TrainingSample

FRAMES = 9
SIZE = 32
FPS = 24.0
CAPTION = "zqx orange stripes with a chord"
PROMPT = "zqx a validation prompt"


def _chord(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * AUDIO_SAMPLE_RATE)) / AUDIO_SAMPLE_RATE
    return np.stack([0.4 * np.sin(2 * np.pi * 330 * t), 0.4 * np.sin(2 * np.pi * 495 * t)]).astype(np.float32)


@pytest.fixture
def bundle(tmp_path, make_clip) -> BundleRef:
    clip = make_clip(FRAMES, SIZE, SIZE, base=(0.9, 0.4, 0.0), accent=(0.0, 0.2, 0.8), direction=1)
    sample = SampleBundle(
        "clip.mp4", clip, FPS, CAPTION, "clip.mp4", audio=_chord(FRAMES / FPS), audio_sample_rate=AUDIO_SAMPLE_RATE
    )
    written = write_bundle(tmp_path / "bundles" / "clip.safetensors", sample)
    return BundleRef(
        sample_id="clip.mp4",
        uri=written.uri,
        sha256=written.sha256,
        size_bytes=written.size_bytes,
        frames=FRAMES,
        height=SIZE,
        width=SIZE,
        fps=FPS,
        caption=CAPTION,
        source_path="clip.mp4",
        has_audio=True,
    )


@pytest.fixture
def cache(tmp_path, tiny_model, placement) -> LatentCache:
    return LatentCache(tmp_path / "cache" / "latents", model_identity(tiny_model.path, placement), "alice")


def _encode(tiny_model, placement, cache: LatentCache, bundle: BundleRef, *, audio: bool = True):
    """(sample, from_cache, whether any encoder was loaded), through a fresh SampleEncoders."""
    encoders = SampleEncoders(tiny_model.path, placement, audio=audio, cache=cache)
    try:
        sample, hit = encoders.encode(bundle)
        loaded = any(e is not None for e in (encoders.video, encoders.caption, encoders.audio))
    finally:
        encoders.close()
    return sample, hit, loaded


def _tensors(sample: TrainingSample) -> dict[str, torch.Tensor]:
    out = {
        "video": sample.latents.tokens,
        "caption_video": sample.caption.video,
        "caption_audio": sample.caption.audio,
        "caption_mask": sample.caption.mask,
    }
    if sample.audio is not None:
        out["audio"] = sample.audio.tokens
    return out


def _assert_same_sample(a: TrainingSample, b: TrainingSample) -> None:
    assert (a.sample_id, a.latents.frames, a.latents.height, a.latents.width, a.latents.fps) == (
        b.sample_id,
        b.latents.frames,
        b.latents.height,
        b.latents.width,
        b.latents.fps,
    )
    ta, tb = _tensors(a), _tensors(b)
    assert ta.keys() == tb.keys()
    for name in ta:
        assert ta[name].dtype == tb[name].dtype and torch.equal(ta[name], tb[name]), name


def test_a_second_encode_is_a_hit_with_identical_tensors_and_loads_no_encoder(
    tiny_model, placement, cache, bundle
) -> None:
    first, hit, loaded = _encode(tiny_model, placement, cache, bundle)
    assert not hit and loaded and first.audio is not None
    second, hit, loaded = _encode(tiny_model, placement, cache, bundle)
    assert hit and not loaded
    _assert_same_sample(first, second)


def test_a_hit_needs_no_bundle_file(tiny_model, placement, cache, bundle) -> None:
    first, _, _ = _encode(tiny_model, placement, cache, bundle)
    Path(bundle.uri.removeprefix("file://")).unlink()
    second, hit, loaded = _encode(tiny_model, placement, cache, bundle)
    assert hit and not loaded
    _assert_same_sample(first, second)


def test_a_miss_still_verifies_the_bundle(tiny_model, placement, cache, bundle) -> None:
    encoders = SampleEncoders(tiny_model.path, placement, audio=True, cache=cache)
    with pytest.raises(DatasetFailure, match="expected"):
        encoders.encode(dataclasses.replace(bundle, sha256="0" * 64))
    encoders.close()


def test_another_model_identity_or_audio_flag_misses(tiny_model, placement, cache, bundle) -> None:
    with_audio, _, _ = _encode(tiny_model, placement, cache, bundle)
    other_model = LatentCache(cache.folder.parent, "another model", "alice")
    assert other_model.get(bundle.sha256, True) is None
    _, hit, _ = _encode(tiny_model, placement, other_model, bundle)
    assert not hit
    # Another principal never hits alice's entries, not even for the very same bundle bytes and model.
    bob = LatentCache(cache.folder.parent, cache.model_identity, "bob")
    assert bob.get(bundle.sha256, True) is None and bob.folder != cache.folder

    video_only, hit, loaded = _encode(tiny_model, placement, cache, bundle, audio=False)
    assert not hit and loaded and video_only.audio is None
    assert torch.equal(video_only.latents.tokens, with_audio.latents.tokens)
    for audio in (True, False):  # both entries now live side by side
        assert _encode(tiny_model, placement, cache, bundle, audio=audio)[1]


def _sample_entry(cache: LatentCache) -> Path:
    (entry,) = (cache.folder / "samples").iterdir()
    return entry


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_a_damaged_entry_is_a_miss_and_gets_rewritten(tiny_model, placement, cache, bundle, damage) -> None:
    first, _, _ = _encode(tiny_model, placement, cache, bundle)
    entry = _sample_entry(cache)
    data = bytearray(entry.read_bytes())
    if damage == "flip":
        data[-5] ^= 0x40  # a bit inside the last tensor's bytes: safetensors still parses it
    else:
        data = data[: len(data) // 2]
    entry.write_bytes(bytes(data))

    with capture_logs() as logs:
        assert cache.get(bundle.sha256, True) is None
    assert any(log["log_level"] == "warning" and "unreadable" in log["event"] for log in logs)

    again, hit, loaded = _encode(tiny_model, placement, cache, bundle)
    assert not hit and loaded
    _assert_same_sample(first, again)  # encoding is deterministic on the CPU in fp32
    assert _sample_entry(cache) == entry
    cached, hit, _ = _encode(tiny_model, placement, cache, bundle)
    assert hit
    _assert_same_sample(first, cached)
    assert not [p for p in entry.parent.iterdir() if p.suffix == ".tmp"]


def test_validation_prompt_states_come_from_the_cache_without_a_text_encoder(tiny_model, placement, cache) -> None:
    encoders = SampleEncoders(tiny_model.path, placement, audio=False, cache=cache)
    fresh = encoders.prompt_states(PROMPT)
    assert encoders.caption is not None and encoders.video is None
    encoders.close()

    encoders = SampleEncoders(tiny_model.path, placement, audio=False, cache=cache)
    cached = encoders.prompt_states(PROMPT)
    assert encoders.caption is None
    assert fresh.embeds.device.type == cached.embeds.device.type == "cpu"
    assert torch.equal(fresh.embeds, cached.embeds) and torch.equal(fresh.mask, cached.mask)
    assert fresh.embeds.dtype == cached.embeds.dtype and fresh.mask.dtype == cached.mask.dtype
    assert cache.get_prompt("another prompt") is None


def test_a_lora_trained_on_cached_latents_equals_one_trained_on_fresh_encodings(
    tiny_model, placement, cache, bundle
) -> None:
    fresh, _, _ = _encode(tiny_model, placement, cache, bundle)
    cached, hit, _ = _encode(tiny_model, placement, cache, bundle)
    assert hit
    config = TrainConfig(rank=4, learning_rate=5e-3, steps=3, audio=True, seed=5)
    loras = []
    for sample in (fresh, cached):
        trainer = LoraTrainer(tiny_model.path, placement, config)
        trainer.train([sample])
        loras.append(trainer.lora_state_dict())
        del trainer
    assert loras[0].keys() == loras[1].keys()
    for key in loras[0]:
        assert torch.equal(loras[0][key], loras[1][key]), key


def _fake_model(root: Path) -> Path:
    (root / "vae").mkdir(parents=True)
    (root / "model_index.json").write_text('{"_class_name": "LTX2Pipeline"}')
    (root / "vae" / "config.json").write_text('{"latent_channels": 8}')
    (root / "vae" / "diffusion_pytorch_model.safetensors").write_bytes(bytes(2 << 20))  # stat-fingerprinted
    (root / "transformer").mkdir()
    (root / "transformer" / "config.json").write_text('{"num_layers": 2}')
    return root


def test_model_identity_follows_the_encoder_files_precision_and_device(tmp_path) -> None:
    model = _fake_model(tmp_path / "model")
    cpu = Placement(torch.device("cpu"), torch.float32)
    identity = model_identity(model, cpu)
    assert model_identity(model, cpu) == identity
    assert model_identity(model, Placement(torch.device("cpu"), torch.bfloat16)) != identity
    assert model_identity(model, Placement(torch.device("cuda", 1), torch.float32)) != identity

    (model / "transformer" / "config.json").write_text('{"num_layers": 4}')  # no bearing on the encodings
    assert model_identity(model, cpu) == identity

    (model / "vae" / "config.json").write_text('{"latent_channels": 16}')
    changed_config = model_identity(model, cpu)
    assert changed_config != identity

    weights = model / "vae" / "diffusion_pytorch_model.safetensors"
    stat = weights.stat()
    weights.write_bytes(bytes(2 << 20))  # another model written at the same path: same size, new mtime
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert model_identity(model, cpu) != changed_config
