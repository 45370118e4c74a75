"""Sending many messages: worker threads that each reuse one session, a throttle, retries.

The calling thread feeds the pool and records every outcome in the ledger itself (one
SQLite connection, one writer); workers only send. At most ``window`` messages are in
flight — handed to the pool and not yet recorded — which bounds how many people can get
a message twice after a kill: only those whose message the server accepted in that window.

A server that cannot be reached is the transport's failure, not the recipients': a worker
reconnects a few times with a short backoff (``CONNECT_ATTEMPTS``), without spending the
message's retries, then the pool is *broken*: every message still queued comes back
``unsent`` at once, so the send stops within seconds and everyone stays pending.

A message whose retries all end in a 4xx, a dropped connection or a stall is ``deferred``.
A 4xx, a 421 at its RCPT, or a DATA lost while the server took other messages is that
recipient's trouble; a connection lost before the recipient was named, or a DATA lost
before any message got through, looks like the server's and stops the send as well.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.mail.transports import Fatal, Permanent, Temporary, Transport, Unreachable

MAX_BACKOFF = 300.0
HOUR = 3600.0
CONNECT_ATTEMPTS = 3  # connection attempts before the send stops
CONNECT_DELAY = 0.5  # seconds before the first reconnect, doubled after each: a refused port gives up in ~1.5 s


@dataclass(frozen=True)
class Outcome:
    """What became of one message: sent | failed | deferred | unsent (not attempted, or stopped)."""

    recipient: str
    state: str
    response: str | None = None
    error: str | None = None
    code: int | None = None  # the SMTP code of a permanent failure
    stage: str | None = None  # MAIL FROM / RCPT TO / DATA: where a failure or deferral happened
    fatal: bool = False  # the transport cannot go on; stop sending
    hint: str | None = None  # with fatal: which setting to check
    tag: object = None  # the caller's own data about the message


class Throttle:
    """``max_per_second`` spacing and a sliding ``max_per_hour`` window, shared by all workers."""

    def __init__(
        self, per_second: float | None = None, per_hour: int | None = None, history: Iterable[float] = ()
    ) -> None:
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

    def __init__(
        self,
        transport: Transport,
        sender: str,
        *,
        throttle: Throttle,
        retries: int,
        retry_delay: float,
        stop: threading.Event,
        log: logging.Logger | None = None,
        workers: int | None = None,
    ) -> None:
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
        self._broken: Outcome | None = None  # why the transport cannot go on; set once, by the first worker to know
        self._lock = threading.Lock()
        self._warned: set[tuple[str, int]] = set()  # reconnect warnings already shown (one per attempt, not per worker)
        self._accepted = 0  # messages the server took in this pool: proof that it works

    def __enter__(self) -> Pool:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:  # the caller cannot record any more: send nothing it has not seen go
            self._break(Outcome("", "unsent", error="stopped", fatal=True))
            with contextlib.suppress(queue.Empty):
                while True:
                    self._todo.get_nowait()
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
                except Unreachable as exc:  # e.g. a Maildir that cannot be created
                    outcome = Outcome(recipient, "unsent", error=exc.problem, fatal=True, hint=exc.hint)
                except Fatal as exc:
                    outcome = Outcome(recipient, "unsent", error=str(exc), fatal=True)
                except Exception as exc:  # a bug must not leave the caller waiting for ever
                    self.log.exception("sending to %s crashed", recipient)
                    outcome = Outcome(recipient, "unsent", error=f"internal error: {type(exc).__name__}", fatal=True)
                if outcome.fatal:
                    self._break(outcome)
                self._done.put(Outcome(**{**outcome.__dict__, "tag": tag}))
        finally:
            if session is not None:
                session.close()

    def _deliver(self, session, recipient: str, data: bytes) -> Outcome:
        """Send with retries and exponential backoff on temporary failures.

        Reconnecting is counted apart from the message's own retries: a refused connection
        says nothing about the recipient, whose message stays unsent (pending) when it ends.
        """
        delay, attempt, connects = self.retry_delay, 0, 0
        last: Temporary | None = None
        while attempt < self.retries:
            if self._broken is not None:  # another worker found the server unreachable
                return self._interrupted(recipient)
            if not self.throttle.wait(self.stop):
                return Outcome(recipient, "unsent", error="stopped")
            try:
                response = session.send(self.sender, recipient, data)
                with self._lock:
                    self._accepted += 1
                return Outcome(recipient, "sent", response=response)
            except Permanent as exc:
                return Outcome(recipient, "failed", error=str(exc), code=exc.code, stage=exc.stage)
            except Unreachable as exc:
                connects += 1
                if not exc.retry or connects >= CONNECT_ATTEMPTS:
                    tries = f" (gave up after {connects} attempts)" if connects > 1 else ""
                    return Outcome(recipient, "unsent", error=exc.problem + tries, fatal=True, hint=exc.hint)
                wait = CONNECT_DELAY * 2 ** (connects - 1)
                self._warn_once(
                    exc.problem,
                    connects,
                    "%s; trying again in %gs (attempt %d of %d)",
                    exc.problem,
                    wait,
                    connects,
                    CONNECT_ATTEMPTS,
                )
                if not self._pause(wait):
                    return self._interrupted(recipient)
                continue
            except Temporary as exc:
                last, attempt = exc, attempt + 1
                if attempt < self.retries:
                    self.log.warning(
                        "temporary failure for %s (attempt %d of %d): %s; trying again in %gs",
                        recipient,
                        attempt,
                        self.retries,
                        exc,
                        round(delay, 2),
                    )
            if attempt < self.retries and not self._pause(delay):
                return self._interrupted(recipient)
            delay = min(delay * 2, MAX_BACKOFF)
        assert last is not None
        return Outcome(recipient, "deferred", error=str(last), stage=last.stage, fatal=self._server_fault(last))

    def _server_fault(self, last: Temporary) -> bool:
        """Whether a deferral stops the send. A 4xx for one address defers only it; so does a
        421 or a hang-up at its RCPT, as the server took the MAIL FROM just before, and a
        DATA that dropped or stalled while other messages got through. Before the recipient
        was named, or a DATA failing before the server took any message, looks like the
        server's trouble."""
        if not last.connection or last.stage == "RCPT TO":
            return False
        with self._lock:
            accepted = self._accepted
        return last.stage != "DATA" or not accepted

    def _pause(self, seconds: float) -> bool:
        """Sleep between attempts; False as soon as the send is stopped or the transport broke."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            # stop is the caller's event; a short slice notices another worker's _break too
            if self.stop.wait(min(left, 0.1)) or self._broken is not None:
                return False
        return self._broken is None

    def _interrupted(self, recipient: str) -> Outcome:
        if self._broken is not None:
            return Outcome(recipient, "unsent", error=self._broken.error, fatal=True, hint=self._broken.hint)
        return Outcome(recipient, "unsent", error="stopped")

    def _break(self, outcome: Outcome) -> None:
        with self._lock:
            if self._broken is None:
                self._broken = outcome

    def _warn_once(self, problem: str, attempt: int, message: str, *args: object) -> None:
        """Each worker reconnects on its own; the editor needs to read each attempt once."""
        with self._lock:
            if (problem, attempt) in self._warned:
                return
            self._warned.add((problem, attempt))
        self.log.warning(message, *args)
