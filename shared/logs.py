"""structlog set-up shared by the services and the CLI: JSON lines for services, console for people.

Every line goes through one renderer: structlog's own events and the records of the standard-library
loggers (grpc, diffusers, transformers, scenedetect, ...), which a `structlog.stdlib.ProcessorFormatter`
on the root logger renders with their level and logger name, and `warnings.warn` too (routed through
logging as `py.warnings`). Every value a log line quotes is capped (LOG_VALUE_CHARS; a traceback,
LOG_TRACEBACK_CHARS), so a caller's 40 MB string cannot become a 40 MB log line.

The level comes from `LTX_LOG_LEVEL` (debug, info, warning, error, critical, in any case; empty counts as
unset): `log_level_from_env`. An unknown name stops the process with exit code 2 and a message naming
the variable and the names it takes.

Lines carry the context bound with structlog.contextvars (a job's `job_id`) and, where a span is current,
its `trace_id` and `span_id` (`add_trace_ids`).
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict

from shared.quoting import clip
from shared.tracing.context import trace_fields

LOG_VALUE_CHARS = 1000
LOG_TRACEBACK_CHARS = 20_000
LOG_LEVEL_ENV = "LTX_LOG_LEVEL"
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
# libraries that give their root logger a handler of their own and stop propagation; their
# `utils.logging` module offers the switches to undo both
_SELF_HANDLING_LIBRARIES = ("diffusers", "transformers")


_configured: tuple[bool, int] | None = None  # (json, level) of this process's configure_logging


class UnknownLogLevel(ValueError):
    """A level name that is none of LEVELS."""


def cap_values(_logger: Any, _method: str, event: EventDict) -> EventDict:
    """A structlog processor: long values cut, with a note of how much was left out."""
    for key, value in event.items():
        limit = LOG_TRACEBACK_CHARS if key == "exception" else LOG_VALUE_CHARS
        if isinstance(value, str):
            event[key] = clip(value, limit)
        elif not isinstance(value, int | float | bool | type(None)):
            text = str(value)
            if len(text) > limit:
                event[key] = clip(text, limit)
    return event


def add_trace_ids(_logger: Any, _method: str, event: EventDict) -> EventDict:
    """A structlog processor: the current span's `trace_id` and `span_id` (hex), when a span is current
    (a service that traces: shared.tracing). Without one, ids bound with the context (a worker process's
    task) are left as they are."""
    event.update(trace_fields())
    return event


def parse_level(name: str | int) -> int:
    """The logging level of a name in any case ("info", "INFO", " Warning "); an int is taken as it is."""
    if isinstance(name, int):
        return name
    level = LEVELS.get(name.strip().lower())
    if level is None:
        raise UnknownLogLevel(f"unknown log level {name!r}: use one of {', '.join(LEVELS)} (any case)")
    return level


def log_level_from_env(default: str, environ: Mapping[str, str] | None = None) -> int:
    """LTX_LOG_LEVEL's level (unset or empty: `default`); an unknown name prints why and exits with code 2."""
    raw = (os.environ if environ is None else environ).get(LOG_LEVEL_ENV, "")
    try:
        return parse_level(raw if raw.strip() else default)
    except UnknownLogLevel as exc:
        print(f"{LOG_LEVEL_ENV}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


class _CurrentStderr(logging.StreamHandler):
    """A handler on whatever sys.stderr is when a record is written (pytest's capture, or the proxy that
    keeps the CLI's live display below printed lines), not the one there was at set-up."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass


def route_library_loggers() -> None:
    """Send the records of diffusers and transformers (if imported) to the root logger's handler instead
    of their own stderr handlers. configure_logging does this; call it again after importing them."""
    for name in _SELF_HANDLING_LIBRARIES:
        module = sys.modules.get(f"{name}.utils.logging")
        if module is not None:
            module.disable_default_handler()
            module.enable_propagation()


def configure_logging(*, json: bool, level: str | int = "INFO", stream: TextIO | None = None) -> None:
    """Render structlog events, standard-library records and warnings as JSON lines (json=True) or console
    lines, at `level` and above (a name in any case, or a number), on stderr (or `stream`)."""
    global _configured
    threshold = parse_level(level)
    timestamper = structlog.processors.TimeStamper(fmt="iso", utc=True)
    before: list = [
        structlog.contextvars.merge_contextvars,
        add_trace_ids,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        timestamper,
    ]
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=before,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            cap_values,
            renderer,
        ],
    )
    handler: logging.Handler = _CurrentStderr() if stream is None else logging.StreamHandler(stream)
    handler.addFilter(_marker)
    handler.setFormatter(formatter)
    handler.setLevel(threshold)
    root = logging.getLogger()
    for old in [h for h in root.handlers if _marker in h.filters]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(threshold)
    # Off, then on: logging keeps the showwarning it replaced at its first capture and does nothing on a
    # second one, so a warnings.showwarning set since (by warnings.catch_warnings' exit, say) would win.
    logging.captureWarnings(False)
    logging.captureWarnings(True)
    route_library_loggers()
    structlog.configure(
        processors=[*before, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    _configured = (json, threshold)


def logging_configuration() -> tuple[bool, int] | None:
    """(json, level) as configure_logging last set them in this process (None: never), so that a spawned
    worker process can log the same way: `configure_logging(json=json, level=level)`."""
    return _configured


def _marker(_record: logging.LogRecord) -> bool:
    """The filter that marks configure_logging's handler (it lets every record through)."""
    return True
