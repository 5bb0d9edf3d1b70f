"""Metadata: what a caller presents instead of valid credentials, on every RPC of both services."""

from __future__ import annotations

from collections.abc import Callable

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from shared.api import generation_pb2 as gen_pb
from shared.api import preprocess_service_pb2 as ppb
from shared.api import preprocess_service_pb2_grpc as ppb_grpc
from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from tests.hostile.corpus import CORPUS, Outcome, attempt

UNAUTHENTICATED = "UNAUTHENTICATED"
NAME = "trainingJobs/0123456789abcdef"


def _bare(world, target: str | None = None) -> grpc.Channel:
    return grpc.insecure_channel(target or world.stack.training_target)


def _list_with(metadata: list[tuple[str, str | bytes]]) -> Callable:
    def act(world) -> Outcome:
        with _bare(world) as channel:
            stub = pb_grpc.TrainingServiceStub(channel)
            return attempt(lambda: stub.ListTrainingJobs(pb.ListTrainingJobsRequest(), metadata=metadata, timeout=30))

    return act


def _header_case(name: str, code: str, reason: str, metadata) -> None:
    CORPUS.add("metadata", name, code, reason)(
        lambda world: _list_with(metadata(world) if callable(metadata) else metadata)(world)
    )


def _token(world, principal: str = "alice") -> str:
    return world.principals.tokens[principal]


_header_case("no_authorization", UNAUTHENTICATED, "MISSING_CREDENTIALS", [])
_header_case("basic_authorization", UNAUTHENTICATED, "MALFORMED_AUTHORIZATION", [("authorization", "Basic YTpi")])
_header_case("bearer_without_a_token", UNAUTHENTICATED, "MALFORMED_AUTHORIZATION", [("authorization", "Bearer")])
_header_case("token_with_a_space", UNAUTHENTICATED, "MALFORMED_AUTHORIZATION", [("authorization", "Bearer a b")])
_header_case(
    "two_authorization_headers",
    UNAUTHENTICATED,
    "MALFORMED_AUTHORIZATION",
    lambda w: [("authorization", f"Bearer {_token(w)}"), ("authorization", f"Bearer {_token(w, 'bob')}")],
)
_header_case("unknown_token", UNAUTHENTICATED, "INVALID_TOKEN", [("authorization", "Bearer not-a-known-token")])
_header_case(
    "token_of_5000_chars", UNAUTHENTICATED, "MALFORMED_AUTHORIZATION", [("authorization", "Bearer " + "t" * 5000)]
)
_header_case(
    "token_digest_instead_of_token",
    UNAUTHENTICATED,
    "INVALID_TOKEN",
    lambda w: [("authorization", "Bearer " + w.principals.token_file.read_text().split("sha256:")[1][:64])],
)
_header_case(
    "token_in_a_binary_header",
    UNAUTHENTICATED,
    "MISSING_CREDENTIALS",
    lambda w: [("authorization-bin", _token(w).encode())],
)
_header_case("token_in_another_header", UNAUTHENTICATED, "MISSING_CREDENTIALS", lambda w: [("x-api-key", _token(w))])
_header_case("lower_case_bearer_is_accepted", "OK", "", lambda w: [("authorization", f"bearer {_token(w)}")])
_header_case("extra_spaces_are_accepted", "OK", "", lambda w: [("authorization", f"Bearer   {_token(w)}  ")])


@CORPUS.add("metadata", "a_revoked_token_stops_working_without_a_restart", UNAUTHENTICATED, "INVALID_TOKEN")
def _revoked(world) -> Outcome:
    token_file = world.principals.token_file
    before = token_file.read_text()
    from shared.auth.token_table import token_digest_line

    token_file.write_text(before + token_digest_line("carol", "carol-secret") + "\n")
    try:
        assert _list_with([("authorization", "Bearer carol-secret")])(world).code == "OK"
        token_file.write_text(before)  # carol's line removed: revoked
        return _list_with([("authorization", "Bearer carol-secret")])(world)
    finally:
        token_file.write_text(before)


