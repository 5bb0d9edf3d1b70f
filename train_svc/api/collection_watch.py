"""WatchTrainingJobs: the caller's jobs as a stream of changes, list-then-watch, resumable on any replica."""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from shared.aio_bridge import iterate_in_thread
from shared.api import training_service_pb2 as pb
from shared.auth import Caller
from shared.request.errors import FieldViolation, InvalidRequest
from train_svc.api.job_messages import training_job
from train_svc.jobs.job import NAME_PREFIX, Job
from train_svc.jobs.manager import JobManager
from train_svc.jobs.resume_tokens import position_of, token
from train_svc.jobs.store_contract import ChangeKind

Type = pb.WatchTrainingJobsResponse.Type
_TYPES = {ChangeKind.ADDED: Type.TYPE_ADDED, ChangeKind.MODIFIED: Type.TYPE_MODIFIED}
_STATES = {
    pb.TrainingJob.State.Value(f"STATE_{state}"): state
    for state in ("QUEUED", "PREPROCESSING", "TRAINING", "EXPORTING", "SUCCEEDED", "FAILED", "CANCELLED")
}
Send = Callable[[pb.WatchTrainingJobsResponse], Awaitable[None]]


def wanted_states(request: pb.WatchTrainingJobsRequest) -> set[str]:
    """The states asked for (their names); empty: all. INVALID_ARGUMENT for an unknown or unset one."""
    violations = [
        FieldViolation(f"states[{index}]", f"{value} is not a job state (STATE_QUEUED ... STATE_CANCELLED)")
        for index, value in enumerate(request.states)
        if value not in _STATES
    ]
    if violations:
        raise InvalidRequest(violations, reason="INVALID_WATCH_REQUEST")
    return {_STATES[value] for value in request.states}


class JobMessages:
    """Each job turned into its collection-watch message once per event, however many watchers send it."""

    def __init__(self, size: int = 4096):
        self._size = size
        self._messages: OrderedDict[tuple[str, int], pb.TrainingJob] = OrderedDict()

    def of(self, job: Job) -> pb.TrainingJob:
        key = (job.id, job.sequence)
        message = self._messages.get(key)
        if message is None:
            message = training_job(job)
            message.ClearField("dataset_report")
            self._messages[key] = message
            if len(self._messages) > self._size:
                self._messages.popitem(last=False)
        return message


async def watch_jobs(
    manager: JobManager,
    request: pb.WatchTrainingJobsRequest,
    caller: Caller,
    send: Send,
    messages: JobMessages,
    heartbeat_seconds: float,
) -> None:
    """Stream the changes `request` asks for through `send` until the service stops (FollowInterrupted)."""
    states = wanted_states(request)
    bounds = await asyncio.to_thread(manager.change_bounds)
    if request.resume_token:
        after = position_of(request.resume_token, bounds)
    else:
        after = bounds[1]  # read before the list: a change made meanwhile is sent (again) after it
        async for job in iterate_in_thread(manager.every_job(caller), "watch-jobs-list"):
            if not states or job.state.value in states:
                await send(_message(Type.TYPE_ADDED, messages.of(job), after))
        await send(_message(Type.TYPE_SYNCED, None, after))
    async for change in manager.follow_changes(after, caller, heartbeat_seconds):
        if change is None:
            await send(_message(Type.TYPE_HEARTBEAT, None, after))
            continue
        after = change.position
        if change.kind is ChangeKind.DELETED:  # whatever `states`: the job's last state is gone with it
            await send(_message(Type.TYPE_DELETED, pb.TrainingJob(name=NAME_PREFIX + change.job_id), after))
            continue
        changed = await asyncio.to_thread(manager.view, change.job_id, change.sequence)
        if changed is not None and (not states or changed.state.value in states):
            await send(_message(_TYPES[change.kind], messages.of(changed), after))


def _message(kind: int, job: pb.TrainingJob | None, position: int) -> pb.WatchTrainingJobsResponse:
    message = pb.WatchTrainingJobsResponse(type=kind, resume_token=token(position))  # type: ignore[arg-type]
    if job is not None:
        message.training_job.CopyFrom(job)
    return message
