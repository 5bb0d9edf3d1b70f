"""UploadArchive over real gRPC on loopback: chunked uploads, refused uploads, upload:// in Preprocess and the CLI."""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import grpc
import pytest

from shared.api import preprocess_service_pb2 as pb
from shared.api import preprocess_service_pb2_grpc as pb_grpc
from shared.demo_dataset import make_demo_dataset
from shared.grpc_util.errors import error_details
from shared.uploads_layout import owner_uploads_dir
from tests.principals import INTERNAL
from train_svc.cli.upload import upload_messages

pytestmark = pytest.mark.integration

MIB = 1 << 20
CLI = [sys.executable, "-m", "train_svc.cli"]


@pytest.fixture(scope="module")
def stub(services) -> pb_grpc.PreprocessServiceStub:
    """alice's PreprocessService stub: she may upload."""
    return services.stack.preprocess_stub("alice")


@pytest.fixture(scope="module")
def internal(services) -> pb_grpc.PreprocessServiceStub:
    """The training service's own stub: only it may call Preprocess."""
    return services.stack.preprocess_stub(INTERNAL)


def preprocess_request(url: str, owner: str = "alice") -> pb.PreprocessRequest:
    dataset_id = secrets.token_hex(8)
    return pb.PreprocessRequest(
        dataset_id=dataset_id,
        owner=owner,
        training_data_url=url,
        number_of_frames=9,
        frame_rate=24,
        width=64,
        height=64,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def stored_uploads(services, owner: str = "alice") -> set[str]:
    folder = owner_uploads_dir(services.storage, owner)
    return {p.name for p in folder.iterdir()} if folder.exists() else set()


def random_file(path: Path, size: int) -> Path:
    path.write_bytes(os.urandom(size))
    return path


def refusal(stub, messages) -> tuple[grpc.RpcError, dict[str, str], str]:
    with pytest.raises(grpc.RpcError) as caught:
        stub.UploadArchive(iter(messages), timeout=60)
    _, info = error_details(caught.value)
    assert info is not None
    return caught.value, dict(info.metadata), info.reason


def test_a_200_mb_archive_uploads_in_chunks_and_preprocesses_from_its_upload_uri(services, stub, internal, tmp_path):
    clips = make_demo_dataset(tmp_path / "clips.zip", clips=2, seconds=0.5, size=(64, 64))
    archive = tmp_path / "big.zip"
    with zipfile.ZipFile(clips) as src, zipfile.ZipFile(archive, "w") as out:
        for info in src.infolist():
            out.writestr(info, src.read(info))
        out.writestr("padding.bin", os.urandom(200 * MIB), compress_type=zipfile.ZIP_STORED)

    uploaded = stub.UploadArchive(upload_messages(archive, sha256(archive)), timeout=120)

    upload_id = uploaded.uri.removeprefix("upload://")
    stored = owner_uploads_dir(services.storage, "alice") / f"{upload_id}.zip"
    assert uploaded.size_bytes == archive.stat().st_size > 200 * MIB
    assert uploaded.sha256 == sha256(archive) == sha256(stored)
    assert stored.read_bytes() == archive.read_bytes()
    events = list(internal.Preprocess(preprocess_request(uploaded.uri), timeout=300))
    warnings = {(e.warning.path, e.warning.code) for e in events if e.HasField("warning")}
    assert ("padding.bin", "IGNORED_FILE") in warnings
    assert events[-1].summary.samples == 2
    # The upload is alice's: a dataset for bob cannot use it, and it does not exist as far as bob knows.
    with pytest.raises(grpc.RpcError) as caught:
        list(internal.Preprocess(preprocess_request(uploaded.uri, owner="bob"), timeout=60))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_corrupted_chunk_is_refused_naming_its_offset_and_nothing_is_kept(services, stub, tmp_path):
    data = random_file(tmp_path / "data.zip", 3 * MIB + 5)
    messages = list(upload_messages(data, sha256(data), chunk_bytes=MIB))
    corrupted = bytearray(messages[2].chunk.data)  # the chunk at offset 1 MiB, its sha256 already computed
    corrupted[100] ^= 0xFF
    messages[2].chunk.data = bytes(corrupted)
    before = stored_uploads(services)

    err, metadata, reason = refusal(stub, messages)

    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason == "CHUNK_CORRUPTED"
    assert metadata["offset"] == str(MIB)
    assert f"offset {MIB:,}" in err.details()
    assert stored_uploads(services) == before


def test_a_whole_file_sha256_mismatch_is_refused(services, stub, tmp_path):
    data = random_file(tmp_path / "data.zip", MIB)
    before = stored_uploads(services)

    err, _, reason = refusal(stub, upload_messages(data, "0" * 64))

    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason == "SHA256_MISMATCH"
    assert stored_uploads(services) == before


def test_an_upload_over_the_size_cap_is_refused_from_its_header(stub):
    header = pb.UploadArchiveHeader(file_name="huge.zip", total_size_bytes=21 << 30, sha256="0" * 64)

    err, metadata, reason = refusal(stub, [pb.UploadArchiveRequest(header=header)])

    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason == "UPLOAD_TOO_LARGE"
    assert metadata["max_bytes"] == str(20 << 30)


def test_more_bytes_than_the_header_declared_are_refused(services, stub, tmp_path):
    data = random_file(tmp_path / "data.zip", 2 * MIB)
    messages = list(upload_messages(data, sha256(data), chunk_bytes=MIB))
    messages[0].header.total_size_bytes = MIB + 1
    before = stored_uploads(services)

    err, metadata, reason = refusal(stub, messages)

    assert reason == "SIZE_MISMATCH"
    assert metadata["offset"] == str(MIB)
    assert stored_uploads(services) == before


def test_a_stream_that_starts_without_a_header_is_refused(stub, tmp_path):
    data = random_file(tmp_path / "data.zip", 1000)
    messages = list(upload_messages(data, sha256(data)))[1:]

    err, _, reason = refusal(stub, messages)

    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reason == "MISSING_HEADER"


def test_an_upload_the_client_cancels_leaves_nothing_behind(services, stub, tmp_path):
    data = random_file(tmp_path / "data.zip", 2 * MIB)
    first_two = list(upload_messages(data, sha256(data), chunk_bytes=MIB))[:2]
    release = threading.Event()
    before = stored_uploads(services)

    def stalling_messages():
        yield from first_two
        release.wait(30)

    call = stub.UploadArchive.future(stalling_messages(), timeout=60)
    try:
        assert _eventually(lambda: any(n.endswith(".part") for n in stored_uploads(services) - before))
        call.cancel()
        assert _eventually(lambda: stored_uploads(services) == before)
    finally:
        release.set()
    assert call.cancelled()


def _eventually(condition, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.mark.parametrize("uri", ["upload://" + "0" * 32, "upload://../../datasets/x/archive"])
def test_preprocessing_an_unknown_upload_is_not_found(internal, uri):
    with pytest.raises(grpc.RpcError) as caught:
        list(internal.Preprocess(preprocess_request(uri), timeout=60))

    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert uri in caught.value.details()


def _train(request: Path, out: Path, *targets: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    args = [*CLI, "train", str(request), "--out", str(out), *targets]
    return subprocess.run(args, capture_output=True, text=True, timeout=600, env={**os.environ, **env})


def _request(folder: Path) -> Path:
    make_demo_dataset(folder / "clips.zip", clips=2, seconds=1.0, size=(128, 128))
    request = folder / "request.json"
    fields = {"training_data_url": "clips.zip", "number_of_steps": 100, "number_of_frames": 9, "resolution": "low"}
    request.write_text(json.dumps(fields))
    return request


def test_cli_uploads_a_local_archive_to_a_remote_service_and_the_job_succeeds(services, tmp_path):
    request = _request(tmp_path)

    done = _train(
        request,
        tmp_path / "out",
        "--target",
        services.training_target,
        "--preprocess-target",
        services.preprocess_target,
        env=services.env("alice"),
    )

    assert done.returncode == 0, done.stderr
    assert "uploading clips.zip:" in done.stderr and "MB/s" in done.stderr
    assert "as upload://" in done.stderr
    assert "[SUCCEEDED]" in done.stderr
    assert (tmp_path / "out" / "lora.safetensors").is_file()


def test_cli_asks_for_the_preprocess_target_when_a_relative_local_archive_needs_uploading(services, tmp_path):
    request = _request(tmp_path)

    done = _train(request, tmp_path / "out", "--target", services.training_target, env=services.env("alice"))

    assert done.returncode == 2
    assert "--preprocess-target HOST:PORT" in done.stderr
