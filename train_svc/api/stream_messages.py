"""Messages the training service streams, made once from domain events: a generation's progress, preview
and result, and each logged job event for however many watchers send it."""

from __future__ import annotations

from collections import OrderedDict

from shared.api import common_pb2
from shared.api import generation_pb2 as gen_pb
from shared.api import training_service_pb2 as pb
from train_svc.api.job_messages import job_event
from train_svc.generation.service import GenerationEvent, GenerationFinished, GenerationPreview, GenerationProgress
from train_svc.jobs.event_log import LoggedEvent

_STAGES = {
    "queued": gen_pb.GENERATION_STAGE_QUEUED,
    "loading": gen_pb.GENERATION_STAGE_LOADING,
    "sampling": gen_pb.GENERATION_STAGE_SAMPLING,
    "encoding": gen_pb.GENERATION_STAGE_ENCODING,
}


def generation_event(event: GenerationEvent) -> gen_pb.GenerateVideoResponse:
    if isinstance(event, GenerationProgress):
        progress = gen_pb.GenerationProgress(step=event.step, total_steps=event.total_steps, stage=_STAGES[event.stage])
        return gen_pb.GenerateVideoResponse(progress=progress)
    if isinstance(event, GenerationPreview):
        return gen_pb.GenerateVideoResponse(preview_jpeg=event.jpeg)
    if isinstance(event, GenerationFinished):
        video = common_pb2.Artifact(
            name="video", uri=event.video.uri, sha256=event.video.sha256, size_bytes=event.video.size_bytes
        )
        result = gen_pb.GenerationResult(
            name=event.name,
            video=video,
            seed=event.seed,
            seconds=event.seconds,
            base_model=event.base_model,
            ltx_version=event.ltx_version,
        )
        if event.lora_fit is not None:
            fit = event.lora_fit
            result.lora_fit.CopyFrom(
                gen_pb.LoraFit(
                    lora_version=fit.lora_version,
                    base_version=fit.base_version,
                    loaded_modules=len(fit.loaded),
                    skipped_modules=fit.skipped,
                )
            )
        return gen_pb.GenerateVideoResponse(result=result)
    raise TypeError(f"no API form for generation event {type(event).__name__}")


class EventMessages:
    """Each logged event turned into its message once, however many watchers send it."""

    def __init__(self, size: int = 8192):
        self._size = size
        self._messages: OrderedDict[tuple[str, int], pb.WatchTrainingJobResponse] = OrderedDict()

    def of(self, job_id: str, logged: LoggedEvent) -> pb.WatchTrainingJobResponse:
        key = (job_id, logged.sequence)
        message = self._messages.get(key)
        if message is None:
            message = self._messages[key] = job_event(logged)
            if len(self._messages) > self._size:
                self._messages.popitem(last=False)
        return message
