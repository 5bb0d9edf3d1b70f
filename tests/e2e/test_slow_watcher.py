"""A watcher that stops reading is cut off with a clear status instead of holding anything up, and
resumes from the last sequence it received without missing or repeating an event."""

from __future__ import annotations

import time

import grpc
import pytest

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.demo_dataset import make_demo_dataset
from shared.grpc_util.errors import error_details
from tests.e2e.conftest import own_services
from tests.e2e.processes import all_events
from train_svc.job_run.settings import RunSettings

pytestmark = pytest.mark.integration

# A client that reads ahead little, so that not reading fills its flow-control window quickly.
SMALL_WINDOW = [("grpc.http2.lookahead_bytes", 4096), ("grpc.http2.bdp_probe", 0)]


def test_a_watcher_that_stops_reading_is_cut_off_and_resumes_where_it_was(tmp_path, principals):
    archive = make_demo_dataset(tmp_path / "clips.zip", clips=2, seconds=1.0, size=(128, 128))
    alice = principals.credentials("alice")
    with own_services(
        tmp_path / "storage", principals, watch_write_timeout_seconds=1.0, run=RunSettings(preview_steps=2)
    ) as services:
        with services.channel("alice") as channel:
            job = pb_grpc.TrainingServiceStub(channel).CreateTrainingJob(
                pb.CreateTrainingJobRequest(
                    input=pb.TrainingInput(
                        training_data_url=str(archive),
                        rank=8,
                        number_of_steps=100,
                        number_of_frames=9,
                        resolution=common_pb2.RESOLUTION_LOW,
                        validation=[pb.ValidationPrompt(prompt="a red ball"), pb.ValidationPrompt(prompt="a cube")],
                        validation_number_of_frames=9,
                        validation_resolution=common_pb2.RESOLUTION_LOW,
                    )
                )
            )
        # the job has ended; its log holds large previews
        everything = all_events(services.training_target, job.name, credentials=alice)

        received: list[pb.WatchTrainingJobResponse] = []
        with services.channel("alice", **dict(SMALL_WINDOW)) as slow:
            stream = pb_grpc.TrainingServiceStub(slow).WatchTrainingJob(pb.WatchTrainingJobRequest(name=job.name))
            received.append(next(stream))
            time.sleep(4.0)  # reads nothing while the server tries to send the rest
            try:
                received.extend(stream)
                raise AssertionError("the stalled watcher was not cut off")
            except grpc.RpcError as err:
                assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
                assert error_details(err)[1].reason == "WATCHER_TOO_SLOW"
        assert len(received) < len(everything)
        rest = all_events(services.training_target, job.name, after=received[-1].sequence, credentials=alice)
        assert [e.SerializeToString() for e in received + rest] == [e.SerializeToString() for e in everything]
