"""Requests: every field over its maximum, out of range or undecodable gets its exact refusal."""

from __future__ import annotations

import math

from shared.api import common_pb2
from shared.api import generation_pb2 as gen_pb
from shared.api import preprocess_service_pb2 as ppb
from shared.api import training_service_pb2 as pb
from tests.hostile.corpus import CORPUS, Outcome, attempt

OK_URL = "upload://" + "0" * 32  # well formed and never fetched: these requests are refused before that
TOO_LONG = "FIELD_TOO_LONG"
BAD_INPUT = "INVALID_TRAINING_INPUT"
BAD_GENERATION = "INVALID_GENERATION_REQUEST"
INVALID = "INVALID_ARGUMENT"


def _input_case(name: str, reason: str = BAD_INPUT, **fields):
    @CORPUS.add("requests", name, INVALID, reason)
    def act(world) -> Outcome:
        return world.create(**{"training_data_url": OK_URL, **fields})


_input_case("trigger_phrase_over_256_chars", trigger_phrase="t" * 257)
_input_case("training_data_url_over_2048_chars", training_data_url="https://example.com/" + "a" * 2100)
_input_case("three_validation_prompts", validation=[pb.ValidationPrompt(prompt="p")] * 3)
_input_case("validation_prompt_over_10000_chars", validation=[pb.ValidationPrompt(prompt="v" * 10_001)])
_input_case("negative_prompt_over_10000_chars", validation_negative_prompt="n" * 10_001)
_input_case("rank_0", rank=0)
_input_case("rank_negative", rank=-32)
_input_case("steps_past_20000", number_of_steps=20_100)
_input_case("steps_not_a_multiple_of_100", number_of_steps=150)
_input_case("learning_rate_nan", learning_rate=math.nan)
_input_case("learning_rate_infinite", learning_rate=math.inf)
_input_case("learning_rate_negative", learning_rate=-1e-4)
_input_case("frames_negative", number_of_frames=-9)
_input_case("frames_int32_max", number_of_frames=2**31 - 1)
_input_case("frame_rate_0", frame_rate=0)
_input_case("resolution_unknown_enum", resolution=99)
_input_case("aspect_ratio_negative_enum", aspect_ratio=-1)
_input_case("split_threshold_nan", split_input_duration_threshold=math.nan)
_input_case("stg_scale_negative", stg_scale=-0.5)
_input_case("blank_validation_prompt", validation=[pb.ValidationPrompt(prompt="   ")])
_input_case("empty_training_data_url", training_data_url="")
_input_case("unclosed_ipv6_url", training_data_url="http://[::1/x.zip")
# A base is named by id, never by path: a path or a preset's name that is not a hosted id is a bad field.
_input_case("base_model_as_a_path", base_model="../../models/LTX-2.3-Diffusers")
_input_case("base_model_over_63_chars", base_model="b" * 64)


@CORPUS.add("requests", "request_id_over_128_chars", INVALID, TOO_LONG)
def _request_id(world) -> Outcome:
    request = pb.CreateTrainingJobRequest(input=pb.TrainingInput(training_data_url=OK_URL), request_id="r" * 129)
    return attempt(lambda: world.stub().CreateTrainingJob(request, timeout=30))


@CORPUS.add("requests", "a_40_mb_trigger_phrase_is_cut_off_by_the_receive_limit", "RESOURCE_EXHAUSTED", "")
def _forty_mb(world) -> Outcome:
    request = pb.CreateTrainingJobRequest(
        input=pb.TrainingInput(training_data_url=OK_URL, trigger_phrase="t" * 40_000_000)
    )
    return attempt(lambda: world.stub().CreateTrainingJob(request, timeout=60))


@CORPUS.add("requests", "job_name_over_256_chars", INVALID, TOO_LONG)
def _long_name(world) -> Outcome:
    return attempt(lambda: world.stub().GetTrainingJob(pb.GetTrainingJobRequest(name="trainingJobs/" + "a" * 300)))


