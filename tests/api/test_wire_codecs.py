"""The plain forms both services share, to their ltx.trainer.v1 messages and back."""

from __future__ import annotations

import dataclasses

import grpc
from google.rpc import error_details_pb2

from shared.api import common_pb2
from shared.api.bundle_codec import bundle_ref_from_proto, bundle_ref_to_proto
from shared.api.report_codec import file_report_from_proto, file_report_to_proto, skip_reason, skipped_file_to_proto
from shared.bundle_ref import BundleRef
from shared.dataset_report import FileOutcome, FileReport, PartSkipped

REF = BundleRef("a.mp4", "file:///s/a.safetensors", "ab" * 32, 123, 9, 64, 96, 24.0, "a cat", "a.mp4", True)


def test_the_plain_bundle_ref_has_the_fields_of_the_message() -> None:
    fields = [f.name for f in dataclasses.fields(BundleRef)]
    assert fields == [f.name for f in common_pb2.BundleRef.DESCRIPTOR.fields]


def test_a_bundle_ref_round_trips() -> None:
    message = bundle_ref_to_proto(REF)
    assert (message.sample_id, message.size_bytes, message.has_audio) == ("a.mp4", 123, True)
    assert bundle_ref_from_proto(message) == REF


def test_a_skip_is_a_status_with_an_error_info() -> None:
    skipped = skipped_file_to_proto("clip.mp4", "TOO_SHORT", "10 frames, 25 needed")
    assert skipped.path == "clip.mp4"
    assert (skipped.error.code, skipped.error.message) == (
        grpc.StatusCode.INVALID_ARGUMENT.value[0],
        "10 frames, 25 needed",
    )
    info = error_details_pb2.ErrorInfo()
    assert skipped.error.details[0].Unpack(info)
    assert (info.reason, info.domain) == ("TOO_SHORT", "ltx-trainer.v1")
    assert skip_reason(skipped.error) == ("TOO_SHORT", "10 frames, 25 needed")


def test_a_file_report_round_trips_with_its_reasons() -> None:
    skipped = FileReport(
        "long.mp4",
        FileOutcome.SKIPPED,
        reason="NO_USABLE_SHOT",
        message="none of its 2 shots gave a sample",
        media_kind="video",
        skipped_parts=(
            PartSkipped("long.mp4#shot1", "TOO_SHORT", "short"),
            PartSkipped("long.mp4#shot2", "UNDECODABLE", "bad"),
        ),
    )
    used = FileReport("a.mp4", FileOutcome.USED, media_kind="video")
    for report in (skipped, used):
        assert file_report_from_proto(file_report_to_proto(report)) == report
    message = file_report_to_proto(skipped)
    assert message.outcome == common_pb2.FileReport.OUTCOME_SKIPPED
    assert [skip_reason(p.error)[0] for p in message.skipped_parts] == ["TOO_SHORT", "UNDECODABLE"]
    assert not file_report_to_proto(used).HasField("error")
