"""Property tests of request validation: whatever a caller puts in a request, the rules answer with
settings inside every range or with InvalidRequest naming the bad fields, never anything else, and
the error fits in a status a proxy accepts."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.api import training_service_pb2 as pb
from shared.grpc_util.errors import MAX_STATUS_BYTES, domain_status_proto
from shared.request import ranges, validate
from shared.request.errors import InvalidRequest
from shared.request.field_limits import FIELD_LIMITS
from shared.request.json_input import input_from_json

INT32 = st.integers(min_value=-(2**31), max_value=2**31 - 1)
DOUBLE = st.floats(allow_nan=True, allow_infinity=True)
TEXT = st.text(max_size=300) | st.text(alphabet="ab", min_size=2000, max_size=12_000)
ENUM = st.integers(min_value=-(2**31), max_value=2**31 - 1)
URLS = st.sampled_from(
    ["", "x.zip", "/data/x.zip", "file:///x.zip", "https://example.com/x.zip", "http://[::1", "ftp://h/x", "upload://"]
) | st.text(max_size=50)

INPUTS = st.fixed_dictionaries(
    {"training_data_url": URLS},
    optional={
        "trigger_phrase": TEXT,
        "rank": INT32,
        "number_of_steps": INT32,
        "learning_rate": DOUBLE,
        "number_of_frames": INT32,
        "frame_rate": INT32,
        "resolution": ENUM,
        "aspect_ratio": ENUM,
        "split_input_duration_threshold": DOUBLE,
        "stg_scale": DOUBLE,
        "validation_number_of_frames": INT32,
        "validation_frame_rate": INT32,
        "validation_negative_prompt": TEXT,
        "validation": st.lists(TEXT.map(lambda p: pb.ValidationPrompt(prompt=p)), max_size=4),
    },
)


def _within_every_rule(s) -> bool:
    return (
        s.rank in ranges.RANKS
        and ranges.STEPS_MIN <= s.number_of_steps <= ranges.STEPS_MAX
        and s.number_of_steps % ranges.STEPS_MULTIPLE == 0
        and math.isfinite(s.learning_rate)
        and 0 < s.learning_rate <= ranges.LEARNING_RATE_MAX
        and ranges.FRAMES_MIN <= s.number_of_frames <= ranges.FRAMES_MAX
        and (s.number_of_frames - 1) % 8 == 0
        and ranges.FRAME_RATE_MIN <= s.frame_rate <= ranges.FRAME_RATE_MAX
        and ranges.SPLIT_THRESHOLD_MIN <= s.split_input_duration_threshold <= ranges.SPLIT_THRESHOLD_MAX
        and ranges.STG_SCALE_MIN <= s.stg_scale <= ranges.STG_SCALE_MAX
        and len(s.trigger_phrase) <= FIELD_LIMITS["ltx.trainer.v1.TrainingInput.trigger_phrase"]
        and len(s.validation) <= 2
        and all(p.strip() and len(p) <= 10_000 for p in s.validation)
        and s.training_data_url.strip() != ""
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(INPUTS)
def test_resolve_gives_settings_inside_every_range_or_names_the_bad_fields(fields):
    message = pb.TrainingInput(**fields)
    try:
        settings_ = validate.resolve(message)
    except InvalidRequest as err:
        assert err.violations and all(
            v.field.split("[")[0].split(".")[0] in pb.TrainingInput.DESCRIPTOR.fields_by_name for v in err.violations
        )
        assert domain_status_proto(err).ByteSize() < MAX_STATUS_BYTES
        return
    assert _within_every_rule(settings_)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=10,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([*pb.TrainingInput.DESCRIPTOR.fields_by_name, "rnak", ""]), JSON, max_size=8))
def test_any_json_body_converts_or_is_refused_with_every_problem_named(body):
    try:
        message = input_from_json(body)
    except InvalidRequest as err:
        assert err.violations and domain_status_proto(err).ByteSize() < MAX_STATUS_BYTES
        return
    assert isinstance(message, pb.TrainingInput)
