"""A job cancelled while its archive is downloading stops the download within a second, and nothing of
it stays on storage. The server (on 127.0.0.1, allowed for fetches here) sends the headers and then
nothing, as a hung origin would; the overall fetch deadline is far away."""

from __future__ import annotations

import time

import pytest

from shared.api import training_service_pb2 as pb
from shared.fetch_policy import FetchPolicy, parse_cidrs
from tests.loopback_http import serving
from tests.service_stack import service_stack

pytestmark = pytest.mark.integration


def test_cancelling_a_job_stops_its_download_within_a_second(tmp_path, principals):
    www = tmp_path / "www"
    www.mkdir()
    storage = tmp_path / "storage"
    policy = {"allow_cidrs": parse_cidrs(["127.0.0.1/32"]), "deadline_s": 600.0, "storage_root": storage}
    with (
        serving(www) as http,
        service_stack(
            storage,
            principals,
            preprocess_settings={"fetch": FetchPolicy(**policy)},
            fetch=FetchPolicy(**policy),
        ) as stack,
    ):
        stub = stack.stub("alice")
        url = f"{http.base_url}/stall/300"
        job = stub.CreateTrainingJob(pb.CreateTrainingJobRequest(input=pb.TrainingInput(training_data_url=url)))
        deadline = time.monotonic() + 60
        while "/stall/300" not in http.requests:  # the download has started
            assert time.monotonic() < deadline
            time.sleep(0.05)
        time.sleep(0.5)

        asked = time.monotonic()
        stub.CancelTrainingJob(pb.CancelTrainingJobRequest(name=job.name))
        while not http.hangups:
            assert time.monotonic() - asked < 5, "the download went on after the cancel"
            time.sleep(0.01)
        stopped_in = http.hangups[0][1] - asked
        print(f"the download stopped {stopped_in * 1000:.0f} ms after the cancel")
        assert stopped_in < 1.0

        while (
            stub.GetTrainingJob(pb.GetTrainingJobRequest(name=job.name)).state != pb.TrainingJob.State.STATE_CANCELLED
        ):
            assert time.monotonic() - asked < 10
            time.sleep(0.05)
        dataset = storage / "datasets" / job.name.removeprefix("trainingJobs/")
        while dataset.exists() and [p for p in dataset.rglob("*") if p.is_file()]:  # the partial file goes
            assert time.monotonic() - asked < 5, list(dataset.rglob("*"))
            time.sleep(0.05)
