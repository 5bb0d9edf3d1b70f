"""Bad requests and bad datasets: clear, specific errors, billed 0, and the service keeps serving."""

from __future__ import annotations

import zipfile

import grpc
import pytest

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.api.report_codec import skip_reason
from shared.demo_dataset import make_mixed_zip, make_short_clips_zip
from shared.grpc_util.errors import error_details

pytestmark = pytest.mark.integration

FAILED = pb.TrainingJob.State.STATE_FAILED


UPLOAD = "upload://" + "0" * 32  # well formed; never looked at in these tests


def _error_reason(job: pb.TrainingJob) -> str:
    from google.rpc import error_details_pb2

    for detail in job.error.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info.reason
    return ""


def test_every_invalid_field_is_named_in_one_invalid_argument(services):
    bad = pb.TrainingInput(
        training_data_url="",
        rank=12,
        number_of_steps=150,
        learning_rate=-1.0,
        number_of_frames=200,
        frame_rate=5,
        stg_scale=4.0,
        split_input_duration_threshold=0.5,
        validation=[pb.ValidationPrompt(prompt=p) for p in ("a", "b", "c")],
    )
    with pytest.raises(grpc.RpcError) as caught:
        services.stub.CreateTrainingJob(pb.CreateTrainingJobRequest(input=bad))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad_request, info = error_details(caught.value)
    fields = {v.field for v in bad_request.field_violations}
    assert fields == {
        "training_data_url",
        "rank",
        "number_of_steps",
        "learning_rate",
        "number_of_frames",
        "frame_rate",
        "stg_scale",
        "split_input_duration_threshold",
        "validation",
    }
    assert info.reason == "INVALID_TRAINING_INPUT"
    # The service keeps serving: the next call gets its own, correct answer.
    with pytest.raises(grpc.RpcError) as missing:
        services.stub.GetTrainingJob(pb.GetTrainingJobRequest(name="trainingJobs/nope"))
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def test_zip_with_only_escaping_entries_writes_nothing_outside_reports_each_and_fails(services, tmp_path):
    archive = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("../../escaped.mp4", "gotcha")
        zf.writestr("/tmp/absolute-escape.mp4", "gotcha")
    before = {p for p in services.storage.parent.rglob("*escape*")}
    job, events = services.run(training_data_url=str(archive), number_of_steps=100, number_of_frames=9)
    assert job.state == FAILED
    assert job.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0]
    assert _error_reason(job) == "NO_USABLE_ENTRY"
    assert job.billable_units == 0
    skipped = sorted(
        (e.skipped_file.path, skip_reason(e.skipped_file.error)[0]) for e in events if e.HasField("skipped_file")
    )
    assert skipped == [("../../escaped.mp4", "UNSAFE_NAME"), ("/tmp/absolute-escape.mp4", "UNSAFE_NAME")]
    assert sorted(f.path for f in job.dataset_report.files) == [path for path, _ in skipped]
    assert {p for p in services.storage.parent.rglob("*escape*")} == before
    assert not (tmp_path.parent / "escaped.mp4").exists()


def test_mixed_images_and_videos_fail_with_a_clear_reason(services, tmp_path):
    job, _ = services.run(training_data_url=str(make_mixed_zip(tmp_path / "mixed.zip")), number_of_steps=100)
    assert job.state == FAILED
    assert _error_reason(job) == "MIXED_MEDIA"
    assert "image" in job.error.message and "video" in job.error.message
    assert job.billable_units == 0


def test_all_clips_too_short_fails_with_the_spec_message_and_bills_0(services, tmp_path):
    archive = make_short_clips_zip(tmp_path / "short.zip", frames=10)
    job, events = services.run(training_data_url=str(archive), number_of_steps=100, number_of_frames=25)
    assert job.state == FAILED
    assert "All training videos are too short to be trainable" in job.error.message
    assert _error_reason(job) == "ALL_CLIPS_TOO_SHORT"
    assert job.billable_units == 0
    skipped = [e.skipped_file for e in events if e.HasField("skipped_file")]
    assert sorted(s.path for s in skipped) == ["short_0.mp4", "short_1.mp4"]
    assert all(skip_reason(s.error)[0] == "TOO_SHORT" for s in skipped)
    assert all(s.error.code == grpc.StatusCode.INVALID_ARGUMENT.value[0] for s in skipped)
    # The rejected job still says, file by file, what it found.
    files = job.dataset_report.files
    assert [(f.path, skip_reason(f.error)[0], f.source.frames) for f in files] == [
        ("short_0.mp4", "TOO_SHORT", 10),
        ("short_1.mp4", "TOO_SHORT", 10),
    ]
    assert job.result.HasField("dataset_report")


def test_a_missing_archive_fails_the_job_not_the_service(services, tmp_path):
    job, _ = services.run(training_data_url=str(tmp_path / "absent.zip"), number_of_steps=100)
    assert job.state == FAILED
    assert _error_reason(job) == "NOT_FOUND"
    assert job.billable_units == 0


def test_unknown_enum_values_are_rejected_by_name(services):
    with pytest.raises(grpc.RpcError) as caught:
        services.create(training_data_url=UPLOAD, resolution=7, aspect_ratio=common_pb2.ASPECT_RATIO_9_16)
    bad_request, _ = error_details(caught.value)
    assert [v.field for v in bad_request.field_violations] == ["resolution"]


def test_an_unreachable_preprocessor_fails_the_job_with_a_clear_reason(tmp_path):
    from shared.grpc_util.listen import ListenSettings
    from tests.service_stack import LoopThread
    from train_svc.config import TrainServiceConfig
    from train_svc.models.tiny_preset import PRESET_NAME
    from train_svc.preprocess_link import PreprocessLink
    from train_svc.server import serve

    host = LoopThread()
    config = TrainServiceConfig(
        storage=tmp_path,
        preprocess=PreprocessLink(target="127.0.0.1:1"),
        base_model=(PRESET_NAME,),
        server=ListenSettings(port=0),
    )
    service = host.call(serve(config))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{service.port}") as channel:
            stub = pb_grpc.TrainingServiceStub(channel)
            job = stub.CreateTrainingJob(pb.CreateTrainingJobRequest(input=pb.TrainingInput(training_data_url=UPLOAD)))
            list(stub.WatchTrainingJob(pb.WatchTrainingJobRequest(name=job.name), timeout=120))
            job = stub.GetTrainingJob(pb.GetTrainingJobRequest(name=job.name))
    finally:
        host.call(service.stop(grace=1.0))
        host.close()
    assert job.state == FAILED
    assert "preprocessing service is unreachable" in job.error.message
    assert job.billable_units == 0
