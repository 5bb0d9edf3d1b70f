"""What a call's log lines say about the job it names: its `job_id`, bound for the rest of the call.

The calls that name a job (Get, Cancel, Delete, Watch, DownloadArtifact) carry it as the request's `name`,
"trainingJobs/<id>". grpc.aio runs each call in a task of its own, so a binding ends with its call.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from typing import Any

import grpc
import structlog

from shared.grpc_util.handler_wrapping import WrappingInterceptor
from train_svc.jobs.job import NAME_PREFIX

_JOB_ID = re.compile(r"[0-9a-f]{16}")  # how job ids are minted (train_svc.jobs.manager)


def bind_job(name: str) -> None:
    """Bind the `job_id` of the job resource name `name` (anything else binds nothing)."""
    job_id = name.removeprefix(NAME_PREFIX)
    if name.startswith(NAME_PREFIX) and _JOB_ID.fullmatch(job_id):
        structlog.contextvars.bind_contextvars(job_id=job_id)


def _named(request: Any) -> str:
    name = getattr(request, "name", "")
    return name if isinstance(name, str) else ""


class JobLogContext(WrappingInterceptor):
    """Binds the job a unary request names, before its handler runs (innermost: the request is checked)."""

    def wrap(self, behavior: Callable, method: str, handler: grpc.RpcMethodHandler) -> Callable:
        if handler.request_streaming:
            return behavior
        if inspect.isasyncgenfunction(behavior):

            async def named_stream(request: Any, context: grpc.aio.ServicerContext):
                bind_job(_named(request))
                async for response in behavior(request, context):
                    yield response

            return named_stream

        async def named(request: Any, context: grpc.aio.ServicerContext):
            bind_job(_named(request))
            return await behavior(request, context)

        return named
