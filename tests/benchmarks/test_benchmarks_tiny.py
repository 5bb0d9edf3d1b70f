"""Every benchmark at a tiny size: its real measuring code runs once (smallest inputs, one repetition),
every precondition it names was checked and held, and its figures measure what they name.

A benchmark whose figure went hollow (a cache hit timed as a decode, a sampler that saw nothing,
watchers that attached after the steps) raises PreconditionFailed, so these tests fail with its reason.
"""

from __future__ import annotations

import asyncio

import pytest
import torch

from preprocess_svc.events import BundleWritten, Summary
from preprocess_svc.pipeline import run_preprocess
from shared.bundle import AUDIO_SAMPLE_RATE
from tests.benchmarks import (
    audio_prep,
    audio_step,
    breakdown,
    data_parallel,
    floor,
    job_history,
    long_clip_memory,
    measure_demo,
    ours,
    preprocess_speed,
    preview_cost,
    replicas,
    speed,
    watchers,
)
from tests.benchmarks.clips import make_clip_set
from tests.benchmarks.preconditions import PreconditionFailed, Preconditions

# Tiny but not trivial: each floor command decodes long enough for its CPU time to be counted in ticks.
CLIPS, FRAMES, BUCKET = 2, 25, (256, 192)
PREPROCESS_ARGS = [
    *("--clips", str(CLIPS), "--seconds", "2", "--size", "320x240", "--frames", str(FRAMES), "--bucket", "256x192"),
    *("--workers", "2", "--reps", "1", "--long-clip-seconds", "4", "--long-size", "640x360"),
    *("--worst-frames", "33", "--worst-bucket", "320x192", "--sample-interval", "0.01"),  # its ffmpeg is brief
]


@pytest.mark.integration
def test_preprocess_speed_times_decoding_runs_against_the_floor(tmp_path):
    report = preprocess_speed.run(preprocess_speed.parse_args([*PREPROCESS_ARGS, "--cache", str(tmp_path)]))

    held = report.checks.held
    runs_of_ours = 1 + 2 + 2 + 2  # the captured run, the untimed warm and cold runs, one timed rep of each, 2 long
    for name in (ours.COMPLETED, ours.CACHE_OFF, ours.ALL_SAMPLES):
        assert held[name] == runs_of_ours, name
    assert held[ours.COMPUTED] == CLIPS * (runs_of_ours - 2) + 2  # one check per bundle
    assert held[floor.CAPTURED] == 1
    assert held[floor.FLOOR_BYTES] == 2 + 2  # untimed and timed floor runs, then one per long-clip case
    assert held[speed.WARM_POOL] == 1 + 4
    assert held[speed.OURS_CPU] == 2
    assert held[breakdown.STEP_FRAMES] == 4 and held[breakdown.POOL_STARTED] == 1
    assert held[long_clip_memory.LONG_CLIP] == 1 and held[long_clip_memory.SAMPLED] == 2

    # Our side decodes what the floor decodes, and more: a cache hit would be ~0.02 of the floor.
    for side in (speed.WARM, speed.COLD):
        assert report.speed.ratio(side) > 0.5 and report.speed.cpu_ratio(side) > 0.8, side
    assert report.samples == CLIPS
    run = report.speed.warm_runs[0]
    assert [(b.frames, b.width, b.height) for b in run.written] == [(FRAMES, *BUCKET)] * CLIPS
    assert 0 < run.first_progress_s < run.first_bundle_s < run.wall_s
    b = report.breakdown
    assert min(b.probe_s, b.fit_s, b.floor_s, b.write_s, b.pool_start_s) > 0
    assert b.sample_mib == pytest.approx(FRAMES * BUCKET[0] * BUCKET[1] * 3 / (1 << 20))
    assert report.long_clip is not None and len(report.long_clip.rows) == 2
    for row in report.long_clip.rows:
        assert row.by_kind["worker"]["hwm"] > 0 and row.by_kind["ffmpeg"]["hwm"] > 0
        assert row.floor_kind["ffmpeg"]["hwm"] > 0
        assert row.bundles_bytes >= row.frames * row.bucket[0] * row.bucket[1] * 3


