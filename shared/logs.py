"""structlog set-up shared by the services and the CLI: JSON lines for services, console for people.

Every value a log line quotes is capped (LOG_VALUE_CHARS; a traceback, LOG_TRACEBACK_CHARS), so a
caller's 40 MB string cannot become a 40 MB log line.
"""

from __future__ import annotations

import logging
import sys

import structlog

from shared.quoting import clip

LOG_VALUE_CHARS = 1000
LOG_TRACEBACK_CHARS = 20_000


def cap_values(_logger, _method: str, event: dict) -> dict:
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


def configure_logging(*, json: bool, level: str = "INFO") -> None:
    processors: list = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        cap_values,
    ]
    renderer = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[*processors, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
