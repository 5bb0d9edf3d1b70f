"""Bundles into training samples: each one checked, read and encoded as it arrives from the preprocessor.

The encoders (video VAE, Gemma 3 + connectors, and the audio VAE when audio may be trained) are loaded
once per job and freed as soon as the dataset is encoded, so the accelerator holds only the
transformer while training. Captions shared by several samples (the shots of a clip) are encoded once.
"""

from __future__ import annotations

from pathlib import Path

from shared.bundle import path_from_uri, read_bundle, sha256_file
from train_svc.jobs.events import BundleInfo, DatasetFailure, JobError
from train_svc.models.device import Placement
from train_svc.training.audio_encoding import AudioEncoder
from train_svc.training.encoding import CaptionEmbedding, CaptionEncoder, VideoEncoder
from train_svc.training.trainer import TrainingSample


class SampleEncoders:
    def __init__(self, model_path: Path, placement: Placement, *, audio: bool):
        self.video = VideoEncoder(model_path, placement)
        self.caption = CaptionEncoder(model_path, placement)
        self.audio = AudioEncoder(model_path, placement) if audio else None
        self._captions: dict[str, CaptionEmbedding] = {}

    def encode(self, bundle: BundleInfo) -> TrainingSample:
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
        latents = self.video.encode(sample.frames, sample.fps)
        if sample.caption not in self._captions:
            self._captions[sample.caption] = self.caption.encode(sample.caption)
        audio = None
        if self.audio is not None and sample.audio is not None:
            audio = self.audio.encode(sample.audio, sample.audio_sample_rate, sample.num_frames / sample.fps)
        return TrainingSample(sample.sample_id, latents, self._captions[sample.caption], audio)

    def close(self) -> None:
        self.video.close()
        self.caption.close()
        if self.audio is not None:
            self.audio.close()