@CORPUS.add("requests", "job_name_with_a_path", "NOT_FOUND", "JOB_NOT_FOUND")
def _path_name(world) -> Outcome:
    return attempt(lambda: world.stub().GetTrainingJob(pb.GetTrainingJobRequest(name="trainingJobs/../../etc")))


@CORPUS.add("requests", "list_page_size_negative", INVALID, "INVALID_LIST_REQUEST")
def _page_size(world) -> Outcome:
    return attempt(lambda: world.stub().ListTrainingJobs(pb.ListTrainingJobsRequest(page_size=-1)))


@CORPUS.add("requests", "list_page_token_made_up", INVALID, "INVALID_LIST_REQUEST")
def _page_token(world) -> Outcome:
    return attempt(lambda: world.stub().ListTrainingJobs(pb.ListTrainingJobsRequest(page_token="am9iczp2MTot")))


@CORPUS.add("requests", "list_page_token_200_kb", INVALID, TOO_LONG)
def _page_token_huge(world) -> Outcome:
    return attempt(lambda: world.stub().ListTrainingJobs(pb.ListTrainingJobsRequest(page_token="x" * 200_000)))


@CORPUS.add("requests", "watch_after_sequence_negative", INVALID, "INVALID_WATCH_REQUEST")
def _watch_negative(world) -> Outcome:
    request = pb.WatchTrainingJobRequest(name="trainingJobs/0123456789abcdef", after_sequence=-1)
    return attempt(lambda: world.stub().WatchTrainingJob(request, timeout=30))


@CORPUS.add("requests", "download_offset_negative", INVALID, "INVALID_OFFSET")
def _download_offset(world) -> Outcome:
    request = pb.DownloadArtifactRequest(name="generations/0123456789abcdef", offset=-5)
    return attempt(lambda: world.stub().DownloadArtifact(request, timeout=30))


@CORPUS.add("requests", "download_artifact_with_a_path", INVALID, "INVALID_ARTIFACT_NAME")
def _download_path(world) -> Outcome:
    request = pb.DownloadArtifactRequest(name=world.alice_job.name, artifact="../../../train_svc/jobs.sqlite3")
    return attempt(lambda: world.stub().DownloadArtifact(request, timeout=30))


@CORPUS.add("requests", "download_artifact_over_256_chars", INVALID, TOO_LONG)
def _download_long(world) -> Outcome:
    request = pb.DownloadArtifactRequest(name="generations/0123456789abcdef", artifact="v" * 257)
    return attempt(lambda: world.stub().DownloadArtifact(request, timeout=30))


def _generation_case(name: str, reason: str = BAD_GENERATION, **fields):
    @CORPUS.add("requests", name, INVALID, reason)
    def act(world) -> Outcome:
        request = gen_pb.GenerateVideoRequest(**{"prompt": "a cat", **fields})
        return attempt(lambda: world.stub().GenerateVideo(request, timeout=60))


_generation_case("generation_prompt_over_10000_chars", TOO_LONG, prompt="p" * 10_001)
_generation_case("generation_blank_prompt", prompt="  ")
_generation_case("generation_steps_0", steps=0)
_generation_case("generation_base_model_as_a_path", base_model="/etc")
_generation_case("generation_seed_negative", seed=-1)
_generation_case("generation_frames_past_257", number_of_frames=1000)
_generation_case("generation_lora_scale_nan", lora_scale=math.nan)
_generation_case("generation_guidance_infinite", guidance_scale=math.inf)
_generation_case("generation_unknown_resolution", resolution=common_pb2.Resolution.Value("RESOLUTION_HIGH") + 40)
_generation_case("generation_job_not_a_job_name", job="users/1")
_generation_case("generation_lora_file_empty", lora_file="")


def _raw_call(world, method: str, payload: bytes) -> Outcome:
    """Send raw bytes as the request of `method`: what a broken or hostile client's encoder might send."""
    channel = world.stack.channel("alice")
    call = channel.unary_unary(method, request_serializer=lambda data: data, response_deserializer=lambda data: data)
    return attempt(lambda: call(payload, timeout=30))


