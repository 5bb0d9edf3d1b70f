"""Client of PreprocessService: asks for a job's dataset and translates the stream into job events."""

from __future__ import annotations

from collections.abc import Generator

import grpc

from shared.api import common_pb2, preprocess_service_pb2, preprocess_service_pb2_grpc
from shared.grpc_util.errors import error_details
from train_svc.jobs.events import (
    BundleInfo,
    DatasetFailure,
    DatasetProgress,
    DatasetReady,
    DatasetWarning,
    FileSkipped,
    JobError,
    PreprocessEvent,
)
from train_svc.jobs.job import Job

_CHANNEL_OPTIONS = [("grpc.max_receive_message_length", 64 * 1024 * 1024)]
_MEDIA_KIND = {common_pb2.MEDIA_KIND_VIDEO: "video", common_pb2.MEDIA_KIND_IMAGE: "image"}


def _to_event(message: preprocess_service_pb2.PreprocessEvent) -> PreprocessEvent | None:
    kind = message.WhichOneof("event")
    if kind == "progress":
        p = message.progress
        return DatasetProgress(p.files_total, p.files_done, p.samples_written, p.files_skipped)
    if kind == "skipped":
        return FileSkipped(message.skipped.path, message.skipped.reason, message.skipped.message)
    if kind == "warning":
        return DatasetWarning(message.warning.path, message.warning.code, message.warning.message)
    if kind == "bundle":
        b = message.bundle
        return BundleInfo(
            sample_id=b.sample_id,
            uri=b.uri,
            sha256=b.sha256,
            size_bytes=b.size_bytes,
            frames=b.frames,
            height=b.height,
            width=b.width,
            fps=b.fps,
            caption=b.caption,
            source_path=b.source_path,
        )
    if kind == "summary":
        s = message.summary
        return DatasetReady(_MEDIA_KIND.get(s.media_kind, "unknown"), s.samples, s.files_skipped)
    return None  # an event type newer than this client: nothing to act on


def _failure(err: grpc.RpcError) -> DatasetFailure:
    _, info = error_details(err)
    code = err.code()
    reason = info.reason if info is not None else f"PREPROCESS_{code.name}"
    files = tuple(f for f in (info.metadata.get("files", "") if info else "").split("\n") if f)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) and info is None:
        message = f"the preprocessing service is unreachable: {err.details()}"
    else:
        message = err.details() or code.name
    return DatasetFailure(JobError(code.name, reason, message, files))


class PreprocessClient:
    def __init__(self, target: str):
        self.target = target
        self._channel = grpc.insecure_channel(target, options=_CHANNEL_OPTIONS)
        self._stub = preprocess_service_pb2_grpc.PreprocessServiceStub(self._channel)

    def request_for(self, job: Job) -> preprocess_service_pb2.PreprocessRequest:
        s = job.settings
        return preprocess_service_pb2.PreprocessRequest(
            dataset_id=job.id,
            training_data_url=s.training_data_url,
            trigger_phrase=s.trigger_phrase,
            number_of_frames=s.number_of_frames,
            frame_rate=s.frame_rate,
            width=s.width,
            height=s.height,
            split_input_into_scenes=s.split_input_into_scenes,
            split_input_duration_threshold=s.split_input_duration_threshold,
            auto_scale_input=s.auto_scale_input,
        )

    def __call__(self, job: Job) -> Generator[PreprocessEvent, None, None]:
        call = self._stub.Preprocess(self.request_for(job), timeout=24 * 3600)
        try:
            for message in call:
                event = _to_event(message)
                if event is not None:
                    yield event
        except grpc.RpcError as err:
            raise _failure(err) from None
        finally:
            call.cancel()

    def close(self) -> None:
        self._channel.close()
