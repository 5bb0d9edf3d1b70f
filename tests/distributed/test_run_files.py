"""A job's run file carries the service's memory settings to its training workers: a worker reads back the
base weights and offloaded blocks it was given and places its model accordingly."""

from __future__ import annotations

from pathlib import Path

from shared.request.json_input import input_from_json
from shared.request.validate import resolve
from train_svc.distributed.run_files import WorkerRun, read_run, write_run
from train_svc.job_run.training_phase import TrainingPhase
from train_svc.training.config import TrainConfig
from train_svc.worker.main import _placement


def test_workers_get_the_services_base_weights_and_offloaded_blocks(tmp_path: Path):
    job_dir = tmp_path / "jobs" / "job-1"
    settings = resolve(input_from_json({"training_data_url": "https://example.invalid/a.zip", "batch_size": 2}))
    phase = TrainingPhase(
        job_id="job-1",
        model_path=tmp_path / "model",
        config=TrainConfig(rank=8, learning_rate=1e-4, steps=4, batch_size=2),
        settings=settings,
        preview_steps=2,
        preview_seed=0,
        checkpoint_dir=job_dir / "checkpoints",
        checkpoint_every=2,
        checkpoint_keep=1,
        output_dir=job_dir / "outputs",
        min_free_bytes=0,
    )
    run = WorkerRun(phase, 1, 2, "cpu", "fp32", "int8", 1, (), 0, False, 7)
    write_run(job_dir, run, None)

    back, prompts = read_run(job_dir)

    assert prompts is None
    assert (back.base_weights, back.offload_blocks, back.precision) == ("int8", 1, "fp32")
    placement = _placement(back)
    assert (placement.quantization, placement.offload_blocks, placement.base_weights) == ("int8", 1, "int8")
