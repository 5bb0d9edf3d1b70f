"""Replicas hosting different bases, in one process on one PostgreSQL store: replica 0 hosts the default
LTX-2.3 base and `v25` (LTX-2.5), replica 1 the default alone, as while a rolling update adds a base. A job
on `v25` waits for replica 0 even while replica 1 is idle, then runs there; it is not failed on the
replica that cannot run it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from structlog.testing import capture_logs

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.demo_dataset import make_demo_dataset
from tests.e2e.replica_jobs import claimed_by, ended
from tests.service_stack import Stack, service_stack
from train_svc.jobs.store import StoreSettings
from train_svc.models.tiny_preset import PRESET_NAME
from train_svc.models.tiny_preset_25 import PRESET_NAME as PRESET_NAME_25

pytestmark = pytest.mark.integration

State = pb.TrainingJob.State
LEASE_S = 3.0  # a worker looks for claimable jobs every third of it


@pytest.fixture(scope="module")
def stack(tmp_path_factory, principals, postgres_server) -> Iterator[Stack]:
    storage = tmp_path_factory.mktemp("storage")
    store = StoreSettings(url=postgres_server.database(), lease_seconds=LEASE_S)
    allowed = (tmp_path_factory.getbasetemp(),)
    both = {"base_model": (PRESET_NAME, f"v25={PRESET_NAME_25}")}
    with service_stack(
        storage, principals, allow_local_roots=allowed, replicas=2, replica_settings=[both, {}], store=store
    ) as running:
        yield running


def test_a_job_on_a_base_one_replica_lacks_waits_for_the_replica_that_hosts_it(stack, tmp_path):
    archive = make_demo_dataset(tmp_path / "clips.zip", clips=2, seconds=1.0, size=(96, 96))
    shape = dict(
        training_data_url=str(archive),
        number_of_frames=9,
        rank=8,
        resolution=common_pb2.RESOLUTION_LOW,
        aspect_ratio=common_pb2.ASPECT_RATIO_16_9,
    )
    stub = stack.stub(replica=0)

    def create(**fields) -> str:
        job = pb.TrainingInput(**shape, **fields)
        return stub.CreateTrainingJob(pb.CreateTrainingJobRequest(input=job)).name

    with capture_logs() as logs:
        long_jobs = [create(number_of_steps=5000) for _ in range(2)]  # one per replica: both are busy
        holders = {claimed_by(stack, logs, name): name for name in long_jobs}
        assert set(holders) == {0, 1}
        on_v25 = create(base_model="v25", number_of_steps=100)
        stub.CancelTrainingJob(pb.CancelTrainingJobRequest(name=holders[1]))
        assert ended(stub, holders[1]).state == State.STATE_CANCELLED
        time.sleep(3 * LEASE_S)  # replica 1 is idle, settled (announcing for over a lease) and looks again
        waiting = stub.GetTrainingJob(pb.GetTrainingJobRequest(name=on_v25))
        assert waiting.state == State.STATE_QUEUED, "replica 1 does not host v25: it must leave the job"

        stub.CancelTrainingJob(pb.CancelTrainingJobRequest(name=holders[0]))
        assert claimed_by(stack, logs, on_v25) == 0
        done = ended(stack.stub(replica=1), on_v25)
    assert done.state == State.STATE_SUCCEEDED, done.error
    assert (done.ltx_version, done.base_model) == ("2.5", PRESET_NAME_25)
