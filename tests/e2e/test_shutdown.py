"""The two phases of a graceful shutdown, observed from outside: first new work is refused and health
says NOT_SERVING while the running job goes on; then the job checkpoints and stops (without ending),
and its watchers receive everything recorded before their stream ends UNAVAILABLE."""

from __future__ import annotations

import threading
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.demo_dataset import make_demo_dataset
from shared.grpc_util.errors import error_details
from tests.e2e.conftest import own_services
from tests.e2e.processes import wait_for_step

pytestmark = pytest.mark.integration

SERVICE = "ltx.trainer.v1.TrainingService"


def test_shutdown_refuses_new_jobs_then_checkpoints_the_running_one_and_ends_its_watchers(tmp_path, principals):
    with own_services(tmp_path / "storage", principals, heartbeat_seconds=0.3) as services:
        _shut_down_while_training(services, tmp_path)


def _shut_down_while_training(services, tmp_path) -> None:
    host, training, target = services.host, services.training, services.training_target
    archive = make_demo_dataset(tmp_path / "clips.zip", clips=2, seconds=1.0, size=(96, 96))
    training_input = pb.TrainingInput(
        training_data_url=str(archive),
        rank=8,
        number_of_steps=5000,
        number_of_frames=9,
        resolution=common_pb2.RESOLUTION_LOW,
    )
    channel = services.channel("alice")
    try:
        stub = pb_grpc.TrainingServiceStub(channel)
        create = pb.CreateTrainingJobRequest(input=training_input, request_id="first")
        job = stub.CreateTrainingJob(create)
        queued = stub.CreateTrainingJob(pb.CreateTrainingJobRequest(input=training_input, request_id="queued"))
        wait_for_step(target, job.name, 3, credentials=services.principals.credentials("alice"))
        watched: dict[str, list[pb.WatchTrainingJobResponse]] = {job.name: [], queued.name: []}
        ended: dict[str, grpc.RpcError] = {}

        def watch(name: str) -> None:
            try:
                for event in stub.WatchTrainingJob(pb.WatchTrainingJobRequest(name=name), timeout=120):
                    watched[name].append(event)
            except grpc.RpcError as err:
                ended[name] = err

        watchers = [threading.Thread(target=watch, args=(name,)) for name in watched]
        for watcher in watchers:
            watcher.start()
        deadline = time.monotonic() + 10
        while not any(e.HasField("heartbeat") for e in watched[queued.name]) and time.monotonic() < deadline:
            time.sleep(0.05)  # the queued job's stream is idle: a heartbeat comes every 0.3 s

        host.call(training.refuse_new_work())
        health = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=SERVICE))
        assert health.status == health_pb2.HealthCheckResponse.NOT_SERVING
        again = stub.CreateTrainingJob(create)  # a repeat of a known request still gets its job
        assert again.name == job.name
        try:
            stub.CreateTrainingJob(pb.CreateTrainingJobRequest(input=training_input, request_id="second"))
            raise AssertionError("a new job was accepted while shutting down")
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.UNAVAILABLE and error_details(err)[1].reason == "SHUTTING_DOWN"
        running = stub.GetTrainingJob(pb.GetTrainingJobRequest(name=job.name))
        assert running.state == pb.TrainingJob.State.STATE_TRAINING

        started = time.monotonic()
        host.call(training.wind_down(time.monotonic() + 20))
        assert time.monotonic() - started < 20
        for watcher in watchers:
            watcher.join(timeout=30)
        assert {name: err.code() for name, err in ended.items()} == dict.fromkeys(watched, grpc.StatusCode.UNAVAILABLE)
        events = [e for e in watched[job.name] if not e.HasField("heartbeat")]
        last_step = max(e.step.step for e in events if e.HasField("step"))
        assert events[-1].checkpoint.step == last_step  # the last thing recorded: the stop's checkpoint
        job_dir = tmp_path / "storage" / "jobs" / job.name.split("/")[1]
        assert (job_dir / "checkpoints" / f"step-{last_step:06d}.pt").is_file()
        # The queued job, idle all along: its watcher got heartbeats after its one event; it stays queued.
        [created, *beats] = watched[queued.name]
        assert created.sequence == 1 and beats and all(b.heartbeat.last_sequence == 1 for b in beats)
        assert all(b.sequence == 0 for b in beats)
    finally:
        channel.close()
