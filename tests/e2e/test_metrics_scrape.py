"""/metrics of both services after a tiny job: every family there, non-zero where work happened, and no
label value a job id. Real gRPC (authenticated), a real HTTP scrape on loopback."""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from shared.api import training_service_pb2 as pb
from shared.metrics import serve_metrics

pytestmark = pytest.mark.integration


def scrape(port: int) -> dict[str, list]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {family.name: family.samples for family in text_string_to_metric_families(text)}


def total(families: dict[str, list], name: str, sample: str | None = None, **labels: str) -> float:
    return sum(
        s.value
        for s in families[name]
        if s.name == (sample or name) and all(s.labels.get(k) == v for k, v in labels.items())
    )


def test_both_services_report_the_work_of_a_job(services, finished_job):
    """The session's services after its small job (other tests' work may add to the figures): their
    registries served at /metrics as --metrics-port serves them."""
    endpoints = [
        serve_metrics(service.registry, "127.0.0.1", 0)
        for service in (services.stack.training, services.stack.preprocess)
    ]
    try:
        stub = services.stub
        stub.GetTrainingJob(pb.GetTrainingJobRequest(name=finished_job.name))
        training, preprocess = (scrape(endpoint.port) for endpoint in endpoints)
    finally:
        for endpoint in endpoints:
            endpoint.stop()
    job = finished_job

    service = "/ltx.trainer.v1.TrainingService/"
    assert total(training, "ltx_rpc_handled", "ltx_rpc_handled_total", method=service + "CreateTrainingJob", code="OK")
    assert total(training, "ltx_rpc_handled", "ltx_rpc_handled_total", method=service + "WatchTrainingJob", code="OK")
    assert total(training, "ltx_rpc_duration_seconds", "ltx_rpc_duration_seconds_count") >= 3
    assert total(training, "ltx_rpc_handled", "ltx_rpc_handled_total", method=service + "GetTrainingJob", code="OK")
    assert total(training, "ltx_train_jobs", state="SUCCEEDED") >= 1
    assert "ltx_train_queue_depth_jobs" in training and "ltx_train_jobs_running" in training
    assert total(training, "ltx_train_step_seconds", "ltx_train_step_seconds_count") >= 100
    assert total(training, "ltx_train_samples", "ltx_train_samples_total") >= 100
    assert total(training, "ltx_train_samples_per_second") > 0
    lookups = "ltx_train_latent_cache_lookups"
    assert total(training, lookups, lookups + "_total") > 0  # hits or misses, whichever job ran first
    assert "ltx_train_watchers" in training and "ltx_train_watchers_cut_off" in training
    assert "ltx_train_watch_events_dropped" in training

    preprocess_method = "/ltx.trainer.v1.PreprocessService/Preprocess"
    assert total(preprocess, "ltx_rpc_handled", "ltx_rpc_handled_total", method=preprocess_method, code="OK") >= 1
    assert total(preprocess, "ltx_preprocess_files", "ltx_preprocess_files_total", outcome="USED") >= 3
    for stage in ("fetch", "hash", "extract", "pair", "samples"):
        assert total(preprocess, "ltx_preprocess_stage_seconds", "ltx_preprocess_stage_seconds_count", stage=stage) >= 1
    assert total(preprocess, "ltx_preprocess_fetched_bytes", "ltx_preprocess_fetched_bytes_total", source="local") > 0
    assert total(preprocess, "ltx_preprocess_cache_lookups", "ltx_preprocess_cache_lookups_total") >= 1
    assert total(preprocess, "ltx_preprocess_runs", "ltx_preprocess_runs_total", result="completed") >= 1

    job_id = job.name.removeprefix("trainingJobs/")
    for families in (training, preprocess):
        for samples in families.values():
            for sample in samples:
                assert not any(job_id in value for value in sample.labels.values()), sample
