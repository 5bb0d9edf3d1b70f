"""The LoRA training loop on LTX2VideoTransformer3DModel (text-to-video, rectified flow).

One step, batch 1:
  x0     = the sample's normalised, packed video latents
  sigma  ~ shifted logit-normal for the sample's token count        (training/sigmas.py)
  x_t    = (1 - sigma) * x0 + sigma * noise
  loss   = MSE(transformer(x_t, sigma * 1000, caption), noise - x0)  (velocity target)
With audio, the sample's audio latents get their own sigma (drawn independently, shifted for the
audio token count) and noise, both streams go through the transformer together with audio<->video
cross-attention on, and loss = video MSE + audio MSE. Then AdamW on the LoRA parameters only,
gradients clipped to norm 1.0, learning rate decayed linearly to 0.1x over the run. A video-only run
isolates the modalities (no audio<->video cross-attention), the transformer's equivalent of running
without an audio branch.

A run can write checkpoints (training/checkpoint.py) and resume from one, in a fresh process, to the
same LoRA and the same per-step losses as if it had never stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from train_svc.models.device import Placement
from train_svc.training.audio_encoding import AudioLatents
from train_svc.training.checkpoint import Checkpoint, CheckpointMismatch, CheckpointPolicy, write_checkpoint
from train_svc.training.config import TrainConfig
from train_svc.training.data_order import DataOrder
from train_svc.training.encoding import CaptionEmbedding, VideoLatents
from train_svc.training.lora_targets import target_module_names
from train_svc.training.sigmas import sample_sigmas

ADAPTER_NAME = "default"


@dataclass(frozen=True)
class TrainingSample:
    sample_id: str
    latents: VideoLatents
    caption: CaptionEmbedding
    audio: AudioLatents | None = None


@dataclass(frozen=True)
class StepReport:
    step: int
    total_steps: int
    loss: float  # video_loss + audio_loss
    learning_rate: float
    step_seconds: float
    video_loss: float
    audio_loss: float  # 0 when audio is not trained


@dataclass(frozen=True)
class NoisyAudio:
    """The audio stream of a joint step: noisy packed latents and their own noise level ([B])."""

    tokens: torch.Tensor
    sigma: torch.Tensor


class NonFiniteLoss(Exception):
    """Training diverged: a step produced a NaN or infinite loss."""


def load_transformer(model_path: Path, placement: Placement):
    from diffusers import LTX2VideoTransformer3DModel

    transformer = LTX2VideoTransformer3DModel.from_pretrained(
        model_path, subfolder="transformer", dtype=placement.base_dtype, local_files_only=True
    )
    return transformer.to(placement.device).requires_grad_(False)


def transformer_velocity(
    transformer, noisy: torch.Tensor, sigma: torch.Tensor, latents: VideoLatents, caption: CaptionEmbedding
) -> torch.Tensor:
    """Predicted velocity for video tokens `noisy` at noise level `sigma` ([B]), modalities isolated."""
    return transformer_velocities(transformer, noisy, sigma, latents, caption)[0]


def transformer_velocities(
    transformer,
    noisy: torch.Tensor,
    sigma: torch.Tensor,
    latents: VideoLatents,
    caption: CaptionEmbedding,
    audio: NoisyAudio | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Predicted (video, audio) velocities. Without audio, a one-token silent placeholder stands in and
    the modalities are isolated; with it, both streams attend to each other, each at its own sigma."""
    device, dtype = noisy.device, noisy.dtype
    batch = noisy.shape[0]
    timestep = (sigma * 1000.0).to(device=device, dtype=dtype)
    if audio is None:
        audio_tokens = torch.zeros(batch, 1, transformer.config.audio_in_channels, device=device, dtype=dtype)
        audio_timestep = timestep
    else:
        audio_tokens = audio.tokens.to(device=device, dtype=dtype)
        audio_timestep = (audio.sigma * 1000.0).to(device=device, dtype=dtype)
    video_text = caption.video.to(device=device, dtype=dtype).expand(batch, -1, -1)
    audio_text = caption.audio.to(device=device, dtype=dtype).expand(batch, -1, -1)
    mask = caption.mask.to(device).expand(batch, -1)
    video_out, audio_out = transformer(
        hidden_states=noisy,
        audio_hidden_states=audio_tokens,
        encoder_hidden_states=video_text,
        audio_encoder_hidden_states=audio_text,
        timestep=timestep,
        audio_timestep=audio_timestep,
        sigma=timestep,
        audio_sigma=audio_timestep,
        encoder_attention_mask=mask,
        audio_encoder_attention_mask=mask,
        num_frames=latents.frames,
        height=latents.height,
        width=latents.width,
        fps=latents.fps,
        audio_num_frames=int(audio_tokens.shape[1]),
        isolate_modalities=audio is None,
        use_cross_timestep=True,
        return_dict=False,
    )[:2]
    return video_out.float(), (audio_out.float() if audio is not None else None)


