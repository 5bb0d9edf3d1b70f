"""A child process that ends when the process that started it dies, even by SIGKILL.

`terminate_with_parent` runs in the child between fork and exec (Popen's preexec_fn): prctl
PR_SET_PDEATHSIG asks the kernel to send it SIGTERM when its parent exits (Linux only; elsewhere it does
nothing, and a child outlives a killed CLI until stopped by hand). The kernel means the parent *thread*,
so it does not suit children a thread pool may start.

`exit_with_parent` runs in a child that is already running (a process pool's worker, from its
initializer): a daemon thread sees the parent gone when the child's parent pid changes (it was
re-parented) and ends the process. A pool worker needs it: it blocks on its task queue, whose pipe it
holds both ends of, so the parent's death alone never wakes it.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PARENT_POLL_SECONDS = 1.0

_PR_SET_PDEATHSIG = 1


def terminate_with_parent() -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def exit_with_parent(poll_seconds: float = PARENT_POLL_SECONDS) -> None:
    """End this process (exit status 1, at once: no cleanup can need the dead parent) once its parent has died."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_seconds)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
