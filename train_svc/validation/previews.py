"""One job's validation previews: rendered at the scheduled steps, written as mp4s, announced as events.

Prompt i is rendered with seed `seed + i` (the service's seed) at every scheduled step, so successive
previews of a prompt differ only by what the LoRA learned. Each preview is written to
previews/step{step:05d}_p{i}.mp4 under the job's outputs, with a sound track exactly when the run trains
audio (a video-only LoRA has not learned sound, so the base model's would only mislead), and recorded
as a ValidationPreview with a few JPEG frames. A preview that fails (e.g. out of memory at a large
preview size) is reported as a PREVIEW_FAILED warning and left out of the reel; it never costs the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection
from pathlib import Path

import structlog

from train_svc.export.outputs import describe
from train_svc.generation.mp4 import write_mp4
from train_svc.generation.request import GenerationRequest
from train_svc.jobs.events import ArtifactWritten, DatasetWarning, ValidationPreview
from train_svc.training.encoding import PromptStates
from train_svc.validation.renderer import EncodedPrompts, PreviewRenderer, RenderInterrupted
from train_svc.validation.schedule import preview_schedule
from train_svc.validation.thumbnails import jpeg_frames

log = structlog.get_logger(__name__)

PREVIEW_FOLDER = "previews"
PREVIEW_ARTIFACT = "preview"
PREVIEW_FAILED = "PREVIEW_FAILED"  # warning code of a preview that could not be rendered


def preview_requests(settings, inference_steps: int, seed: int) -> tuple[GenerationRequest, ...]:
    """One generation request per validation prompt of the job's settings (a TrainingSettings)."""
    return tuple(
        GenerationRequest(
            prompt=prompt,
            negative_prompt=settings.validation_negative_prompt,
            seed=seed + index,
            num_frames=settings.validation_number_of_frames,
            frame_rate=settings.validation_frame_rate,
            width=settings.validation_width,
            height=settings.validation_height,
            steps=inference_steps,
            stg_scale=settings.stg_scale,
        )
        for index, prompt in enumerate(settings.validation)
    )


def encode_prompts(settings, text_states: Callable[[str], PromptStates]) -> EncodedPrompts | None:
    """The job's validation prompts and negative prompt as Gemma states (None without prompts), kept on the CPU.

    text_states: a prompt's Gemma states, e.g. SampleEncoders.prompt_states (cached) or CaptionEncoder.text_states."""
    if not settings.validation:
        return None
    return EncodedPrompts(
        prompts=tuple(text_states(prompt).to("cpu") for prompt in settings.validation),
        negative=text_states(settings.validation_negative_prompt).to("cpu"),
    )


def preview_file(folder: Path, step: int, prompt_index: int) -> Path:
    return folder / PREVIEW_FOLDER / f"step{step:05d}_p{prompt_index}.mp4"


class JobPreviews:
    def __init__(
        self,
        renderer: PreviewRenderer,
        requests: tuple[GenerationRequest, ...],
        prompts: EncodedPrompts,
        *,
        total_steps: int,
        output_dir: Path,
        with_audio: bool,
        record: Callable[[ValidationPreview], object],
        warn: Callable[[DatasetWarning], object],
        done: Collection[tuple[int, int]] = frozenset(),
        should_stop: Callable[[], bool] = lambda: False,
        publish: bool = True,
    ):
        """`done`: (step, prompt index) of previews already rendered (before a restart), not rendered again.
        `should_stop`: checked at every denoising step; when true, the preview is abandoned unrecorded.
        `publish`: write, record and warn; without it a preview is only rendered (what the ranks other than
        0 do when the base is sharded over them: its forward passes need every rank)."""
        if len(requests) != len(prompts.prompts):
            raise ValueError(f"{len(requests)} preview requests for {len(prompts.prompts)} encoded prompts")
        self._renderer = renderer
        self._requests = requests
        self._prompts = prompts
        self.schedule = frozenset(preview_schedule(total_steps))
        self._output_dir = output_dir
        self._with_audio = with_audio
        self._record = record
        self._warn = warn
        self._done = done
        self._should_stop = should_stop
        self._publish = publish

    def after_step(self, step: int) -> None:
        """Render every prompt if `step` is a preview step."""
        if step not in self.schedule:
            return
        for index, request in enumerate(self._requests):
            if (step, index) in self._done:
                continue
            try:
                self._render(step, index, request)
            except RenderInterrupted:
                log.info("preview abandoned: the job is stopping", step=step, prompt=index)
                return
            except Exception as exc:  # e.g. out of memory at a large preview size: the run itself is fine
                log.exception("preview failed", step=step, prompt=index)
                if not self._publish:
                    continue
                self._warn(
                    DatasetWarning(
                        f"validation[{index}]",
                        PREVIEW_FAILED,
                        f"the preview at step {step} could not be rendered ({type(exc).__name__}: {exc}); "
                        "training goes on and the reel leaves it out",
                    )
                )

    def _render(self, step: int, index: int, request: GenerationRequest) -> None:
        started = time.perf_counter()
        video = self._renderer.render(
            request, self._prompts.prompts[index], self._prompts.negative, should_stop=self._should_stop
        )
        if not self._publish:
            return
        path = preview_file(self._output_dir, step, index)
        audio = video.audio if self._with_audio else None
        written = describe(write_mp4(path, video.frames, video.frame_rate, audio, video.sample_rate))
        jpegs = jpeg_frames(video.frames)
        seconds = time.perf_counter() - started
        self._record(
            ValidationPreview(
                step=step,
                prompt_index=index,
                prompt=request.prompt,
                seed=request.seed,
                render_seconds=seconds,
                video=ArtifactWritten(PREVIEW_ARTIFACT, written.uri, written.sha256, written.size_bytes),
                jpeg_frames=jpegs,
            )
        )
        log.info("preview rendered", step=step, prompt=index, file=path.name, seconds=round(seconds, 2))
