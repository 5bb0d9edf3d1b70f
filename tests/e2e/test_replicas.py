"""Two training replicas as real processes on one PostgreSQL job store and one storage volume: a replica
killed with SIGKILL mid-training loses its job to the other, which resumes it to the LoRA an uninterrupted
run makes, while a watcher on the survivor sees one gapless account; any replica answers for any job."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from safetensors.torch import load_file

from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.bundle import path_from_uri
from shared.demo_dataset import make_demo_dataset
from shared.request.json_input import input_from_json
from tests.e2e.processes import ServiceProcess, all_events, get_job, train_service, wait_for_step
from tests.e2e.test_restart import REQUEST, STEPS  # the restart test's job: a failover must end as a restart does

pytestmark = pytest.mark.integration

LEASE_S = 2.0


@pytest.fixture(scope="module")
def volume(tmp_path_factory) -> Iterator[tuple[ServiceProcess, Path, Path]]:
    """One preprocessor, the shared storage root, and a demo archive."""
    root = tmp_path_factory.mktemp("replicas")
    storage = root / "storage"
    archive = make_demo_dataset(root / "clips" / "clips.zip", clips=2, seconds=1.0, size=(128, 128))
    service = ServiceProcess(
        "preprocess_svc", ["--storage", str(storage), "--allow-local-root", str(root)], root / "p.log"
    )
    service.start()
    yield service, storage, archive
    service.stop()


def _replica(volume, url: str, log: Path) -> ServiceProcess:
    pre, storage, archive = volume
    extra = ("--job-store", url, "--lease-seconds", str(LEASE_S), "--checkpoint-every", "10")
    return train_service(storage, pre.target, log, *extra, allow_root=archive.parent)


def _create(target: str, archive: Path, **overrides) -> str:
    with grpc.insecure_channel(target) as channel:
        training_input = input_from_json({**REQUEST, **overrides, "training_data_url": str(archive)})
        request = pb.CreateTrainingJobRequest(input=training_input)
        return pb_grpc.TrainingServiceStub(channel).CreateTrainingJob(request, timeout=30).name


def _watch(target: str, name: str, arrivals: list[tuple[float, pb.WatchTrainingJobResponse]]) -> None:
    """Every event of the job to its end, with the time each arrived."""
    with grpc.insecure_channel(target) as channel:
        stream = pb_grpc.TrainingServiceStub(channel).WatchTrainingJob(
            pb.WatchTrainingJobRequest(name=name), timeout=600
        )
        arrivals.extend((time.monotonic(), e) for e in stream if e.WhichOneof("event") != "heartbeat")


def _events(stream: list[pb.WatchTrainingJobResponse], kind: str) -> list:
    return [getattr(e, kind) for e in stream if e.WhichOneof("event") == kind]


def test_a_replica_killed_mid_training_loses_its_job_to_the_other_which_finishes_it_unchanged(
    volume, postgres_url, tmp_path
):
    archive = volume[2]
    a = _replica(volume, postgres_url, tmp_path / "a.log")
    a.start()
    b = _replica(volume, postgres_url, tmp_path / "b.log")
    try:
        name = _create(a.target, archive)
        wait_for_step(a.target, name, 1)  # A holds it: B is not even running yet
        b.start()
        arrivals: list[tuple[float, pb.WatchTrainingJobResponse]] = []
        watcher = threading.Thread(target=_watch, args=(b.target, name, arrivals), daemon=True)
        watcher.start()  # on B, following what A writes
        wait_for_step(b.target, name, 25)
        a.kill()
        killed = time.monotonic()
        watcher.join(timeout=600)
        assert not watcher.is_alive()

        watched = [event for _, event in arrivals]
        assert [e.sequence for e in watched] == list(range(1, len(watched) + 1)), "one gapless, ordered account"
        assert [s.step for s in _events(watched, "step")] == list(range(1, STEPS + 1))
        [resumed] = _events(watched, "resumed")
        assert resumed.from_step % 10 == 0 and 20 <= resumed.from_step <= resumed.last_step
        announced = next(at for at, e in arrivals if e.WhichOneof("event") == "resumed")
        new_step = next(
            at for at, e in arrivals if e.WhichOneof("event") == "step" and e.step.step == resumed.last_step + 1
        )
        print(
            f"\nfailover (lease {LEASE_S} s): from SIGKILL, {announced - killed:.2f} s to the survivor's resume, "
            f"{new_step - killed:.2f} s to its first new step (step {resumed.last_step + 1}, after retraining "
            f"{resumed.last_step - resumed.from_step} step(s) past checkpoint {resumed.from_step})"
        )
        job = get_job(b.target, name)
        assert job.state == pb.TrainingJob.State.STATE_SUCCEEDED

        reference = _create(b.target, archive)
        all_events(b.target, reference)
        got = load_file(path_from_uri(job.result.lora_file.uri))
        want = load_file(path_from_uri(get_job(b.target, reference).result.lora_file.uri))
        assert got.keys() == want.keys()
        assert max((got[k] - want[k]).abs().max().item() for k in want) <= 1e-6
    finally:
        a.stop()
        b.stop()