@pytest.mark.integration
def test_a_cache_hit_fails_the_decoding_preconditions(tmp_path):
    """The hollow figure this benchmark once printed: a run served by the dataset cache is refused."""
    archive, _, _ = make_clip_set(tmp_path / "clips", clips=CLIPS, seconds=1, size=(160, 120))
    settings = ours.build_settings(archive, frames=9, frame_rate=24, bucket=(64, 64), workers=1)
    store = tmp_path / "store"
    for attempt in ("miss", "hit"):
        events = list(run_preprocess(settings, store, use_cache=True))
        summary = events[-1]
        assert isinstance(summary, Summary) and summary.from_cache == (attempt == "hit")
        written = [e for e in events if isinstance(e, BundleWritten)]
        run = ours.OurRun(summary.wall_seconds, 0.0, 0.0, written, [], summary)
        checks = Preconditions("preprocess_speed")
        with pytest.raises(PreconditionFailed, match="dataset cache off"):
            ours.check_run(run, settings, store, set(), checks, expected_samples=CLIPS)
        assert checks.held == {ours.COMPLETED: 1}


@pytest.mark.integration
def test_audio_prep_times_filled_outputs(tmp_path):
    checks = Preconditions("audio_prep")
    clip = audio_prep.make_clip(tmp_path / "clip.mp4", 6.0)

    rows = audio_prep.measure_audio_prep(clip, 6.0, reps=1, checks=checks)

    assert checks.held == {audio_prep.CLIP_AUDIO: 1, audio_prep.PLANNED: 4, audio_prep.FILLED: 4}
    assert [row.case.audio_fit for row in rows] == ["cut", "stretch", "stretch", "trim_pad"]
    assert [row.shape for row in rows] == [
        (2, round(row.case.frames / audio_prep.FPS * AUDIO_SAMPLE_RATE)) for row in rows
    ]
    assert all(row.median_s > 0 for row in rows)


def test_audio_step_times_video_only_and_joint_steps():
    checks = Preconditions("audio_step")

    result = audio_step.measure_audio_step(frames=9, size=64, steps=audio_step.WARM_UP_STEPS + 1, reps=1, checks=checks)

    assert checks.held == {
        audio_step.ONE_THREAD: 1,
        audio_step.SAMPLE_TOKENS: 1,
        audio_step.ALL_STEPS: 2,
        audio_step.AUDIO_TRAINED: 2,
    }
    assert result.video_tokens > 0 and result.audio_tokens > 0
    assert len(result.runs[False]) == len(result.runs[True]) == 1
    assert result.video_only_s > 0 and result.joint_s > 0


@pytest.mark.integration
def test_data_parallel_times_one_and_two_ranks_and_counts_the_collectives():
    checks = Preconditions("data_parallel")
    steps = data_parallel.WARM_UP_STEPS + 1

    # batch 3 over 2 ranks: an uneven split, and rank 0 accumulates two samples without reducing
    one, two, sharded = data_parallel.measure(frames=9, size=64, steps=steps, batch=3, checks=checks)

    held = (data_parallel.ONE_THREAD, data_parallel.ALL_STEPS, data_parallel.REDUCED, data_parallel.GATHERED)
    assert checks.held == dict.fromkeys(held, 1)
    assert two.reduced_bytes and sum(two.reduced_bytes) == steps * two.lora_bytes
    # rank 0 reduce-scatters its half of the LoRA's gradients once per step (the tiny LoRA's rows split evenly)
    assert sum(sharded.reduced_bytes) == steps * sharded.lora_bytes // 2
    for key in one.lora:
        torch.testing.assert_close(two.lora[key], one.lora[key], rtol=1e-4, atol=1e-6)
        torch.testing.assert_close(sharded.lora[key], one.lora[key], rtol=1e-4, atol=1e-6)


