"""The ledger: SQLite state of what went where, once. The only state the tool keeps.

One row per (issue, channel) in ``runs`` says how far a channel got with an issue; one row
per (issue, channel, recipient) in ``deliveries`` says what happened to each message. A row
is written *before* the attempt (``pending``) and updated right after the remote's answer,
each in its own transaction, so a kill at any moment leaves at most the messages in flight
unaccounted for. Schema changes are numbered migrations applied in one transaction each.
"""

from __future__ import annotations

import errno
import json
import os
import secrets
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timezone, tzinfo
from pathlib import Path
from typing import Any

from pipeline.errors import LedgerError

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_initial",
        """
        CREATE TABLE runs (
            issue_id     TEXT NOT NULL,
            channel      TEXT NOT NULL,
            state        TEXT NOT NULL,            -- running | done | failed | partial | paused | skipped
            content_hash TEXT,
            started_at   TEXT,
            finished_at  TEXT,
            remote       TEXT NOT NULL DEFAULT '{}', -- JSON: media_id, publish_id, article_url, …
            last_error   TEXT,
            PRIMARY KEY (issue_id, channel)
        );
        CREATE TABLE deliveries (
            issue_id     TEXT NOT NULL,
            channel      TEXT NOT NULL,
            recipient    TEXT NOT NULL,            -- '' for channels without recipients
            state        TEXT NOT NULL,            -- pending | sent | failed
            content_hash TEXT,
            attempts     INTEGER NOT NULL DEFAULT 0,
            response     TEXT,                     -- the remote's answer (SMTP reply, HTTP body)
            error        TEXT,
            updated_at   TEXT NOT NULL,
            PRIMARY KEY (issue_id, channel, recipient)
        );
        CREATE INDEX deliveries_state ON deliveries (issue_id, channel, state);
        CREATE TABLE subscribers (
            email        TEXT PRIMARY KEY,         -- normalised address
            name         TEXT NOT NULL DEFAULT '',
            status       TEXT NOT NULL,            -- pending | active | unsubscribed | bounced | complained
            source       TEXT NOT NULL DEFAULT '', -- csv:<file> | cli | web | bounce | …
            created_at   TEXT NOT NULL,
            updated_at   TEXT NOT NULL,
            status_reason TEXT,
            soft_bounces INTEGER NOT NULL DEFAULT 0
        );
        CREATE TABLE tokens (
            key          TEXT PRIMARY KEY,         -- e.g. wechat:<app_id>
            value        TEXT NOT NULL,
            expires_at   REAL NOT NULL             -- unix time
        );
        """,
    ),
    (
        # The email channel snapshots each recipient's display name with the address, so a
        # send resumed after a kill addresses people as the first run did.
        "0002_delivery_names",
        "ALTER TABLE deliveries ADD COLUMN name TEXT",
    ),
    (
        # Subscriber history (consent and unsubscription, with time and method), the bounce
        # reports already read (so `subscribers bounces` can run again on the same Maildir),
        # and the issues each address soft-bounced on (to find consecutive soft bounces).
        "0003_subscriber_events_bounces",
        """
        CREATE TABLE subscriber_events (
            id           INTEGER PRIMARY KEY,
            email        TEXT NOT NULL,
            at           TEXT NOT NULL,
            event        TEXT NOT NULL,            -- the new status
            method       TEXT NOT NULL,            -- cli | csv:<file> | web | confirm | one-click | page | bounce | complaint
            detail       TEXT
        );
        CREATE INDEX subscriber_events_email ON subscriber_events (email, id);
        CREATE TABLE bounce_reports (
            message_id   TEXT PRIMARY KEY,         -- the report's Message-ID, else a hash of its bytes
            processed_at TEXT NOT NULL,
            outcome      TEXT NOT NULL
        );
        CREATE TABLE soft_bounces (
            email        TEXT NOT NULL,
            issue        TEXT NOT NULL,            -- issue id of the bounced message (or its Message-ID)
            status       TEXT NOT NULL,            -- 4.x.x
            at           TEXT NOT NULL,
            PRIMARY KEY (email, issue)
        );
        """,
    ),
]

SUPPRESSED = ("unsubscribed", "bounced", "complained")


