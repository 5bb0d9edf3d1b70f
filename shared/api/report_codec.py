"""Dataset reports between their plain form (shared.dataset_report) and ltx.trainer.v1 messages, both ways.

Why a file (or a part of one) gave no sample travels as every error of the API does (AIP-193): a
google.rpc.Status, code INVALID_ARGUMENT, with the reason in its ErrorInfo (skip_status); that is the
`error` of a SkippedFile and of a FileReport.
"""

from __future__ import annotations

from google.rpc import status_pb2

from shared.api import common_pb2 as pb
from shared.api.error_info import error_info, invalid_argument
from shared.dataset_report import DatasetReport, FileOutcome, FileReport, PartSkipped, SampleFacts, SourceFacts

_KIND_TO_PROTO = {"video": pb.MEDIA_KIND_VIDEO, "image": pb.MEDIA_KIND_IMAGE, "": pb.MEDIA_KIND_UNSPECIFIED}
_KIND_FROM_PROTO = {value: key for key, value in _KIND_TO_PROTO.items()}
_OUTCOME_TO_PROTO = {outcome: pb.FileReport.Outcome.Value(f"OUTCOME_{outcome.value}") for outcome in FileOutcome}
_OUTCOME_FROM_PROTO = {value: key for key, value in _OUTCOME_TO_PROTO.items()}


def skip_status(reason: str, message: str) -> status_pb2.Status:
    """Why a file (or a part) gave no sample: the file cannot be used as it is, the reason says why."""
    return invalid_argument(reason, message)


def skip_reason(status: status_pb2.Status) -> tuple[str, str]:
    """(reason, message) of a skip_status; ("", "") for an unset one."""
    info = error_info(status)
    return (info.reason if info is not None else ""), status.message


def skipped_file_to_proto(path: str, reason: str, message: str) -> pb.SkippedFile:
    return pb.SkippedFile(path=path, error=skip_status(reason, message))


def _source_to_proto(s: SourceFacts) -> pb.SourceMedia:
    return pb.SourceMedia(
        width=s.width,
        height=s.height,
        coded_width=s.coded_width,
        coded_height=s.coded_height,
        fps=s.fps,
        duration_seconds=s.duration_s,
        frames=s.frames,
        codec=s.codec,
        rotation=s.rotation,
        has_audio=s.has_audio,
    )


def _source_from_proto(s: pb.SourceMedia) -> SourceFacts:
    return SourceFacts(
        width=s.width,
        height=s.height,
        coded_width=s.coded_width,
        coded_height=s.coded_height,
        fps=s.fps,
        duration_s=s.duration_seconds,
        frames=s.frames,
        codec=s.codec,
        rotation=s.rotation,
        has_audio=s.has_audio,
    )


def _sample_to_proto(s: SampleFacts) -> pb.SampleReport:
    return pb.SampleReport(
        sample_id=s.sample_id,
        frames=s.frames,
        fps=s.fps,
        width=s.width,
        height=s.height,
        fit=s.fit,
        start_seconds=s.start_s,
        end_seconds=s.end_s,
        time_scale=s.time_scale,
        audio_fit=s.audio_fit,
        audio_gain=s.audio_gain,
    )


def _sample_from_proto(s: pb.SampleReport) -> SampleFacts:
    return SampleFacts(
        sample_id=s.sample_id,
        frames=s.frames,
        fps=s.fps,
        width=s.width,
        height=s.height,
        fit=s.fit,
        start_s=s.start_seconds,
        end_s=s.end_seconds,
        time_scale=s.time_scale,
        audio_fit=s.audio_fit,
        audio_gain=s.audio_gain,
    )


def file_report_to_proto(report: FileReport) -> pb.FileReport:
    message = pb.FileReport(
        path=report.path,
        outcome=_OUTCOME_TO_PROTO[report.outcome],
        media_kind=_KIND_TO_PROTO[report.media_kind],
        caption_path=report.caption_path,
        caption_found=report.caption_found,
        scene_cuts_seconds=list(report.scene_cuts_s),
        samples=[_sample_to_proto(s) for s in report.samples],
        skipped_parts=[skipped_file_to_proto(p.sample_id, p.reason, p.message) for p in report.skipped_parts],
    )
    if report.reason:
        message.error.CopyFrom(skip_status(report.reason, report.message))
    if report.source is not None:
        message.source.CopyFrom(_source_to_proto(report.source))
    return message


def file_report_from_proto(message: pb.FileReport) -> FileReport:
    reason, text = skip_reason(message.error)
    return FileReport(
        path=message.path,
        outcome=_OUTCOME_FROM_PROTO[message.outcome],
        reason=reason,
        message=text,
        media_kind=_KIND_FROM_PROTO.get(message.media_kind, ""),
        caption_path=message.caption_path,
        caption_found=message.caption_found,
        source=_source_from_proto(message.source) if message.HasField("source") else None,
        scene_cuts_s=tuple(message.scene_cuts_seconds),
        samples=tuple(_sample_from_proto(s) for s in message.samples),
        skipped_parts=tuple(PartSkipped(p.path, *skip_reason(p.error)) for p in message.skipped_parts),
    )


def dataset_report_to_proto(report: DatasetReport, max_files_bytes: int | None = None) -> pb.DatasetReport:
    """The report as a message; with `max_files_bytes`, `files` holds what fits in that many bytes (in
    order) and `files_omitted` counts the rest (the totals always count every file)."""
    files: list[pb.FileReport] = []
    size = 0
    for file in report.files:
        message = file_report_to_proto(file)
        size += message.ByteSize() + 8  # the field's tag and length
        if max_files_bytes is not None and size > max_files_bytes:
            break
        files.append(message)
    return pb.DatasetReport(
        media_kind=_KIND_TO_PROTO[report.media_kind],
        files=files,
        files_used=report.count(FileOutcome.USED),
        files_skipped=report.count(FileOutcome.SKIPPED),
        files_ignored=report.count(FileOutcome.IGNORED),
        samples=report.samples,
        files_omitted=len(report.files) - len(files),
    )
