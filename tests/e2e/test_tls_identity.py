"""Mutual TLS with certificates made here: callers are named by their certificates, as a mesh names them.

Both services require client certificates from the test CA. alice's certificate carries a SPIFFE id (its
first URI SAN is her principal), bob's only a CN. The training service calls the preprocessor with its
own certificate, whose SPIFFE id is the preprocessor's only internal principal. Kubelet-style probes
reach grpc.health.v1 on the plain-text health port.
"""

from __future__ import annotations

import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from shared.api import preprocess_service_pb2 as ppb
from shared.api import preprocess_service_pb2_grpc as ppb_grpc
from shared.api import training_service_pb2 as pb
from shared.api import training_service_pb2_grpc as pb_grpc
from shared.auth import AuthSettings
from shared.auth.token_table import token_digest_line
from shared.grpc_util.channels import ClientCredentials, sync_channel
from shared.grpc_util.errors import error_details
from tests.certificates import Authority
from tests.service_stack import service_stack

pytestmark = pytest.mark.integration

TRAIN_ID = "spiffe://ltx.test/ns/ltx/sa/train-service"
ALICE_ID = "spiffe://ltx.test/ns/team-a/sa/alice"


@pytest.fixture(scope="module")
def mtls(tmp_path_factory, principals):
    pki = tmp_path_factory.mktemp("pki")
    ca = Authority(pki / "ca")
    certs = {
        "preprocess": ca.issue("preprocess", cn="preprocess", server=True),
        "train": ca.issue("train", cn="train", uris=(TRAIN_ID,), server=True),
        "alice": ca.issue("alice", cn="alice-cn", uris=(ALICE_ID, "https://second.example")),
        "bob": ca.issue("bob", cn="bob"),
        "stranger": Authority(pki / "other", "other-ca").issue("stranger", cn="alice", uris=(ALICE_ID,)),
    }
    tokens = pki / "tokens"
    tokens.write_text(
        "\n".join([token_digest_line(ALICE_ID, "alice-mesh-token"), token_digest_line("bob", "bob-mesh-token")])
    )
    preprocess_auth = AuthSettings(
        tls_cert=certs["preprocess"].cert,
        tls_key=certs["preprocess"].key,
        tls_client_ca=ca.cert,
        internal_principals=frozenset({TRAIN_ID}),
        health_port=0,
    )
    training_auth = AuthSettings(
        tokens_file=tokens,
        tls_cert=certs["train"].cert,
        tls_key=certs["train"].key,
        tls_client_ca=ca.cert,
        health_port=0,
    )
    storage = tmp_path_factory.mktemp("mtls-storage")
    with service_stack(
        storage,
        principals,
        allow_local_roots=(tmp_path_factory.getbasetemp(),),
        preprocess_settings={"auth": preprocess_auth},
        auth=training_auth,
        link_settings={"token_file": None, "ca_cert": ca.cert},
    ) as stack:
        yield stack, ca, certs


def _stub(mtls, who: str | None, token: str | None = None, target: str | None = None):
    stack, ca, certs = mtls
    credentials = ClientCredentials.from_files(
        token=token,
        ca_cert=ca.cert,
        client_cert=certs[who].cert if who else None,
        client_key=certs[who].key if who else None,
    )
    channel = sync_channel(target or stack.training_target, credentials)
    return channel


def _code_and_reason(call) -> tuple[grpc.StatusCode, str]:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    _, info = error_details(caught.value)
    return caught.value.code(), info.reason if info is not None else ""


def _wait_ended(stub, name: str) -> pb.TrainingJob:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = stub.GetTrainingJob(pb.GetTrainingJobRequest(name=name), timeout=10)
        if job.state in (
            pb.TrainingJob.State.STATE_FAILED,
            pb.TrainingJob.State.STATE_SUCCEEDED,
            pb.TrainingJob.State.STATE_CANCELLED,
        ):
            return job
        time.sleep(0.2)
    raise AssertionError(f"{name} did not end")


def test_the_certificate_names_the_caller_and_the_training_service_reaches_the_preprocessor_as_itself(mtls, tmp_path):
    alice = pb_grpc.TrainingServiceStub(_stub(mtls, "alice"))
    bob = pb_grpc.TrainingServiceStub(_stub(mtls, "bob"))
    missing = tmp_path / "not-there.zip"
    job = alice.CreateTrainingJob(
        pb.CreateTrainingJobRequest(input=pb.TrainingInput(training_data_url=str(missing), number_of_steps=100))
    )
    ended = _wait_ended(alice, job.name)
    # The preprocessor was reached over mTLS as the internal principal and answered for this archive.
    assert ended.state == pb.TrainingJob.State.STATE_FAILED
    _, info = error_details_of(ended)
    assert info == "NOT_FOUND", ended.error
    # bob's certificate is another principal: alice's job does not exist for him.
    code, reason = _code_and_reason(lambda: bob.GetTrainingJob(pb.GetTrainingJobRequest(name=job.name)))
    assert (code, reason) == (grpc.StatusCode.NOT_FOUND, "JOB_NOT_FOUND")
    assert job.name not in [j.name for j in bob.ListTrainingJobs(pb.ListTrainingJobsRequest()).training_jobs]
    assert job.name in [j.name for j in alice.ListTrainingJobs(pb.ListTrainingJobsRequest()).training_jobs]


