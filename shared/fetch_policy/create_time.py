"""The check the training service makes on training_data_url when a job is created, without any DNS lookup.

A host name is accepted here: its addresses are checked when the preprocessor connects. A local file
that does not exist yet is accepted too (the preprocessor reports NOT_FOUND); an upload id is accepted
and its owner checked by the preprocessor.
"""

from __future__ import annotations

import os
from pathlib import Path

from shared.fetch_policy.addresses import BlockedHost, blocked_because, host_literal
from shared.fetch_policy.local_paths import local_path_problem
from shared.fetch_policy.policy import FetchPolicy
from shared.fetch_policy.sources import HttpSource, LocalSource, SourceProblem, parse_source
from shared.quoting import quote


def create_time_problem(url: str, policy: FetchPolicy) -> str | None:
    """A sentence saying why `url` cannot be a job's archive, or None when it may be fetched."""
    try:
        source = parse_source(url)
    except SourceProblem as exc:
        return str(exc)
    if isinstance(source, LocalSource):
        return local_path_problem(source.path, Path(os.path.realpath(source.path)), policy)
    if isinstance(source, HttpSource):
        try:
            address = host_literal(source.host)
        except BlockedHost as exc:
            return f"{quote(url)}: {exc}"
        why = None if address is None else blocked_because(address, policy.allow_cidrs)
        if why is not None:
            return f"{quote(url)}: {BlockedHost(source.host, str(address), why)}"
    return None
