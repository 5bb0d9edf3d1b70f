"""The preprocess cache: the same archive content with the same settings is extracted and decoded once."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Iterator
from dataclasses import fields, replace
from pathlib import Path

import grpc
import pytest

from preprocess_svc.config import PreprocessServiceConfig
from preprocess_svc.dataset_cache import SHAPING_FIELDS, DatasetCache, cache_key, cache_root
from preprocess_svc.delivery import inline_bundles
from preprocess_svc.errors import DatasetError
from preprocess_svc.events import BundleWritten, DatasetWarning, Progress, SkippedFile, Summary
from preprocess_svc.pipeline import dataset_paths, run_preprocess
from preprocess_svc.server import serve
from preprocess_svc.worker_pool import WorkerPool
from shared.api import preprocess_service_pb2 as pb
from shared.api import preprocess_service_pb2_grpc as pb_grpc
from shared.bundle import read_bundle, sha256_file
from shared.dataset_report import FileOutcome, FileReport, PartSkipped, SampleFacts, SourceFacts
from shared.demo_dataset import make_short_clips_zip, render_clip, write_zip
from shared.fetch_policy import FetchPolicy
from shared.grpc_util.listen import ListenSettings
from tests.service_stack import LoopThread


def of_type(events: list, kind: type) -> list:
    return [e for e in events if isinstance(e, kind)]


def entries(storage: Path) -> list[str]:
    """Everything in the cache folder: committed entries and any staging leftovers."""
    root = cache_root(storage, "local")
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def without_local_paths(events: list) -> list:
    """The events with each bundle's location blanked, to compare a replay with the run it replays."""
    return [
        replace(e, path=Path(), uri="", run_copy=True) if isinstance(e, BundleWritten) else e
        for e in events
        if not isinstance(e, Summary)
    ]


def stopped_pool() -> WorkerPool:
    """A pool that cannot run anything: a run that needs a worker fails with it."""
    pool = WorkerPool(1)
    pool.shutdown()
    return pool


