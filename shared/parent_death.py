"""A child process that ends when the process that started it dies, even by SIGKILL (Linux only).

`terminate_with_parent` runs in the child between fork and exec (Popen's preexec_fn): prctl
PR_SET_PDEATHSIG asks the kernel to send it SIGTERM when its parent exits. Elsewhere it does nothing,
and a child outlives a killed CLI until stopped by hand.
"""

from __future__ import annotations

import ctypes
import signal
import sys

_PR_SET_PDEATHSIG = 1


def terminate_with_parent() -> None:
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
