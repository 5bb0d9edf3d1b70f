"""The ffmpeg binary: where it is, and how to run it with a deadline and a readable error.

The binary is the one shipped inside the imageio-ffmpeg wheel (there is no system ffmpeg and no
ffprobe on our machines); the environment variable LTX_FFMPEG points at another one.
"""

from __future__ import annotations

import io
import os
import subprocess
import tempfile
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import imageio_ffmpeg

FFMPEG_ENV = "LTX_FFMPEG"
_STDERR_TAIL_LINES = 15
_DRAIN_BYTES = 1 << 20


class FfmpegError(RuntimeError):
    """ffmpeg failed, timed out or could not be started; the message carries ffmpeg's stderr tail."""

    def __init__(self, message: str, *, stderr_tail: str = "", timed_out: bool = False) -> None:
        super().__init__(f"{message}\n{stderr_tail}" if stderr_tail else message)
        self.stderr_tail = stderr_tail
        self.timed_out = timed_out


def ffmpeg_exe() -> str:
    """Path of the ffmpeg binary: $LTX_FFMPEG if set, else the one bundled with imageio-ffmpeg."""
    override = os.environ.get(FFMPEG_ENV)
    if override:
        if not Path(override).is_file():
            raise FfmpegError(f"{FFMPEG_ENV}={override!r} is not a file")
        return override
    return imageio_ffmpeg.get_ffmpeg_exe()


def _tail(stderr: bytes) -> str:
    lines = stderr.decode("utf-8", errors="replace").strip().splitlines()
    return "\n".join(lines[-_STDERR_TAIL_LINES:])


def run_ffmpeg(argv: Sequence[str], *, timeout: float) -> None:
    """Run a full ffmpeg command line (argv[0] is the binary); raise FfmpegError unless it exits 0."""
    try:
        proc = subprocess.run(list(argv), stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        raise FfmpegError(
            f"ffmpeg timed out after {timeout:g} s", stderr_tail=_tail(exc.stderr or b""), timed_out=True
        ) from None
    except OSError as exc:
        raise FfmpegError(f"cannot start ffmpeg {argv[0]!r}: {exc}") from exc
    if proc.returncode != 0:
        raise FfmpegError(f"ffmpeg exited with status {proc.returncode}", stderr_tail=_tail(proc.stderr))


@contextmanager
def _ffmpeg_stdout(argv: Sequence[str], *, timeout: float) -> Iterator[io.BufferedReader]:
    """Start ffmpeg with its stdout on a pipe and hand that pipe over; check how ffmpeg ended afterwards.

    Once the body is done reading, ffmpeg is waited for (if the body read to the end of the output)
    or killed (if it stopped early); past the deadline it is killed. Raises FfmpegError when it timed
    out or exited with a non-zero status, not when it was killed because the body stopped early.
    """
    with tempfile.TemporaryFile() as stderr_file:
        try:
            proc = subprocess.Popen(list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr_file)
        except OSError as exc:
            raise FfmpegError(f"cannot start ffmpeg {argv[0]!r}: {exc}") from exc
        # stdout=PIPE in binary mode with the default buffering: a BufferedReader, never None (typeshed
        # can only say IO[bytes] | None)
        stdout = cast(io.BufferedReader, proc.stdout)
        timed_out = threading.Event()

        def expire() -> None:
            timed_out.set()
            proc.kill()

        deadline = threading.Timer(timeout, expire)
        deadline.start()
        try:
            yield stdout
            returncode = proc.wait()
        finally:
            deadline.cancel()
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            stdout.close()
        if timed_out.is_set() or returncode != 0:
            stderr_file.seek(0)
            tail = _tail(stderr_file.read())
            if timed_out.is_set():
                raise FfmpegError(f"ffmpeg timed out after {timeout:g} s", stderr_tail=tail, timed_out=True)
            raise FfmpegError(f"ffmpeg exited with status {returncode}", stderr_tail=tail)


def stream_ffmpeg(argv: Sequence[str], *, chunk_bytes: int, timeout: float) -> Iterator[bytes]:
    """Run ffmpeg writing to stdout and yield its output in chunks of exactly chunk_bytes.

    A trailing partial chunk is dropped. The process is killed when the deadline passes (FfmpegError
    with timed_out=True) or when the consumer stops iterating, so a stuck ffmpeg never hangs the caller.
    Raises FfmpegError if ffmpeg exits with a non-zero status.
    """
    with _ffmpeg_stdout(argv, timeout=timeout) as stdout:
        while len(chunk := stdout.read(chunk_bytes)) == chunk_bytes:
            yield chunk


def stream_ffmpeg_into(argv: Sequence[str], buffers: Iterable[memoryview], *, timeout: float) -> Iterator[memoryview]:
    """Run ffmpeg writing to stdout and read its output straight into each of `buffers` in turn.

    Each buffer is yielded once it is full, before the next one is taken from `buffers` (so the
    consumer may pick the next buffer from what it has seen). No bytes object is made and nothing is
    copied on our side. A trailing partial buffer is not yielded; output left over once `buffers`
    runs out is read and dropped. Deadline, early stop and errors as stream_ffmpeg.
    """
    with _ffmpeg_stdout(argv, timeout=timeout) as stdout:
        for buffer in buffers:
            if _fill(stdout, buffer) < len(buffer):
                return
            yield buffer
        while stdout.read(_DRAIN_BYTES):
            pass


def _fill(stream: io.BufferedReader, buffer: memoryview) -> int:
    """Read into buffer until it is full or the stream ends; the number of bytes read."""
    filled = 0
    while filled < len(buffer):
        count = stream.readinto(buffer[filled:])
        if not count:
            break
        filled += count
    return filled
