"""A service hosting two bases (`--base-model ltx2.3-tiny --base-model b25=ltx2.5-tiny`), over gRPC with
authentication on: ListBaseModels lists both (the default first), `ltx-trainer bases` prints them, a job or
an estimate naming a base the service does not host is INVALID_ARGUMENT, and a job records the base it
names (or the default one's id when it names none), its name and its LTX version. The jobs here fetch an
archive that does not exist, so they fail in preprocessing, before any model is loaded: not for want of
their base."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import grpc
import pytest

from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.grpc_util.errors import error_details
from tests.e2e.replica_jobs import ended
from tests.service_stack import Stack, service_stack
from train_svc.cli.bases_cmd import add_bases_parser, run_bases
from train_svc.cli.exit_codes import ExitCode
from train_svc.models import tiny_preset_25
from train_svc.models.tiny_preset import PRESET_NAME

pytestmark = pytest.mark.integration

State = pb.TrainingJob.State


@pytest.fixture(scope="module")
def stack(tmp_path_factory, principals) -> Iterator[Stack]:
    storage = tmp_path_factory.mktemp("storage")
    bases = (PRESET_NAME, f"b25={tiny_preset_25.PRESET_NAME}")
    allowed = (tmp_path_factory.getbasetemp(),)
    with service_stack(storage, principals, allow_local_roots=allowed, base_model=bases) as started:
        yield started


def _refused(call) -> tuple[grpc.StatusCode, str, dict[str, str]]:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    bad_request, info = error_details(caught.value)
    assert bad_request is not None and info is not None
    return caught.value.code(), info.reason, {v.field: v.description for v in bad_request.field_violations}


def test_the_hosted_bases_are_listed_default_first_and_only_to_authenticated_callers(stack, capsys):
    listed = stack.stub("bob").ListBaseModels(pb.ListBaseModelsRequest(), timeout=30).base_models
    assert [(b.id, b.ltx_version, b.default) for b in listed] == [("default", "2.3", True), ("b25", "2.5", False)]

    with grpc.insecure_channel(stack.training_target) as channel, pytest.raises(grpc.RpcError) as caught:
        pb_grpc.TrainingServiceStub(channel).ListBaseModels(pb.ListBaseModelsRequest(), timeout=30)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED

    parser = argparse.ArgumentParser()
    add_bases_parser(parser.add_subparsers(dest="command"))
    token = stack.principals.token_path("alice")
    code = run_bases(parser.parse_args(["bases", "--target", stack.training_target, "--token-file", str(token)]))
    assert code == ExitCode.OK
    printed = [line for line in capsys.readouterr().out.splitlines() if "\tLTX-" in line]  # not the logs
    assert printed == ["default\tLTX-2.3  (default)", "b25\tLTX-2.5"]


def test_a_base_the_service_does_not_host_is_a_bad_field(stack, tmp_path):
    stub = stack.stub("alice")
    url = str(tmp_path / "absent.zip")
    code, reason, fields = _refused(
        lambda: stub.CreateTrainingJob(
            pb.CreateTrainingJobRequest(input=pb.TrainingInput(training_data_url=url, base_model="nope", rank=12))
        )
    )
    assert (code, reason) == (grpc.StatusCode.INVALID_ARGUMENT, "INVALID_TRAINING_INPUT")
    assert set(fields) == {"rank", "base_model"}, "reported with the input's other bad fields"
    assert "'nope'" in fields["base_model"] and "default, b25" in fields["base_model"]

    estimate = pb.EstimateTrainingJobRequest(input=pb.TrainingInput(base_model="nope"))
    code, reason, fields = _refused(lambda: stub.EstimateTrainingJob(estimate, timeout=60))
    assert (code, reason, list(fields)) == (
        grpc.StatusCode.INVALID_ARGUMENT,
        "INVALID_ESTIMATE_REQUEST",
        ["input.base_model"],
    )
    assert not stub.ListTrainingJobs(pb.ListTrainingJobsRequest()).training_jobs


def test_an_estimate_is_of_the_base_its_input_names(stack):
    stub = stack.stub("alice")
    question = {"width": 64, "height": 64, "frames": 9}
    for base_id, name in (("b25", tiny_preset_25.PRESET_NAME), ("", PRESET_NAME)):
        estimate = pb.EstimateTrainingJobRequest(input=pb.TrainingInput(base_model=base_id), **question)
        assert stub.EstimateTrainingJob(estimate, timeout=120).model == name


def test_a_job_records_the_base_it_names_and_its_version(stack, tmp_path):
    stub = stack.stub("alice")
    url = str(tmp_path / "absent.zip")
    on_25 = stub.CreateTrainingJob(
        pb.CreateTrainingJobRequest(input=pb.TrainingInput(training_data_url=url, base_model="b25"))
    )
    plain = stub.CreateTrainingJob(pb.CreateTrainingJobRequest(input=pb.TrainingInput(training_data_url=url)))
    assert (on_25.input.base_model, on_25.base_model, on_25.ltx_version) == ("b25", "ltx2.5-tiny", "2.5")
    assert (plain.input.base_model, plain.base_model, plain.ltx_version) == ("default", PRESET_NAME, "2.3")

    for job, version in ((on_25, "2.5"), (plain, "2.3")):
        final = ended(stub, job.name, seconds=60)
        assert final.ltx_version == version
        assert final.state == State.STATE_FAILED, "its archive does not exist"
        assert _error_reason(final) == "NOT_FOUND", f"{job.name} ran on its base until the fetch: {final.error}"


def _error_reason(job: pb.TrainingJob) -> str:
    from google.rpc import error_details_pb2

    info = error_details_pb2.ErrorInfo()
    return next((info.reason for detail in job.error.details if detail.Unpack(info)), "")
