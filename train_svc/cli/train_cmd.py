"""`ltx-trainer train`: submit the hosted API's JSON request, follow the job, collect its outputs."""

from __future__ import annotations

import json
import sys
import uuid
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any, Literal, TypedDict, get_args
from urllib.parse import unquote, urlparse

import grpc

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.grpc_util.channels import ClientCredentials, aio_channel
from shared.grpc_util.errors import describe_rpc_error, describe_status
from shared.request.errors import InvalidRequest
from shared.request.json_input import input_from_json
from train_svc.cli.download import DownloadError, fetch
from train_svc.cli.exit_codes import ExitCode, exit_code
from train_svc.cli.progress import ProgressDisplay
from train_svc.cli.upload import upload_archive
from train_svc.cli.watch import CHANNEL_OPTIONS, DEFAULT_RECONNECT_BUDGET_S, JobWatcher, WatchError, call_with_retry

_OutputField = Literal["lora_file", "config_file", "video", "debug_dataset", "dataset_report"]
_OUTPUT_FIELDS: tuple[_OutputField, ...] = get_args(_OutputField)
# Outputs listed in result.json alone (TrainingResult has no field for them), fetched by artifact name, and
# where each goes under --out: the TensorBoard event file into a folder of its own (tensorboard --logdir).
_RESULT_JSON_OUTPUTS = {"tensorboard": "tensorboard", "loss_plot": "."}


class _Retry(TypedDict):
    budget_s: float
    note: Callable[[str], None]


class _NoteArg(TypedDict, total=False):
    note: Callable[[str], None]


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


def local_archive(request_path: Path, request: dict[str, Any]) -> Path | None:
    """The file on this machine that training_data_url names (relative to the request file), if any."""
    url = request.get("training_data_url")
    if not isinstance(url, str) or not url or urlparse(url).scheme:
        return None
    local = Path(url).expanduser()
    if not local.is_absolute():
        local = request_path.parent / local
    return local.resolve() if local.is_file() else None


async def upload_local_archive(
    request_path: Path,
    request: dict[str, Any],
    preprocess_target: str | None,
    credentials: ClientCredentials | None = None,
) -> int:
    """With a remote --target, send a local archive to the PreprocessService and use its upload:// URI.

    An absolute path is sent as it is when no --preprocess-target is given (the services may share this
    filesystem); a relative one needs the upload, so its absence is an error.
    """
    archive = local_archive(request_path, request)
    if archive is None:
        return ExitCode.OK
    if preprocess_target is None:
        url = request["training_data_url"]
        if not Path(url).expanduser().is_absolute():
            print(
                f"error: training_data_url {url!r} is the local file {archive}; a remote service cannot read it.\n"
                "  pass --preprocess-target HOST:PORT (the PreprocessService the training service uses) to upload it",
                file=sys.stderr,
            )
            return ExitCode.REFUSED
        print(
            f"note: sending the path {url} as it is; the service reads it only if it shares this filesystem "
            "(pass --preprocess-target HOST:PORT to upload it instead)",
            file=sys.stderr,
        )
        return ExitCode.OK
    try:
        uploaded = await upload_archive(preprocess_target, archive, credentials=credentials)
    except grpc.aio.AioRpcError as err:
        print(f"error: uploading {archive} failed\n{describe_rpc_error(err)}", file=sys.stderr)
        return exit_code(err.code())
    print(f"uploaded {archive} as {uploaded.uri} (sha256 {uploaded.sha256})", file=sys.stderr)
    request["training_data_url"] = uploaded.uri
    return ExitCode.OK