@CORPUS.add("requests", "string_field_that_is_not_utf8", INVALID, "UNDECODABLE_REQUEST")
def _not_utf8(world) -> Outcome:
    return _raw_call(world, "/ltx.trainer.v1.TrainingService/GetTrainingJob", b"\x0a\x02\xff\xfe")


@CORPUS.add("requests", "truncated_message", INVALID, "UNDECODABLE_REQUEST")
def _truncated(world) -> Outcome:
    return _raw_call(world, "/ltx.trainer.v1.TrainingService/GetTrainingJob", b"\x0a\x10trainingJobs/")


@CORPUS.add("requests", "unknown_method", "UNIMPLEMENTED", "")
def _unknown_method(world) -> Outcome:
    return _raw_call(world, "/ltx.trainer.v1.TrainingService/DropAllJobs", b"")


def _upload_case(name: str, reason: str, *messages: ppb.UploadArchiveRequest):
    @CORPUS.add("requests", name, INVALID, reason)
    def act(world) -> Outcome:
        return attempt(lambda: world.preprocess_stub("alice").UploadArchive(iter(messages), timeout=30))


_HEADER = ppb.UploadArchiveHeader(file_name="a.zip", total_size_bytes=10, sha256="0" * 64)
_upload_case("upload_without_any_message", "MISSING_HEADER")
_upload_case("upload_starting_with_a_chunk", "MISSING_HEADER", ppb.UploadArchiveRequest(chunk=ppb.UploadArchiveChunk()))
_upload_case(
    "upload_with_a_zero_size",
    "INVALID_UPLOAD_HEADER",
    ppb.UploadArchiveRequest(header=ppb.UploadArchiveHeader(total_size_bytes=0, sha256="0" * 64)),
)
_upload_case(
    "upload_with_a_bad_sha256",
    "INVALID_UPLOAD_HEADER",
    ppb.UploadArchiveRequest(header=ppb.UploadArchiveHeader(total_size_bytes=10, sha256="Z" * 64)),
)
_upload_case("upload_with_two_headers", "INVALID_UPLOAD_HEADER", *[ppb.UploadArchiveRequest(header=_HEADER)] * 2)
_upload_case(
    "upload_file_name_over_255_chars",
    TOO_LONG,
    ppb.UploadArchiveRequest(header=ppb.UploadArchiveHeader(file_name="f" * 300, total_size_bytes=1, sha256="0" * 64)),
)
_upload_case(
    "upload_chunk_over_4_mib",
    TOO_LONG,
    ppb.UploadArchiveRequest(header=_HEADER),
    ppb.UploadArchiveRequest(chunk=ppb.UploadArchiveChunk(offset=0, data=b"\0" * (4 * 1024 * 1024 + 1))),
)
_upload_case(
    "upload_chunk_out_of_order",
    "CHUNK_OUT_OF_ORDER",
    ppb.UploadArchiveRequest(header=_HEADER),
    ppb.UploadArchiveRequest(chunk=ppb.UploadArchiveChunk(offset=5, data=b"x", sha256="0" * 64)),
)


@CORPUS.add("requests", "preprocess_with_a_made_up_dataset_id", INVALID, "INVALID_PREPROCESS_REQUEST")
def _dataset_id(world) -> Outcome:
    request = ppb.PreprocessRequest(dataset_id="../../jobs/xx", owner="alice", training_data_url=OK_URL)
    return attempt(lambda: world.preprocess_stub("train-service").Preprocess(request, timeout=30))


@CORPUS.add("requests", "preprocess_without_an_owner", INVALID, "INVALID_PREPROCESS_REQUEST")
def _no_owner(world) -> Outcome:
    request = ppb.PreprocessRequest(dataset_id="0123456789abcdef", training_data_url=OK_URL)
    return attempt(lambda: world.preprocess_stub("train-service").Preprocess(request, timeout=30))
