"""Two preprocessor processes behind one round-robin target: the one serving a job is killed (SIGKILL)
mid-preprocessing, and the job still succeeds, on the samples an undisturbed preprocessing of the same
request makes, having asked the other one again. (What it costs in time: tests.benchmarks.replicas.)"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import grpc
import pytest

from shared.api import preprocess_service_pb2_grpc
from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.demo_dataset import make_demo_dataset
from shared.request.json_input import input_from_json
from shared.request.validate import resolve
from tests.e2e.processes import ServiceProcess, all_events, get_job, train_service
from train_svc.preprocess_client import PreprocessClient
from train_svc.preprocess_retry import LOST_CODE

pytestmark = pytest.mark.integration

REQUEST = {"rank": 8, "number_of_steps": 100, "number_of_frames": 33, "resolution": "low", "aspect_ratio": "1:1"}
CLIPS = 5


@pytest.fixture(scope="module")
def setup(tmp_path_factory) -> Iterator[tuple[list[ServiceProcess], ServiceProcess, Path]]:
    """Two preprocessors (one worker each, no cache: every run does all the work) and a training service
    whose target names both."""
    root = tmp_path_factory.mktemp("preprocess-failover")
    storage = root / "storage"
    archive = make_demo_dataset(root / "clips" / "clips.zip", clips=CLIPS, seconds=3.0, size=(384, 384))
    args = ["--storage", str(storage), "--allow-local-root", str(archive.parent), "--workers", "1", "--no-cache"]
    preprocessors = [ServiceProcess("preprocess_svc", args, root / f"p{i}.log") for i in range(2)]
    for preprocessor in preprocessors:
        preprocessor.start()
    target = "ipv4:" + ",".join(p.target for p in preprocessors)
    train = train_service(storage, target, root / "train.log", allow_root=archive.parent)
    train.start()
    yield preprocessors, train, archive
    train.stop()
    for preprocessor in preprocessors:
        preprocessor.stop()


def _create(target: str, archive: Path) -> str:
    with grpc.insecure_channel(target) as channel:
        training_input = input_from_json({**REQUEST, "training_data_url": str(archive)})
        request = pb.CreateTrainingJobRequest(input=training_input)
        return pb_grpc.TrainingServiceStub(channel).CreateTrainingJob(request, timeout=30).name


def _kill_mid_job(preprocessors: list[ServiceProcess], job_id: str) -> None:
    """SIGKILL to the preprocessor serving the job, as soon as its log shows the job's first sample written
    (and before the last one)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for preprocessor in preprocessors:
            mine = [line for line in preprocessor.log_path.read_text(errors="replace").splitlines() if job_id in line]
            if any("sample_written" in line for line in mine):
                preprocessor.kill()
                assert not any("dataset_preprocessed" in line for line in mine), "the kill must come mid-preprocessing"
                return
        time.sleep(0.01)
    raise AssertionError(f"no preprocessor wrote a sample of job {job_id}")


def _samples(events: list[pb.WatchTrainingJobResponse]) -> list[tuple[str, str]]:
    encoded = [e.sample_encoded.bundle for e in events if e.WhichOneof("event") == "sample_encoded"]
    return sorted((bundle.sample_id, bundle.sha256) for bundle in encoded)


def _preprocessed(target: str, archive: Path) -> list[tuple[str, str]]:
    """(sample id, sha256) of every bundle one undisturbed Preprocess call of the job's request makes."""
    settings = resolve(input_from_json({**REQUEST, "training_data_url": str(archive)}))
    request = PreprocessClient(target).request_for(SimpleNamespace(id="0" * 16, owner="local", settings=settings))
    with grpc.insecure_channel(target) as channel:
        stream = preprocess_service_pb2_grpc.PreprocessServiceStub(channel).Preprocess(request, timeout=300)
        return sorted((m.bundle.sample_id, m.bundle.sha256) for m in stream if m.WhichOneof("event") == "bundle")


def test_a_preprocessor_killed_mid_job_costs_the_job_time_not_the_job_nor_a_sample(setup):
    preprocessors, train, archive = setup
    name = _create(train.target, archive)
    _kill_mid_job(preprocessors, name.split("/")[1])

    events = all_events(train.target, name)

    assert get_job(train.target, name).state == pb.TrainingJob.State.STATE_SUCCEEDED
    lost = [e.warning for e in events if e.WhichOneof("event") == "warning" and e.warning.code == LOST_CODE]
    assert len(lost) == 1 and "UNAVAILABLE" in lost[0].message
    assert [e.sequence for e in events] == list(range(1, len(events) + 1))
    reports = [e.file_report.path for e in events if e.WhichOneof("event") == "file_report"]
    assert len(reports) == len(set(reports)), "no file reported twice"

    for preprocessor in preprocessors:  # both up, for an undisturbed preprocessing of the same archive
        if preprocessor.proc is not None and preprocessor.proc.poll() is not None:
            preprocessor.start()
    undisturbed = _preprocessed(preprocessors[0].target, archive)
    assert _samples(events) == undisturbed and len(undisturbed) >= CLIPS
