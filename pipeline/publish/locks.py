"""Per issue+channel locks in the state folder, so two processes never work the same send.

``flock`` locks vanish with the process that held them, so a killed publisher never leaves
a stale lock behind; the file only records who holds it, for the message.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from pipeline.errors import LockBusy


@contextmanager
def channel_lock(state_dir: Path, issue_id: str, channel: str, wait: float = 0.0) -> Iterator[None]:
    """Hold the lock of ``issue_id`` on ``channel``; wait up to ``wait`` seconds, else LockBusy."""
    folder = state_dir / "locks"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{issue_id}.{channel}.lock"
    handle = open(path, "a+")  # noqa: SIM115  held until the caller's block ends, closed below
    try:
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise LockBusy(
                        f"{issue_id} on {channel} is being published by {_holder(path)}",
                        hint="wait for it to finish; `publish status` shows progress",
                    ) from None
                time.sleep(0.2)
        handle.seek(0)
        handle.truncate()
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        handle.write(json.dumps(info))
        handle.flush()
        yield
    finally:
        handle.close()


def _holder(path: Path) -> str:
    try:
        info = json.loads(path.read_text() or "{}")
        return f"process {info.get('pid')} on {info.get('host')} since {info.get('since')}"
    except (OSError, ValueError):
        return "another process"
