"""Client of PreprocessService: asks for a job's dataset and translates the stream into job events.

It calls as this service's own principal (a token file re-read for every call, and/or the client
certificate of this service over TLS) and names the job's owner, whose uploads and cache the dataset may
use. A job asked to stop (cancelled, or the service shutting down) cancels its call within a fraction
of a second, so the preprocessor stops fetching and decoding for it at once.

The target may name several preprocessors (`dns:///name:port`, `ipv4:a:p,b:p`): calls are spread over
every address (round robin), and a broken stream is asked again (train_svc.preprocess_retry).
"""

from __future__ import annotations

import json
import threading
from collections.abc import Generator
from dataclasses import dataclass, replace
from pathlib import Path

import grpc
import structlog
from opentelemetry.trace import Tracer

from shared.api import common_pb2, preprocess_service_pb2, preprocess_service_pb2_grpc
from shared.api.bundle_codec import bundle_ref_from_proto
from shared.api.report_codec import file_report_from_proto, skip_reason
from shared.auth import AuthSettings
from shared.bundle_ref import BundleRef
from shared.grpc_util.channels import ClientCredentials, sync_channel
from shared.grpc_util.errors import error_details
from shared.grpc_util.tracing_interceptors import traced_channel
from train_svc.bundle_receiver import BundleReceiver, BundleTransferError
from train_svc.jobs.events import (
    DatasetFailure,
    DatasetProgress,
    DatasetReady,
    DatasetWarning,
    JobError,
    PreprocessEvent,
    SkippedFile,
)
from train_svc.jobs.job import Job
from train_svc.preprocess_link import PreprocessLink
from train_svc.preprocess_retry import LOST_CODE, Replay, backoff, retryable

log = structlog.get_logger(__name__)

_CHANNEL_OPTIONS = [
    ("grpc.max_receive_message_length", 8 * 1024 * 1024),
    ("grpc.service_config", json.dumps({"loadBalancingConfig": [{"round_robin": {}}]})),
]
_STOP_POLL_S = 0.2
_MEDIA_KIND = {common_pb2.MEDIA_KIND_VIDEO: "video", common_pb2.MEDIA_KIND_IMAGE: "image"}
_DELIVERY = {
    True: preprocess_service_pb2.BUNDLE_DELIVERY_BY_VALUE,
    False: preprocess_service_pb2.BUNDLE_DELIVERY_BY_REFERENCE,
}


def _to_event(message: preprocess_service_pb2.PreprocessResponse) -> PreprocessEvent | None:
    kind = message.WhichOneof("event")
    if kind == "progress":
        p = message.progress
        return DatasetProgress(p.files_total, p.files_done, p.samples_written, p.files_skipped)
    if kind == "skipped_file":
        return SkippedFile(message.skipped_file.path, *skip_reason(message.skipped_file.error))
    if kind == "warning":
        return DatasetWarning(message.warning.path, message.warning.code, message.warning.message)
    if kind == "bundle":
        return bundle_ref_from_proto(message.bundle)
    if kind == "file_report":
        return file_report_from_proto(message.file_report)
    if kind == "summary":
        s = message.summary
        return DatasetReady(
            _MEDIA_KIND.get(s.media_kind, "unknown"), s.samples, s.files_skipped, s.from_cache, s.cache_key
        )
    return None  # an event type newer than this client: nothing to act on


def _failure(err: grpc.RpcError, attempts: int) -> DatasetFailure:
    _, info = error_details(err)
    code = err.code()
    reason = info.reason if info is not None else f"PREPROCESS_{code.name}"
    files = tuple(f for f in (info.metadata.get("files", "") if info else "").split("\n") if f)
    if retryable(err):
        message = f"the preprocessing service is unreachable ({attempts} call(s) failed in a row): {err.details()}"
    else:
        message = err.details() or code.name
    return DatasetFailure(JobError(code.name, reason, message, files))


@dataclass(frozen=True)
class PreprocessAccess:
    """How this service proves itself to the preprocessor."""

    token_file: Path | None = None  # re-read for every call, so a rotated Secret takes effect at once
    ca_cert: Path | None = None  # set: TLS, the preprocessor's certificate checked against this CA
    client_cert: Path | None = None  # presented over TLS (this service's own certificate)
    client_key: Path | None = None

    def credentials(self) -> ClientCredentials:
        if self.ca_cert is None:
            return ClientCredentials()
        return ClientCredentials.from_files(
            ca_cert=self.ca_cert, client_cert=self.client_cert, client_key=self.client_key
        )

    def metadata(self) -> tuple[tuple[str, str], ...]:
        if self.token_file is None:
            return ()
        return ClientCredentials.from_files(token_file=self.token_file).metadata()


def _cancel_when_stopped(call: grpc.Call, job: Job, done: threading.Event) -> None:
    while not done.wait(_STOP_POLL_S):
        if job.should_stop:
            call.cancel()
            return


