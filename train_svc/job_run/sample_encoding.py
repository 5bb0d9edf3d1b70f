"""Bundles into training samples: each one taken from the latent cache or checked, read and encoded as it arrives.

The encoders (video VAE, Gemma 3 + connectors, and the audio VAE when audio may be trained) are loaded
on first need, i.e. at the first cache miss, once per job, and freed as soon as the dataset is encoded,
so the accelerator holds only the transformer while training; a dataset found whole in the cache loads
none of them. A cache hit is keyed by the bundle's announced sha256, so it needs no bundle file; a miss
verifies the file against that sha256 before encoding it. Captions shared by several samples (the shots
of a clip) are encoded once.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from shared.bundle import path_from_uri, read_bundle, sha256_file
from shared.bundle_ref import BundleRef
from train_svc.jobs.events import DatasetFailure, JobError
from train_svc.models.device import Placement
from train_svc.training.audio_encoding import AudioEncoder
from train_svc.training.encoding import CaptionEmbedding, CaptionEncoder, PromptStates, VideoEncoder
from train_svc.training.latent_cache import LatentCache
from train_svc.training.trainer import TrainingSample


class SampleEncoders:
    def __init__(self, model_path: Path, placement: Placement, *, audio: bool, cache: LatentCache | None = None):
        self._model_path = model_path
        self._placement = placement
        self._with_audio = audio
        self._cache = cache
        self.video: VideoEncoder | None = None  # each encoder stays None until a miss needs it
        self.caption: CaptionEncoder | None = None
        self.audio: AudioEncoder | None = None
        self._captions: dict[str, CaptionEmbedding] = {}

    def encode(self, bundle: BundleRef) -> tuple[TrainingSample, bool]:
        """The bundle's training sample, and whether it came from the cache."""
        if self._cache is not None:
            cached = self._cache.get(bundle.sha256, self._with_audio)
            if cached is not None:
                return cached, True
        sample = self._encode(bundle)
        if self._cache is not None:
            self._cache.put(bundle.sha256, self._with_audio, sample)
        return sample, False

    def cache_file(self, bundle: BundleRef) -> Path:
        """Where the latent cache keeps the bundle's sample (the training workers read it there)."""
        if self._cache is None:
            raise ValueError("these encoders keep no latent cache")
        return self._cache.sample_file(bundle.sha256, self._with_audio)

    def prompt_states(self, text: str) -> PromptStates:
        """Gemma's states of a validation prompt, on the CPU, from the cache when it has them."""
        if self._cache is not None:
            cached = self._cache.get_prompt(text)
            if cached is not None:
                return cached
        states = self._caption_encoder().text_states(text).to("cpu")
        if self._cache is not None:
            self._cache.put_prompt(text, states)
        return states

    def _encode(self, bundle: BundleRef) -> TrainingSample:
        path = path_from_uri(bundle.uri)
        digest = sha256_file(path)
        if digest != bundle.sha256:
            raise DatasetFailure(
                JobError(
                    "DATA_LOSS",
                    "BUNDLE_CORRUPTED",
                    f"bundle {bundle.sample_id} at {bundle.uri} has sha256 {digest}, expected {bundle.sha256}",
                )
            )
        sample = read_bundle(path)
        if self.video is None:
            self.video = VideoEncoder(self._model_path, self._placement)
        latents = self.video.encode(sample.frames, sample.fps)
        # Packed tokens are a strided view; training's float sums depend on the layout, so give them the
        # contiguous layout a cache hit has, and a fresh and a cached run train the very same LoRA.
        latents = replace(latents, tokens=latents.tokens.contiguous())
        if sample.caption not in self._captions:
            self._captions[sample.caption] = self._caption_encoder().encode(sample.caption)
        audio = None
        if self._with_audio and sample.audio is not None:
            if sample.audio_sample_rate is None:  # read_bundle gives audio only with its rate
                raise ValueError(f"bundle {bundle.sample_id} has audio but no audio sample rate")
            if self.audio is None:
                self.audio = AudioEncoder(self._model_path, self._placement)
            audio = self.audio.encode(sample.audio, sample.audio_sample_rate, sample.num_frames / sample.fps)
        return TrainingSample(sample.sample_id, latents, self._captions[sample.caption], audio)

    def _caption_encoder(self) -> CaptionEncoder:
        if self.caption is None:
            self.caption = CaptionEncoder(self._model_path, self._placement)
        return self.caption

    def close(self) -> None:
        """Free whichever encoders were loaded."""
        for encoder in (self.video, self.caption, self.audio):
            if encoder is not None:
                encoder.close()
        self.video = self.caption = self.audio = None
