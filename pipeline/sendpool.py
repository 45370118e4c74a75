"""Sending many messages: worker threads that each reuse one session, a throttle, retries.

The calling thread feeds the pool and records every outcome in the ledger itself (one
SQLite connection, one writer); workers only send. At most ``window`` messages are in
flight — handed to the pool and not yet recorded — which bounds how many people can get
a message twice after a kill: only those whose message the server accepted in that window.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from .transports import Fatal, Permanent, Temporary, Transport

MAX_BACKOFF = 300.0
HOUR = 3600.0


@dataclass(frozen=True)
class Outcome:
    """What became of one message: sent | failed | deferred | unsent (not attempted, or stopped)."""

    recipient: str
    state: str
    response: str | None = None
    error: str | None = None
    code: int | None = None  # the SMTP code of a permanent failure
    stage: str | None = None  # RCPT TO / DATA
    fatal: bool = False  # the transport cannot go on; stop sending
    tag: object = None  # the caller's own data about the message


class Throttle:
    """``max_per_second`` spacing and a sliding ``max_per_hour`` window, shared by all workers."""

    def __init__(self, per_second: float | None = None, per_hour: int | None = None, history: Iterable[float] = ()) -> None:
        self.interval = 1.0 / per_second if per_second else 0.0
        self.per_hour = per_hour
        # Monotonic times of the sends in the last hour (seeded from the ledger after a restart).
        self.window: deque[float] = deque(history, maxlen=per_hour) if per_hour else deque()
        self.next_at = 0.0
        self.lock = threading.Lock()

    def wait(self, stop: threading.Event) -> bool:
        """Block until a send may start; False when ``stop`` was set first."""
        if stop.is_set():
            return False
        if not self.interval and not self.per_hour:
            return True
        with self.lock:  # reserve a slot, then sleep outside the lock
            now = time.monotonic()
            at = max(now, self.next_at)
            if self.per_hour and len(self.window) >= self.per_hour:
                at = max(at, self.window[0] + HOUR)
            if self.window:
                at = max(at, self.window[-1])
            self.next_at = at + self.interval
            if self.per_hour:
                self.window.append(at)
        return at <= now or not stop.wait(at - now)


class Pool:
    """``transport.connections`` worker threads; ``submit`` a message, ``next_outcome`` to collect."""

    def __init__(self, transport: Transport, sender: str, *, throttle: Throttle, retries: int, retry_delay: float,
                 stop: threading.Event, log: logging.Logger | None = None, workers: int | None = None) -> None:
        self.transport = transport
        self.sender = sender
        self.throttle = throttle
        self.retries = max(1, retries)
        self.retry_delay = retry_delay
        self.stop = stop
        self.log = log or logging.getLogger("pipeline.send")
        workers = workers or transport.connections
        self.window = 2 * workers  # one being sent and one waiting, per session
        self.in_flight = 0
        self._todo: queue.Queue = queue.Queue()
        self._done: queue.Queue[Outcome] = queue.Queue()
        self._threads = [threading.Thread(target=self._work, name=f"send-{i}", daemon=True) for i in range(workers)]

    def __enter__(self) -> "Pool":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for _ in self._threads:
            self._todo.put(None)
        for thread in self._threads:
            thread.join()

    @property
    def full(self) -> bool:
        return self.in_flight >= self.window

    def submit(self, recipient: str, data: bytes, tag: object = None) -> None:
        self.in_flight += 1
        self._todo.put((recipient, data, tag))

    def next_outcome(self) -> Outcome:
        """The next finished message (blocks); every submitted message yields exactly one."""
        outcome = self._done.get()
        self.in_flight -= 1
        return outcome

    def _work(self) -> None:
        session = None
        try:
            while (item := self._todo.get()) is not None:
                recipient, data, tag = item
                try:
                    session = session or self.transport.session()
                    outcome = self._deliver(session, recipient, data)
                except Fatal as exc:
                    outcome = Outcome(recipient, "unsent", error=str(exc), fatal=True)
                except Exception as exc:  # a bug must not leave the caller waiting for ever
                    self.log.exception("sending to a recipient crashed")
                    outcome = Outcome(recipient, "unsent", error=f"internal error: {type(exc).__name__}", fatal=True)
                self._done.put(Outcome(**{**outcome.__dict__, "tag": tag}))
        finally:
            if session is not None:
                session.close()

    def _deliver(self, session, recipient: str, data: bytes) -> Outcome:
        """Send with retries and exponential backoff on temporary failures."""
        delay = self.retry_delay
        last: Temporary | None = None
        for attempt in range(1, self.retries + 1):
            if not self.throttle.wait(self.stop):
                return Outcome(recipient, "unsent", error="stopped")
            try:
                return Outcome(recipient, "sent", response=session.send(self.sender, recipient, data))
            except Permanent as exc:
                return Outcome(recipient, "failed", error=str(exc), code=exc.code, stage=exc.stage)
            except Temporary as exc:
                last = exc
                self.log.info("temporary failure for a recipient (attempt %d of %d): %s", attempt, self.retries, exc)
            if attempt < self.retries and self.stop.wait(delay):
                return Outcome(recipient, "unsent", error="stopped")
            delay = min(delay * 2, MAX_BACKOFF)
        assert last is not None
        # A server that cannot be reached stops the send; a 4xx for one address defers only it.
        return Outcome(recipient, "deferred", error=str(last), fatal=last.connection)
