"""Tenancy: bob goes after alice's jobs, uploads, outputs and generations, and gets nothing of them."""

from __future__ import annotations

from pathlib import Path

from shared.api import generation_pb2 as gen_pb
from shared.api import preprocess_service_pb2 as ppb
from shared.api import training_service_pb2 as pb
from shared.auth import owner_key
from tests.hostile.corpus import CORPUS, Outcome, attempt

NOT_FOUND = "NOT_FOUND"


def _as_bob(name: str, code: str, reason: str):
    return CORPUS.add("tenancy", name, code, reason, victim="alice")


@_as_bob("get_alices_job", NOT_FOUND, "JOB_NOT_FOUND")
def _get(world) -> Outcome:
    return attempt(lambda: world.stub("bob").GetTrainingJob(pb.GetTrainingJobRequest(name=world.alice_job.name)))


@_as_bob("watch_alices_job", NOT_FOUND, "JOB_NOT_FOUND")
def _watch(world) -> Outcome:
    request = pb.WatchTrainingJobRequest(name=world.alice_job.name)
    return attempt(lambda: world.stub("bob").WatchTrainingJob(request, timeout=30))


@_as_bob("cancel_alices_job", NOT_FOUND, "JOB_NOT_FOUND")
def _cancel(world) -> Outcome:
    return attempt(lambda: world.stub("bob").CancelTrainingJob(pb.CancelTrainingJobRequest(name=world.alice_job.name)))


@_as_bob("delete_alices_job", NOT_FOUND, "JOB_NOT_FOUND")
def _delete(world) -> Outcome:
    request = pb.DeleteTrainingJobRequest(name=world.alice_job.name, force=True)
    return attempt(lambda: world.stub("bob").DeleteTrainingJob(request))


def _download(world, name: str, artifact: str) -> Outcome:
    request = pb.DownloadArtifactRequest(name=name, artifact=artifact)

    def read_all() -> None:
        for message in world.stub("bob").DownloadArtifact(request, timeout=30):
            raise AssertionError(f"bob received a message of {name}: {message.artifact.name or len(message.data)}")

    return attempt(read_all)


for _artifact in ("lora_file", "config_file", "dataset_report", "result_file"):
    _as_bob(f"download_alices_{_artifact}", NOT_FOUND, "JOB_NOT_FOUND")(
        lambda world, artifact=_artifact: _download(world, world.alice_job.name, artifact)
    )


@_as_bob("download_alices_generation", NOT_FOUND, "ARTIFACT_NOT_FOUND")
def _download_generation(world) -> Outcome:
    return _download(world, world.alice_generation.name, "video")


@_as_bob("generate_with_alices_job", NOT_FOUND, "JOB_NOT_FOUND")
def _generate_job(world) -> Outcome:
    request = gen_pb.GenerateVideoRequest(prompt="x", job=world.alice_job.name, steps=2, number_of_frames=9)
    return attempt(lambda: world.stub("bob").GenerateVideo(request, timeout=60))


def _generate_with_lora(world, lora_file: str) -> Outcome:
    request = gen_pb.GenerateVideoRequest(prompt="x", lora_file=lora_file, steps=2, number_of_frames=9)
    return attempt(lambda: world.stub("bob").GenerateVideo(request, timeout=60))


@_as_bob("generate_with_alices_lora_by_path", "INVALID_ARGUMENT", "INVALID_GENERATION_REQUEST")
def _lora_path(world) -> Outcome:
    return _generate_with_lora(world, world.lora_path())


@_as_bob("generate_with_alices_lora_by_file_uri", "INVALID_ARGUMENT", "INVALID_GENERATION_REQUEST")
def _lora_uri(world) -> Outcome:
    return _generate_with_lora(world, world.alice_job.result.lora_file.uri)


@_as_bob("generate_with_alices_lora_by_relative_path", "INVALID_ARGUMENT", "INVALID_GENERATION_REQUEST")
def _lora_relative(world) -> Outcome:
    job_id = world.alice_job.name.removeprefix("trainingJobs/")
    return _generate_with_lora(world, f"jobs/{job_id}/outputs/lora.safetensors")


@_as_bob("generate_with_alices_upload", "INVALID_ARGUMENT", "INVALID_GENERATION_REQUEST")
def _lora_upload(world) -> Outcome:
    return _generate_with_lora(world, world.alice_upload)