def _apply_migrations(db: sqlite3.Connection) -> None:
    """Apply the migrations this file lacks, in order; the caller holds the transaction."""
    db.execute("CREATE TABLE IF NOT EXISTS migrations (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    done = {row[0] for row in db.execute("SELECT name FROM migrations")}
    for name, sql in MIGRATIONS:
        if name in done:
            continue
        for statement in filter(str.strip, sql.split(";")):
            db.execute(statement)
        db.execute("INSERT INTO migrations VALUES (?, ?)", (name, utcnow()))


def _create_error(path: Path, exc: OSError) -> LedgerError:
    """A new ledger (or its folder) that cannot be made: say where and what to change."""
    if exc.errno == errno.ENOSPC:
        return storage_error(path, exc)
    return LedgerError(
        f"{path}: cannot create the state database ({exc.strerror or exc})",
        hint=f"make {path.parent} (paths.state in config.yaml) a folder the user that runs publish can write",
    )


def utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def local_time(stamp: str | None, zone: tzinfo) -> str:
    """A ledger time (UTC) as the editors' clock shows it: ``2024-09-30 08:00:03 +08:00``."""
    if not stamp:
        return "-"
    moment = datetime.fromisoformat(stamp).astimezone(zone)
    offset = moment.strftime("%z")
    return f"{moment:%Y-%m-%d %H:%M:%S} {offset[:3]}:{offset[3:]}"


@dataclass(frozen=True)
class Run:
    issue_id: str
    channel: str
    state: str
    content_hash: str | None
    started_at: str | None
    finished_at: str | None
    remote: dict[str, Any]
    last_error: str | None


def _create_private(path: Path) -> None:
    """Create an empty database file readable by its owner only (it holds every subscriber's
    address). SQLite gives the -wal and -shm files it creates the database file's mode, so
    they are owner-only too; an existing file keeps the mode it has (it may be shared on purpose)."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


SQLITE_HEADER = b"SQLite format 3\x00"
LEDGER_TABLES = frozenset({"migrations", "runs", "deliveries", "subscribers"})
NOT_A_LEDGER_HINT = "restore it from a backup, or move it away to start a new ledger"


def _refuse(path: Path, why: str) -> LedgerError:
    return LedgerError(f"{path} is not a publish ledger ({why})", hint=NOT_A_LEDGER_HINT)


def _header_problem(path: Path) -> str | None:
    """Why an existing file is no SQLite database, or None: an empty or foreign file taken for
    a new ledger would forget every send and every unsubscription without a word."""
    with path.open("rb") as file:
        head = file.read(len(SQLITE_HEADER))
    if not head:
        return "the file is empty: 0 bytes"
    if head != SQLITE_HEADER:
        return "the file is not an SQLite database"
    return None


def _tables_problem(db: sqlite3.Connection) -> str | None:
    """Why an SQLite database is not a ledger (the database of something else), or None."""
    tables = {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if tables >= LEDGER_TABLES:
        return None
    found = f"its tables: {', '.join(sorted(tables))}" if tables else "it has no tables"
    return f"an SQLite database without the ledger's tables; {found}"


def storage_error(path: Path, exc: sqlite3.Error | OSError) -> LedgerError:
    """What an SQLite or file-system failure on the ledger means, and what to do about it.

    Nothing recorded before is lost by any of these: SQLite rolls the failed transaction back.
    """
    code = getattr(exc, "sqlite_errorcode", None)
    primary = code & 0xFF if code is not None else None
    number = getattr(exc, "errno", None)
    detail = getattr(exc, "strerror", None) or str(exc)
    if (
        primary == sqlite3.SQLITE_FULL
        or number == errno.ENOSPC
        or (primary == sqlite3.SQLITE_IOERR and _disk_full(path))
    ):
        return LedgerError(
            f"the disk holding {path} is full ({detail})",
            hint="free some space there and run the command again; what was recorded before is kept",
        )
    if primary == sqlite3.SQLITE_READONLY or number in (errno.EPERM, errno.EACCES, errno.EROFS):
        return LedgerError(
            f"{path} cannot be written ({detail})",
            hint=f"make the file and its folder {path.parent} writable by the user that runs publish "
            "(check ls -l, lsattr and the mount); nothing was lost",
        )
    if primary == sqlite3.SQLITE_CANTOPEN:
        return LedgerError(
            f"{path} cannot be opened, or its journal files (-wal, -shm) cannot be made beside it ({detail})",
            hint=f"make the folder {path.parent} writable by the user that runs publish; nothing was lost",
        )
    if primary in (sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CORRUPT):
        return _refuse(path, f"SQLite says: {detail}")
    if primary == sqlite3.SQLITE_BUSY:
        return LedgerError(
            f"{path} is held by another process for too long ({detail})",
            hint="wait for the other publish command to finish, then run this one again",
        )
    return LedgerError(
        f"{path}: the state database cannot be used ({detail})",
        hint="check the disk, the free space and the file's permissions, then run the command again",
    )


def _disk_full(path: Path) -> bool:
    """SQLite reports a full disk while growing its shared-memory file as an I/O error."""
    try:
        stats = os.statvfs(path.parent)
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < 64 * 1024


class Ledger:
    """A connection to the state database. Open one per process (or thread)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if not path.exists():
                self._create(path)
            problem = _header_problem(path)
        except OSError as exc:
            raise (storage_error(path, exc) if path.exists() else _create_error(path, exc)) from None
        if problem:
            raise _refuse(path, problem)
        self.db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        try:
            self.db.row_factory = sqlite3.Row
            self.db.execute("PRAGMA busy_timeout=30000")
            problem = _tables_problem(self.db)
            if problem is None:
                self._use_wal()
                self.db.execute("PRAGMA synchronous=NORMAL")  # durable across a process kill in WAL mode
                self._migrate()
        except (sqlite3.Error, LedgerError) as exc:
            self.db.close()
            raise (storage_error(path, exc) if isinstance(exc, sqlite3.Error) else exc) from None
        if problem:
            self.db.close()
            raise _refuse(path, problem)

    @staticmethod
    def _create(path: Path) -> None:
        """Make a new ledger beside ``path`` and link it into place in one step, so that the
        path never shows a half-made file: an empty file there is always a damaged ledger.
        Two processes creating it together: one link wins, the other opens the winner's."""
        draft = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.new")
        _create_private(draft)
        try:
            db = sqlite3.connect(str(draft), isolation_level=None)
            try:
                _apply_migrations(db)
                db.execute("PRAGMA journal_mode=WAL")  # kept in the file's header
            finally:
                db.close()
            try:
                os.link(draft, path)
            except FileExistsError:
                pass
            except OSError:  # a file system without hard links
                if not path.exists():
                    os.rename(draft, path)
        except sqlite3.Error as exc:
            raise storage_error(path, exc) from None
        finally:
            with suppress(FileNotFoundError):
                draft.unlink()

    def _use_wal(self, patience: float = 30.0) -> None:
        """Switch to WAL once (the mode is kept in the file). Changing the journal mode does not
        wait on the busy timeout, so two processes creating the ledger together retry here."""
        deadline = time.monotonic() + patience
        while self.db.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
            try:
                self.db.execute("PRAGMA journal_mode=WAL")
            except sqlite3.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE … COMMIT, so two processes never interleave a read-then-write.

        A failure of the storage (a full disk, a file made read-only) rolls back and becomes a
        LedgerError that says what to do; what was committed before stays."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise storage_error(self.path, exc) from None
        try:
            yield self.db
            self.db.execute("COMMIT")
        except BaseException as exc:
            if self.db.in_transaction:  # SQLite has already rolled back after some errors
                with suppress(sqlite3.Error):
                    self.db.execute("ROLLBACK")
            if type(exc) in (sqlite3.OperationalError, sqlite3.DatabaseError):  # not a constraint, not a bug
                raise storage_error(self.path, exc) from None
            raise

    def _migrate(self) -> None:
        with self.transaction() as db:
            _apply_migrations(db)

    # runs -------------------------------------------------------------------------------

    def run(self, issue_id: str, channel: str) -> Run | None:
        row = self.db.execute("SELECT * FROM runs WHERE issue_id=? AND channel=?", (issue_id, channel)).fetchone()
        if row is None:
            return None
        return Run(**{**dict(row), "remote": json.loads(row["remote"] or "{}")})

    def runs(self, issue_id: str | None = None) -> list[Run]:
        sql, args = "SELECT * FROM runs", ()
        if issue_id:
            sql, args = sql + " WHERE issue_id=?", (issue_id,)
        rows = self.db.execute(sql + " ORDER BY issue_id, channel", args).fetchall()
        return [Run(**{**dict(r), "remote": json.loads(r["remote"] or "{}")}) for r in rows]

    def start_run(self, issue_id: str, channel: str, content_hash: str) -> None:
        with self.transaction() as db:
            db.execute(
                """INSERT INTO runs (issue_id, channel, state, content_hash, started_at)
                   VALUES (?, ?, 'running', ?, ?)
                   ON CONFLICT (issue_id, channel) DO UPDATE SET
                     state='running', content_hash=excluded.content_hash, started_at=excluded.started_at,
                     finished_at=NULL, last_error=NULL""",
                (issue_id, channel, content_hash, utcnow()),
            )

    def finish_run(self, issue_id: str, channel: str, state: str, error: str | None = None) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET state=?, finished_at=?, last_error=? WHERE issue_id=? AND channel=?",
                (state, utcnow(), error, issue_id, channel),
            )

    def mark_skipped(self, issue_id: str, channel: str, reason: str) -> None:
        """Record that the scheduler deliberately did not send (e.g. outside catch-up)."""
        with self.transaction() as db:
            db.execute(
                """INSERT INTO runs (issue_id, channel, state, finished_at, last_error) VALUES (?, ?, 'skipped', ?, ?)
                   ON CONFLICT (issue_id, channel) DO UPDATE SET state='skipped', finished_at=excluded.finished_at,
                     last_error=excluded.last_error WHERE runs.state NOT IN ('done', 'running', 'partial', 'paused')""",
                (issue_id, channel, utcnow(), reason),
            )

    def set_remote(self, issue_id: str, channel: str, **values: Any) -> None:
        """Merge remote ids (media_id, publish_id, article_url, …) into the run's record."""
        with self.transaction() as db:
            row = db.execute("SELECT remote FROM runs WHERE issue_id=? AND channel=?", (issue_id, channel)).fetchone()
            remote = json.loads(row["remote"]) if row else {}
            remote.update({k: v for k, v in values.items() if v is not None})
            db.execute(
                "UPDATE runs SET remote=? WHERE issue_id=? AND channel=?",
                (json.dumps(remote, ensure_ascii=False), issue_id, channel),
            )

    def remote(self, issue_id: str, channel: str) -> dict[str, Any]:
        run = self.run(issue_id, channel)
        return run.remote if run else {}

    def reset(self, issue_id: str, channel: str) -> None:
        """Forget an issue's deliveries on a channel (for --resend)."""
        with self.transaction() as db:
            db.execute("DELETE FROM deliveries WHERE issue_id=? AND channel=?", (issue_id, channel))
            db.execute("DELETE FROM runs WHERE issue_id=? AND channel=?", (issue_id, channel))

    # deliveries -------------------------------------------------------------------------

    def add_pending(self, issue_id: str, channel: str, recipients: Iterable[str], content_hash: str) -> int:
        """Snapshot the recipients of a send; existing rows (sent or not) are kept. Returns rows added."""
        return self.add_pending_named(issue_id, channel, ((r, "") for r in recipients), content_hash)

    def record(
        self,
        issue_id: str,
        channel: str,
        recipient: str,
        state: str,
        response: str | None = None,
        error: str | None = None,
    ) -> None:
        """Record one attempt's outcome; its own transaction, committed before the next send."""
        with self.transaction() as db:
            db.execute(
                """INSERT INTO deliveries (issue_id, channel, recipient, state, attempts, response, error, updated_at)
                   VALUES (?, ?, ?, ?, 1, ?, ?, ?)
                   ON CONFLICT (issue_id, channel, recipient) DO UPDATE SET
                     state=excluded.state, attempts=deliveries.attempts + 1, response=excluded.response,
                     error=excluded.error, updated_at=excluded.updated_at""",
                (issue_id, channel, recipient, state, response, error, utcnow()),
            )

    def add_pending_named(self, issue_id: str, channel: str, rows: Iterable[tuple[str, str]], content_hash: str) -> int:
        """Snapshot ``(recipient, display name)`` rows; one transaction, so a bad row adds nothing."""
        now = utcnow()
        with self.transaction() as db:
            before = db.total_changes
            db.executemany(
                """INSERT OR IGNORE INTO deliveries (issue_id, channel, recipient, name, state, content_hash, updated_at)
                   VALUES (?, ?, ?, ?, 'pending', ?, ?)""",
                ((issue_id, channel, email, name, content_hash, now) for email, name in rows),
            )
            return db.total_changes - before

    def unsent_named(self, issue_id: str, channel: str, batch: int = 500) -> Iterator[tuple[str, str, int, str]]:
        """``(recipient, name, attempts, updated_at)`` of the rows still pending, streamed in
        batches so memory does not grow with the list; ``attempts`` counts the runs that were
        deferred, ``updated_at`` is when the last one was."""
        last = ""
        while True:
            rows = self.db.execute(
                """SELECT recipient, COALESCE(name, ''), attempts, updated_at FROM deliveries
                   WHERE issue_id=? AND channel=? AND state='pending' AND recipient > ? ORDER BY recipient LIMIT ?""",
                (issue_id, channel, last, batch),
            ).fetchall()
            if not rows:
                return
            for row in rows:
                yield row[0], row[1], row[2], row[3]
            last = rows[-1][0]

    def troubled(self, issue_id: str, channel: str, limit: int = 20) -> tuple[list[sqlite3.Row], int]:
        """The recipients a person may need to look at: failed ones, and pending ones that were
        deferred at least once; the first ``limit`` (failed first) and how many there are."""
        where = "issue_id=? AND channel=? AND (state='failed' OR (state='pending' AND attempts > 0))"
        total = self.db.execute(f"SELECT COUNT(*) FROM deliveries WHERE {where}", (issue_id, channel)).fetchone()[0]
        rows = self.db.execute(
            f"""SELECT recipient, state, attempts, error, updated_at FROM deliveries WHERE {where}
                ORDER BY state, recipient LIMIT ?""",
            (issue_id, channel, limit),
        ).fetchall()
        return rows, total

    def orphaned_deliveries(self, channel: str) -> int:
        """Deliveries recorded on ``channel`` when the subscriber list is empty, else 0: a list
        that was lost (with its unsubscriptions) while the record of what was sent remains."""
        if self.db.execute("SELECT 1 FROM subscribers LIMIT 1").fetchone() is not None:
            return 0
        return self.db.execute(
            "SELECT COUNT(*) FROM deliveries WHERE channel=? AND recipient != ''", (channel,)
        ).fetchone()[0]

    def sent_since(self, channel: str, since: datetime, limit: int) -> list[datetime]:
        """When the newest ``limit`` messages sent on ``channel`` after ``since`` went out (hourly quotas)."""
        rows = self.db.execute(
            """SELECT updated_at FROM deliveries WHERE channel=? AND state='sent' AND updated_at >= ?
                 AND issue_id IN (SELECT issue_id FROM runs WHERE channel=? AND (finished_at IS NULL OR finished_at >= ?))
               ORDER BY updated_at DESC LIMIT ?""",
            (channel, since.isoformat(timespec="seconds"), channel, since.isoformat(timespec="seconds"), limit),
        ).fetchall()
        return sorted(datetime.fromisoformat(row[0]) for row in rows)

    def counts(self, issue_id: str, channel: str) -> dict[str, int]:
        rows = self.db.execute(
            "SELECT state, COUNT(*) FROM deliveries WHERE issue_id=? AND channel=? GROUP BY state", (issue_id, channel)
        ).fetchall()
        counts = {"sent": 0, "failed": 0, "pending": 0}
        counts.update(dict(rows))
        return counts

    def delivery(self, issue_id: str, channel: str, recipient: str = "") -> sqlite3.Row | None:
        return self.db.execute(
            "SELECT * FROM deliveries WHERE issue_id=? AND channel=? AND recipient=?", (issue_id, channel, recipient)
        ).fetchone()

    def last_error(self, issue_id: str, channel: str) -> str | None:
        row = self.db.execute(
            """SELECT recipient, error FROM deliveries WHERE issue_id=? AND channel=? AND error IS NOT NULL
               ORDER BY updated_at DESC LIMIT 1""",
            (issue_id, channel),
        ).fetchone()
        if row is None:
            return None
        return f"{row['recipient']}: {row['error']}" if row["recipient"] else row["error"]

    # small values with an expiry: API tokens, and (never expiring) notes such as the feeds
    # a WebSub hub was last told about ---------------------------------------------------

    def token(self, key: str) -> str | None:
        row = self.db.execute("SELECT value, expires_at FROM tokens WHERE key=?", (key,)).fetchone()
        if row is None or row["expires_at"] <= time.time():
            return None
        return row["value"]

    def save_token(self, key: str, value: str, expires_at: float) -> None:
        with self.transaction() as db:
            db.execute("INSERT OR REPLACE INTO tokens VALUES (?, ?, ?)", (key, value, expires_at))

    def remember(self, key: str, value: str) -> None:
        """Keep a small value that never expires."""
        self.save_token(key, value, float("inf"))

    def drop_token(self, key: str) -> None:
        with self.transaction() as db:
            db.execute("DELETE FROM tokens WHERE key=?", (key,))

    # subscribers (the suppression list lives here; managed by pipeline.audience.subscribers) -----

    def suppressed(self, email: str) -> bool:
        row = self.db.execute("SELECT status FROM subscribers WHERE email=?", (email,)).fetchone()
        return row is not None and row["status"] in SUPPRESSED
