"""Files on disk, both ways: outputs written atomically (a reader, or a crash, never sees a
half-written one, and a killed build's temp files never sit among the outputs), and inputs
read only when they are regular files inside the tree they belong to, of a bounded size.
"""

from __future__ import annotations

import errno
import itertools
import os
import re
import shutil
import stat
from pathlib import Path

_names = itertools.count()

# An issue.yaml or an entry: real ones are under 50 KB; past this it is a mistake or an attack.
TEXT_LIMIT = 2 * 1024 * 1024
# An image or another file of an issue folder, copied next to its pages.
ASSET_LIMIT = 20 * 1024 * 1024
# A file changed less than this long ago may change again without its times showing it
# (timestamps are coarse: 2 s on FAT), so its bytes are hashed rather than trusting its times.
SETTLE_NS = 2_000_000_000


class UnreadableFile(Exception):
    """A file the reading rule refuses; ``reason`` completes "<path> …" for the editor."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def file_problem(path: Path, inside: Path, folder: bool = False) -> str | None:
    """Why ``path`` may not be read as an input (None: it may).

    The one rule for entries, issue.yaml, issue folders, images and templates: the path must
    resolve to a regular file (no folder, pipe or device; with ``folder``, a folder) inside
    ``inside``, so that a symlink cannot publish a file from elsewhere on the machine and a
    FIFO cannot hang a build.
    """
    if _plainly_inside(path, inside, folder):
        return None
    try:
        resolved = path.resolve(strict=True)
    except FileNotFoundError:
        try:
            dangling = path.is_symlink()
        except OSError as exc:  # a name too long for the file system, say
            return _os_reason(exc)
        return "is a symbolic link to nothing: fix or remove the link" if dangling else "does not exist"
    except (OSError, RuntimeError) as exc:  # ELOOP (RuntimeError before Python 3.13), ENAMETOOLONG, …
        return _os_reason(exc)
    except ValueError:  # an embedded NUL byte
        return "has a name that cannot be a file name"
    if resolved == inside.resolve() or not resolved.is_relative_to(inside.resolve()):
        return f"leads outside {inside.name}/ (a symbolic link): copy the file into the folder instead"
    try:
        mode = resolved.stat().st_mode
    except OSError as exc:
        return _os_reason(exc)
    if folder:
        return None if stat.S_ISDIR(mode) else "is not a folder"
    if stat.S_ISDIR(mode):
        return "is a folder, not a file"
    if not stat.S_ISREG(mode):
        return "is not a regular file (a pipe or a device): only ordinary files are read"
    return None


def _plainly_inside(path: Path, inside: Path, folder: bool) -> bool:
    """The common case, answered with one ``lstat`` per level below ``inside`` instead of
    resolving both paths (~15 system calls): ``path`` is spelled as ``inside/…`` without ``..``,
    every level is a folder that is no link, and the last is a file that is no link (a folder
    with ``folder``). Anything else (a link, a pipe, a missing file) takes the full rule,
    which says why. Scanning a 500-issue archive's 5,500 entries took 1.4 s the full way."""
    parts, base = path.parts, inside.parts
    # `inside` as "." has no parts: every path would start with them
    if not base or path.is_absolute() != inside.is_absolute():
        return False
    if len(parts) <= len(base) or parts[: len(base)] != base:
        return False
    current = inside
    below = parts[len(base) :]
    for depth, part in enumerate(below, 1):
        if part in ("..", "."):
            return False
        current = current / part
        try:
            mode = os.lstat(current).st_mode
        except (OSError, ValueError):
            return False
        last = depth == len(below)
        if not (stat.S_ISDIR(mode) if not last or folder else stat.S_ISREG(mode)):
            return False
    return True


def read_file(path: Path, inside: Path, limit: int) -> bytes:
    """The bytes of ``path`` under :func:`file_problem`'s rule and at most ``limit`` of them;
    else UnreadableFile. Opened non-blocking and checked again on the open file, so that a
    file swapped for a pipe after the check cannot hang the read."""
    problem = file_problem(path, inside)
    if problem is not None:
        raise UnreadableFile(problem)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise UnreadableFile(_os_reason(exc)) from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableFile("is not a regular file (a pipe or a device): only ordinary files are read")
        if info.st_size > limit:
            raise UnreadableFile(f"is {_size(info.st_size)}; at most {_size(limit)} is read: make it smaller")
        data = handle.read(limit + 1)
    if len(data) > limit:  # it grew while being read
        raise UnreadableFile(f"is over {_size(limit)}; at most that is read: make it smaller")
    return data