async def _collect(
    stub: pb_grpc.TrainingServiceAsyncStub,
    job: pb.TrainingJob,
    out_dir: Path,
    *,
    budget_s: float = DEFAULT_RECONNECT_BUDGET_S,
    note: Callable[[str], None] | None = None,
) -> list[Path]:
    """Copy or download the job's outputs into out_dir (sha256 checked); result.json then points at them.

    A download the service breaks off (e.g. while it restarts) is started again for up to `budget_s`.
    """
    out_dir.mkdir(parents=True, exist_ok=True)

    note_arg: _NoteArg = {"note": note} if note else {}

    async def fetch_retrying(artifact, target: Path, field: str) -> Path:
        return await call_with_retry(
            lambda: fetch(stub, job.name, artifact, target, field=field),
            what=f"downloading {target.name}",
            budget_s=budget_s,
            **note_arg,
        )

    copied: dict[str, Path] = {}
    for field in _OUTPUT_FIELDS:
        if job.result.HasField(field):
            artifact = getattr(job.result, field)
            file_name = PurePosixPath(unquote(urlparse(artifact.uri).path)).name
            copied[file_name] = await fetch_retrying(artifact, out_dir / file_name, field)
    result_path = await fetch_retrying(job.result.result_file, out_dir / "result.json", "result_file")
    result = json.loads(result_path.read_text())
    for output, folder in _RESULT_JSON_OUTPUTS.items():
        entry = result.get(output)
        if isinstance(entry, dict):
            file_name = PurePosixPath(str(entry["file_name"])).name
            artifact = common_pb2.Artifact(
                name=output, uri=entry["url"], sha256=entry["sha256"], size_bytes=entry["file_size"]
            )
            (out_dir / folder).mkdir(parents=True, exist_ok=True)
            copied[file_name] = await fetch_retrying(artifact, out_dir / folder / file_name, output)
    for entry in result.values():
        if isinstance(entry, dict) and entry.get("file_name") in copied:
            entry["url"] = copied[entry["file_name"]].resolve().as_uri()
    result_path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return [*copied.values(), result_path]


async def submit_and_follow(
    target: str,
    request: dict[str, Any],
    out_dir: Path,
    display: ProgressDisplay,
    *,
    reconnect_budget_s: float = DEFAULT_RECONNECT_BUDGET_S,
    credentials: ClientCredentials | None = None,
) -> int:
    """Create the job, show its events to the end, then collect its outputs into out_dir.

    The service may go away and come back at any point (a restart keeps the job and its event log):
    creating (idempotent on request_id), watching, the final GetTrainingJob and the downloads are all
    retried until `reconnect_budget_s` of continuous failure has passed.
    """
    try:
        training_input = input_from_json(request)
    except InvalidRequest as exc:
        print(f"error: {exc}", file=sys.stderr)
        return ExitCode.REFUSED
    retry: _Retry = {"budget_s": reconnect_budget_s, "note": display.note}
    async with aio_channel(target, credentials, options=CHANNEL_OPTIONS) as channel:
        stub = pb_grpc.TrainingServiceStub(channel)
        create = pb.CreateTrainingJobRequest(input=training_input, request_id=uuid.uuid4().hex)
        try:
            job = await call_with_retry(lambda: stub.CreateTrainingJob(create), what="creating the job", **retry)
        except grpc.aio.AioRpcError as err:
            print(f"error: the training service refused the request\n{describe_rpc_error(err)}", file=sys.stderr)
            return exit_code(err.code())
        print(f"created {job.name} on {target}", file=sys.stderr)
        watcher = JobWatcher(stub, job.name, reconnect_budget_s=reconnect_budget_s, note=display.note)
        try:
            try:
                async for event in watcher:
                    display.show(event)
            finally:
                display.close()  # a bar still shown ends before anything else is printed
            job = await call_with_retry(
                lambda: stub.GetTrainingJob(pb.GetTrainingJobRequest(name=job.name)), what="reading the job", **retry
            )
        except WatchError as exc:
            print(f"error: stopped following {job.name}\n{exc}", file=sys.stderr)
            return ExitCode.UNREACHABLE
        except grpc.aio.AioRpcError as err:
            print(f"error: following {job.name} failed\n{describe_rpc_error(err)}", file=sys.stderr)
            return exit_code(err.code())
        if job.state != pb.TrainingJob.State.STATE_SUCCEEDED:
            state = pb.TrainingJob.State.Name(job.state).removeprefix("STATE_")
            detail = describe_status(job.error) if job.HasField("error") else "no error recorded"
            print(f"error: {job.name} ended {state}\n{detail}", file=sys.stderr)
            return ExitCode.FAILED
        try:
            files = await _collect(stub, job, out_dir, **retry)
        except (DownloadError, grpc.aio.AioRpcError) as exc:
            detail = describe_rpc_error(exc) if isinstance(exc, grpc.aio.AioRpcError) else str(exc)
            print(f"error: could not fetch the outputs of {job.name}\n{detail}", file=sys.stderr)
            return ExitCode.FAILED
    print(f"outputs of {job.name} in {out_dir.resolve()}:")
    for path in files:
        print(f"  {path.name}")
    print(f"billable units: {job.billable_units}")
    return ExitCode.OK
