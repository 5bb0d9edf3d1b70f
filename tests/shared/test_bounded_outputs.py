"""What the services send back stays small whatever the caller sent: error statuses, log lines, and the
dataset report a TrainingJob carries."""

from __future__ import annotations

import json

import grpc
import structlog
from google.rpc import error_details_pb2

from shared.api.report_codec import dataset_report_to_proto
from shared.dataset_report import DatasetReport, FileOutcome, FileReport
from shared.grpc_util.errors import MAX_STATUS_BYTES, domain_status_proto, status_proto
from shared.logs import LOG_VALUE_CHARS, cap_values
from shared.request.errors import FieldViolation, InvalidRequest, QuotaExceeded


def _bad_request(status) -> error_details_pb2.BadRequest:
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            found = error_details_pb2.BadRequest()
            detail.Unpack(found)
            return found
    raise AssertionError("no BadRequest")


def test_a_status_with_huge_texts_and_thousands_of_violations_stays_under_4_kib_and_says_what_it_left_out():
    violations = [FieldViolation(f"field_{i}" + "x" * 500, "d" * 5000) for i in range(3000)]
    err = InvalidRequest(violations)
    err.message = "m" * 1_000_000
    err.metadata["files"] = "\n".join(f"clip_{i}.mp4" for i in range(10_000))
    status = domain_status_proto(err)
    assert status.ByteSize() < MAX_STATUS_BYTES
    listed = _bad_request(status).field_violations
    assert 0 < len(listed) < 3000
    assert "more problem(s) not listed" in listed[-1].description
    assert len(status.message) < 1100


def test_a_quota_failure_is_carried_as_google_rpc_quota_failure():
    status = domain_status_proto(QuotaExceeded("principal:alice", "queued_jobs", "alice has 3 jobs waiting"))
    assert status.code == grpc.StatusCode.RESOURCE_EXHAUSTED.value[0]
    failure = error_details_pb2.QuotaFailure()
    assert status.details[1].Unpack(failure)
    assert [(v.subject, v.description) for v in failure.violations] == [("principal:alice", "alice has 3 jobs waiting")]


def test_a_small_status_is_left_whole():
    status = status_proto(grpc.StatusCode.NOT_FOUND, "JOB_NOT_FOUND", "no such job", {"name": "trainingJobs/x"})
    info = error_details_pb2.ErrorInfo()
    status.details[0].Unpack(info)
    assert (status.message, info.reason, dict(info.metadata)) == (
        "no such job",
        "JOB_NOT_FOUND",
        {"name": "trainingJobs/x"},
    )


def test_log_lines_cap_the_values_they_quote():
    event = cap_values(None, "info", {"event": "e", "url": "u" * 50_000, "count": 3, "items": list(range(10_000))})
    assert len(event["url"]) < LOG_VALUE_CHARS + 50 and "more characters" in event["url"]
    assert event["count"] == 3 and len(event["items"]) < LOG_VALUE_CHARS + 50
    rendered = structlog.processors.JSONRenderer()(None, "info", event)
    assert len(json.dumps(rendered)) < 3 * LOG_VALUE_CHARS


def test_a_jobs_dataset_report_carries_what_fits_and_counts_the_rest():
    files = [
        FileReport(
            path=f"clips/{i:05d}_{'n' * 200}.mp4", outcome=FileOutcome.SKIPPED, reason="TOO_SHORT", message="m" * 300
        )
        for i in range(10_000)
    ]
    whole = dataset_report_to_proto(DatasetReport.of(files))
    assert len(whole.files) == 10_000 and whole.files_omitted == 0
    capped = dataset_report_to_proto(DatasetReport.of(files), max_files_bytes=1 << 20)
    assert capped.ByteSize() < (1 << 20) + 1024
    assert len(capped.files) + capped.files_omitted == 10_000 and capped.files_omitted > 0
    assert capped.files_skipped == 10_000  # the totals still count every file
    assert [f.path for f in capped.files] == [f.path for f in whole.files[: len(capped.files)]]
