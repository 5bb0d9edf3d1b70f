"""Job records and events -> ltx.trainer.v1 messages. The only place that knows both vocabularies."""

from __future__ import annotations

import grpc
from google.protobuf import timestamp_pb2
from google.rpc import status_pb2

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.api.bundle_codec import bundle_ref_to_proto
from shared.api.report_codec import dataset_report_to_proto, file_report_to_proto, skipped_file_to_proto
from shared.dataset_report import FileReport
from shared.grpc_util.errors import status_proto
from shared.request.json_input import input_from_json
from train_svc.jobs.event_log import LoggedEvent
from train_svc.jobs.events import (
    ArtifactWritten,
    CheckpointWritten,
    DatasetProgress,
    DatasetReady,
    DatasetWarning,
    FilePart,
    FilesRemoved,
    JobError,
    JobResumed,
    JobState,
    SampleEncoded,
    SkippedFile,
    StateChanged,
    StepCompleted,
    ValidationPreview,
)
from train_svc.jobs.job import Job

_MEDIA_KIND = {"video": common_pb2.MEDIA_KIND_VIDEO, "image": common_pb2.MEDIA_KIND_IMAGE}
# A TrainingJob carries at most this much of its dataset report's file list (the rest is counted in
# files_omitted and is in dataset_report.json), so a job message stays far below 4 MiB.
REPORT_FILES_BYTES = 1024 * 1024
_RESULT_FIELDS = ("lora_file", "config_file", "video", "debug_dataset", "dataset_report", "result_file")
_PARTS = {
    FilePart.WORKING_FILES: pb.FilesRemoved.Part.PART_WORKING_FILES,
    FilePart.OUTPUTS: pb.FilesRemoved.Part.PART_OUTPUTS,
}


def _timestamp(value) -> timestamp_pb2.Timestamp:
    ts = timestamp_pb2.Timestamp()
    ts.FromDatetime(value)
    return ts


def job_state(state: JobState) -> pb.TrainingJob.State.ValueType:
    return pb.TrainingJob.State.Value(f"STATE_{state.value}")


def error_status(error: JobError) -> status_pb2.Status:
    metadata = {"files": "\n".join(error.files)} if error.files else None
    return status_proto(grpc.StatusCode[error.code], error.reason, error.message, metadata)


def artifact(item: ArtifactWritten) -> common_pb2.Artifact:
    return common_pb2.Artifact(name=item.name, uri=item.uri, sha256=item.sha256, size_bytes=item.size_bytes)


def training_job(job: Job) -> pb.TrainingJob:
    s = job.settings
    message = pb.TrainingJob(
        name=job.name,
        input=input_from_json(job.input_json),
        state=job_state(job.state),
        create_time=_timestamp(job.create_time),
        update_time=_timestamp(job.update_time),
        resolved=pb.ResolvedSettings(
            number_of_frames=s.number_of_frames,
            width=s.width,
            height=s.height,
            frame_rate=s.frame_rate,
            rank=s.rank,
            number_of_steps=s.number_of_steps,
            learning_rate=s.learning_rate,
            validation_number_of_frames=s.validation_number_of_frames,
            validation_width=s.validation_width,
            validation_height=s.validation_height,
            with_audio=bool(job.with_audio),
        ),
        progress=pb.TrainingProgress(step=job.step, total_steps=job.total_steps, loss=job.loss, samples=job.samples),
        billable_units=job.billable_units,
        base_model=job.base_model,
        ltx_version=job.base_version,
    )
    if job.file_reports:
        message.dataset_report.CopyFrom(dataset_report_to_proto(job.dataset_report, REPORT_FILES_BYTES))
    if job.error is not None:
        message.error.CopyFrom(error_status(job.error))
    if (removed := job.files_removed.get(FilePart.WORKING_FILES)) is not None:
        message.working_files_remove_time.CopyFrom(_timestamp(removed))
    outputs_removed = job.files_removed.get(FilePart.OUTPUTS)
    if outputs_removed is not None:
        message.outputs_remove_time.CopyFrom(_timestamp(outputs_removed))
    if job.artifacts:
        result = pb.TrainingResult(billable_units=job.billable_units)
        for field in _RESULT_FIELDS:
            if field in job.artifacts and outputs_removed is None:  # the record lists no file that is gone
                getattr(result, field).CopyFrom(artifact(job.artifacts[field]))
        message.result.CopyFrom(result)
    return message


