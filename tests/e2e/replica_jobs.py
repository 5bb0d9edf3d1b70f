"""Following jobs through in-process replicas (tests.service_stack): which replica claimed a job, and its end."""

from __future__ import annotations

import time

from shared.api import training_service_pb2 as pb
from tests.service_stack import Stack

FINAL = (pb.TrainingJob.State.STATE_SUCCEEDED, pb.TrainingJob.State.STATE_FAILED, pb.TrainingJob.State.STATE_CANCELLED)


def claimed_by(stack: Stack, logs: list[dict], name: str, seconds: float = 120) -> int:
    """The index of the replica that last claimed job `name`, from captured logs (waits for the claim)."""
    job_id = name.split("/")[1]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        holders = [entry["replica"] for entry in logs if entry["event"] == "job claimed" and entry["job"] == job_id]
        if holders:
            return [replica.manager.replica for replica in stack.replicas].index(holders[-1])
        time.sleep(0.05)
    raise AssertionError(f"no replica claimed {name}")


def ended(stub, name: str, seconds: float = 300) -> pb.TrainingJob:
    """Job `name` once it has ended (AssertionError naming its state after `seconds`)."""
    deadline = time.monotonic() + seconds
    while (job := stub.GetTrainingJob(pb.GetTrainingJobRequest(name=name))).state not in FINAL:
        assert time.monotonic() < deadline, f"{name} is still {pb.TrainingJob.State.Name(job.state)}"
        time.sleep(0.1)
    return job
