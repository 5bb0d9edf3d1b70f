"""Every test runs offline against a private model cache, with one torch CPU thread.

The tiny preset is built into a fresh cache directory (LTX_TRAINER_CACHE under pytest's temp dir), so
each session exercises the real build -> save_pretrained -> from_pretrained path, and no test can
reach the Hugging Face hub. One CPU thread, as the service uses: on 2 cores, OpenMP threads spinning
against ffmpeg workers make steps orders of magnitude slower.
"""

from __future__ import annotations

import pytest
import structlog
import torch


@pytest.fixture(scope="session", autouse=True)
def offline_model_cache(tmp_path_factory):
    cache = tmp_path_factory.mktemp("ltx-trainer-cache")
    torch.set_num_threads(1)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("LTX_TRAINER_CACHE", str(cache))
        mp.setenv("LTX_CPU_THREADS", "1")
        mp.delenv("LTX_TRAINER_ALLOW_DOWNLOAD", raising=False)
        mp.delenv("LTX_BASE_MODEL", raising=False)
        yield cache


@pytest.fixture(scope="session", autouse=True)
def plain_log_tracebacks():
    """Unconfigured structlog (in-process code here; the services configure their own) renders a logged
    exception with rich, locals included: ~1 s per traceback when the locals hold a model. Plain
    tracebacks instead, the rest of structlog's default chain unchanged."""
    processors = structlog.get_config()["processors"]
    if isinstance(processors[-1], structlog.dev.ConsoleRenderer):
        plain = structlog.dev.ConsoleRenderer(exception_formatter=structlog.dev.plain_traceback)
        structlog.configure(processors=[*processors[:-1], plain])
    yield
    structlog.reset_defaults()


@pytest.fixture(autouse=True)
def structlog_config_restored():
    """What a test configures in structlog ends with it. The CLI's main, called in-process by some tests,
    sets a WARNING level filter; left in place, a later test's capture_logs would see no info event."""
    saved = structlog.get_config()
    yield
    structlog.configure(**saved)


@pytest.fixture(scope="session")
def principals(tmp_path_factory):
    """alice, bob (tenants), ops (admin) and train-service (internal), with real tokens in a token file."""
    from tests.principals import make_principals

    return make_principals(tmp_path_factory.mktemp("principals"))


@pytest.fixture(scope="session")
def postgres_server():
    """One real PostgreSQL for the session (tests.postgres_server), on a Unix socket."""
    from tests.postgres_server import PostgresServer

    server = PostgresServer()
    yield server
    server.stop()


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A new, empty database on the session's PostgreSQL."""
    return postgres_server.database()
