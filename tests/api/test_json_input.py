"""The spec's JSON body <-> TrainingInput, with JSON-level and range problems reported together."""

import json

import pytest

from shared.api import common_pb2
from shared.request.defaults import Resolution
from shared.request.errors import InvalidRequest
from shared.request.json_input import input_from_json, input_to_json
from shared.request.validate import resolve

SPEC_EXAMPLE = json.loads(
    """
{
  "training_data_url": "https://example.com/my_dataset.zip",
  "trigger_phrase": "tronlog0",
  "rank": 32,
  "number_of_steps": 2000,
  "learning_rate": 0.0002,
  "number_of_frames": 89,
  "frame_rate": 24,
  "resolution": "medium",
  "aspect_ratio": "1:1",
  "validation": [
    { "prompt": "tronlog0 spinning slowly on a dark background" }
  ]
}
"""
)


def problems(body: dict) -> dict[str, str]:
    with pytest.raises(InvalidRequest) as caught:
        input_from_json(body)
    return {v.field: v.description for v in caught.value.violations}


def test_spec_example_converts_and_resolves() -> None:
    message = input_from_json(SPEC_EXAMPLE)
    assert message.resolution == common_pb2.RESOLUTION_MEDIUM
    assert message.aspect_ratio == common_pb2.ASPECT_RATIO_1_1
    settings = resolve(message)
    assert settings.trigger_phrase == "tronlog0"
    assert settings.validation == ("tronlog0 spinning slowly on a dark background",)
    assert (settings.width, settings.height, settings.number_of_frames) == (768, 768, 89)
    assert settings.with_audio is None


def test_enum_strings_map_to_the_enums() -> None:
    message = input_from_json(
        {
            "training_data_url": "a.zip",
            "resolution": "low",
            "aspect_ratio": "16:9",
            "validation_resolution": "high",
            "validation_aspect_ratio": "9:16",
        }
    )
    assert message.resolution == common_pb2.RESOLUTION_LOW
    assert message.aspect_ratio == common_pb2.ASPECT_RATIO_16_9
    assert message.validation_resolution == common_pb2.RESOLUTION_HIGH
    assert message.validation_aspect_ratio == common_pb2.ASPECT_RATIO_9_16


def test_null_means_not_given() -> None:
    message = input_from_json({"training_data_url": "a.zip", "with_audio": None, "rank": None})
    assert not message.HasField("with_audio") and not message.HasField("rank")
    assert resolve(message).with_audio is None


def test_explicit_false_and_zero_are_kept_as_set() -> None:
    message = input_from_json({"training_data_url": "a.zip", "with_audio": False, "stg_scale": 0})
    assert message.HasField("with_audio") and message.with_audio is False
    assert message.HasField("stg_scale") and message.stg_scale == 0.0


def test_integral_float_is_accepted_for_an_integer() -> None:
    assert input_from_json({"training_data_url": "a.zip", "rank": 64.0}).rank == 64


def test_well_formed_body_is_returned_without_range_checks() -> None:
    message = input_from_json({"training_data_url": "a.zip", "rank": 12})
    with pytest.raises(InvalidRequest):
        resolve(message)


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("rank", "abc", 'must be an integer (got string "abc")'),
        ("rank", True, "must be an integer (got boolean true)"),
        ("rank", 32.5, "must be an integer (got number 32.5)"),
        ("number_of_steps", 2**40, f"must be a 32-bit integer (got {2**40})"),
        ("learning_rate", "0.1", 'must be a number (got string "0.1")'),
        ("learning_rate", False, "must be a number (got boolean false)"),
        ("with_audio", "yes", 'must be true or false (got string "yes")'),
        ("debug_dataset", 1, "must be true or false (got number 1)"),
        ("trigger_phrase", 7, "must be a string (got number 7)"),
        ("resolution", "ultra", 'must be one of low, medium, high (got string "ultra")'),
        ("aspect_ratio", "4:3", 'must be one of 16:9, 1:1, 9:16 (got string "4:3")'),
        ("validation_resolution", 2, "must be one of low, medium, high (got number 2)"),
        ("validation", "a cat", 'must be a list of {"prompt": "..."} objects (got string "a cat")'),
    ],
)
def test_wrong_json_types_are_named(key: str, value, expected: str) -> None:
    assert problems({"training_data_url": "a.zip", key: value}) == {key: expected}


def test_unknown_keys_are_rejected_with_a_suggestion() -> None:
    assert problems({"training_data_url": "a.zip", "numbr_of_steps": 100, "colour": "red"}) == {
        "numbr_of_steps": "is not a field of the request (did you mean 'number_of_steps'?)",
        "colour": "is not a field of the request",
    }


def test_bad_validation_entries_are_named_by_index() -> None:
    found = problems({"training_data_url": "a.zip", "validation": [{"prompt": 3}, {"prompt": "ok", "seed": 1}]})
    assert found == {
        "validation[0].prompt": "must be a string (got number 3)",
        "validation[1].seed": "is not a field of the request",
    }


def test_validation_entry_that_is_not_an_object() -> None:
    assert problems({"training_data_url": "a.zip", "validation": ["a cat"]}) == {
        "validation[0]": 'must be an object {"prompt": "..."} (got string "a cat")'
    }


def test_json_problems_and_range_problems_are_reported_together() -> None:
    found = problems(
        {
            "training_data_url": "s3://bucket/a.zip",
            "rank": "abc",
            "number_of_steps": 150,
            "frame_rate": 100,
            "resolution": "ultra",
            "stg_scale": 5,
            "unknown_key": 1,
            "validation": [{"prompt": ""}, {"prompt": 1}, {"prompt": "c"}],
        }
    )
    assert set(found) == {
        "training_data_url",
        "rank",
        "number_of_steps",
        "frame_rate",
        "resolution",
        "stg_scale",
        "unknown_key",
        "validation",
        "validation[0].prompt",
        "validation[1].prompt",
    }
    assert found["validation[1].prompt"] == "must be a string (got number 1)"  # not also "blank"


def test_body_must_be_an_object() -> None:
    assert problems([1, 2]) == {"": "the request must be a JSON object (got array [1, 2])"}


def test_input_to_json_lists_only_set_fields() -> None:
    assert input_to_json(input_from_json(SPEC_EXAMPLE)) == SPEC_EXAMPLE
    assert input_to_json(input_from_json({"training_data_url": "a.zip", "with_audio": False})) == {
        "training_data_url": "a.zip",
        "with_audio": False,
    }


def test_resolved_settings_round_trip_through_json() -> None:
    settings = resolve(input_from_json(SPEC_EXAMPLE | {"resolution": "low", "number_of_frames": 100}))
    body = settings.to_json_dict()
    assert body["resolution"] == Resolution.LOW.value == "low"
    assert body["number_of_frames"] == 97
    assert body["validation"] == [{"prompt": "tronlog0 spinning slowly on a dark background"}]
    assert json.loads(json.dumps(body)) == body
    assert resolve(input_from_json(body)) == settings