def job_event(logged: LoggedEvent) -> pb.WatchTrainingJobResponse:
    out = pb.WatchTrainingJobResponse(sequence=logged.sequence, time=_timestamp(logged.time))
    event = logged.event
    if isinstance(event, StateChanged):
        change = pb.StateChange(state=job_state(event.state), message=event.message)
        if event.error is not None:
            change.error.CopyFrom(error_status(event.error))
        out.state_change.CopyFrom(change)
    elif isinstance(event, DatasetProgress):
        out.preprocess_progress.CopyFrom(
            common_pb2.PreprocessProgress(
                files_total=event.files_total,
                files_done=event.files_done,
                samples_written=event.samples_written,
                files_skipped=event.files_skipped,
            )
        )
    elif isinstance(event, SkippedFile):
        out.skipped_file.CopyFrom(skipped_file_to_proto(event.path, event.reason, event.message))
    elif isinstance(event, DatasetWarning):
        out.warning.CopyFrom(common_pb2.DatasetWarning(path=event.path, code=event.code, message=event.message))
    elif isinstance(event, SampleEncoded):
        out.sample_encoded.CopyFrom(
            pb.SampleEncoded(
                bundle=bundle_ref_to_proto(event.bundle), video_tokens=event.video_tokens, from_cache=event.from_cache
            )
        )
    elif isinstance(event, StepCompleted):
        out.step.CopyFrom(
            pb.TrainingStep(
                step=event.step,
                total_steps=event.total_steps,
                loss=event.loss,
                learning_rate=event.learning_rate,
                step_seconds=event.step_seconds,
                eta_seconds=event.eta_seconds,
                video_loss=event.video_loss,
                audio_loss=event.audio_loss,
            )
        )
    elif isinstance(event, ArtifactWritten):
        out.artifact.CopyFrom(artifact(event))
    elif isinstance(event, FileReport):
        out.file_report.CopyFrom(file_report_to_proto(event))
    elif isinstance(event, ValidationPreview):
        out.preview.CopyFrom(
            pb.ValidationPreview(
                step=event.step,
                prompt_index=event.prompt_index,
                prompt=event.prompt,
                jpeg_frames=event.jpeg_frames,
                video=artifact(event.video),
                seed=event.seed,
                render_seconds=event.render_seconds,
            )
        )
    elif isinstance(event, DatasetReady):
        out.dataset_ready.CopyFrom(
            pb.DatasetReady(
                media_kind=_MEDIA_KIND.get(event.media_kind, common_pb2.MEDIA_KIND_UNSPECIFIED),
                samples=event.samples,
                files_skipped=event.files_skipped,
                from_cache=event.from_cache,
                cache_key=event.cache_key,
            )
        )
    elif isinstance(event, CheckpointWritten):
        out.checkpoint.CopyFrom(pb.CheckpointWritten(step=event.step, uri=event.uri, size_bytes=event.size_bytes))
    elif isinstance(event, JobResumed):
        out.resumed.CopyFrom(pb.JobResumed(from_step=event.from_step, last_step=event.last_step, message=event.message))
    elif isinstance(event, FilesRemoved):
        out.files_removed.CopyFrom(pb.FilesRemoved(part=_PARTS[event.part], bytes_freed=event.bytes_freed))
    else:
        raise TypeError(f"no API form for event {type(event).__name__}")
    return out


def heartbeat(last_sequence: int) -> pb.WatchTrainingJobResponse:
    message = pb.WatchTrainingJobResponse(sequence=0, heartbeat=pb.Heartbeat(last_sequence=last_sequence))
    message.time.GetCurrentTime()
    return message
