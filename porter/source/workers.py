"""Worker processes that never outlive the run that started them.

A pool's workers wait on a pipe whose write end every forked worker also holds, so when the parent
is killed (`kill -9`, an OOM kill) they would wait forever. Each worker asks the kernel to end it
with its parent (Linux `PR_SET_PDEATHSIG`), and elsewhere watches its parent id from a thread.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Call first thing in a worker: the worker ends when the process that started it does."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0:
                if os.getppid() != parent:  # the parent died before prctl took effect
                    os._exit(1)
                return
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent:
                os._exit(1)

    threading.Thread(target=watch, name="porter-parent-watch", daemon=True).start()


def pool_context():
    """fork where the platform has it (workers inherit the rule index), else spawn."""
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("fork" if "fork" in methods else "spawn")
