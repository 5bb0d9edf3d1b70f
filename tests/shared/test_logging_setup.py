"""shared.logs: one renderer for structlog events, standard-library records and warnings; LTX_LOG_LEVEL in any case."""

from __future__ import annotations

import io
import json
import logging
import warnings

import pytest
import structlog

from shared.logs import configure_logging, log_level_from_env, parse_level


@pytest.fixture
def restore_logging():
    """configure_logging changes process-wide state: put the root logger, warnings and structlog back."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    transformers_root = logging.getLogger("transformers")
    transformers_state = (list(transformers_root.handlers), transformers_root.propagate)
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    transformers_root.handlers[:], transformers_root.propagate = transformers_state
    logging.captureWarnings(False)
    structlog.reset_defaults()


def _lines(out: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_every_line_is_json_with_level_and_logger_name(restore_logging):
    out = io.StringIO()
    configure_logging(json=True, level="info", stream=out)
    structlog.get_logger("preprocess_svc.pipeline").info("preprocess_cache_miss", dataset_id="d1")
    logging.getLogger("grpc._server").warning("Exception calling application: %s", "boom")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.warn("a library's warning", UserWarning, stacklevel=1)
    try:
        raise RuntimeError("the failure")
    except RuntimeError:
        logging.getLogger("pyscenedetect").exception("scene detection failed")
    logging.getLogger("grpc").debug("below the level")
    structlog.get_logger("x").debug("below the level too")
    lines = _lines(out)
    assert [(line["level"], line["logger"]) for line in lines] == [
        ("info", "preprocess_svc.pipeline"),
        ("warning", "grpc._server"),
        ("warning", "py.warnings"),
        ("error", "pyscenedetect"),
    ]
    assert lines[0]["event"] == "preprocess_cache_miss" and lines[0]["dataset_id"] == "d1"
    assert lines[1]["event"] == "Exception calling application: boom"
    assert "UserWarning: a library's warning" in lines[2]["event"]
    assert "RuntimeError: the failure" in lines[3]["exception"]
    assert all("timestamp" in line for line in lines)


def test_transformers_records_leave_its_own_handler_for_ours(restore_logging):
    from transformers.utils import logging as transformers_logging

    transformers_logging.set_verbosity_error()  # sets up its own stderr handler, not propagating
    out = io.StringIO()
    configure_logging(json=True, level="INFO", stream=out)
    transformers_logging.get_logger("transformers.modeling_utils").error("weights missing")
    (line,) = _lines(out)
    assert (line["event"], line["level"], line["logger"]) == ("weights missing", "error", "transformers.modeling_utils")


def test_a_second_configuration_replaces_the_first_and_long_values_are_capped(restore_logging):
    first, second = io.StringIO(), io.StringIO()
    configure_logging(json=True, stream=first)
    configure_logging(json=False, level="WARNING", stream=second)
    logging.getLogger("grpc").warning("x" * 5000)
    assert first.getvalue() == ""
    (line,) = second.getvalue().splitlines()
    assert "[warning" in line and "[grpc]" in line and len(line) < 1300


@pytest.mark.parametrize("name", ["info", "INFO", "Info", " warning ", "DEBUG", "error", "Critical"])
def test_level_names_in_any_case(name):
    assert parse_level(name) == logging.getLevelName(name.strip().upper())


def test_the_level_comes_from_ltx_log_level_and_an_unknown_one_stops_with_exit_code_2(capsys):
    assert log_level_from_env("WARNING", {"LTX_LOG_LEVEL": "info"}) == logging.INFO
    assert log_level_from_env("WARNING", {"LTX_LOG_LEVEL": ""}) == logging.WARNING
    assert log_level_from_env("WARNING", {}) == logging.WARNING
    with pytest.raises(SystemExit) as stopped:
        log_level_from_env("INFO", {"LTX_LOG_LEVEL": "loud"})
    assert stopped.value.code == 2
    assert capsys.readouterr().err == (
        "LTX_LOG_LEVEL: unknown log level 'loud': use one of debug, info, warning, error, critical (any case)\n"
    )
