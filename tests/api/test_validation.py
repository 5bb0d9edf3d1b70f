"""resolve(): the spec's defaults, ranges and snapping, with every violation reported at once."""

import math

import pytest

from shared.api import common_pb2, training_service_pb2
from shared.request import defaults
from shared.request.defaults import AspectRatio, Resolution
from shared.request.errors import InvalidRequest
from shared.request.settings import TrainingSettings
from shared.request.validate import resolve

URL = "https://example.com/my_dataset.zip"


def make_input(**fields) -> training_service_pb2.TrainingInput:
    fields.setdefault("training_data_url", URL)
    validation = fields.pop("validation", [])
    message = training_service_pb2.TrainingInput(**fields)
    for prompt in validation:
        message.validation.add(prompt=prompt)
    return message


def violations(**fields) -> dict[str, str]:
    with pytest.raises(InvalidRequest) as caught:
        resolve(make_input(**fields))
    return {v.field: v.description for v in caught.value.violations}


def test_unset_fields_take_the_spec_defaults() -> None:
    settings = resolve(make_input())
    assert settings == TrainingSettings(
        training_data_url=URL,
        trigger_phrase="",
        rank=32,
        number_of_steps=2000,
        learning_rate=2e-4,
        number_of_frames=89,
        frame_rate=24,
        resolution=Resolution.MEDIUM,
        aspect_ratio=AspectRatio.SQUARE_1_1,
        auto_scale_input=False,
        split_input_into_scenes=True,
        split_input_duration_threshold=30.0,
        with_audio=None,
        audio_normalize=True,
        audio_preserve_pitch=True,
        validation=(),
        validation_negative_prompt=defaults.VALIDATION_NEGATIVE_PROMPT,
        validation_number_of_frames=89,
        validation_frame_rate=24,
        validation_resolution=Resolution.HIGH,
        validation_aspect_ratio=AspectRatio.SQUARE_1_1,
        stg_scale=1.0,
        debug_dataset=False,
    )
    assert (settings.width, settings.height) == (768, 768)
    assert (settings.validation_width, settings.validation_height) == (960, 960)


def test_builtin_negative_prompt_is_a_long_quality_prompt() -> None:
    prompt = defaults.VALIDATION_NEGATIVE_PROMPT
    assert len(prompt) > 200
    assert all(term in prompt for term in ("blurry", "low quality", "distorted", "watermark"))


def test_explicit_values_are_kept() -> None:
    settings = resolve(
        make_input(
            trigger_phrase="tronlog0",
            rank=128,
            number_of_steps=20000,
            learning_rate=1e-3,
            number_of_frames=121,
            frame_rate=60,
            resolution=common_pb2.RESOLUTION_LOW,
            aspect_ratio=common_pb2.ASPECT_RATIO_9_16,
            auto_scale_input=True,
            split_input_into_scenes=False,
            split_input_duration_threshold=1.0,
            with_audio=False,
            audio_normalize=False,
            audio_preserve_pitch=False,
            validation=["a cat", "a dog"],
            validation_negative_prompt="",
            validation_number_of_frames=9,
            validation_frame_rate=8,
            validation_resolution=common_pb2.RESOLUTION_MEDIUM,
            validation_aspect_ratio=common_pb2.ASPECT_RATIO_16_9,
            stg_scale=3.0,
            debug_dataset=True,
        )
    )
    assert (settings.rank, settings.number_of_steps, settings.learning_rate) == (128, 20000, 1e-3)
    assert (settings.number_of_frames, settings.frame_rate) == (121, 60)
    assert (settings.width, settings.height) == (288, 512)
    assert (settings.validation_width, settings.validation_height) == (768, 448)
    assert settings.validation == ("a cat", "a dog")
    assert settings.validation_negative_prompt == ""
    assert settings.with_audio is False
    assert not settings.split_input_into_scenes and settings.auto_scale_input and settings.debug_dataset
    assert settings.stg_scale == 3.0


