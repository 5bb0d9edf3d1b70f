"""The identity, fetch, quota and storage settings of both services, from flags and the environment."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

import pytest

from preprocess_svc import config as preprocess_config
from train_svc import config as train_config

TRAIN = ["--storage", "/data", "--preprocess-target", "pre:50051"]
PRE = ["--storage", "/data"]


@pytest.fixture(autouse=True)
def no_service_environment(monkeypatch):
    for name in list(os.environ):
        if name.startswith(("LTX_", "PREPROCESS_", "TRAIN_SVC_")):
            monkeypatch.delenv(name)


def test_the_environment_sets_identity_and_fetch_policy_and_flags_replace_it(monkeypatch):
    monkeypatch.setenv("LTX_AUTH_TOKENS", "/etc/ltx/auth/tokens")
    monkeypatch.setenv("LTX_ADMIN_PRINCIPALS", "ops, sre")
    monkeypatch.setenv("LTX_INTERNAL_PRINCIPALS", "spiffe://td/train")
    monkeypatch.setenv("LTX_ALLOW_LOCAL_ROOTS", os.pathsep.join(["/srv/a", "/srv/b"]))
    monkeypatch.setenv("LTX_ALLOW_FETCH_CIDRS", "10.1.0.0/16, 192.168.5.7/32")
    monkeypatch.setenv("LTX_HEALTH_PORT", "50062")

    config = preprocess_config.from_args(PRE)
    assert config.auth.tokens_file == Path("/etc/ltx/auth/tokens")
    assert config.auth.admin_principals == {"ops", "sre"}
    assert config.auth.internal_principals == {"spiffe://td/train"}
    assert config.auth.health_port == 50062
    assert config.fetch.allow_local_roots == (Path("/srv/a"), Path("/srv/b"))
    assert config.fetch.allow_cidrs == (ipaddress.ip_network("10.1.0.0/16"), ipaddress.ip_network("192.168.5.7/32"))
    assert config.fetch.rooted_at(config.storage).storage_root == Path("/data")

    flagged = train_config.from_args([*TRAIN, "--allow-local-root", "/only", "--allow-fetch-cidr", "10.9.0.0/16"])
    assert flagged.fetch.allow_local_roots == (Path("/only"),)
    assert flagged.fetch.allow_cidrs == (ipaddress.ip_network("10.9.0.0/16"),)
    assert flagged.auth.internal_principals == {"train-service"}  # train_svc has no such flag: the default


def test_nothing_set_means_no_authentication_no_local_files_and_no_quotas():
    config = train_config.from_args(TRAIN)
    assert not config.auth.enabled and not config.auth.insecure
    assert config.fetch.allow_local_roots == () and config.fetch.allow_cidrs == ()
    assert config.fetch.deadline_s == 1800.0
    assert (config.quotas.running_jobs, config.quotas.queued_jobs, config.quotas.storage_bytes) == (None, None, None)
    assert config.space.min_free_bytes == 0 and config.preprocess.token_file is None


def test_quotas_and_the_storage_guard_come_from_flags_or_the_environment(monkeypatch):
    monkeypatch.setenv("LTX_QUOTA_QUEUED_JOBS", "5")
    monkeypatch.setenv("LTX_MIN_FREE_BYTES", "1000")
    config = train_config.from_args([*TRAIN, "--quota-running-jobs", "2", "--quota-storage-bytes", "123"])
    assert (config.quotas.running_jobs, config.quotas.queued_jobs, config.quotas.storage_bytes) == (2, 5, 123)
    assert config.space.min_free_bytes == 1000
    assert preprocess_config.from_args([*PRE, "--quota-storage-bytes", "7"]).quota_storage_bytes == 7


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--allow-fetch-cidr", "10.0.0.0/33"], "10.0.0.0/33"),
        (["--fetch-deadline-seconds", "0"], "--fetch-deadline-seconds"),
        (["--quota-running-jobs", "0"], "--quota-running-jobs"),
        (["--quota-queued-jobs", "-1"], "--quota-queued-jobs"),
        (["--min-free-bytes", "-5"], "--min-free-bytes"),
    ],
)
def test_settings_that_make_no_sense_stop_the_service_with_the_flag_named(args, message, capsys):
    with pytest.raises(SystemExit) as exited:
        train_config.from_args([*TRAIN, *args])
    assert exited.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("variables", "args", "messages"),
    [
        ({"LTX_SEED": "abc"}, [], ["--seed (env LTX_SEED)", "valid integer", "'abc'"]),
        ({}, ["--port", "70000"], ["--port (env TRAIN_SVC_PORT)", "65535"]),
        ({"TRAIN_SVC_PORT": "-1"}, [], ["--port (env TRAIN_SVC_PORT)", "'-1'"]),
        ({}, ["--precision", "fp16"], ["--precision", "'auto', 'bf16' or 'fp32'"]),
        ({}, ["--preview-steps", "1"], ["--preview-steps"]),
        ({"LTX_GRACE_SECONDS": "0"}, [], ["--grace-seconds (env LTX_GRACE_SECONDS)"]),
        ({}, ["--checkpoint-keep", "0", "--cpu-threads", "0"], ["--checkpoint-keep", "--cpu-threads"]),
    ],
)
def test_a_bad_value_anywhere_is_one_clear_error_naming_flag_and_variable(
    monkeypatch, capsys, variables, args, messages
):
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exited:
        train_config.from_args([*TRAIN, *args])
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for message in messages:
        assert message in err


def test_required_settings_are_named_when_missing(capsys):
    with pytest.raises(SystemExit):
        train_config.from_args([])
    err = capsys.readouterr().err
    assert "--storage (env LTX_STORAGE) is required" in err
    assert "--preprocess-target (env LTX_PREPROCESS_TARGET) is required" in err


def test_flags_beat_variables_and_an_empty_variable_is_unset(monkeypatch):
    monkeypatch.setenv("LTX_SEED", "7")
    monkeypatch.setenv("LTX_PREVIEW_STEPS", "")
    monkeypatch.setenv("TRAIN_SVC_PORT", "50999")
    config = train_config.from_args([*TRAIN, "--seed", "9", "--lora-targets", "attention+ff"])
    assert (config.run.seed, config.run.preview_steps, config.server.port) == (9, 30, 50999)
    assert config.run.feed_forward
    assert train_config.from_args(TRAIN).run.seed == 7


def test_principal_lists_take_commas_in_flags_and_variables(monkeypatch):
    monkeypatch.setenv("LTX_INTERNAL_PRINCIPALS", "a, b")
    config = preprocess_config.from_args([*PRE, "--admin-principals", "ops,sre", "--admin-principals", "dba"])
    assert config.auth.admin_principals == {"ops", "sre", "dba"}
    assert config.auth.internal_principals == {"a", "b"}
    assert preprocess_config.from_args([*PRE, "--no-cache", "--workers", "3"]).worker_count == 3