def error_details_of(job: pb.TrainingJob):
    from google.rpc import error_details_pb2

    for detail in job.error.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return job.error.code, info.reason
    return job.error.code, ""


def test_a_token_sent_with_a_certificate_must_name_the_same_principal(mtls):
    agreeing = pb_grpc.TrainingServiceStub(_stub(mtls, "alice", token="alice-mesh-token"))
    agreeing.ListTrainingJobs(pb.ListTrainingJobsRequest())
    disagreeing = pb_grpc.TrainingServiceStub(_stub(mtls, "alice", token="bob-mesh-token"))
    code, reason = _code_and_reason(lambda: disagreeing.ListTrainingJobs(pb.ListTrainingJobsRequest()))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "CREDENTIALS_DISAGREE")
    unknown = pb_grpc.TrainingServiceStub(_stub(mtls, "alice", token="nobody-s-token"))
    code, reason = _code_and_reason(lambda: unknown.ListTrainingJobs(pb.ListTrainingJobsRequest()))
    assert (code, reason) == (grpc.StatusCode.UNAUTHENTICATED, "INVALID_TOKEN")


@pytest.mark.parametrize("who", [None, "stranger"])
def test_a_client_without_a_certificate_of_the_ca_is_refused_in_the_handshake(mtls, who):
    stub = pb_grpc.TrainingServiceStub(_stub(mtls, who))
    with pytest.raises(grpc.RpcError) as caught:
        stub.ListTrainingJobs(pb.ListTrainingJobsRequest(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_plain_text_to_the_tls_port_is_refused(mtls):
    stack, _, _ = mtls
    with grpc.insecure_channel(stack.training_target) as channel, pytest.raises(grpc.RpcError) as caught:
        pb_grpc.TrainingServiceStub(channel).ListTrainingJobs(pb.ListTrainingJobsRequest(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_the_health_port_answers_probes_in_plain_text_and_serves_nothing_else(mtls):
    stack, _, _ = mtls
    for running in (stack.training.running, stack.preprocess.running):
        with grpc.insecure_channel(f"127.0.0.1:{running.health_port}") as channel:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
            with pytest.raises(grpc.RpcError) as caught:
                pb_grpc.TrainingServiceStub(channel).ListTrainingJobs(pb.ListTrainingJobsRequest(), timeout=10)
            assert caught.value.code() == grpc.StatusCode.UNIMPLEMENTED


def test_reflection_stays_open_to_any_certified_client_without_a_token(mtls):
    stub = reflection_pb2_grpc.ServerReflectionStub(_stub(mtls, "bob"))
    [reply] = stub.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")]))
    names = {service.name for service in reply.list_services_response.service}
    assert "ltx.trainer.v1.TrainingService" in names


def test_only_the_training_service_may_call_preprocess(mtls):
    stack, _, _ = mtls
    stub = ppb_grpc.PreprocessServiceStub(_stub(mtls, "alice", target=stack.preprocess_target))
    request = ppb.PreprocessRequest(
        dataset_id="0123456789abcdef", training_data_url="https://example.invalid/a.zip", owner=ALICE_ID
    )
    code, reason = _code_and_reason(lambda: list(stub.Preprocess(request, timeout=10)))
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "INTERNAL_ONLY")


def test_the_cli_presents_a_client_certificate_and_a_token_file(mtls, tmp_path, monkeypatch, capsys):
    from train_svc.cli import main as cli_main

    monkeypatch.setattr(cli_main, "configure_logging", lambda **kwargs: None)  # keep the test's logging
    monkeypatch.delenv("LTX_TOKEN", raising=False)
    stack, ca, certs = mtls
    token_file = tmp_path / "alice.token"
    token_file.write_text("alice-mesh-token\n")
    out = tmp_path / "ball.mp4"
    args = ["generate", "--target", stack.training_target, "--prompt", "a red ball", "--out", str(out)]
    args += ["--num-frames", "9", "--resolution", "low", "--steps", "2", "--token-file", str(token_file)]
    args += [
        "--ca-cert",
        str(ca.cert),
        "--client-cert",
        str(certs["alice"].cert),
        "--client-key",
        str(certs["alice"].key),
    ]
    assert cli_main.main(args) == 0
    assert out.stat().st_size > 0
    token_file.write_text("bob-mesh-token\n")  # bob's token with alice's certificate: refused
    capsys.readouterr()
    assert cli_main.main(args) == 2  # UNAUTHENTICATED: refused
    assert "CREDENTIALS_DISAGREE" in capsys.readouterr().err
