"""The same training curves as an MLflow run (--mlflow-tracking-uri), logged at export from the job's events.

One run per job in the experiment `ltx-trainer`, named after the job and tagged `ltx_trainer.job` with
its id: the metrics `loss`, `video_loss`, `audio_loss` (audio runs), `learning_rate`, `grad_norm` and
`step_seconds` at every step (timestamped when the step was recorded), a few parameters of the request,
and loss.png as an artifact. An export that runs again (the job resumed while exporting) finds the job's
finished run and leaves it; an unfinished one (cut off while logging) is deleted and logged afresh, so
the run holds one point per step.

Only `file:` tracking URIs are accepted (the setting's pattern): the service then sends nothing over the
network. MLflow 3 keeps its file store behind MLFLOW_ALLOW_FILE_STORE; naming a `file:` URI is that
opt-in, so it is set for this process unless the operator set it. mlflow-skinny is an optional
dependency (`pip install 'ltx-trainer[mlflow]'`), imported only when the setting is given.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from train_svc.export.training_curves import StepPoint

EXPERIMENT = "ltx-trainer"
JOB_TAG = "ltx_trainer.job"
BATCH = 1000  # MLflow's limit of metrics per log_batch call


def log_run(
    tracking_uri: str,
    *,
    job_id: str,
    run_name: str,
    points: Sequence[StepPoint],
    params: Mapping[str, object],
    audio: bool,
    artifacts: Sequence[Path] = (),
) -> str:
    """Log the job's curves to `tracking_uri`; return the run's id."""
    if tracking_uri.startswith("file:"):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    from mlflow.entities import Metric, Param, RunStatus
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(EXPERIMENT)
    if experiment is not None:
        experiment_id = experiment.experiment_id
    else:
        try:
            experiment_id = client.create_experiment(EXPERIMENT)
        except Exception:  # another job created it meanwhile
            found = client.get_experiment_by_name(EXPERIMENT)
            if found is None:
                raise
            experiment_id = found.experiment_id
    for run in client.search_runs([experiment_id], filter_string=f"tags.`{JOB_TAG}` = '{job_id}'"):
        if run.info.status == RunStatus.to_string(RunStatus.FINISHED):
            return str(run.info.run_id)
        client.delete_run(run.info.run_id)
    run_id = str(client.create_run(experiment_id, run_name=run_name, tags={JOB_TAG: job_id}).info.run_id)
    metrics: list[Metric] = []
    for point in points:
        event, when = point.event, int(point.wall_time * 1000)
        values = {"loss": event.loss, "learning_rate": event.learning_rate, "step_seconds": event.step_seconds}
        if audio:
            values["video_loss"], values["audio_loss"] = event.video_loss, event.audio_loss
        if event.grad_norm is not None:
            values["grad_norm"] = event.grad_norm
        metrics.extend(Metric(key, float(value), when, point.step) for key, value in values.items())
    client.log_batch(run_id, params=[Param(key, str(value)[:500]) for key, value in params.items()])
    for start in range(0, len(metrics), BATCH):
        client.log_batch(run_id, metrics=metrics[start : start + BATCH])
    for path in artifacts:
        client.log_artifact(run_id, str(path))
    client.set_terminated(run_id, RunStatus.to_string(RunStatus.FINISHED))
    return run_id