def test_preview_cost_times_a_whole_preview_and_training_steps():
    checks = Preconditions("preview_cost")

    cost = preview_cost.measure_preview_cost(
        preview_steps=2,
        measured_steps=2,
        train_frames=9,
        train_size=(64, 64),
        preview_frames=9,
        preview_size=(64, 64),
        checks=checks,
    )

    names = (preview_cost.ONE_THREAD, preview_cost.TRAINED, preview_cost.DENOISED, preview_cost.WRITTEN)
    assert checks.held == dict.fromkeys(names, 1)
    assert cost.preview_s > cost.render_s + cost.mp4_s and cost.render_s > 0 and cost.mp4_s > 0
    assert cost.step_s > 0 and cost.steps_timed == 2
    assert (cost.request.num_frames, cost.request.width, cost.request.height, cost.request.steps) == (9, 64, 64, 2)


@pytest.mark.integration
def test_measure_demo_trains_on_service_processes(tmp_path):
    """100 steps: the fewest a request may ask for (train and demo refuse fewer)."""
    checks = Preconditions("measure_demo")

    figures = measure_demo.measure_demo(tmp_path, 100, checks)

    assert checks.held == {
        measure_demo.CLI_OK: 2,
        measure_demo.DEMO_TRAINED: 1,
        measure_demo.SERVICES_TRAINED: 1,
        measure_demo.DECODED: 1,
        measure_demo.WORKERS_SAMPLED: 1,
    }
    assert len(figures.step_seconds) == 100 and all(s > 0 for s in figures.step_seconds)
    assert figures.demo_wall_s > 0 and figures.wall_s > sum(figures.step_seconds)
    assert min(figures.train_rss_mib, figures.pre_rss_mib, figures.worker_rss_mib) > 0


@pytest.mark.integration
def test_watchers_time_steps_with_attached_watchers_and_a_cached_resubmission():
    checks = Preconditions("watchers")

    figures = asyncio.run(
        watchers.measure_watchers(watchers=3, steps=100, frames=9, reps=1, checks=checks, stop_after=15)
    )

    assert checks.held == {
        watchers.JOB_DONE: 4,
        watchers.FIRST_DECODED: 1,
        watchers.CACHED: 1,
        watchers.WATCHED: 1,
        watchers.ATTACHED: 2,
    }
    assert figures.step_s[0] and figures.step_s[3] and all(s > 0 for s in figures.step_s[0] + figures.step_s[3])
    # The cached resubmission neither decodes nor encodes: its first step comes sooner.
    assert watchers.to_first_step(figures.cached) < watchers.to_first_step(figures.first)


@pytest.mark.integration
def test_job_history_times_start_pages_and_memory(capsys):
    checks = job_history.main(["--jobs", "60", "--events", "4", "--pages", "3", "--store", "postgres"])
    assert checks.held[job_history.FILLED] == 2  # 10 and 60 jobs
    assert checks.held[job_history.FULL_PAGES] == (1 + 3) + (1 + 3 + 2)  # first read, newest 3 times, 2 older
    printed = capsys.readouterr().out
    assert "postgres: start " in printed and "newest page p50" in printed and "older pages of 60" in printed


@pytest.mark.integration
def test_replicas_time_watch_lag_and_steps_with_watchers_on_two_replicas(capsys):
    """The lag and watcher scenario at a tiny size (failover and a lost preprocessor are the e2e tests')."""
    checks = replicas.main(["--watchers", "4", "--reps", "1", "--stop-after", "10", "--lease", "2", "--watch-only"])
    assert checks.held[watchers.JOB_DONE] == 2 and checks.held[watchers.WATCHED] == 2 + 2  # the other replica's too
    assert checks.held[watchers.ATTACHED] == 2
    printed = capsys.readouterr().out
    assert "watch lag of step events on the other replica: p50" in printed and "with 4 (" in printed
