"""WatchTrainingJobs on two replicas sharing one PostgreSQL store: list-then-watch, changes made on either
replica, resume tokens that work on the other one, state filters, owners kept apart, clear errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import grpc
import pytest

from shared.api import training_service_pb2 as pb
from shared.grpc_util.errors import error_details
from tests.service_stack import Stack, service_stack
from train_svc.jobs.store import StoreSettings

pytestmark = pytest.mark.integration

Type = pb.WatchTrainingJobsResponse.Type
FAILED = pb.TrainingJob.State.STATE_FAILED


@pytest.fixture(scope="module")
def stack(tmp_path_factory, principals, postgres_server) -> Iterator[Stack]:
    storage = tmp_path_factory.mktemp("storage")
    store = StoreSettings(url=postgres_server.database(), lease_seconds=2.0)
    allowed = (tmp_path_factory.getbasetemp(),)
    settings = {"replicas": 2, "store": store, "heartbeat_seconds": 0.3}
    with service_stack(storage, principals, allow_local_roots=allowed, **settings) as running:
        yield running


def _failing_job(stack: Stack, principal: str = "alice", replica: int = 0) -> str:
    """A job that ends at once (its archive does not exist), followed to its end."""
    training_input = pb.TrainingInput(training_data_url=str(stack.storage.parent / "absent.zip"))
    stub = stack.stub(principal, replica)
    name = stub.CreateTrainingJob(pb.CreateTrainingJobRequest(input=training_input)).name
    list(stub.WatchTrainingJob(pb.WatchTrainingJobRequest(name=name), timeout=60))
    return name


def _read(
    stack: Stack,
    until: Callable[[list[pb.WatchTrainingJobsResponse]], bool],
    principal: str = "alice",
    replica: int = 0,
    between: Callable[[], None] = lambda: None,
    **request,
) -> list[pb.WatchTrainingJobsResponse]:
    """Messages of a collection watch until `until` holds (heartbeats left out); `between` runs after the
    first message, while the stream is open."""
    got: list[pb.WatchTrainingJobsResponse] = []
    stream = stack.stub(principal, replica).WatchTrainingJobs(pb.WatchTrainingJobsRequest(**request), timeout=60)
    for message in stream:
        if message.type != Type.TYPE_HEARTBEAT:
            got.append(message)
        if len(got) == 1 and message.type != Type.TYPE_HEARTBEAT:
            between()
        if until(got):
            stream.cancel()
            return got
    raise AssertionError(f"the watch ended early: {got}")


def _synced(got: list[pb.WatchTrainingJobsResponse]) -> bool:
    return bool(got) and got[-1].type == Type.TYPE_SYNCED


def _summary(got: list[pb.WatchTrainingJobsResponse]) -> list[tuple[str, str]]:
    return [(Type.Name(m.type), m.training_job.name) for m in got]


def test_a_watch_lists_the_jobs_then_follows_changes_made_on_the_other_replica_and_resumes_anywhere(stack):
    first, second = _failing_job(stack), _failing_job(stack)
    listed = _read(stack, _synced, replica=1)
    assert _summary(listed) == [("TYPE_ADDED", second), ("TYPE_ADDED", first), ("TYPE_SYNCED", "")]
    assert listed[0].training_job.state == FAILED and not listed[0].training_job.HasField("dataset_report")
    assert listed[0].training_job.input.training_data_url.endswith("absent.zip")

    made: list[str] = []

    def ended(got: list[pb.WatchTrainingJobsResponse]) -> bool:
        return bool(made) and any(m.training_job.name == made[0] and m.training_job.state == FAILED for m in got)

    live = _read(stack, ended, replica=1, between=lambda: made.append(_failing_job(stack, replica=0)))
    synced = next(index for index, m in enumerate(live) if m.type == Type.TYPE_SYNCED)
    after_sync = live[synced + 1 :]
    assert after_sync[0].type == Type.TYPE_ADDED and after_sync[0].training_job.name == made[0]
    assert {m.type for m in after_sync[1:]} == {Type.TYPE_MODIFIED}
    assert after_sync[-1].training_job.state == FAILED

    resumed = _read(stack, lambda got: len(got) == len(after_sync), replica=0, resume_token=live[synced].resume_token)
    assert _summary(resumed) == _summary(after_sync), "the same changes, from the other replica, no list"
    assert [m.resume_token for m in resumed] == [m.resume_token for m in after_sync]
    assert resumed[-1].training_job.state == FAILED


def test_a_state_filter_and_another_owner_see_only_what_they_should(stack):
    alices = _failing_job(stack)
    only_failed = _read(stack, _synced, states=[FAILED])
    assert alices in {m.training_job.name for m in only_failed}
    assert all(m.training_job.state == FAILED for m in only_failed if m.type == Type.TYPE_ADDED)
    assert _summary(_read(stack, _synced, states=[pb.TrainingJob.State.STATE_QUEUED])) == [("TYPE_SYNCED", "")]

    bobs: list[str] = []
    seen = _read(
        stack,
        lambda got: bool(bobs) and any(m.training_job.name == bobs[0] for m in got),
        principal="bob",
        replica=1,
        between=lambda: (_failing_job(stack, "alice"), bobs.append(_failing_job(stack, "bob", replica=0))),
    )
    assert {m.training_job.name for m in seen if m.training_job.name} == {bobs[0]}, "alice's jobs never reach bob"


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [({"resume_token": "bm90LWEtdG9rZW4="}, "resume_token"), ({"states": [0]}, "states[0]")],
)
def test_a_bad_watch_request_names_its_field(stack, request_fields, field):
    with pytest.raises(grpc.RpcError) as caught:
        list(stack.stub().WatchTrainingJobs(pb.WatchTrainingJobsRequest(**request_fields), timeout=30))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad_request, info = error_details(caught.value)
    assert [v.field for v in bad_request.field_violations] == [field]
    assert info.reason == "INVALID_WATCH_REQUEST"


def test_a_token_older_than_the_changes_kept_is_out_of_range(stack, monkeypatch):
    import train_svc.jobs.postgres_store

    old = _read(stack, _synced)[-1].resume_token
    monkeypatch.setattr(train_svc.jobs.postgres_store, "CHANGES_KEPT", 2)
    monkeypatch.setattr(train_svc.jobs.postgres_store, "PRUNE_EVERY", 1)
    _failing_job(stack)
    with pytest.raises(grpc.RpcError) as caught:
        list(stack.stub(replica=1).WatchTrainingJobs(pb.WatchTrainingJobsRequest(resume_token=old), timeout=30))
    assert caught.value.code() == grpc.StatusCode.OUT_OF_RANGE
    assert error_details(caught.value)[1].reason == "RESUME_TOKEN_EXPIRED"
    assert "watch again without resume_token" in caught.value.details()
