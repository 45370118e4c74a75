"""The build's processes: how many it may use, what a forked worker or child resets, and a
child that does some of a build's work meanwhile (:class:`Forked`).

Forking copies only the thread that forks: a process running other threads never forks (a
child would wait for ever on a lock held by a thread it does not have).
"""

from __future__ import annotations

import gc
import os
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager


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


@contextmanager
def collector_paused() -> Iterator[None]:
    """No automatic garbage collection in this process until the block ends.

    A build holds its manifest (~300,000 objects at 500 issues) and makes little cyclic
    garbage: each collection scanned the survivors for nothing, and a full one alone took
    ~30 ms of a 0.75 s rebuild after an edit (~7% of a cold build in one process, with the
    same peak memory). The collector is as it was afterwards, and the next collection frees
    whatever cycles the block left."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def default_signals() -> None:
    """In a forked worker or child: SIGTERM and SIGINT as Python has them by default.

    The scheduler and `publish issue` stop on SIGTERM by setting a flag (to finish the message in
    flight). A worker that inherited that handler took the pool's SIGTERM at the end of a build
    as a request, went on waiting for work, and the build waited for it for ever."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)


class Forked:
    """Some of a build's work in a forked child process, its result handed back as bytes
    through a pipe (the caller pickles and unpickles it).

    The child never returns into the build's code: whatever happens in it (a failure, a second
    Ctrl-C), it exits, so that the build's error handling, which would discard the build's own
    files, runs only in the build. What it inherits is frozen for the collector (its pages stay
    shared, and its collections skip them).
    """

    def __init__(self, pid: int, pipe: int) -> None:
        self.pid, self.pipe = pid, pipe
        self.joined = False

    @classmethod
    def start(cls, work: Callable[[], bytes]) -> Forked | None:
        """Run ``work`` in a forked child; None when the system refuses a process (the caller
        then does the work itself). ``work`` returns b"" when it failed and cleaned up."""
        try:
            read_end, write_end = os.pipe()
        except OSError:
            return None
        gc.freeze()
        try:
            pid = os.fork()
        except OSError:
            gc.unfreeze()
            os.close(read_end)
            os.close(write_end)
            return None
        if pid == 0:  # the child: never returns
            os.close(read_end)
            _run_child(work, write_end)
        os.close(write_end)
        return cls(pid, read_end)

    def join(self) -> bytes:
        """Wait for the child; what it wrote (b"" when it failed or was killed, or when it was
        waited for already: a wait cut short by Ctrl-C is not repeated)."""
        if self.joined:
            return b""
        self.joined = True
        try:
            with os.fdopen(self.pipe, "rb") as pipe:
                return pipe.read()
        finally:
            os.waitpid(self.pid, 0)
            gc.unfreeze()


def _run_child(work: Callable[[], bytes], write_end: int) -> None:
    try:
        default_signals()
        gc.disable()  # a short life: nearly everything it makes is freed by reference counting
        payload = work()
        with os.fdopen(write_end, "wb") as pipe:
            pipe.write(payload)
    finally:
        os._exit(0)