def read_head(path: Path, inside: Path, size: int) -> bytes | None:
    """The first ``size`` bytes of ``path`` under the same rule, for quick scans over a whole
    archive; None when the rule refuses the file (the loader reports why)."""
    if file_problem(path, inside) is not None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        return handle.read(size) if stat.S_ISREG(os.fstat(fd).st_mode) else None


def _os_reason(exc: BaseException) -> str:
    code = getattr(exc, "errno", None)
    if code == errno.ENAMETOOLONG:
        return "has a name too long for the file system: shorten it"
    if code == errno.ELOOP or isinstance(exc, RuntimeError):
        return "is a loop of symbolic links: remove the link"
    return f"cannot be read ({getattr(exc, 'strerror', None) or exc})"


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:.1f} MB" if count >= 1024 * 1024 else f"{count // 1024} KB"


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


def _spool_folder(root: Path) -> Path:
    beside = root.parent / f".{root.name}.staging"
    try:
        own_device = root.stat().st_dev != root.parent.stat().st_dev
    except OSError:  # no root yet: it is made in its parent's file system
        return beside
    return root / ".staging" if own_device else beside


def _spool_file(spool: Path, owner: int) -> tuple[int, str]:
    """A new temp file in the staging folder, named ``OWNER-PID-N.tmp`` (see :class:`Staging`)."""
    while True:
        tmp = f"{spool}/{owner}-{os.getpid()}-{next(_names)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666), tmp
        except FileExistsError:
            continue


# What write_atomic and builds before the staging folder left beside a target: .NAME.PID-N.tmp
_LEGACY_TEMP = re.compile(r"^\..+\.(\d+)-\d+\.tmp$")


def _remove_if_orphan(path: str, pid: str) -> int:
    """Remove a temp file whose build (``pid``) is no longer running; 1 if removed."""
    if not pid.isdigit() or _alive(int(pid)):
        return 0
    try:
        os.unlink(path)
    except FileNotFoundError:  # another build swept it first
        return 0
    return 1


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _holds(target: Path, data: bytes) -> bool:
    """Whether the file at ``target`` exists and holds exactly ``data``."""
    try:
        return target.stat().st_size == len(data) and target.read_bytes() == data
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):  # none, or a folder in the way
        return False