@pytest.mark.parametrize(
    ("resolution", "aspect_ratio", "size"),
    [
        (common_pb2.RESOLUTION_LOW, common_pb2.ASPECT_RATIO_16_9, (512, 288)),
        (common_pb2.RESOLUTION_LOW, common_pb2.ASPECT_RATIO_1_1, (512, 512)),
        (common_pb2.RESOLUTION_LOW, common_pb2.ASPECT_RATIO_9_16, (288, 512)),
        (common_pb2.RESOLUTION_MEDIUM, common_pb2.ASPECT_RATIO_16_9, (768, 448)),
        (common_pb2.RESOLUTION_MEDIUM, common_pb2.ASPECT_RATIO_1_1, (768, 768)),
        (common_pb2.RESOLUTION_MEDIUM, common_pb2.ASPECT_RATIO_9_16, (448, 768)),
        (common_pb2.RESOLUTION_HIGH, common_pb2.ASPECT_RATIO_16_9, (960, 544)),
        (common_pb2.RESOLUTION_HIGH, common_pb2.ASPECT_RATIO_1_1, (960, 960)),
        (common_pb2.RESOLUTION_HIGH, common_pb2.ASPECT_RATIO_9_16, (544, 960)),
    ],
)
def test_bucket_pixel_sizes_follow_the_spec_table(resolution, aspect_ratio, size) -> None:
    settings = resolve(
        make_input(
            resolution=resolution,
            aspect_ratio=aspect_ratio,
            validation_resolution=resolution,
            validation_aspect_ratio=aspect_ratio,
        )
    )
    assert (settings.width, settings.height) == size
    assert (settings.validation_width, settings.validation_height) == size


@pytest.mark.parametrize(("given", "snapped"), [(9, 9), (10, 9), (16, 9), (17, 17), (89, 89), (100, 97), (121, 121)])
def test_frame_counts_snap_down_to_8k_plus_1(given: int, snapped: int) -> None:
    settings = resolve(make_input(number_of_frames=given, validation_number_of_frames=given))
    assert settings.number_of_frames == snapped
    assert settings.validation_number_of_frames == snapped


@pytest.mark.parametrize("field", ["rank", "number_of_steps", "learning_rate", "frame_rate", "number_of_frames"])
def test_explicit_zero_is_validated_not_defaulted(field: str) -> None:
    assert field in violations(**{field: 0})


def test_explicit_zero_stg_scale_is_valid_and_disables_stg() -> None:
    assert resolve(make_input(stg_scale=0.0)).stg_scale == 0.0


def test_with_audio_unset_stays_none_for_auto_detection() -> None:
    assert resolve(make_input()).with_audio is None
    assert resolve(make_input(with_audio=True)).with_audio is True


@pytest.mark.parametrize("rank", [8, 16, 32, 64, 128])
def test_every_allowed_rank_is_accepted(rank: int) -> None:
    assert resolve(make_input(rank=rank)).rank == rank


@pytest.mark.parametrize("rank", [-8, 1, 12, 256])
def test_rank_outside_the_set_is_rejected_with_choices_and_value(rank: int) -> None:
    assert violations(rank=rank) == {"rank": f"must be one of 8, 16, 32, 64, 128 (got {rank})"}


@pytest.mark.parametrize("steps", [100, 1000, 20000])
def test_steps_in_range_and_multiple_of_100_are_accepted(steps: int) -> None:
    assert resolve(make_input(number_of_steps=steps)).number_of_steps == steps


@pytest.mark.parametrize("steps", [-100, 50, 150, 1999, 20100])
def test_steps_out_of_range_or_not_multiple_of_100_are_rejected(steps: int) -> None:
    description = violations(number_of_steps=steps)["number_of_steps"]
    assert description == f"must be a multiple of 100 from 100 to 20000 (got {steps})"


@pytest.mark.parametrize("rate", [1e-6, 2e-4, 1.0])
def test_positive_learning_rates_up_to_1_are_accepted(rate: float) -> None:
    assert resolve(make_input(learning_rate=rate)).learning_rate == rate


@pytest.mark.parametrize("rate", [-1e-4, 0.0, 1.5, math.nan, math.inf])
def test_learning_rate_must_be_positive_finite_and_at_most_1(rate: float) -> None:
    description = violations(learning_rate=rate)["learning_rate"]
    assert "above 0 and at most 1.0" in description and f"(got {rate})" in description


@pytest.mark.parametrize("field", ["number_of_frames", "validation_number_of_frames"])
@pytest.mark.parametrize("frames", [8, 122, -1])
def test_frame_counts_outside_9_to_121_are_rejected(field: str, frames: int) -> None:
    assert violations(**{field: frames}) == {field: f"must be between 9 and 121 (got {frames})"}


@pytest.mark.parametrize("field", ["frame_rate", "validation_frame_rate"])
@pytest.mark.parametrize(("rate", "ok"), [(7, False), (8, True), (60, True), (61, False)])
def test_frame_rates_must_be_8_to_60(field: str, rate: int, ok: bool) -> None:
    if ok:
        assert getattr(resolve(make_input(**{field: rate})), field) == rate
    else:
        assert violations(**{field: rate}) == {field: f"must be between 8 and 60 (got {rate})"}


