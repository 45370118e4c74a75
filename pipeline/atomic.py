"""Atomic file writes: a reader (or a crash) never sees a half-written output."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

_names = itertools.count()


def _temp_file(target: Path) -> tuple[int, str]:
    """Create a new temp file beside ``target``: ``(fd, path)``.

    Named by process id and a counter rather than by ``tempfile.mkstemp``, whose random names
    and extra ``fchmod`` cost more than writing a small file; ``O_EXCL`` still refuses a name
    left behind by an earlier process. Mode 0666 less the umask, as an ordinary file gets
    (mkstemp would make it 0600, unreadable to the web server).
    """
    while True:
        tmp = f"{target.parent}/.{target.name}.{os.getpid()}-{next(_names)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), tmp
        except FileExistsError:
            continue


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def write_atomic(path: Path, data: bytes, durable: bool = True) -> None:
    """Write ``data`` to a temp file beside ``path``, fsync it (when ``durable``), then rename
    it into place: readers see the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = _temp_file(path)
    try:
        try:
            _write_all(fd, data)
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class Staging:
    """Files for one build, written to temp files as they come and renamed at ``commit``.

    Memory stays flat on large builds, and ``discard`` leaves the previous outputs byte for
    byte when any issue turned out to be invalid.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self._pending: list[tuple[Path, Path]] = []
        self._folders: set[Path] = set()  # known to exist: one mkdir per folder, not per file

    def add(self, relative: str, data: bytes) -> None:
        target = self.root / relative
        try:
            if target.stat().st_size == len(data) and target.read_bytes() == data:
                return  # unchanged: keep its mtime, so HTTP caches and Last-Modified stay valid
        except FileNotFoundError:
            pass
        if target.parent not in self._folders:
            target.parent.mkdir(parents=True, exist_ok=True)
            self._folders.add(target.parent)
        fd, tmp = _temp_file(target)
        try:
            _write_all(fd, data)
        except BaseException:
            os.close(fd)
            Path(tmp).unlink(missing_ok=True)
            raise
        os.close(fd)
        self._pending.append((Path(tmp), target))

    def read(self, relative: str) -> bytes:
        """The file's bytes as they will be after ``commit``."""
        target = self.root / relative
        for tmp, staged in reversed(self._pending):
            if staged == target:
                return tmp.read_bytes()
        return target.read_bytes()

    def take(self) -> list[tuple[Path, Path]]:
        """Hand the staged files over (to another process's Staging of the same root)."""
        pending, self._pending = self._pending, []
        return pending

    def adopt(self, pending: list[tuple[Path, Path]]) -> None:
        """Take over files another Staging (e.g. in a worker process) wrote."""
        self._pending.extend(pending)

    @property
    def changed(self) -> list[Path]:
        return [target for _, target in self._pending]

    def commit(self) -> list[Path]:
        """Rename every staged file into place; return the paths that changed."""
        for tmp, target in self._pending:
            os.replace(tmp, target)
        done, self._pending = self.changed, []
        return done

    def discard(self) -> None:
        for tmp, _ in self._pending:
            tmp.unlink(missing_ok=True)
        self._pending = []