@_as_bob("generate_with_a_path_into_alices_uploads", "INVALID_ARGUMENT", "INVALID_GENERATION_REQUEST")
def _lora_upload_path(world) -> Outcome:
    upload_id = world.alice_upload.removeprefix("upload://")
    return _generate_with_lora(world, f"uploads/{owner_key('alice')}/{upload_id}.zip")


@_as_bob("train_on_alices_upload", NOT_FOUND, "NOT_FOUND")
def _train_upload(world) -> Outcome:
    return world.job_outcome(world.alice_upload, principal="bob")


@_as_bob("train_on_alices_outputs_by_path", "INVALID_ARGUMENT", "INVALID_TRAINING_INPUT")
def _train_outputs(world) -> Outcome:
    return world.create("bob", training_data_url=world.lora_path())


@_as_bob("preprocess_alices_upload_for_bob", "PERMISSION_DENIED", "INTERNAL_ONLY")
def _preprocess_direct(world) -> Outcome:
    request = ppb.PreprocessRequest(dataset_id="0123456789abcdef", owner="bob", training_data_url=world.alice_upload)
    return attempt(lambda: world.preprocess_stub("bob").Preprocess(request, timeout=30))


@_as_bob("bobs_list_leaves_alices_jobs_out", "OK", "")
def _list(world) -> Outcome:
    names = [job.name for job in world.stub("bob").ListTrainingJobs(pb.ListTrainingJobsRequest()).training_jobs]
    assert world.alice_job.name not in names
    return Outcome("OK")


@_as_bob("bobs_request_id_is_his_own", "OK", "")
def _request_id(world) -> Outcome:
    """Reusing alice's request_id neither returns alice's job nor says it exists: bob gets a job of his own."""
    url = "upload://" + "1" * 32
    request = pb.CreateTrainingJobRequest(input=pb.TrainingInput(training_data_url=url), request_id="shared-id")
    alices = world.stub("alice").CreateTrainingJob(request)
    other = pb.CreateTrainingJobRequest(input=pb.TrainingInput(training_data_url=url, rank=8), request_id="shared-id")
    bobs = world.stub("bob").CreateTrainingJob(other)
    assert bobs.name != alices.name
    world.wait(bobs.name, "bob")
    world.wait(alices.name, "alice")
    return Outcome("OK")


@_as_bob("bobs_cache_never_hits_alices_run", "OK", "")
def _cache(world) -> Outcome:
    """The archive alice's run put in her cache, preprocessed for bob: bob's run is no cache hit."""
    archive, alices = world.alice_cached_run
    bobs = world.preprocess(str(archive), owner="bob")
    assert alices[-1].summary.from_cache  # alice's own second run was a hit
    assert not bobs[-1].summary.from_cache and bobs[-1].summary.cache_key != alices[-1].summary.cache_key
    return Outcome("OK")


@_as_bob("bob_watches_alices_job_from_a_later_sequence", NOT_FOUND, "JOB_NOT_FOUND")
def _watch_later(world) -> Outcome:
    request = pb.WatchTrainingJobRequest(name=world.alice_job.name, after_sequence=10**9)
    return attempt(lambda: world.stub("bob").WatchTrainingJob(request, timeout=30))


@CORPUS.add("tenancy", "an_admin_sees_alices_job", "OK", "", victim="bob")
def _admin(world) -> Outcome:
    job = world.stub("ops").GetTrainingJob(pb.GetTrainingJobRequest(name=world.alice_job.name))
    names = [
        j.name for j in world.stub("ops").ListTrainingJobs(pb.ListTrainingJobsRequest(page_size=1000)).training_jobs
    ]
    assert job.name in names
    return attempt(
        lambda: world.stub("ops").DownloadArtifact(pb.DownloadArtifactRequest(name=job.name, artifact="config_file"))
    )


@CORPUS.add("tenancy", "bobs_upload_lands_in_bobs_folder_only", "OK", "", victim="alice")
def _upload(world) -> Outcome:
    import hashlib

    from train_svc.cli.upload import upload_messages

    data = world.allowed / "bob-upload.bin"
    data.write_bytes(b"bob's bytes" * 100)
    digest = hashlib.sha256(data.read_bytes()).hexdigest()
    uploaded = world.preprocess_stub("bob").UploadArchive(upload_messages(data, digest), timeout=30)
    stored = Path(world.stack.storage / "uploads" / owner_key("bob") / f"{uploaded.uri.removeprefix('upload://')}.zip")
    assert stored.read_bytes() == data.read_bytes()
    return Outcome("OK")
