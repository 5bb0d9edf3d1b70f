"""`ltx-trainer train`: submit the hosted API's JSON request, follow the job, collect its outputs."""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import grpc

from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.bundle import path_from_uri, sha256_file
from shared.cli.progress import ProgressDisplay
from shared.grpc_util.errors import describe_rpc_error, describe_status
from shared.request.errors import InvalidRequest
from shared.request.json_input import input_from_json

EXIT_OK, EXIT_JOB_FAILED, EXIT_BAD_REQUEST, EXIT_UNREACHABLE = 0, 1, 2, 3
_OUTPUT_FIELDS = ("lora_file", "config_file", "video", "debug_dataset")


def load_request(path: Path, *, make_paths_absolute: bool) -> dict[str, Any]:
    """Read the JSON request; a relative local archive path is taken relative to the request file."""
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise SystemExit(f"cannot read request {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise SystemExit(f"request {path} must hold a JSON object, got {type(data).__name__}")
    url = data.get("training_data_url")
    if make_paths_absolute and isinstance(url, str) and url and not urlparse(url).scheme:
        local = Path(url).expanduser()
        if not local.is_absolute():
            local = (path.parent / local).resolve()
        data["training_data_url"] = str(local)
    return data


def _collect(job: pb.TrainingJob, out_dir: Path) -> list[Path]:
    """Copy the job's outputs into out_dir (verifying sha256); result.json then points at the copies."""
    out_dir.mkdir(parents=True, exist_ok=True)
    copied: dict[str, Path] = {}
    for field in _OUTPUT_FIELDS:
        if not job.result.HasField(field):
            continue
        artifact = getattr(job.result, field)
        source = path_from_uri(artifact.uri)
        target = out_dir / source.name
        shutil.copyfile(source, target)
        if sha256_file(target) != artifact.sha256:
            raise SystemExit(f"copy of {field} at {target} does not match the server's sha256")
        copied[source.name] = target
    result = json.loads(path_from_uri(job.result.result_file.uri).read_text())
    for entry in result.values():
        if isinstance(entry, dict) and entry.get("file_name") in copied:
            entry["url"] = copied[entry["file_name"]].resolve().as_uri()
    (out_dir / "result.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return [*copied.values(), out_dir / "result.json"]


def _outputs_are_local(job: pb.TrainingJob) -> bool:
    uri = job.result.result_file.uri
    return uri.startswith("file://") and path_from_uri(uri).exists()


async def submit_and_follow(target: str, request: dict[str, Any], out_dir: Path, display: ProgressDisplay) -> int:
    try:
        training_input = input_from_json(request)
    except InvalidRequest as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_BAD_REQUEST
    async with grpc.aio.insecure_channel(target) as channel:
        stub = pb_grpc.TrainingServiceStub(channel)
        try:
            job = await stub.CreateTrainingJob(
                pb.CreateTrainingJobRequest(input=training_input, request_id=uuid.uuid4().hex)
            )
        except grpc.aio.AioRpcError as err:
            print(f"error: the training service refused the request\n{describe_rpc_error(err)}", file=sys.stderr)
            unreachable = err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
            return EXIT_UNREACHABLE if unreachable else EXIT_BAD_REQUEST
        print(f"created {job.name} on {target}", file=sys.stderr)
        async for event in stub.WatchTrainingJob(pb.WatchTrainingJobRequest(name=job.name)):
            display.show(event)
        job = await stub.GetTrainingJob(pb.GetTrainingJobRequest(name=job.name))
    if job.state != pb.TrainingJob.State.SUCCEEDED:
        state = pb.TrainingJob.State.Name(job.state)
        detail = describe_status(job.error) if job.HasField("error") else "no error recorded"
        print(f"error: {job.name} ended {state}\n{detail}", file=sys.stderr)
        return EXIT_JOB_FAILED
    if _outputs_are_local(job):
        files = _collect(job, out_dir)
        print(f"outputs of {job.name} in {out_dir.resolve()}:")
        for path in files:
            print(f"  {path.name}")
    else:
        print(f"outputs of {job.name} are on the service's storage:")
        for field in (*_OUTPUT_FIELDS, "result_file"):
            if job.result.HasField(field):
                print(f"  {field}: {getattr(job.result, field).uri}")
    print(f"billable units: {job.billable_units}")
    return EXIT_OK
