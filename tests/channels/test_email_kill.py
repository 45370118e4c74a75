"""The email ledger under kills and races, with real `publish issue` processes and a real SMTP server.

The server (aiosmtpd, in this process) answers DATA after a short delay, so that a SIGKILL
lands while messages are on the wire. The contract: the next run reaches everyone, and only
messages the server accepted but the dead process had not yet recorded may arrive twice —
at most the pool's window (two per connection).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from conftest import REPO
from servers import Received, SMTPRecorder, SMTPServer
from test_email_channel import ISSUE, configure, write_csv

from pipeline.ledger import Ledger

CONNECTIONS = 2
WINDOW = 2 * CONNECTIONS  # sendpool.Pool.window


class QueueingRecorder(SMTPRecorder):
    """Like a real relay: the message is queued when the data is in, then the 250 goes out.

    (The shared recorder waits *before* keeping the message, and aiosmtpd drops it when the
    client dies during the wait, so a kill could never cause a duplicate there.)
    """

    async def handle_DATA(self, server, session, envelope):
        import asyncio

        with self.lock:
            self.messages.append(
                Received(
                    envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content or envelope.content)
                )
            )
        await asyncio.sleep(self.delay)
        return "250 2.0.0 Message accepted"


def start(root: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [
        sys.executable,
        "-m",
        "pipeline",
        "--config",
        str(root / "config.yaml"),
        "issue",
        ISSUE,
        "--channel",
        "email",
    ]
    return subprocess.Popen(command, cwd=root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def readers(count: int) -> list[tuple[str, str]]:
    return [(f"reader{i:03d}@example.com", f"读者{i}") for i in range(count)]


def deliveries(server: SMTPServer) -> Counter[str]:
    return Counter(address for message in server.messages for address in message.rcpt_tos)


def test_a_publisher_killed_mid_send_and_run_again_reaches_everyone_once(example):
    people = readers(60)
    write_csv(example, people)
    with SMTPServer(QueueingRecorder(delay=0.03)) as server:
        config = configure(example, server.port, connections=CONNECTIONS)
        first = start(example)
        deadline = time.monotonic() + 60
        while len(server.messages) < 12 and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.005)
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
        assert first.returncode == -signal.SIGKILL
        assert 12 <= len(server.messages) < len(people), "the kill did not land mid-send"
        second = start(example)
        out, err = second.communicate(timeout=90)
        assert second.returncode == 0, err
        assert "email: done" in out
    counts = deliveries(server)
    assert set(counts) == {address for address, _ in people}  # no one skipped
    duplicates = sum(n - 1 for n in counts.values())
    assert duplicates <= WINDOW, counts.most_common(WINDOW + 1)
    with Ledger(config.state_path) as ledger:
        assert ledger.counts(ISSUE, "email") == {"sent": len(people), "failed": 0, "pending": 0}


def test_two_publishers_started_together_send_each_message_once(example):
    people = readers(40)
    write_csv(example, people)
    with SMTPServer(SMTPRecorder(delay=0.01)) as server:
        configure(example, server.port, connections=CONNECTIONS)
        procs = [start(example), start(example)]
        outputs = [proc.communicate(timeout=90) for proc in procs]
    counts = deliveries(server)
    assert set(counts) == {address for address, _ in people}
    assert max(counts.values()) == 1
    lines = [out + err for out, err in outputs]
    assert sum("email: done" in text for text in lines) == 1, lines
    # The other one either found the lock taken or, starting late, the issue already done.
    assert any("being published by" in text or "already done" in text for text in lines), lines


def test_many_processes_opening_a_new_ledger_at_once(tmp_path):
    """Creating the state database races: every process must get a usable ledger."""
    code = (
        "import sys; from pathlib import Path; from pipeline.ledger import Ledger\n"
        "with Ledger(Path(sys.argv[1])) as ledger: ledger.record('2024-09-30', 'email', sys.argv[2], 'sent')\n"
    )
    path = tmp_path / "state.db"
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(path), f"r{n}@example.org"], stderr=subprocess.PIPE, text=True
        )
        for n in range(8)
    ]
    errors = [proc.communicate(timeout=60)[1] for proc in procs]
    assert all(proc.returncode == 0 for proc in procs), errors
    with Ledger(path) as ledger:
        assert ledger.counts("2024-09-30", "email")["sent"] == 8