@pytest.mark.parametrize(("scale", "ok"), [(0.0, True), (3.0, True), (-0.1, False), (3.5, False), (math.nan, False)])
def test_stg_scale_must_be_finite_0_to_3(scale: float, ok: bool) -> None:
    if ok:
        assert resolve(make_input(stg_scale=scale)).stg_scale == scale
    else:
        description = violations(stg_scale=scale)["stg_scale"]
        assert description == f"must be a finite number between 0.0 and 3.0 (got {scale})"


@pytest.mark.parametrize(("seconds", "ok"), [(1.0, True), (60.0, True), (0.0, False), (0.5, False), (61.0, False)])
def test_split_threshold_must_be_finite_1_to_60(seconds: float, ok: bool) -> None:
    if ok:
        assert resolve(make_input(split_input_duration_threshold=seconds)).split_input_duration_threshold == seconds
    else:
        description = violations(split_input_duration_threshold=seconds)["split_input_duration_threshold"]
        assert description == f"must be a finite number between 1.0 and 60.0 (got {seconds})"


def test_split_threshold_rejects_infinity() -> None:
    assert "split_input_duration_threshold" in violations(split_input_duration_threshold=math.inf)


@pytest.mark.parametrize("field", ["resolution", "validation_resolution"])
def test_unknown_resolution_number_is_rejected(field: str) -> None:
    assert violations(**{field: 7}) == {field: "must be one of low, medium, high (got enum number 7)"}


@pytest.mark.parametrize("field", ["aspect_ratio", "validation_aspect_ratio"])
def test_unknown_aspect_ratio_number_is_rejected(field: str) -> None:
    assert violations(**{field: 9}) == {field: "must be one of 16:9, 1:1, 9:16 (got enum number 9)"}


@pytest.mark.parametrize(
    "url",
    [URL, "http://host/a.zip", "file:///data/a.zip", "upload://abc123", "datasets/a.zip", "/abs/a.zip"],
)
def test_accepted_archive_locations(url: str) -> None:
    assert resolve(make_input(training_data_url=url)).training_data_url == url


@pytest.mark.parametrize("url", ["", "   "])
def test_training_data_url_is_required(url: str) -> None:
    assert violations(training_data_url=url)["training_data_url"].startswith("is required")


@pytest.mark.parametrize("url", ["s3://bucket/a.zip", "ftp://host/a.zip", "https:///a.zip", "upload://"])
def test_unsupported_or_incomplete_urls_are_rejected(url: str) -> None:
    assert repr(url) in violations(training_data_url=url)["training_data_url"]


def test_at_most_two_validation_prompts() -> None:
    assert violations(validation=["a", "b", "c"]) == {"validation": "must have at most 2 entries (got 3)"}


def test_blank_validation_prompt_is_named_by_its_index() -> None:
    assert violations(validation=["a cat", "  "]) == {"validation[1].prompt": "is required and must not be blank"}


def test_every_bad_field_is_reported_at_once() -> None:
    found = violations(
        training_data_url="",
        rank=12,
        number_of_steps=150,
        learning_rate=0.0,
        number_of_frames=200,
        frame_rate=0,
        resolution=5,
        stg_scale=4.0,
        split_input_duration_threshold=0.0,
        validation=["ok", "", "extra"],
        validation_number_of_frames=3,
        validation_frame_rate=100,
    )
    assert set(found) == {
        "training_data_url",
        "rank",
        "number_of_steps",
        "learning_rate",
        "number_of_frames",
        "frame_rate",
        "resolution",
        "stg_scale",
        "split_input_duration_threshold",
        "validation",
        "validation[1].prompt",
        "validation_number_of_frames",
        "validation_frame_rate",
    }


def test_invalid_request_carries_reason_fields_and_a_readable_text() -> None:
    with pytest.raises(InvalidRequest) as caught:
        resolve(make_input(rank=12, frame_rate=0))
    err = caught.value
    assert err.reason == "INVALID_TRAINING_INPUT"
    assert err.fields == ["rank", "frame_rate"]
    assert err.metadata == {"fields": "rank,frame_rate"}
    assert "rank: must be one of 8, 16, 32, 64, 128 (got 12)" in str(err)


def test_billable_units_on_success_are_at_least_100() -> None:
    assert resolve(make_input(number_of_steps=100)).billable_units_on_success == 100
    assert resolve(make_input(number_of_steps=5000)).billable_units_on_success == 5000
