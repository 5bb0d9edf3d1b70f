"""python -m train_svc.distributed.agent SERVICE_PID TORCHRUN_ARGS...: torchrun, bound to the service's life.

The service starts this instead of `python -m torch.distributed.run`, so no code runs between fork and
exec in the service's many-threaded process (a preexec_fn there can abort the child). It asks the kernel
for SIGTERM when its parent dies (torchrun then stops its ranks), checks that the parent is still the
service that started it, and hands the rest of its arguments to torchrun's own entry point.
"""

from __future__ import annotations

import os
import sys

from shared.parent_death import terminate_with_parent

PARENT_GONE = 3


def main(argv: list[str]) -> int:
    service_pid, torchrun_args = int(argv[0]), argv[1:]
    terminate_with_parent()
    if os.getppid() != service_pid:  # it died before the signal was asked for
        print("train_svc.distributed.agent: the service that started it is gone", file=sys.stderr)
        return PARENT_GONE
    from torch.distributed.run import main as torchrun

    torchrun(torchrun_args)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
