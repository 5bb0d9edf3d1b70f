"""An archive of still images trains: each image is a single-frame sample at the bucket size."""

from __future__ import annotations

import pytest

from shared.api import common_pb2
from shared.api import training_service_pb2 as pb
from shared.demo_dataset import render_image, write_zip

pytestmark = pytest.mark.integration


def test_an_image_only_archive_trains_one_frame_per_image(services, tmp_path):
    entries = {}
    for i, source in enumerate(("testsrc2=s=200x120", "mandelbrot=s=160x160", "rgbtestsrc=s=128x96")):
        entries[f"stills/p{i}.png"] = render_image(tmp_path / f"p{i}.png", source)
        entries[f"stills/p{i}.txt"] = f"picture number {i}"
    archive = write_zip(tmp_path / "images.zip", entries)
    job, events = services.run(
        training_data_url=str(archive),
        number_of_steps=100,
        number_of_frames=49,  # no effect on images
        rank=8,
        resolution=common_pb2.RESOLUTION_LOW,
        aspect_ratio=common_pb2.ASPECT_RATIO_16_9,
    )
    assert job.state == pb.TrainingJob.State.STATE_SUCCEEDED, job.error
    bundles = [e.sample_encoded.bundle for e in events if e.HasField("sample_encoded")]
    assert sorted(b.sample_id for b in bundles) == ["stills/p0.png", "stills/p1.png", "stills/p2.png"]
    assert all((b.frames, b.width, b.height) == (1, 512, 288) for b in bundles)
    assert job.billable_units == 100
