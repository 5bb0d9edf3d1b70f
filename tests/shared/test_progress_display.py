"""ProgressDisplay lines for the events of resumable jobs: dataset_ready, checkpoint, resumed, cached samples."""

from __future__ import annotations

import io

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from train_svc.cli.progress import ProgressDisplay


def _shown(*events: pb.WatchTrainingJobResponse) -> str:
    stream = io.StringIO()
    display = ProgressDisplay(stream)
    for event in events:
        display.show(event)
    return stream.getvalue()


def test_dataset_ready_names_the_cache_it_came_from():
    ready = pb.DatasetReady(
        media_kind=common_pb2.MEDIA_KIND_VIDEO, samples=3, files_skipped=1, from_cache=True, cache_key="ab" * 32
    )
    assert _shown(pb.WatchTrainingJobResponse(sequence=1, dataset_ready=ready)) == (
        "  dataset ready: 3 video samples, 1 files skipped (from cache abababababab)\n"
    )
    fresh = pb.DatasetReady(media_kind=common_pb2.MEDIA_KIND_IMAGE, samples=2, cache_key="cd" * 32)
    assert _shown(pb.WatchTrainingJobResponse(sequence=1, dataset_ready=fresh)) == "  dataset ready: 2 image samples\n"


def test_checkpoint_and_resumed():
    checkpoint = pb.CheckpointWritten(step=200, uri="file:///s/ckpt-200.pt", size_bytes=2_500_000)
    resumed = pb.JobResumed(from_step=200, last_step=230, message="picked up after a restart")
    shown = _shown(
        pb.WatchTrainingJobResponse(sequence=5, checkpoint=checkpoint),
        pb.WatchTrainingJobResponse(sequence=6, resumed=resumed),
    )
    assert shown.splitlines() == [
        "  checkpoint at step 200: file:///s/ckpt-200.pt (2.5 MB)",
        "[RESUMED] the service restarted; training continues from the checkpoint at step 200; "
        "steps 201..230 are trained again: picked up after a restart",
    ]
    assert _shown(pb.WatchTrainingJobResponse(sequence=2, resumed=pb.JobResumed())) == (
        "[RESUMED] the service restarted; training continues from the start\n"
    )


def test_cached_samples_are_marked_and_heartbeats_show_nothing():
    bundle = common_pb2.BundleRef(sample_id="s1", frames=9, width=64, height=64, fps=24, caption="a box")
    encoded = pb.SampleEncoded(bundle=bundle, video_tokens=16, from_cache=True)
    assert _shown(pb.WatchTrainingJobResponse(sequence=3, sample_encoded=encoded)).endswith(
        "caption 'a box' (cached)\n"
    )
    assert _shown(pb.WatchTrainingJobResponse(sequence=0, heartbeat=pb.Heartbeat(last_sequence=3))) == ""
