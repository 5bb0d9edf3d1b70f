"""The LoRA training loop on LTX2VideoTransformer3DModel (text-to-video, rectified flow).

One step, batch 1:
  x0     = the sample's normalised, packed video latents
  sigma  ~ shifted logit-normal for the sample's token count        (training/sigmas.py)
  x_t    = (1 - sigma) * x0 + sigma * noise
  loss   = MSE(transformer(x_t, sigma * 1000, caption), noise - x0)  (velocity target)
then AdamW on the LoRA parameters only, gradients clipped to norm 1.0, learning rate decayed
linearly to 0.1x over the run. A video-only run isolates the modalities (no audio<->video
cross-attention), the transformer's equivalent of running without an audio branch.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from train_svc.models.device import Placement
from train_svc.training.config import TrainConfig
from train_svc.training.encoding import CaptionEmbedding, VideoLatents
from train_svc.training.lora_targets import target_module_names
from train_svc.training.sigmas import sample_sigmas

ADAPTER_NAME = "default"


@dataclass(frozen=True)
class TrainingSample:
    sample_id: str
    latents: VideoLatents
    caption: CaptionEmbedding


@dataclass(frozen=True)
class StepReport:
    step: int
    total_steps: int
    loss: float
    learning_rate: float
    step_seconds: float


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
    """Predicted velocity for video tokens `noisy` at noise level `sigma` ([B])."""
    device, dtype = noisy.device, noisy.dtype
    batch = noisy.shape[0]
    timestep = (sigma * 1000.0).to(device=device, dtype=dtype)
    audio_placeholder = torch.zeros(batch, 1, transformer.config.audio_in_channels, device=device, dtype=dtype)
    video_text = caption.video.to(device=device, dtype=dtype).expand(batch, -1, -1)
    audio_text = caption.audio.to(device=device, dtype=dtype).expand(batch, -1, -1)
    mask = caption.mask.to(device).expand(batch, -1)
    out = transformer(
        hidden_states=noisy,
        audio_hidden_states=audio_placeholder,
        encoder_hidden_states=video_text,
        audio_encoder_hidden_states=audio_text,
        timestep=timestep,
        sigma=timestep,
        encoder_attention_mask=mask,
        audio_encoder_attention_mask=mask,
        num_frames=latents.frames,
        height=latents.height,
        width=latents.width,
        fps=latents.fps,
        audio_num_frames=1,
        isolate_modalities=True,
        use_cross_timestep=True,
        return_dict=False,
    )[0]
    return out.float()


class LoraTrainer:
    def __init__(self, model_path: Path, placement: Placement, config: TrainConfig):
        from peft import LoraConfig

        self.config = config
        self.placement = placement
        self.transformer = load_transformer(model_path, placement)
        targets = target_module_names(self.transformer, audio=config.audio, feed_forward=config.feed_forward)
        torch.manual_seed(config.seed)  # LoRA A matrices are initialised from the global generator
        self.transformer.add_adapter(
            LoraConfig(r=config.rank, lora_alpha=config.lora_alpha, target_modules=targets, init_lora_weights=True),
            adapter_name=ADAPTER_NAME,
        )
        self.lora_parameters = [p for p in self.transformer.parameters() if p.requires_grad]
        for param in self.lora_parameters:
            param.data = param.data.to(placement.train_dtype)
        if config.gradient_checkpointing:
            self.transformer.enable_gradient_checkpointing()
        self.target_modules = targets
        self.generator = torch.Generator().manual_seed(config.seed)

    def loss(self, sample: TrainingSample, sigma: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
        """Velocity MSE of one sample at a given sigma ([1]) and noise (same shape as its tokens)."""
        x0 = sample.latents.tokens.to(self.placement.device, torch.float32)
        noise = noise.to(x0.device, torch.float32)
        s = sigma.to(x0.device, torch.float32).view(-1, 1, 1)
        noisy = ((1.0 - s) * x0 + s * noise).to(self.placement.base_dtype)
        velocity = transformer_velocity(self.transformer, noisy, sigma, sample.latents, sample.caption)
        return F.mse_loss(velocity, noise - x0)

    def _order(self, count: int):
        while True:
            yield from torch.randperm(count, generator=self.generator).tolist()

    def train(
        self,
        samples: Sequence[TrainingSample],
        on_step: Callable[[StepReport], None] = lambda report: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> int:
        """Run the configured number of steps (or until should_stop); return the steps completed."""
        if not samples:
            raise ValueError("no training samples")
        cfg = self.config
        optimizer = torch.optim.AdamW(self.lora_parameters, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
        scheduler = torch.optim.lr_scheduler.LinearLR(
            optimizer, start_factor=1.0, end_factor=cfg.lr_end_factor, total_iters=cfg.steps
        )
        self.transformer.train()
        order = self._order(len(samples))
        step = 0
        while step < cfg.steps and not should_stop():
            started = time.perf_counter()
            sample = samples[next(order)]
            sigma = sample_sigmas(1, sample.latents.num_tokens, self.generator)
            noise = torch.randn(sample.latents.tokens.shape, generator=self.generator)
            loss = self.loss(sample, sigma, noise)
            if not torch.isfinite(loss):
                raise NonFiniteLoss(f"step {step + 1}: loss is {loss.item()} on sample {sample.sample_id}")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.lora_parameters, cfg.max_grad_norm)
            learning_rate = optimizer.param_groups[0]["lr"]
            optimizer.step()
            scheduler.step()
            step += 1
            on_step(StepReport(step, cfg.steps, loss.item(), learning_rate, time.perf_counter() - started))
        self.transformer.eval()
        return step

    def lora_state_dict(self) -> dict[str, torch.Tensor]:
        """LoRA weights with peft/diffusers module names, e.g. transformer_blocks.0.attn1.to_q.lora_A.weight."""
        from peft.utils import get_peft_model_state_dict

        state = get_peft_model_state_dict(self.transformer, adapter_name=ADAPTER_NAME)
        return {k: v.detach().to("cpu", torch.float32).contiguous() for k, v in state.items()}
