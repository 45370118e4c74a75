"""The build's processes: how many it may use, and what a forked worker or child resets.

Forking copies only the thread that forks: a process running other threads never forks (a
child would wait for ever on a lock held by a thread it does not have).
"""

from __future__ import annotations

import os
import signal
import threading


def cpu_budget() -> int:
    """How many processes a build may use: one per CPU, as ``PUBLISH_BUILD_JOBS`` caps them.

    One in a process that runs threads (the scheduler, the web app, the preview): a forked
    child would inherit locks held by threads that do not exist in it.
    """
    if threading.active_count() > 1 or not hasattr(os, "fork"):
        return 1
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    wanted = os.environ.get("PUBLISH_BUILD_JOBS", "")  # e.g. 1 on a shared machine, or to profile
    if wanted.isdigit() and int(wanted) > 0:
        cpus = int(wanted)
    return cpus


def default_signals() -> None:
    """In a forked worker or child: SIGTERM and SIGINT as Python has them by default.

    The scheduler and `publish issue` stop on SIGTERM by setting a flag (to finish the message in
    flight). A worker that inherited that handler took the pool's SIGTERM at the end of a build
    as a request, went on waiting for work, and the build waited for it for ever."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