class PreprocessClient:
    """Asks PreprocessService for a job's bundles, by reference (shared storage) or by value.

    By value, the bundles' bytes come in the stream and are written under
    <storage_root>/jobs/<job id>/bundles/, checked against their sha256 and size.
    """

    def __init__(
        self,
        target: str,
        *,
        by_value: bool = False,
        storage_root: Path | None = None,
        access: PreprocessAccess | None = None,
        attempts: int = 5,
        tracer: Tracer | None = None,
    ):
        """`attempts`: calls a job makes in all when streams break (see preprocess_retry). `tracer`: each
        call is a span, its context sent along (the preprocessor continues the job's trace)."""
        if by_value and storage_root is None:
            raise ValueError("bundles by value need a storage root to write them to")
        self.target = target
        self.by_value = by_value
        self._attempts = attempts
        # Where bundles sent by value are written (one folder per job); None by reference.
        self._bundle_root = storage_root / "jobs" if by_value and storage_root is not None else None
        self._access = access or PreprocessAccess()
        channel = sync_channel(target, self._access.credentials(), options=_CHANNEL_OPTIONS)
        self._channel = traced_channel(channel, tracer) if tracer is not None else channel
        self._stub = preprocess_service_pb2_grpc.PreprocessServiceStub(self._channel)

    @classmethod
    def for_link(
        cls, link: PreprocessLink, storage_root: Path, auth: AuthSettings, tracer: Tracer | None = None
    ) -> PreprocessClient:
        """The training service's client: as `link` says, presenting the service's own certificate (`auth`)."""
        return cls(
            link.target,
            by_value=link.bundle_delivery == "value",
            attempts=link.attempts,
            storage_root=storage_root,
            access=PreprocessAccess(
                token_file=link.token_file,
                ca_cert=link.ca_cert,
                client_cert=auth.tls_cert,
                client_key=auth.tls_key,
            ),
            tracer=tracer,
        )

    def request_for(self, job: Job) -> preprocess_service_pb2.PreprocessRequest:
        s = job.settings
        return preprocess_service_pb2.PreprocessRequest(
            dataset_id=job.id,
            training_data_url=s.training_data_url,
            trigger_phrase=s.trigger_phrase,
            number_of_frames=s.number_of_frames,
            frame_rate=s.frame_rate,
            width=s.width,
            height=s.height,
            split_input_into_scenes=s.split_input_into_scenes,
            split_input_duration_threshold=s.split_input_duration_threshold,
            auto_scale_input=s.auto_scale_input,
            with_audio=s.with_audio is not False,
            audio_normalize=s.audio_normalize,
            audio_preserve_pitch=s.audio_preserve_pitch,
            delivery=_DELIVERY[self.by_value],
            owner=job.owner,
        )

    def __call__(self, job: Job) -> Generator[PreprocessEvent, None, None]:
        """The job's dataset events, each once, over as many calls as broken streams take."""
        receiver = BundleReceiver(self._bundle_root / job.id / "bundles") if self._bundle_root is not None else None
        replay = Replay()
        attempt = 1
        try:
            while True:
                try:
                    yield from self._call(job, receiver, replay)
                    return
                except grpc.RpcError as err:
                    if job.should_stop or not retryable(err) or attempt >= self._attempts:
                        raise _failure(err, attempt) from None
                    wait = backoff(attempt)
                    log.warning(
                        "preprocess stream broke; asking again", job=job.id, attempt=attempt, error=err.details()
                    )
                    yield DatasetWarning(
                        "",
                        LOST_CODE,
                        f"the preprocessing stream broke ({err.code().name}: {err.details()}); asked again in "
                        f"{wait:g} s (call {attempt + 1} of at most {self._attempts}); what arrived is kept",
                    )
                    if job.stop_requested.wait(wait) or job.cancel_requested.is_set():
                        raise _failure(err, attempt) from None  # the runner ends the job as asked
                    attempt += 1
        except BundleTransferError as exc:
            raise DatasetFailure(JobError("DATA_LOSS", "BUNDLE_TRANSFER_FAILED", str(exc))) from None

    def _call(
        self, job: Job, receiver: BundleReceiver | None, replay: Replay
    ) -> Generator[PreprocessEvent, None, None]:
        """One Preprocess call: its events that are new to the job."""
        call = self._stub.Preprocess(self.request_for(job), timeout=24 * 3600, metadata=self._access.metadata())
        done = threading.Event()
        threading.Thread(
            target=_cancel_when_stopped, args=(call, job, done), name="preprocess-stop", daemon=True
        ).start()
        try:
            for message in call:
                event: PreprocessEvent | None
                kind = message.WhichOneof("event")
                if receiver is not None and kind in ("bundle_chunk", "bundle"):
                    sample_id = message.bundle_chunk.sample_id if kind == "bundle_chunk" else message.bundle.sample_id
                    event = None if replay.has_bundle(sample_id) else _received(receiver, message)
                else:
                    event = _to_event(message)
                if event is not None and replay.fresh(event):
                    yield event
        finally:
            done.set()
            call.cancel()
            if receiver is not None:
                receiver.abort()

    def close(self) -> None:
        self._channel.close()


def _received(receiver: BundleReceiver, message: preprocess_service_pb2.PreprocessResponse) -> BundleRef | None:
    """A by-value chunk is written (None); the BundleRef that closes it becomes a bundle on our storage."""
    if message.WhichOneof("event") == "bundle_chunk":
        chunk = message.bundle_chunk
        receiver.chunk(chunk.sample_id, chunk.offset, chunk.data)
        return None
    bundle = bundle_ref_from_proto(message.bundle)
    path = receiver.finish(bundle.sample_id, bundle.sha256, bundle.size_bytes)
    return replace(bundle, uri=path.resolve().as_uri())
