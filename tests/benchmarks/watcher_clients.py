"""N gRPC clients following one job to its end, for tests.benchmarks.watchers.

  python -m tests.benchmarks.watcher_clients HOST:PORT trainingJobs/ID N

Exits 1 unless every client received every event exactly once, in order.
"""

from __future__ import annotations

import asyncio
import sys

import grpc

from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc


async def _follow(stub, name: str) -> list[int]:
    request = pb.WatchTrainingJobRequest(name=name)
    return [e.sequence async for e in stub.WatchTrainingJob(request) if not e.HasField("heartbeat")]


async def main_async(target: str, name: str, count: int) -> int:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.TrainingServiceStub(channel)
        seen = await asyncio.gather(*(_follow(stub, name) for _ in range(count)))
    complete = all(sequences == list(range(1, len(seen[0]) + 1)) for sequences in seen)
    return 0 if complete and seen[0] else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main_async(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