def _no_token_rpc(name: str, call: Callable[[grpc.Channel], object], preprocess: bool = False) -> None:
    @CORPUS.add("metadata", f"{name}_without_a_token", UNAUTHENTICATED, "MISSING_CREDENTIALS")
    def act(world) -> Outcome:
        with _bare(world, world.stack.preprocess_target if preprocess else None) as channel:
            return attempt(lambda: call(channel))


def _training(channel: grpc.Channel) -> pb_grpc.TrainingServiceStub:
    return pb_grpc.TrainingServiceStub(channel)


_URL = "upload://" + "0" * 32
_no_token_rpc(
    "create",
    lambda c: _training(c).CreateTrainingJob(
        pb.CreateTrainingJobRequest(input=pb.TrainingInput(training_data_url=_URL))
    ),
)
_no_token_rpc("get", lambda c: _training(c).GetTrainingJob(pb.GetTrainingJobRequest(name=NAME)))
_no_token_rpc("cancel", lambda c: _training(c).CancelTrainingJob(pb.CancelTrainingJobRequest(name=NAME)))
_no_token_rpc("delete", lambda c: _training(c).DeleteTrainingJob(pb.DeleteTrainingJobRequest(name=NAME)))
_no_token_rpc("watch", lambda c: _training(c).WatchTrainingJob(pb.WatchTrainingJobRequest(name=NAME)))
_no_token_rpc("generate", lambda c: _training(c).GenerateVideo(gen_pb.GenerateVideoRequest(prompt="x")))
_no_token_rpc("download", lambda c: _training(c).DownloadArtifact(pb.DownloadArtifactRequest(name=NAME)))
_no_token_rpc("estimate", lambda c: _training(c).EstimateTrainingJob(pb.EstimateTrainingJobRequest()))
_no_token_rpc("list_bases", lambda c: _training(c).ListBaseModels(pb.ListBaseModelsRequest()))
_no_token_rpc(
    "upload",
    lambda c: ppb_grpc.PreprocessServiceStub(c).UploadArchive(iter([ppb.UploadArchiveRequest()])),
    preprocess=True,
)
_no_token_rpc(
    "preprocess",
    lambda c: ppb_grpc.PreprocessServiceStub(c).Preprocess(ppb.PreprocessRequest(dataset_id="0123456789abcdef")),
    preprocess=True,
)


@CORPUS.add("metadata", "preprocess_as_a_tenant", "PERMISSION_DENIED", "INTERNAL_ONLY")
def _tenant_preprocess(world) -> Outcome:
    request = ppb.PreprocessRequest(dataset_id="0123456789abcdef", owner="alice", training_data_url=_URL)
    return attempt(lambda: world.preprocess_stub("alice").Preprocess(request, timeout=30))


@CORPUS.add("metadata", "preprocess_as_an_admin", "PERMISSION_DENIED", "INTERNAL_ONLY")
def _admin_preprocess(world) -> Outcome:
    request = ppb.PreprocessRequest(dataset_id="0123456789abcdef", owner="alice", training_data_url=_URL)
    return attempt(lambda: world.preprocess_stub("ops").Preprocess(request, timeout=30))


@CORPUS.add("metadata", "health_needs_no_token", "OK", "")
def _health(world) -> Outcome:
    with _bare(world) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        return attempt(lambda: stub.Check(health_pb2.HealthCheckRequest(), timeout=30))


@CORPUS.add("metadata", "reflection_needs_no_token", "OK", "")
def _reflection(world) -> Outcome:
    with _bare(world, world.stack.preprocess_target) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        return attempt(lambda: stub.ServerReflectionInfo(iter([request]), timeout=30))


@CORPUS.add("metadata", "metadata_of_64_kb", "RESOURCE_EXHAUSTED", "")
def _huge_metadata(world) -> Outcome:
    return _list_with([("x-padding", "p" * 65_536)])(world)