class LoraTrainer:
    def __init__(self, model_path: Path, placement: Placement, config: TrainConfig):
        from peft import LoraConfig

        self.config = config
        self.placement = placement
        self.transformer = load_transformer(model_path, placement)
        targets = target_module_names(self.transformer, audio=config.audio, feed_forward=config.feed_forward)
        torch.manual_seed(config.seed)  # LoRA A matrices are initialised from the global generator
        lora = LoraConfig(
            r=config.rank,
            lora_alpha=config.lora_alpha,  # type: ignore[arg-type]  # peft says int; any number works (alpha / r)
            target_modules=targets,
            init_lora_weights=True,
        )
        self.transformer.add_adapter(lora, adapter_name=ADAPTER_NAME)
        self.named_lora_parameters = {n: p for n, p in self.transformer.named_parameters() if p.requires_grad}
        self.lora_parameters = list(self.named_lora_parameters.values())
        for param in self.lora_parameters:
            param.data = param.data.to(placement.train_dtype)
        if config.gradient_checkpointing:
            self.transformer.enable_gradient_checkpointing()
        self.target_modules = targets
        self.generator = torch.Generator().manual_seed(config.seed)

    def _noised(self, x0: torch.Tensor, sigma: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_t in the base dtype, velocity target) for clean tokens x0 at sigma ([1])."""
        x0 = x0.to(self.placement.device, torch.float32)
        noise = noise.to(x0.device, torch.float32)
        s = sigma.to(x0.device, torch.float32).view(-1, 1, 1)
        return ((1.0 - s) * x0 + s * noise).to(self.placement.base_dtype), noise - x0

    def loss(self, sample: TrainingSample, sigma: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Video velocity MSE of one sample at a given sigma ([1]) and noise (same shape as its tokens)."""
        noisy, target = self._noised(sample.latents.tokens, sigma, noise)
        velocity = transformer_velocity(self.transformer, noisy, sigma, sample.latents, sample.caption)
        return F.mse_loss(velocity, target)

    def joint_loss(
        self,
        sample: TrainingSample,
        sigma: torch.Tensor,
        noise: torch.Tensor,
        audio_sigma: torch.Tensor,
        audio_noise: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(video MSE, audio MSE) of one sample with both streams noised, each at its own sigma."""
        if sample.audio is None:
            raise ValueError(f"sample {sample.sample_id} has no audio to train on")
        noisy, target = self._noised(sample.latents.tokens, sigma, noise)
        noisy_audio, audio_target = self._noised(sample.audio.tokens, audio_sigma, audio_noise)
        video_v, audio_v = transformer_velocities(
            self.transformer, noisy, sigma, sample.latents, sample.caption, NoisyAudio(noisy_audio, audio_sigma)
        )
        if audio_v is None:
            raise RuntimeError("the transformer gave no audio velocity for a step with audio")
        return F.mse_loss(video_v, target), F.mse_loss(audio_v, audio_target)

    def _step_losses(self, sample: TrainingSample) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Draw this step's noise levels and noise (video first, then audio) and compute the losses."""
        sigma = sample_sigmas(1, sample.latents.num_tokens, self.generator)
        noise = torch.randn(sample.latents.tokens.shape, generator=self.generator)
        if not self.config.audio:
            return self.loss(sample, sigma, noise), None
        if sample.audio is None:
            raise ValueError(f"sample {sample.sample_id} has no audio to train on")
        audio_sigma = sample_sigmas(1, sample.audio.num_tokens, self.generator)
        audio_noise = torch.randn(sample.audio.tokens.shape, generator=self.generator)
        return self.joint_loss(sample, sigma, noise, audio_sigma, audio_noise)

    def train(
        self,
        samples: Sequence[TrainingSample],
        on_step: Callable[[StepReport], None] = lambda report: None,
        should_stop: Callable[[], bool] = lambda: False,
        *,
        resume: Checkpoint | None = None,
        checkpoints: CheckpointPolicy | None = None,
    ) -> int:
        """Run the configured number of steps (or until should_stop), continuing from `resume` if given
        (same config and samples required), writing checkpoints as `checkpoints` says (and always after
        the last step trained, also when stopped early); return the number of steps completed in the
        whole run."""
        if not samples:
            raise ValueError("no training samples")
        cfg = self.config
        if cfg.audio and (silent := [s.sample_id for s in samples if s.audio is None]):
            raise ValueError(f"audio training needs audio on every sample; none on {silent}")
        optimizer = torch.optim.AdamW(self.lora_parameters, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        scheduler = torch.optim.lr_scheduler.LinearLR(
            optimizer, start_factor=1.0, end_factor=cfg.lr_end_factor, total_iters=cfg.steps
        )
        if resume is None:
            order, step = DataOrder(len(samples), self.generator), 0
        else:
            order, step = self._restore(resume, optimizer, scheduler, len(samples)), resume.step
        first_step = step
        self.transformer.train()
        while step < cfg.steps and not should_stop():
            started = time.perf_counter()
            sample = samples[order.next()]
            video_loss, audio_loss = self._step_losses(sample)
            loss = video_loss if audio_loss is None else video_loss + audio_loss
            if not torch.isfinite(loss):
                raise NonFiniteLoss(f"step {step + 1}: loss is {loss.item()} on sample {sample.sample_id}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.lora_parameters, cfg.max_grad_norm)
            learning_rate = optimizer.param_groups[0]["lr"]
            optimizer.step()
            scheduler.step()
            step += 1
            on_step(
                StepReport(
                    step=step,
                    total_steps=cfg.steps,
                    loss=loss.item(),
                    learning_rate=learning_rate,
                    step_seconds=time.perf_counter() - started,
                    video_loss=video_loss.item(),
                    audio_loss=audio_loss.item() if audio_loss is not None else 0.0,
                )
            )
            if checkpoints is not None and step % checkpoints.every == 0:
                self._write_checkpoint(checkpoints, step, optimizer, scheduler, order)
        # The last step (and a stop before it) is always kept, so a resume never has to redo work.
        if checkpoints is not None and step > first_step and step % checkpoints.every != 0:
            self._write_checkpoint(checkpoints, step, optimizer, scheduler, order)
        self.transformer.eval()
        return step

    def _write_checkpoint(self, policy: CheckpointPolicy, step: int, optimizer, scheduler, order: DataOrder) -> None:
        state = self._checkpoint(step, optimizer, scheduler, order)
        policy.on_checkpoint(step, write_checkpoint(policy.folder, state, keep=policy.keep, space=policy.space))

    def _checkpoint(self, step: int, optimizer, scheduler, order: DataOrder) -> Checkpoint:
        """The run's state after `step` steps (live tensors: write it before the next step)."""
        return Checkpoint(
            step=step,
            config=self.config,
            lora={name: p.detach() for name, p in self.named_lora_parameters.items()},
            optimizer=optimizer.state_dict(),
            scheduler=scheduler.state_dict(),
            generator=self.generator.get_state(),
            order=order.state(),
        )

    def _restore(self, checkpoint: Checkpoint, optimizer, scheduler, sample_count: int) -> DataOrder:
        """Put the LoRA, optimizer, scheduler and generator back as they were at the checkpoint; return
        the data order, positioned after the last sample trained."""
        checkpoint.require_config(self.config)
        if len(checkpoint.order.permutation) not in (0, sample_count):
            raise CheckpointMismatch(
                f"the checkpoint's data order covers {len(checkpoint.order.permutation)} samples, "
                f"this run has {sample_count}"
            )
        if checkpoint.lora.keys() != self.named_lora_parameters.keys():
            raise CheckpointMismatch("the checkpoint's LoRA parameters are not this model's")
        with torch.no_grad():
            for name, param in self.named_lora_parameters.items():
                param.copy_(checkpoint.lora[name])
        optimizer.load_state_dict(checkpoint.optimizer)
        scheduler.load_state_dict(checkpoint.scheduler)
        self.generator.set_state(checkpoint.generator)
        return DataOrder(sample_count, self.generator, checkpoint.order)

    def lora_state_dict(self) -> dict[str, torch.Tensor]:
        """LoRA weights with peft/diffusers module names, e.g. transformer_blocks.0.attn1.to_q.lora_A.weight."""
        from peft.utils import get_peft_model_state_dict

        state = get_peft_model_state_dict(self.transformer, adapter_name=ADAPTER_NAME)
        return {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state.items()}
