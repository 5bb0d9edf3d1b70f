"""The training curves built from a job's recorded events: TensorBoard event file, loss.png, MLflow run."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import (
    IMAGES,
    SCALARS,
    EventAccumulator,
)

from train_svc.export.training_curves import (
    loss_by_sigma,
    step_points,
    tensorboard_file_name,
    write_loss_plot,
    write_tensorboard,
)
from train_svc.jobs.event_log import LoggedEvent
from train_svc.jobs.events import ArtifactWritten, JobResumed, StepCompleted, ValidationPreview
from train_svc.jobs.job import Job

START = datetime(2026, 1, 1, tzinfo=UTC)
STEPS = 12


def _step(step: int, *, resumed: bool = False) -> StepCompleted:
    loss = 1.0 / step + (0.5 if resumed else 0.0)  # a repeat after a resume differs: it must not be used
    return StepCompleted(
        step=step,
        total_steps=STEPS,
        loss=loss,
        learning_rate=1e-4 * (1 - step / (2 * STEPS)),
        step_seconds=0.1 * step,
        eta_seconds=0.0,
        video_loss=0.75 * loss,
        audio_loss=0.25 * loss,
        grad_norm=2.0 + step,
        sigmas=(0.1, 0.9) if step % 2 else (0.3, 0.35),
        sample_losses=(loss - 0.1, loss + 0.1),
    )


def _jpeg(color: tuple[int, int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), color).save(out, format="JPEG")
    return out.getvalue()


def _resumed_log() -> list[LoggedEvent]:
    """Steps 1-8, a restart (checkpoint at 6: steps 7-8 are trained again), steps 7-12 again, a preview."""
    events: list = [_step(s) for s in range(1, 9)]
    events.append(JobResumed(6, 8, "the service restarted"))
    events += [_step(s, resumed=True) for s in range(7, 13)]
    video = ArtifactWritten("preview", "file:///x.mp4", "0" * 64, 1)
    events.append(ValidationPreview(12, 0, "a red ball", 42, 1.0, video, (_jpeg((255, 0, 0)), _jpeg((0, 0, 255)))))
    return [LoggedEvent(i, START + timedelta(seconds=i), event) for i, event in enumerate(events, start=1)]


def _accumulator(path: Path) -> EventAccumulator:
    accumulator = EventAccumulator(str(path), size_guidance={SCALARS: 0, IMAGES: 0})
    accumulator.Reload()
    return accumulator


def test_one_point_per_step_from_a_log_with_a_resume_in_it():
    points = step_points(_resumed_log())
    assert [p.step for p in points] == list(range(1, STEPS + 1))
    assert [p.event.loss for p in points[:8]] == [1.0 / s for s in range(1, 9)]  # the first record of a step
    assert points[0].wall_time == (START + timedelta(seconds=1)).timestamp()


def test_a_restored_job_holds_every_step_it_logged():
    logged = [LoggedEvent(i, START, _step(i)) for i in range(1, 6)]
    job = Job.restore(
        logged,
        lambda logged: None,
        id="0" * 16,
        settings=None,
        input_json={},
        base_model="m",
        owner="o",
        base_version="2.3",
    )
    assert [item.event.step for item in job.step_log] == [1, 2, 3, 4, 5]


def test_loss_by_sigma_averages_the_samples_of_each_bucket():
    assert loss_by_sigma(_step(1)) == {"0.00-0.25": pytest.approx(0.9), "0.75-1.00": pytest.approx(1.1)}
    assert loss_by_sigma(_step(2)) == {"0.25-0.50": pytest.approx(0.5)}
    assert loss_by_sigma(StepCompleted(1, 1, 1.0, 1e-4, 1.0, 0.0, 1.0, 0.0)) == {}  # a log from before the curves


def test_tensorboard_file_holds_every_curve_once_per_step(tmp_path):
    points = step_points(_resumed_log())
    previews = [e.event for e in _resumed_log() if isinstance(e.event, ValidationPreview)]
    path = write_tensorboard(tmp_path, "abc", points, previews, audio=True)
    assert path == tmp_path / "tensorboard" / tensorboard_file_name("abc")
    assert [p.name for p in (tmp_path / "tensorboard").iterdir()] == [path.name]
    assert not (tmp_path / ".tensorboard.tmp").exists()
    tags = _accumulator(path).Tags()
    assert {"loss", "loss/video", "loss/audio", "learning_rate", "grad_norm", "step_seconds"} <= set(tags["scalars"])
    accumulator = _accumulator(path)
    loss = accumulator.Scalars("loss")
    assert [s.step for s in loss] == list(range(1, STEPS + 1))
    assert [s.value for s in loss] == pytest.approx([p.event.loss for p in points])
    assert [s.wall_time for s in loss] == [p.wall_time for p in points]
    assert [s.value for s in accumulator.Scalars("grad_norm")] == pytest.approx([2.0 + s for s in range(1, 13)])
    assert [s.step for s in accumulator.Scalars("loss_by_sigma/0.75-1.00")] == list(range(1, 13, 2))
    (image,) = accumulator.Images("preview/prompt_1")
    assert image.step == 12 and (image.width, image.height) == (128, 48)
    # written again (an export that runs twice): the same one file
    write_tensorboard(tmp_path, "abc", points, previews, audio=False)
    assert len(list((tmp_path / "tensorboard").iterdir())) == 1
    assert "loss/audio" not in _accumulator(path).Tags()["scalars"]


def test_loss_plot_is_a_png(tmp_path):
    path = write_loss_plot(tmp_path / "loss.png", step_points(_resumed_log()), audio=True, title="job")
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (800, 600)
    assert [p.name for p in tmp_path.iterdir()] == ["loss.png"]


def test_mlflow_run_holds_one_point_per_step_and_is_logged_once(tmp_path, monkeypatch):
    pytest.importorskip("mlflow")
    from mlflow.tracking import MlflowClient

    from train_svc.export.mlflow_run import log_run

    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "")  # undone after the test: log_run's opt-in stays in it
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")
    uri = (tmp_path / "mlruns").as_uri()
    points = step_points(_resumed_log())
    plot = write_loss_plot(tmp_path / "loss.png", points, audio=False, title="job")
    run_id = log_run(
        uri, job_id="abc", run_name="trainingJobs/abc", points=points, params={"rank": 8}, audio=False, artifacts=[plot]
    )
    assert log_run(uri, job_id="abc", run_name="trainingJobs/abc", points=points, params={}, audio=False) == run_id
    client = MlflowClient(tracking_uri=uri)
    history = client.get_metric_history(run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(p.step, p.event.loss) for p in points]
    assert [m.timestamp for m in history] == [int(p.wall_time * 1000) for p in points]
    assert len(client.get_metric_history(run_id, "grad_norm")) == STEPS
    run = client.get_run(run_id)
    assert run.data.params == {"rank": "8"} and run.info.status == "FINISHED"
    assert [a.path for a in client.list_artifacts(run_id)] == ["loss.png"]
