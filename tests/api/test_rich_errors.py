"""A real aio server from start_server: rich error statuses, survival after crashes, health, reflection."""

import asyncio
import contextlib

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from structlog.testing import capture_logs

from shared.api import (
    common_pb2,
    preprocess_service_pb2,
    preprocess_service_pb2_grpc,
    training_service_pb2,
    training_service_pb2_grpc,
)
from shared.grpc_util import describe_rpc_error, error_details, start_server, stop_server
from shared.request.errors import DomainError, ErrorCode
from shared.request.validate import resolve

TRAINING = "ltx.trainer.v1.TrainingService"
PREPROCESS = "ltx.trainer.v1.PreprocessService"
pytestmark = pytest.mark.timeout(30)


class FakeTrainingService(training_service_pb2_grpc.TrainingServiceServicer):
    async def CreateTrainingJob(self, request, context):
        settings = resolve(request.input)
        return training_service_pb2.TrainingJob(
            name="trainingJobs/test", resolved=training_service_pb2.ResolvedSettings(rank=settings.rank)
        )

    async def GetTrainingJob(self, request, context):
        raise RuntimeError("secret detail: /srv/private/path")

    async def CancelTrainingJob(self, request, context):
        raise DomainError(ErrorCode.NOT_FOUND, "JOB_NOT_FOUND", f"no job named {request.name}", {"name": request.name})

    async def WatchTrainingJob(self, request, context):  # async generator
        yield training_service_pb2.WatchTrainingJobResponse(sequence=1)
        if request.after_sequence == 0:
            raise DomainError(
                ErrorCode.FAILED_PRECONDITION,
                "ALL_CLIPS_TOO_SHORT",
                "All training videos are too short to be trainable",
                {"min_frames": "89"},
            )
        raise KeyError("unexpected")


class FakePreprocessService(preprocess_service_pb2_grpc.PreprocessServiceServicer):
    async def Preprocess(self, request, context):  # coroutine streaming through context.write
        if request.dataset_id == "self-aborting":
            await context.abort(grpc.StatusCode.NOT_FOUND, "archive not found")
        progress = common_pb2.PreprocessProgress(files_total=2)
        await context.write(preprocess_service_pb2.PreprocessResponse(progress=progress))
        raise DomainError(ErrorCode.FAILED_PRECONDITION, "MIXED_MEDIA", "the archive mixes videos and images")