@pytest.fixture(scope="module")
def small_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two usable clips (one captioned), an undecodable one and an orphan caption."""
    folder = tmp_path_factory.mktemp("small")
    clip = render_clip(folder / "a.mp4", "testsrc2=s=80x64:r=24", frames=40, fps=24, tone_hz=440)
    other = render_clip(folder / "b.mp4", "mandelbrot=s=64x80:r=24", frames=40, fps=24)
    return write_zip(
        folder / "small.zip",
        {"a.mp4": clip, "a.txt": "a test card", "sub/b.mp4": other, "bad.mp4": "not a video", "lonely.txt": "orphan"},
    )


def test_the_same_content_elsewhere_with_the_same_settings_is_replayed_without_decoding(
    tmp_path: Path, demo_zip: Path, make_settings, worker_pool
) -> None:
    storage = tmp_path / "storage"
    first = list(run_preprocess(make_settings(demo_zip, trigger_phrase="s3p1a"), storage, worker_pool=worker_pool))
    moved = tmp_path / "elsewhere" / "renamed.zip"
    moved.parent.mkdir()
    shutil.copyfile(demo_zip, moved)

    # Another path, another dataset id, other limits and workers; a pool that cannot run anything.
    settings = make_settings(moved, dataset_id="ds2", trigger_phrase="s3p1a", workers=1, max_entries=50)
    second = list(run_preprocess(settings, storage, worker_pool=stopped_pool()))

    one, two = first[-1], second[-1]
    assert isinstance(one, Summary) and isinstance(two, Summary)
    assert (one.from_cache, two.from_cache) == (False, True)
    assert one.cache_key == two.cache_key and len(one.cache_key) == 64
    assert (two.media_kind, two.samples, two.files_skipped) == ("video", 5, 0)
    assert entries(storage) == [one.cache_key]
    assert not dataset_paths(storage, "ds2").extracted.exists()  # nothing was extracted
    assert without_local_paths(second) == without_local_paths(first)  # same events, same order
    assert of_type(second, FileReport) == of_type(first, FileReport) and len(of_type(first, FileReport)) == 5
    assert of_type(second, DatasetWarning) == of_type(first, DatasetWarning) != []

    entry = cache_root(storage, "local") / one.cache_key
    before = {b.sample_id: b for b in of_type(first, BundleWritten)}
    for bundle in of_type(second, BundleWritten):
        assert bundle.path.parent == entry / "bundles" and not bundle.run_copy
        assert bundle.uri == bundle.path.resolve().as_uri()
        assert (bundle.sha256, bundle.size_bytes) == (before[bundle.sample_id].sha256, bundle.path.stat().st_size)
        assert sha256_file(bundle.path) == bundle.sha256
        assert read_bundle(bundle.path).caption == before[bundle.sample_id].caption
    assert sorted(before) == sorted(b.sample_id for b in of_type(second, BundleWritten))


def test_changing_a_shaping_setting_is_a_miss(tmp_path: Path, small_zip: Path, make_settings, worker_pool) -> None:
    storage = tmp_path / "storage"
    first = list(run_preprocess(make_settings(small_zip), storage, worker_pool=worker_pool))
    second = list(run_preprocess(make_settings(small_zip, frame_rate=12), storage, worker_pool=worker_pool))

    assert (first[-1].from_cache, second[-1].from_cache) == (False, False)
    assert first[-1].cache_key != second[-1].cache_key
    assert entries(storage) == sorted([first[-1].cache_key, second[-1].cache_key])
    assert {b.fps for b in of_type(second, BundleWritten)} == {12.0}
    assert not dataset_paths(storage, "ds1").extracted.exists()  # extracted files go when a run ends


def test_the_key_covers_the_shaping_settings_and_nothing_else(make_settings) -> None:
    base = make_settings("/a.zip")
    key = cache_key("ab" * 32, base)
    others = dict(
        dataset_id="other", training_data_url="http://x/y.zip", workers=7, max_entries=3, decode_timeout_base_s=1.0
    )
    assert cache_key("ab" * 32, replace(base, **others)) == key
    assert cache_key("cd" * 32, base) != key
    changed = {
        "trigger_phrase": "p",
        "number_of_frames": 25,
        "frame_rate": 30,
        "width": 96,
        "height": 32,
        "split_input_into_scenes": False,
        "split_input_duration_threshold": 12.5,
        "auto_scale_input": True,
        "with_audio": False,
        "audio_normalize": False,
        "audio_preserve_pitch": False,
    }
    assert set(changed) == set(SHAPING_FIELDS)
    keys = {cache_key("ab" * 32, replace(base, **{name: value})) for name, value in changed.items()}
    assert len(keys) == len(changed) and key not in keys


def test_a_failed_or_closed_run_leaves_no_entry(tmp_path: Path, demo_zip: Path, make_settings, worker_pool) -> None:
    storage = tmp_path / "storage"
    short = make_short_clips_zip(tmp_path / "short.zip", frames=9, count=2)
    with pytest.raises(DatasetError):
        list(run_preprocess(make_settings(short), storage, worker_pool=worker_pool))
    assert entries(storage) == []

    run = run_preprocess(make_settings(demo_zip), storage)  # its own pool: files left in workers delay no other run
    next(e for e in run if isinstance(e, BundleWritten))
    run.close()
    assert entries(storage) == []

    # and the next run is a plain miss
    events = list(run_preprocess(make_settings(demo_zip), storage, worker_pool=worker_pool))
    assert not events[-1].from_cache and entries(storage) == [events[-1].cache_key]


def _break_a_bundle(entry: Path) -> None:
    next((entry / "bundles").iterdir()).unlink()


def _truncate_a_bundle(entry: Path) -> None:
    bundle = next((entry / "bundles").iterdir())
    bundle.write_bytes(bundle.read_bytes()[:-10])


def _garble_the_manifest(entry: Path) -> None:
    (entry / "manifest.json").write_text('{"format": "ltx-preprocess-cache/1", "events": [')


@pytest.mark.parametrize("damage", [_break_a_bundle, _truncate_a_bundle, _garble_the_manifest])
def test_a_damaged_entry_is_a_miss_and_is_rebuilt(
    tmp_path: Path, small_zip: Path, make_settings, worker_pool, damage
) -> None:
    storage = tmp_path / "storage"
    first = list(run_preprocess(make_settings(small_zip), storage, worker_pool=worker_pool))
    key = first[-1].cache_key
    damage(cache_root(storage, "local") / key)

    rebuilt = list(run_preprocess(make_settings(small_zip), storage, worker_pool=worker_pool))
    again = list(run_preprocess(make_settings(small_zip), storage, worker_pool=stopped_pool()))

    assert (rebuilt[-1].from_cache, again[-1].from_cache) == (False, True)
    assert entries(storage) == [key]
    assert without_local_paths(again) == without_local_paths(rebuilt)
    assert sorted(s.path for s in of_type(again, SkippedFile)) == ["bad.mp4"]
    assert [r.outcome for r in of_type(again, FileReport) if r.path == "lonely.txt"] == [FileOutcome.IGNORED]
    for bundle in of_type(again, BundleWritten):
        assert sha256_file(bundle.path) == bundle.sha256


def test_the_cache_off_neither_reads_nor_writes_it(tmp_path: Path, small_zip: Path, make_settings, worker_pool) -> None:
    storage = tmp_path / "storage"
    list(run_preprocess(make_settings(small_zip), storage, worker_pool=worker_pool))
    events = list(run_preprocess(make_settings(small_zip), storage, use_cache=False, worker_pool=worker_pool))
    assert (events[-1].from_cache, events[-1].cache_key) == (False, "")
    assert len(entries(storage)) == 1


def test_every_event_kind_round_trips_through_an_entry(tmp_path: Path) -> None:
    source = SourceFacts(96, 64, 96, 64, 24.0, 40.5, 972, "h264", 90, True)
    facts = SampleFacts("long.mp4#shot1", 17, 24.0, 64, 64, "first_frames", 0.0, 0.71, 1.0, "cut", 1.25)
    run_file = tmp_path / "run" / "long-0123.safetensors"
    run_file.parent.mkdir()
    run_file.write_bytes(b"bundle bytes")
    bundle = BundleWritten(
        "long.mp4#shot1",
        run_file.as_uri(),
        hashlib.sha256(b"bundle bytes").hexdigest(),
        12,
        17,
        64,
        64,
        24.0,
        "cap",
        "long.mp4",
        has_audio=True,
        path=run_file,
        source=source,
        facts=facts,
        audio_problem="no track",
    )
    events = [
        DatasetWarning("x.txt", "ORPHAN_CAPTION", "no media"),
        FileReport("x.txt", FileOutcome.IGNORED, reason="ORPHAN_CAPTION", message="no media"),
        Progress(2, 0, 0, 0),
        SkippedFile("bad.mp4", "UNDECODABLE", "nope"),
        SkippedFile("odd.mp4", "TOO_SHORT", "short", source=source),
        bundle,
        FileReport(
            "long.mp4",
            FileOutcome.USED,
            media_kind="video",
            caption_path="long.txt",
            caption_found=True,
            source=source,
            scene_cuts_s=(0.71, 3.5),
            samples=(facts,),
            skipped_parts=(PartSkipped("long.mp4#shot2", "TOO_SHORT", "short"),),
        ),
    ]
    cache = DatasetCache(tmp_path / "storage", "local")
    recorder = cache.recorder("k" * 64)
    for event in events:
        recorder.record(event)
    run_file.unlink()  # as BUNDLE_DELIVERY_BY_VALUE delivery does: the cache keeps its own link
    recorder.commit(Summary("video", 1, 2, 3.0))

    hit = cache.lookup("k" * 64)
    assert hit is not None and (hit.media_kind, hit.samples, hit.files_skipped) == ("video", 1, 2)
    cached = hit.events[5]
    assert cached.path.read_bytes() == b"bundle bytes" and cached.run_copy is False
    assert [replace(cached, path=run_file, uri=run_file.as_uri(), run_copy=True)] == [bundle]
    assert hit.events[:5] + hit.events[6:] == events[:5] + events[6:]
    assert [f.name for f in fields(Summary)][-2:] == ["from_cache", "cache_key"]
    assert hit.summary(0.5).cache_key == "k" * 64 and hit.summary(0.5).from_cache


def test_an_entry_naming_a_skip_by_its_former_type_name_is_still_a_hit(tmp_path: Path) -> None:
    cache = DatasetCache(tmp_path / "storage", "local")
    recorder = cache.recorder("k" * 64)
    recorder.record(SkippedFile("bad.mp4", "UNDECODABLE", "nope"))
    recorder.commit(Summary("video", 0, 1, 1.0))
    manifest = cache.entry("k" * 64) / "manifest.json"
    manifest.write_text(manifest.read_text().replace('"type":"SkippedFile"', '"type":"Skipped"'))

    hit = cache.lookup("k" * 64)
    assert hit is not None and hit.events == [SkippedFile("bad.mp4", "UNDECODABLE", "nope")]


def test_by_value_delivery_keeps_the_cache_files(tmp_path: Path, small_zip: Path, make_settings, worker_pool) -> None:
    storage = tmp_path / "storage"
    list(inline_bundles(run_preprocess(make_settings(small_zip), storage, worker_pool=worker_pool)))
    hit = list(
        inline_bundles(run_preprocess(make_settings(small_zip, dataset_id="ds2"), storage, worker_pool=worker_pool))
    )

    assert hit[-1].from_cache
    assert not list(dataset_paths(storage, "ds1").all_bundles.rglob("*.safetensors"))  # the run's copies are gone
    for bundle in of_type(hit, BundleWritten):
        assert bundle.uri == "" and bundle.path.exists() and sha256_file(bundle.path) == bundle.sha256


@pytest.fixture
def service(tmp_path: Path, tmp_path_factory) -> Iterator[tuple[pb_grpc.PreprocessServiceStub, Path]]:
    storage = tmp_path / "service"
    loop = LoopThread()
    allowed = FetchPolicy(allow_local_roots=(tmp_path_factory.getbasetemp(),))
    running = loop.call(
        serve(PreprocessServiceConfig(storage=storage, server=ListenSettings(port=0), workers=2, fetch=allowed))
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            yield pb_grpc.PreprocessServiceStub(channel), storage
    finally:
        loop.call(running.stop(grace=1.0))
        loop.close()


def _by_value(stub: pb_grpc.PreprocessServiceStub, archive: Path, dataset_id: str) -> list[pb.PreprocessResponse]:
    request = pb.PreprocessRequest(
        dataset_id=dataset_id,
        owner="local",
        training_data_url=str(archive),
        number_of_frames=17,
        frame_rate=24,
        width=64,
        height=64,
        delivery=pb.BUNDLE_DELIVERY_BY_VALUE,
    )
    return list(stub.Preprocess(request, timeout=120))


def test_a_hit_over_grpc_by_value_sends_the_bytes_and_keeps_the_entry(service, small_zip: Path) -> None:
    stub, storage = service
    miss = _by_value(stub, small_zip, "0" * 16)
    hit = _by_value(stub, small_zip, "1" * 16)

    assert (miss[-1].summary.from_cache, hit[-1].summary.from_cache) == (False, True)
    assert hit[-1].summary.cache_key == miss[-1].summary.cache_key != ""
    received: dict[str, bytearray] = {}
    for event in hit:
        if event.WhichOneof("event") == "bundle_chunk":
            received.setdefault(event.bundle_chunk.sample_id, bytearray()).extend(event.bundle_chunk.data)
    refs = [e.bundle for e in hit if e.WhichOneof("event") == "bundle"]
    assert sorted(r.sample_id for r in refs) == ["a.mp4", "sub/b.mp4"] == sorted(received)
    for ref in refs:
        assert hashlib.sha256(received[ref.sample_id]).hexdigest() == ref.sha256 and ref.uri == ""
    entry = cache_root(storage, "local") / hit[-1].summary.cache_key
    assert sorted(sha256_file(p) for p in (entry / "bundles").iterdir()) == sorted(r.sha256 for r in refs)
    assert DatasetCache(storage, "local").lookup(hit[-1].summary.cache_key) is not None
