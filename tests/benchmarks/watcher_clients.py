"""N gRPC clients following one job to its end, for tests.benchmarks.watchers.

  python -m tests.benchmarks.watcher_clients HOST:PORT trainingJobs/ID N

Prints one JSON line: when each client received its first event (time.time(), the clock of the
service's event timestamps on this machine) and how many events each received. Exits 1 unless every
client received every event exactly once, in order.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import grpc

from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc


async def _follow(stub, name: str) -> tuple[float, list[int]]:
    request = pb.WatchTrainingJobRequest(name=name)
    first = float("nan")
    sequences = []
    async for event in stub.WatchTrainingJob(request):
        if first != first:
            first = time.time()
        if not event.HasField("heartbeat"):
            sequences.append(event.sequence)
    return first, sequences


async def main_async(target: str, name: str, count: int) -> int:
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.TrainingServiceStub(channel)
        followed = await asyncio.gather(*(_follow(stub, name) for _ in range(count)))
    seen = [sequences for _, sequences in followed]
    print(json.dumps({"attached": [first for first, _ in followed], "events": [len(s) for s in seen]}), flush=True)
    complete = all(sequences == list(range(1, len(seen[0]) + 1)) for sequences in seen)
    return 0 if complete and seen[0] else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main_async(sys.argv[1], sys.argv[2], int(sys.argv[3]))))
