"""The LoRA training loop on LTX2VideoTransformer3DModel (text-to-video, rectified flow).

One step trains a global batch of `batch_size` samples; for each sample:
  x0     = the sample's normalised, packed video latents
  sigma  ~ shifted logit-normal for the sample's token count        (training/sigmas.py)
  x_t    = (1 - sigma) * x0 + sigma * noise
  loss   = MSE(transformer(x_t, sigma * 1000, caption), noise - x0)  (velocity target)
With audio, the sample's audio latents get their own sigma (drawn independently, shifted for the
audio token count) and noise, both streams go through the transformer together with audio<->video
cross-attention on, and loss = video MSE + audio MSE. The step's loss is the mean over the batch; then
AdamW on the LoRA parameters only, gradients clipped to norm 1.0, learning rate decayed linearly to
0.1x over the run. A video-only run isolates the modalities (no audio<->video cross-attention), the
transformer's equivalent of running without an audio branch.

Data parallel (training/ranks.py): each rank trains its share of the global batch, one sample at a
time with gradients accumulated, each sample's loss weighted by world_size / batch_size, and DDP
averages the gradients over the ranks, so every rank holds the batch mean's gradient. A rank whose
share is empty (a batch smaller than the world) runs one sample at weight 0, as DDP needs every rank
in each reduction, and a rank with a shorter share pads it the same way, so every rank runs the same
number of passes. Every random draw is keyed by (seed, step, global sample index)
(training/sample_rng.py), so the result does not depend on the number of ranks, to float tolerance.
Only rank 0 writes checkpoints.

With `shard_base` (`--shard-base`, for a base that does not fit one device), the transformer is sharded
over the ranks with FSDP2 instead (training/sharding.py): the same passes, losses and weights, as FSDP2
averages the LoRA's gradients over the ranks like DDP; its parameters become DTensors, gathered whole for
checkpoints and export by every rank together. The result is the same as without sharding, to float
tolerance, and so are the checkpoints: either kind of run resumes from the other's.

A run can write checkpoints (training/checkpoint.py) and resume from one, in a fresh process, to the
same LoRA and the same per-step losses as if it had never stopped.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel

from train_svc.models.device import Placement
from train_svc.training import sharding
from train_svc.training.audio_encoding import AudioLatents
from train_svc.training.checkpoint import Checkpoint, CheckpointMismatch, CheckpointPolicy
from train_svc.training.config import TrainConfig
from train_svc.training.data_order import DataOrder
from train_svc.training.encoding import CaptionEmbedding, VideoLatents
from train_svc.training.lora_model import ADAPTER_NAME, lora_transformer
from train_svc.training.ranks import Ranks
from train_svc.training.sample_rng import sample_generator
from train_svc.training.sigmas import sample_sigmas


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
    loss: float  # video_loss + audio_loss, means over the global batch
    learning_rate: float
    step_seconds: float
    video_loss: float
    audio_loss: float  # 0 when audio is not trained
    grad_norm: float = 0.0  # the LoRA gradients' total norm before clipping
    sigmas: tuple[float, ...] = ()  # each global batch sample's video noise level, in batch order
    sample_losses: tuple[float, ...] = ()  # each global batch sample's loss, in batch order


@dataclass(frozen=True)
class NoisyAudio:
    """The audio stream of a joint step: noisy packed latents and their own noise level ([B])."""

    tokens: torch.Tensor
    sigma: torch.Tensor


class NonFiniteLoss(Exception):
    """Training diverged: a step produced a NaN or infinite loss."""


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
    forward: torch.nn.Module | None = None,
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Predicted (video, audio) velocities. Without audio, a one-token silent placeholder stands in and
    the modalities are isolated; with it, both streams attend to each other, each at its own sigma.
    `forward`: what to call instead of the transformer (its DDP wrapper, which hides its config)."""
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
    video_out, audio_out = (forward or transformer)(
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
    def __init__(
        self,
        model_path: Path | None,
        placement: Placement,
        config: TrainConfig,
        ranks: Ranks | None = None,
        *,
        shard_base: bool = False,
        base: torch.nn.Module | None = None,
    ):
        """`shard_base`: shard the transformer over the ranks (FSDP2) instead of replicating it (DDP); ignored
        on one rank. Not part of the config: it does not change the result. `base`: a transformer already
        built, trained on instead of the one at `model_path` (the GPU benchmark's random real-size base)."""
        self.config = config
        self.placement = placement
        self.ranks = ranks or Ranks()
        self.sharded = shard_base and self.ranks.distributed
        self.transformer, targets = lora_transformer(model_path, placement, config, sharded=self.sharded, base=base)
        self.target_modules = targets
        # What a training forward calls: the transformer (sharded in place, or alone), or its DDP wrapper.
        # Only the adapters the loss reaches exist (lora_targets): every rank has a gradient for each to
        # reduce (DDP and FSDP2 need that), and none sits out a step while weight decay moves it.
        self._forward: torch.nn.Module = self.transformer
        if self.sharded:
            sharding.shard_transformer(self.transformer, placement.device, self.ranks.world_size)
        elif self.ranks.distributed:
            device_ids = [placement.device.index] if placement.device.type == "cuda" else None
            # Every rank loaded the same frozen base: DDP need not broadcast it (nor could it, offloaded or quantized).
            DistributedDataParallel._set_params_and_buffers_to_ignore_for_model(
                self.transformer, [name for name, p in self.transformer.named_parameters() if not p.requires_grad]
            )
            self._forward = DistributedDataParallel(self.transformer, device_ids=device_ids, forward_sync_buffers=False)
        # Read after sharding, which replaces the parameters.
        self.named_lora_parameters: dict[str, torch.Tensor] = {
            n: p for n, p in self.transformer.named_parameters() if p.requires_grad
        }
        self.lora_parameters = list(self.named_lora_parameters.values())

    @property
    def data_parallel(self) -> DistributedDataParallel | None:
        """The DDP wrapper a multi-rank run trains through (None on one rank)."""
        return self._forward if isinstance(self._forward, DistributedDataParallel) else None

    def _noised(self, x0: torch.Tensor, sigma: torch.Tensor, noise: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(x_t in the base dtype, velocity target) for clean tokens x0 at sigma ([1])."""
        x0 = x0.to(self.placement.device, torch.float32)
        noise = noise.to(x0.device, torch.float32)
        s = sigma.to(x0.device, torch.float32).view(-1, 1, 1)
        return ((1.0 - s) * x0 + s * noise).to(self.placement.base_dtype), noise - x0

    def loss(self, sample: TrainingSample, sigma: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Video velocity MSE of one sample at a given sigma ([1]) and noise (same shape as its tokens)."""
        noisy, target = self._noised(sample.latents.tokens, sigma, noise)
        velocity = transformer_velocities(
            self.transformer, noisy, sigma, sample.latents, sample.caption, forward=self._forward
        )[0]
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
            self.transformer,
            noisy,
            sigma,
            sample.latents,
            sample.caption,
            NoisyAudio(noisy_audio, audio_sigma),
            forward=self._forward,
        )
        if audio_v is None:
            raise RuntimeError("the transformer gave no audio velocity for a step with audio")
        return F.mse_loss(video_v, target), F.mse_loss(audio_v, audio_target)

    def sample_losses(
        self, sample: TrainingSample, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Draw one sample's noise levels and noise (video first, then audio) and compute its losses."""
        sigma = sample_sigmas(1, sample.latents.num_tokens, generator)
        noise = torch.randn(sample.latents.tokens.shape, generator=generator)
        if not self.config.audio:
            return self.loss(sample, sigma, noise), None
        if sample.audio is None:
            raise ValueError(f"sample {sample.sample_id} has no audio to train on")
        audio_sigma = sample_sigmas(1, sample.audio.num_tokens, generator)
        audio_noise = torch.randn(sample.audio.tokens.shape, generator=generator)
        return self.joint_loss(sample, sigma, noise, audio_sigma, audio_noise)

    def _accumulate(
        self, samples: Sequence[TrainingSample], order: DataOrder, step: int
    ) -> tuple[list[float], list[str]]:
        """Backpropagate this rank's share of the batch of `step` (1-based), one sample at a time; return the
        sums of its samples' (loss, video loss, audio loss), then per global batch position its sample's loss
        and video sigma (0 for another rank's: summed over the ranks, every position is filled), and the ids
        of samples whose loss is not finite."""
        batch = self.config.batch_size
        share = list(self.ranks.share(batch))
        # Every rank runs the same number of forward passes (DDP's collectives must pair up): a shorter
        # share is padded with global sample 0 at weight 0.
        rounds = -(-batch // self.ranks.world_size)
        indices = share + [0] * (rounds - len(share))
        sums, bad = [0.0, 0.0, 0.0], []
        per_sample = [0.0] * (2 * batch)  # losses, then sigmas
        for position, index in enumerate(indices):
            weight = self.ranks.world_size / batch if position < len(share) else 0.0
            sample = samples[order.sample_at((step - 1) * batch + index)]
            with self._reducing(position == len(indices) - 1):
                video_loss, audio_loss = self.sample_losses(sample, sample_generator(self.config.seed, step, index))
                loss = video_loss if audio_loss is None else video_loss + audio_loss
                (loss * weight).backward()
            if weight:
                values = (loss.item(), video_loss.item(), audio_loss.item() if audio_loss is not None else 0.0)
                sums = [total + value for total, value in zip(sums, values, strict=True)]
                # the sample's video sigma is its generator's first draw (sample_losses)
                sigma = sample_sigmas(1, sample.latents.num_tokens, sample_generator(self.config.seed, step, index))
                per_sample[index], per_sample[batch + index] = values[0], float(sigma[0])
                if not math.isfinite(values[0]):
                    bad.append(sample.sample_id)
        return sums + per_sample, bad

    def _reducing(self, reduce: bool) -> contextlib.AbstractContextManager[object]:
        """Where a pass runs: DDP all-reduces (FSDP2 reduce-scatters) in the last backward of the step; the
        passes before only accumulate. DDP reads no_sync when the forward runs, so it holds the forward too."""
        if self.sharded:
            sharding.gradient_sync(self.transformer, reduce)
        elif self.data_parallel is not None and not reduce:
            return self.data_parallel.no_sync()
        return contextlib.nullcontext()

    def train(
        self,
        samples: Sequence[TrainingSample],
        on_step: Callable[[StepReport], None] = lambda report: None,
        should_stop: Callable[[], bool] = lambda: False,
        *,
        resume: Checkpoint | None = None,
        checkpoints: CheckpointPolicy | None = None,
    ) -> int:
        """Run the configured number of steps (or until should_stop on any rank), continuing from `resume` if
        given (same config and samples required), writing checkpoints as `checkpoints` says (and always after
        the last step trained, also when stopped early; on rank 0 alone, but every rank must be given the same
        policy, as gathering a sharded LoRA takes them all); return the number of steps completed in the
        whole run."""
        if not samples:
            raise ValueError("no training samples")
        cfg = self.config
        optimizer = torch.optim.AdamW(self.lora_parameters, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        scheduler = torch.optim.lr_scheduler.LinearLR(
            optimizer, start_factor=1.0, end_factor=cfg.lr_end_factor, total_iters=cfg.steps
        )
        step = 0 if resume is None else self._restore(resume, optimizer, scheduler, len(samples))
        order = DataOrder(len(samples), cfg.seed)
        first_step = step
        self.transformer.train()
        while step < cfg.steps and not self.ranks.any(should_stop()):
            started = time.perf_counter()
            optimizer.zero_grad(set_to_none=True)
            sums, bad = self._accumulate(samples, order, step + 1)
            totals = self.ranks.sum(sums)
            loss, video_loss, audio_loss = (total / cfg.batch_size for total in totals[:3])
            if not math.isfinite(loss):
                where = f" (on this rank's samples {bad})" if bad else " (on another rank's samples)"
                raise NonFiniteLoss(f"step {step + 1}: the batch's loss is {loss}{where}")
            grad_norm = torch.nn.utils.clip_grad_norm_(self.lora_parameters, cfg.max_grad_norm)
            learning_rate = optimizer.param_groups[0]["lr"]
            optimizer.step()
            scheduler.step()
            step += 1
            on_step(
                StepReport(
                    step=step,
                    total_steps=cfg.steps,
                    loss=loss,
                    learning_rate=learning_rate,
                    step_seconds=time.perf_counter() - started,
                    video_loss=video_loss,
                    audio_loss=audio_loss,
                    grad_norm=_scalar(grad_norm),
                    sigmas=tuple(totals[3 + cfg.batch_size :]),
                    sample_losses=tuple(totals[3 : 3 + cfg.batch_size]),
                )
            )
            if checkpoints is not None and step % checkpoints.every == 0:
                self._write_checkpoint(checkpoints, step, optimizer, scheduler, len(samples))
        # The last step (and a stop before it) is always kept, so a resume never has to redo work.
        if checkpoints is not None and step > first_step and step % checkpoints.every != 0:
            self._write_checkpoint(checkpoints, step, optimizer, scheduler, len(samples))
        self.transformer.eval()
        return step

    def _write_checkpoint(self, policy: CheckpointPolicy, step: int, optimizer, scheduler, sample_count: int) -> None:
        state = self._checkpoint(step, optimizer, scheduler, sample_count)  # on every rank: it may gather
        if self.ranks.is_main:
            policy.write(step, state)

    def _checkpoint(self, step: int, optimizer, scheduler, sample_count: int) -> Checkpoint:
        """The run's state after `step` steps, whole tensors (live ones unless sharded: write it before the next
        step). A collective when sharded."""
        return Checkpoint(
            step=step,
            config=self.config,
            lora=sharding.full_tensors(self.named_lora_parameters),
            optimizer=sharding.full_optimizer_state(optimizer),
            scheduler=scheduler.state_dict(),
            sample_count=sample_count,
        )

    def _restore(self, checkpoint: Checkpoint, optimizer, scheduler, sample_count: int) -> int:
        """Put the LoRA, optimizer and scheduler back as they were at the checkpoint; return its step."""
        checkpoint.require_config(self.config)
        if checkpoint.sample_count != sample_count:
            raise CheckpointMismatch(
                f"the checkpoint was made on {checkpoint.sample_count} samples, this run has {sample_count}"
            )
        if checkpoint.lora.keys() != self.named_lora_parameters.keys():
            raise CheckpointMismatch("the checkpoint's LoRA parameters are not this model's")
        with torch.no_grad():
            for name, param in self.named_lora_parameters.items():
                param.copy_(sharding.sharded_like(checkpoint.lora[name], param))
        optimizer.load_state_dict(sharding.sharded_optimizer_state(optimizer, checkpoint.optimizer))
        scheduler.load_state_dict(checkpoint.scheduler)
        return checkpoint.step

    def lora_state_dict(self) -> dict[str, torch.Tensor]:
        """LoRA weights with peft/diffusers module names, e.g. transformer_blocks.0.attn1.to_q.lora_A.weight.
        A collective when sharded: every rank calls it."""
        return lora_file_names(sharding.full_tensors(self.named_lora_parameters))


def _scalar(value: torch.Tensor) -> float:
    """A 0-d tensor's value; a sharded run's norm is a replicated DTensor."""
    full = getattr(value, "full_tensor", None)
    return float((full() if full is not None else value).item())


def lora_file_names(parameters: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """LoRA parameters by peft parameter name (...to_q.lora_A.default.weight, as a checkpoint holds them) under
    the names a LoRA file uses (...to_q.lora_A.weight), on the CPU in float32."""
    marker = f".{ADAPTER_NAME}."
    return {name.replace(marker, ".", 1): t.to("cpu", torch.float32).contiguous() for name, t in parameters.items()}
