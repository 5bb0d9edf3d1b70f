"""Quoting a caller's value in an error message or a log line without echoing all of it.

Any value that came from outside (a URL, a name, an archive entry) is shown through `quote`: at most
QUOTE_CHARS characters of it, as a Python literal, with the count of what was left out.
"""

from __future__ import annotations

QUOTE_CHARS = 200


def clip(text: str, limit: int = QUOTE_CHARS) -> str:
    """`text` cut to `limit` characters, saying how many more there were."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit:,} more characters)"


def quote(value: object, limit: int = QUOTE_CHARS) -> str:
    """repr() of `value` (a string's repr for anything else), cut to about `limit` characters."""
    text = value if isinstance(value, str) else str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}... ({len(text) - limit:,} more characters)"