def _make_folder(root: Path, folder: Path) -> None:
    """``folder`` and the folders above it up to ``root``, a file in the way removed."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        return
    except (FileExistsError, NotADirectoryError):  # a file where one of the folders goes
        pass
    for above in [*reversed(folder.relative_to(root).parents[:-1]), folder.relative_to(root)]:
        path = root / above
        if not path.is_dir():
            _remove_within(root, path)
    folder.mkdir(parents=True, exist_ok=True)


def _remove_within(root: Path, path: Path) -> None:
    """Remove the file or folder ``path`` under ``root``; a symbolic link is removed itself, never
    followed (what it leads to may lie outside ``root``)."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path)


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
    byte when any issue turned out to be invalid. The temp files wait in a folder beside the
    root (``.public.staging/`` for ``public/``): outside what a deploy uploads, and on the same
    file system, so that the rename is atomic; when the root is a mount point of its own, in
    ``.staging/`` inside it (a dot folder, which the web endpoint never serves). Each is named
    ``OWNER-PID-N.tmp``: ``OWNER`` is the pid of the build that will commit it (a worker or child
    process writes for the build that forked it, and exits before the commit), so that the next
    build removes those a killed build left (:meth:`sweep`) and never those of a build still
    running.
    """

    def __init__(self, root: Path, owner: int | None = None) -> None:
        self.root = root
        self.spool = _spool_folder(root)
        self.owner = owner or os.getpid()  # the build that commits these files
        self._pending: dict[Path, Path] = {}  # target → its staged temp file; the last add wins
        self._base: dict[Path, Path] = {}  # another Staging's files, read through (see branch)
        self._folders: set[Path] = set()  # known to exist: one mkdir per folder, not per file

    def branch(self) -> Staging:
        """A Staging of the same root and owner for another process: it reads this one's staged
        files, and stages, drops and hands over only its own."""
        other = Staging(self.root, self.owner)
        other._base = {**self._base, **self._pending}
        return other

    def sweep(self) -> int:
        """Remove the temp files of builds that died (their pid is gone); return how many.

        The first time (no staging folder yet), also those that builds of an older version left
        beside the outputs themselves (``.NAME.PID-N.tmp``): a walk over every output, once."""
        removed = 0
        if self.spool.is_dir():
            for entry in os.scandir(self.spool):
                removed += _remove_if_orphan(entry.path, entry.name.split("-", 1)[0])
            return removed
        if self.root.is_dir():
            self.spool.mkdir(parents=True, exist_ok=True)
            for folder, _dirs, files in os.walk(self.root):
                for name in files:
                    match = _LEGACY_TEMP.match(name)
                    if match:
                        removed += _remove_if_orphan(os.path.join(folder, name), match.group(1))
        return removed

    def remove_left_by(self, pid: int) -> None:
        """Remove the temp files process ``pid`` (a forked worker or child of this build) staged
        and never handed over, because it died: the sweep keeps them while the build runs."""
        prefix = f"{self.owner}-{pid}-"
        try:
            with os.scandir(self.spool) as entries:
                left = [entry.path for entry in entries if entry.name.startswith(prefix)]
        except FileNotFoundError:
            return
        for path in left:
            Path(path).unlink(missing_ok=True)

    def add(self, relative: str, data: bytes) -> None:
        target = self.root / relative
        self._drop(target)  # staged earlier in this build
        if _holds(target, data):
            return  # unchanged: keep its mtime, so HTTP caches and Last-Modified stay valid
        if self.spool not in self._folders:
            self.spool.mkdir(parents=True, exist_ok=True)
            self._folders.add(self.spool)
        fd, tmp = _spool_file(self.spool, self.owner)
        try:
            _write_all(fd, data)
        except BaseException:
            os.close(fd)
            Path(tmp).unlink(missing_ok=True)
            raise
        os.close(fd)
        self._pending[target] = Path(tmp)

    def rewrite(self, relative: str, data: bytes, kept: int) -> None:
        """As :meth:`add`, for new bytes of a file whose first ``kept`` bytes are those read from
        it in this build. A file this build staged is rewritten in place from there: a page whose
        links are written near its end (:mod:`pipeline.build.neighbours`) costs a short write,
        not a new temp file of ~90 KB (~0.9 ms a page, half a second of a 500-issue build)."""
        target = self.root / relative
        tmp = self._pending.get(target)
        if tmp is None or _holds(target, data):
            self.add(relative, data)
            return
        with open(tmp, "r+b") as staged:
            staged.seek(kept)
            staged.write(memoryview(data)[kept:])
            staged.truncate()

    def _drop(self, target: Path) -> None:
        tmp = self._pending.pop(target, None)
        if tmp is not None:
            tmp.unlink(missing_ok=True)

    def read(self, relative: str) -> bytes:
        """The file's bytes as they will be after ``commit``."""
        target = self.root / relative
        tmp = self._pending.get(target) or self._base.get(target)
        return tmp.read_bytes() if tmp is not None else target.read_bytes()

    def take(self) -> list[tuple[Path, Path]]:
        """Hand the staged files over (to another process's Staging of the same root)."""
        pending, self._pending = self._pending, {}
        return [(tmp, target) for target, tmp in pending.items()]

    def adopt(self, pending: list[tuple[Path, Path]]) -> None:
        """Take over files another Staging (e.g. in a worker process) wrote."""
        for tmp, target in pending:
            self._drop(target)
            self._pending[target] = tmp

    @property
    def changed(self) -> list[Path]:
        return list(self._pending)

    def writes(self, relative: str) -> bool:
        """Whether the commit will write this file anew: staged, and its bytes not those in place."""
        return self.root / relative in self._pending

    def commit(self) -> list[Path]:
        """Rename every staged file into place; return the paths that changed.

        Folders are made here, not while staging, so that a build that is discarded leaves the
        root as it was. What stands in the way of a staged file (a file where its folder goes, a
        folder where it goes: an issue folder's ``data`` that became ``data/x.csv``) is an output
        of an earlier build that this one replaces, and is removed first."""
        for target, tmp in self._pending.items():
            if target.parent not in self._folders:
                _make_folder(self.root, target.parent)
                self._folders.add(target.parent)
            try:
                os.replace(tmp, target)
            except IsADirectoryError:
                _remove_within(self.root, target)
                os.replace(tmp, target)
        done, self._pending = self.changed, {}
        return done

    def discard(self) -> None:
        for tmp in self._pending.values():
            tmp.unlink(missing_ok=True)
        self._pending = {}
