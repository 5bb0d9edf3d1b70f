"""Several hosted bases: the --base-model values, the job's base recorded when it is created (the default
one's id filled into a request that names none), the base a job's run takes, and the stores' column for
its LTX version (jobs stored before it existed trained on LTX-2.3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.auth import Caller
from train_svc.accelerator import AcceleratorSlots
from train_svc.job_run.failures import BaseUnavailable, job_base
from train_svc.jobs.manager import JobManager, ManagerSettings
from train_svc.jobs.sqlite_store import SqliteJobStore
from train_svc.models.base_model import BaseModel
from train_svc.models.base_registry import BaseModels, BaseModelSettingError, parse_base_models

BASES = BaseModels(
    {"default": BaseModel("ltx2.3-tiny", Path("/m23"), "2.3"), "b25": BaseModel("ltx2.5-tiny", Path("/m25"), "2.5")},
    "default",
)


def test_base_model_values_parse_into_ids_and_a_default():
    entries, default = parse_base_models(["ltx2.3-tiny", "b25=ltx2.5-tiny"])
    assert [(e.id, e.name) for e in entries] == [("default", "ltx2.3-tiny"), ("b25", "ltx2.5-tiny")]
    assert default == "default"
    entries, default = parse_base_models(["a=/models/a", "b=/models/b"])
    assert default == "a", "without a bare value the first one is the default"
    entries, _ = parse_base_models(["/data/run=3/LTX-2.5", "x=/models/k=v"])
    assert [(e.id, e.name) for e in entries] == [("default", "/data/run=3/LTX-2.5"), ("x", "/models/k=v")]


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        (["Bad Id=/models/a"], "is not valid"),
        (["/models/a", "/models/b"], "only one value may be bare"),
        (["a=/models/a", "a=/models/b"], "given twice"),
        (["/models/a", "default=/models/b"], "given twice"),
        (["a="], "nothing after '='"),
        ([], "at least one"),
    ],
)
def test_base_model_values_the_service_cannot_use_are_refused(values, problem):
    with pytest.raises(BaseModelSettingError, match=problem):
        parse_base_models(values)


def test_a_job_records_the_base_it_names_and_one_naming_none_gets_the_default(tmp_path):
    store = SqliteJobStore(tmp_path / "jobs.sqlite3")
    settings_of = _Settings.of
    manager = JobManager(_NeverRuns(), AcceleratorSlots(1), store, settings_of, ManagerSettings(BASES, "replica"))
    try:
        plain = manager.create(_Settings(), {"rank": 8}, "alice", "r1")
        on_25 = manager.create(_Settings(), {"rank": 8, "base_model": "b25"}, "alice")
        assert (plain.input_json["base_model"], plain.base_model, plain.base_version) == (
            "default",
            "ltx2.3-tiny",
            "2.3",
        )
        assert (on_25.input_json["base_model"], on_25.base_model, on_25.base_version) == ("b25", "ltx2.5-tiny", "2.5")
        stored = store.job(on_25.id)
        assert stored is not None and (stored.base_model, stored.base_version) == ("ltx2.5-tiny", "2.5")
        again = manager.create(_Settings(), {"rank": 8}, "alice", "r1")
        assert again.id == plain.id, "a repeat naming no base is the job that got the default recorded"
        assert manager.get(plain.name, Caller("alice")).base_version == "2.3"
    finally:
        store.close()


def test_a_job_runs_on_its_base_only_while_it_is_hosted_at_the_version_it_was_created_with():
    assert job_base(BASES, "b25", "2.5").path == Path("/m25")
    assert job_base(BASES, "", "2.3").name == "ltx2.3-tiny", "jobs stored before ids name the default"
    with pytest.raises(BaseUnavailable) as gone:
        job_base(BASES, "old", "2.3")
    assert gone.value.error.reason == "BASE_MODEL_NOT_HOSTED" and "'old'" in gone.value.error.message
    with pytest.raises(BaseUnavailable) as moved:
        job_base(BASES, "b25", "2.3")
    error = moved.value.error
    assert (error.code, error.reason) == ("FAILED_PRECONDITION", "BASE_MODEL_VERSION_CHANGED")
    assert "'b25'" in error.message and "LTX-2.3" in error.message and "LTX-2.5" in error.message


@pytest.mark.integration
def test_a_postgres_store_of_schema_2_gets_base_version_2_3_for_its_jobs(postgres_url):
    import psycopg

    from train_svc.jobs.postgres_schema import MIGRATIONS, MIGRATIONS_TABLE
    from train_svc.jobs.postgres_store import PostgresJobStore

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE {MIGRATIONS_TABLE} (version integer PRIMARY KEY, applied timestamptz)".encode())
        for number, script in MIGRATIONS[:2]:
            conn.execute(script.encode())
            conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} (version) VALUES (%s)".encode(), (number,))
        conn.execute(
            "INSERT INTO training_jobs (id, owner, input_json, base_model, create_time, state, last_sequence) "
            "VALUES ('j1', 'alice', '{}', 'ltx2.3-tiny', now(), 'SUCCEEDED', 0)"
        )
    store = PostgresJobStore(postgres_url)
    try:
        stored = store.job("j1")
        assert stored is not None and (stored.base_model, stored.base_version) == ("ltx2.3-tiny", "2.3")
    finally:
        store.close()


class _Settings:
    batch_size = 1
    number_of_steps = 100

    @staticmethod
    def of(request: dict) -> _Settings:
        return _Settings()


class _NeverRuns:
    def run(self, job) -> None:
        raise AssertionError(f"{job.id} should not run")


def test_a_service_given_two_default_bases_stops_at_start_with_exit_code_2(tmp_path, capsys):
    import asyncio

    from train_svc.__main__ import _main

    flags = ["--storage", str(tmp_path), "--preprocess-target", "127.0.0.1:1"]
    code = asyncio.run(_main([*flags, "--base-model", "ltx2.3-tiny", "--base-model", "ltx2.5-tiny"]))
    assert code == 2 and "only one value may be bare" in capsys.readouterr().err