@contextlib.asynccontextmanager
async def serving():
    running = await start_server(
        [
            (training_service_pb2_grpc.add_TrainingServiceServicer_to_server, FakeTrainingService()),
            (preprocess_service_pb2_grpc.add_PreprocessServiceServicer_to_server, FakePreprocessService()),
        ],
        [TRAINING, PREPROCESS],
        port=0,
        max_receive_bytes=1 << 20,
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield channel, running
    finally:
        await channel.close()
        await stop_server(running, grace=None)


def bad_create_request() -> training_service_pb2.CreateTrainingJobRequest:
    training_input = training_service_pb2.TrainingInput(
        training_data_url="s3://bucket/a.zip", rank=12, number_of_steps=150, learning_rate=0.0
    )
    training_input.validation.add(prompt="ok")
    training_input.validation.add(prompt=" ")
    return training_service_pb2.CreateTrainingJobRequest(input=training_input)


def test_invalid_input_is_invalid_argument_with_every_bad_field() -> None:
    async def scenario() -> grpc.aio.AioRpcError:
        async with serving() as (channel, _):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await training_service_pb2_grpc.TrainingServiceStub(channel).CreateTrainingJob(bad_create_request())
            return caught.value

    err = asyncio.run(scenario())
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    bad_request, info = error_details(err)
    fields = ["training_data_url", "rank", "number_of_steps", "learning_rate", "validation[1].prompt"]
    assert [v.field for v in bad_request.field_violations] == fields
    assert bad_request.field_violations[1].description == "must be one of 8, 16, 32, 64, 128 (got 12)"
    assert (info.reason, info.domain) == ("INVALID_TRAINING_INPUT", "ltx-trainer.v1")
    assert info.metadata["fields"] == ",".join(fields)
    text = describe_rpc_error(err)
    assert text.startswith("INVALID_ARGUMENT: invalid request: 5 problems")
    assert "reason: INVALID_TRAINING_INPUT" in text
    assert "  rank: must be one of 8, 16, 32, 64, 128 (got 12)" in text
    assert "  validation[1].prompt: is required and must not be blank" in text


def test_unexpected_exception_is_internal_without_details_and_the_server_keeps_serving() -> None:
    async def scenario():
        async with serving() as (channel, _):
            stub = training_service_pb2_grpc.TrainingServiceStub(channel)
            with capture_logs() as logs, pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.GetTrainingJob(training_service_pb2.GetTrainingJobRequest(name="trainingJobs/x"))
            request = training_service_pb2.CreateTrainingJobRequest(
                input=training_service_pb2.TrainingInput(training_data_url="a.zip", rank=64)
            )
            job = await stub.CreateTrainingJob(request)
            return caught.value, logs, job

    err, logs, job = asyncio.run(scenario())
    assert err.code() == grpc.StatusCode.INTERNAL
    assert "secret" not in err.details()
    _, info = error_details(err)
    assert info.reason == "INTERNAL_ERROR"
    crash = next(entry for entry in logs if entry["event"] == "rpc_crashed")
    assert crash["error_id"] == info.metadata["error_id"] and crash["error_id"] in err.details()
    assert crash["exc_info"] is True and crash["method"].endswith("/GetTrainingJob")
    assert job.name == "trainingJobs/test" and job.resolved.rank == 64


def test_domain_error_keeps_its_code_reason_and_metadata() -> None:
    async def scenario():
        async with serving() as (channel, _):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await training_service_pb2_grpc.TrainingServiceStub(channel).CancelTrainingJob(
                    training_service_pb2.CancelTrainingJobRequest(name="trainingJobs/nope")
                )
            return caught.value

    err = asyncio.run(scenario())
    assert err.code() == grpc.StatusCode.NOT_FOUND
    assert err.details() == "no job named trainingJobs/nope"
    bad_request, info = error_details(err)
    assert bad_request is None
    assert (info.reason, dict(info.metadata)) == ("JOB_NOT_FOUND", {"name": "trainingJobs/nope"})
    assert describe_rpc_error(err).splitlines() == [
        "NOT_FOUND: no job named trainingJobs/nope",
        "  reason: JOB_NOT_FOUND (ltx-trainer.v1, name=trainingJobs/nope)",
    ]


def test_async_generator_stream_ends_with_the_mapped_status_after_its_events() -> None:
    async def watch(after_sequence: int):
        async with serving() as (channel, _):
            call = training_service_pb2_grpc.TrainingServiceStub(channel).WatchTrainingJob(
                training_service_pb2.WatchTrainingJobRequest(name="trainingJobs/x", after_sequence=after_sequence)
            )
            events = []
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                async for event in call:
                    events.append(event.sequence)
            return events, caught.value

    events, err = asyncio.run(watch(0))
    assert events == [1]
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_details(err)[1].reason == "ALL_CLIPS_TOO_SHORT"

    events, err = asyncio.run(watch(1))
    assert events == [1]
    assert err.code() == grpc.StatusCode.INTERNAL


def test_write_style_stream_is_mapped_and_own_aborts_pass_through() -> None:
    async def preprocess(dataset_id: str):
        async with serving() as (channel, _):
            call = preprocess_service_pb2_grpc.PreprocessServiceStub(channel).Preprocess(
                preprocess_service_pb2.PreprocessRequest(dataset_id=dataset_id)
            )
            events = []
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                async for event in call:
                    events.append(event.WhichOneof("event"))
            return events, caught.value

    events, err = asyncio.run(preprocess("mixed"))
    assert events == ["progress"]
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_details(err)[1].reason == "MIXED_MEDIA"

    events, err = asyncio.run(preprocess("self-aborting"))
    assert events == []
    assert (err.code(), err.details()) == (grpc.StatusCode.NOT_FOUND, "archive not found")
    assert error_details(err) == (None, None)


def test_health_reports_serving_for_the_server_and_each_service() -> None:
    async def scenario():
        async with serving() as (channel, _):
            stub = health_pb2_grpc.HealthStub(channel)
            statuses = {}
            for service in ("", TRAINING, PREPROCESS):
                response = await stub.Check(health_pb2.HealthCheckRequest(service=service))
                statuses[service] = response.status
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"))
            return statuses, caught.value.code()

    statuses, unknown = asyncio.run(scenario())
    assert set(statuses.values()) == {health_pb2.HealthCheckResponse.SERVING}
    assert unknown == grpc.StatusCode.NOT_FOUND


def test_stop_server_reports_not_serving_before_stopping() -> None:
    async def scenario():
        running = await start_server(
            [(training_service_pb2_grpc.add_TrainingServiceServicer_to_server, FakeTrainingService())],
            [TRAINING],
            port=0,
            max_receive_bytes=1 << 20,
        )
        async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            watch = health_pb2_grpc.HealthStub(channel).Watch(health_pb2.HealthCheckRequest(service=TRAINING))
            seen = [(await watch.read()).status]
            stopping = asyncio.create_task(stop_server(running, grace=0.5))
            seen.append((await watch.read()).status)
            await stopping
        return seen

    serving_status = health_pb2.HealthCheckResponse
    assert asyncio.run(scenario()) == [serving_status.SERVING, serving_status.NOT_SERVING]


def test_reflection_lists_the_services_and_serves_their_descriptors() -> None:
    async def scenario():
        async with serving() as (channel, _):
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            requests = [
                reflection_pb2.ServerReflectionRequest(list_services=""),
                reflection_pb2.ServerReflectionRequest(file_containing_symbol=TRAINING),
            ]
            return [response async for response in stub.ServerReflectionInfo(iter(requests))]

    listing, descriptor = asyncio.run(scenario())
    names = {service.name for service in listing.list_services_response.service}
    assert names == {
        TRAINING,
        PREPROCESS,
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
    }
    assert descriptor.file_descriptor_response.file_descriptor_proto


def test_a_port_in_use_is_an_error_not_a_second_listener() -> None:
    async def scenario():
        async with serving() as (_, running):
            with pytest.raises(RuntimeError, match="Failed to bind"):
                await start_server([], [], port=running.port, max_receive_bytes=1 << 20)

    asyncio.run(scenario())
