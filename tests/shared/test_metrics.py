"""The RPC metrics interceptor and the /metrics endpoint: a real grpc.aio server, a real HTTP scrape."""

from __future__ import annotations

import asyncio
import urllib.request

import grpc
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.grpc_util.server import start_server, stop_server
from shared.metrics import serve_metrics
from shared.metrics.rpc import RpcMetrics
from shared.request.errors import DomainError, ErrorCode

SERVICE = "ltx.trainer.v1.TrainingService"


class Servicer(pb_grpc.TrainingServiceServicer):
    async def GetTrainingJob(self, request, context):
        if request.name == "missing":
            raise DomainError(ErrorCode.NOT_FOUND, "JOB_NOT_FOUND", "no such job")
        if request.name == "crash":
            raise RuntimeError("boom")
        return pb.TrainingJob(name=request.name)

    async def DownloadArtifact(self, request, context):
        yield pb.DownloadArtifactResponse(offset=0)
        if request.offset:
            raise DomainError(ErrorCode.OUT_OF_RANGE, "BAD_OFFSET", "offset past the end")
        yield pb.DownloadArtifactResponse(offset=1)


def scrape(port: int) -> dict[str, list]:
    """Every sample of http://127.0.0.1:PORT/metrics, by family name."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def value(samples: list, name: str, **labels: str) -> float:
    return sum(s.value for s in samples if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()))


async def _calls(port: int) -> None:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = pb_grpc.TrainingServiceStub(channel)
        await stub.GetTrainingJob(pb.GetTrainingJobRequest(name="trainingJobs/1"))
        await stub.GetTrainingJob(pb.GetTrainingJobRequest(name="trainingJobs/2"))
        for name, code in (("missing", grpc.StatusCode.NOT_FOUND), ("crash", grpc.StatusCode.INTERNAL)):
            with pytest.raises(grpc.aio.AioRpcError) as failed:
                await stub.GetTrainingJob(pb.GetTrainingJobRequest(name=name))
            assert failed.value.code() == code
        assert len([m async for m in stub.DownloadArtifact(pb.DownloadArtifactRequest(name="x"))]) == 2
        with pytest.raises(grpc.aio.AioRpcError) as failed:
            async for _ in stub.DownloadArtifact(pb.DownloadArtifactRequest(name="x", offset=5)):
                pass
        assert failed.value.code() == grpc.StatusCode.OUT_OF_RANGE
        with pytest.raises(grpc.aio.AioRpcError):  # an unknown method: no handler, no label
            await channel.unary_unary("/no.Such/Method")(b"")


def test_rpcs_are_counted_and_timed_by_method_and_code():
    registry = CollectorRegistry()

    async def main() -> None:
        running = await start_server(
            [(pb_grpc.add_TrainingServiceServicer_to_server, Servicer())],
            [SERVICE],
            0,
            max_receive_bytes=64 * 1024,
            rpc_metrics=RpcMetrics(registry),
        )
        try:
            await _calls(running.port)
        finally:
            await stop_server(running, 0.5)

    asyncio.run(main())
    endpoint = serve_metrics(registry, "127.0.0.1", 0)
    try:
        families = scrape(endpoint.port)
    finally:
        endpoint.stop()
    handled = families["ltx_rpc_handled"]
    get, download = f"/{SERVICE}/GetTrainingJob", f"/{SERVICE}/DownloadArtifact"
    assert value(handled, "ltx_rpc_handled_total", method=get, code="OK") == 2
    assert value(handled, "ltx_rpc_handled_total", method=get, code="NOT_FOUND") == 1
    assert value(handled, "ltx_rpc_handled_total", method=get, code="INTERNAL") == 1
    assert value(handled, "ltx_rpc_handled_total", method=download, code="OK") == 1
    assert value(handled, "ltx_rpc_handled_total", method=download, code="OUT_OF_RANGE") == 1
    assert {s.labels["method"] for s in handled} == {get, download}
    duration = families["ltx_rpc_duration_seconds"]
    assert value(duration, "ltx_rpc_duration_seconds_count", method=get, code="OK") == 2
    assert value(duration, "ltx_rpc_duration_seconds_sum", method=get) > 0


def test_unauthenticated_calls_are_counted(tmp_path):
    from shared.auth import AuthSettings

    tokens = tmp_path / "tokens"
    tokens.write_text("alice sha256:" + "0" * 64 + "\n")
    registry = CollectorRegistry()

    async def main() -> None:
        running = await start_server(
            [(pb_grpc.add_TrainingServiceServicer_to_server, Servicer())],
            [SERVICE],
            0,
            max_receive_bytes=64 * 1024,
            auth=AuthSettings(tokens_file=tokens),
            rpc_metrics=RpcMetrics(registry),
        )
        try:
            async with grpc.aio.insecure_channel(f"127.0.0.1:{running.port}") as channel:
                with pytest.raises(grpc.aio.AioRpcError):
                    await pb_grpc.TrainingServiceStub(channel).GetTrainingJob(pb.GetTrainingJobRequest(name="a"))
        finally:
            await stop_server(running, 0.5)

    asyncio.run(main())
    method = f"/{SERVICE}/GetTrainingJob"
    assert registry.get_sample_value("ltx_rpc_handled_total", {"method": method, "code": "UNAUTHENTICATED"}) == 1


def test_metrics_endpoint_port_taken_is_an_error():
    registry = CollectorRegistry()
    first = serve_metrics(registry, "127.0.0.1", 0)
    try:
        with pytest.raises(OSError):
            serve_metrics(registry, "127.0.0.1", first.port)
    finally:
        first.stop()
