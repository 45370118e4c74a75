"""Issue folders on disk: which there are, the ids that name them, and cheap fingerprints.

Nothing here parses an issue: these are the checks and hashes that must stay fast enough
to run over a whole archive on every build (see ``build.py``).
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

from pipeline.atomic import ASSET_LIMIT, file_problem, read_head
from pipeline.config import Config
from pipeline.errors import UsageError
from pipeline.model import is_issue_id


def validate_issue_id(text: str) -> str:
    """Refuse anything but ``YYYY-MM-DD`` or ``YYYY-MM-DD-slug`` given on the command line."""
    if not is_issue_id(text):
        raise UsageError(
            f"{text!r} is not an issue id",
            hint="issue ids are folder names like 2024-09-30 or 2024-09-30-special (slug: a-z, 0-9, -)",
        )
    return text


def issue_folders(config: Config, ids: Iterable[str] | None = None) -> list[tuple[str, Path]]:
    """``(id, folder)`` of the requested issues (all when ``ids`` is None), oldest first."""
    root = config.issues_dir
    if ids is not None:
        found = []
        for issue_id in ids:
            validate_issue_id(issue_id)
            folder = root / issue_id
            if not folder.is_dir():
                raise UsageError(
                    f"no issue {issue_id!r} in {root}",
                    hint="`publish check` lists the issues; `publish new DATE` makes one",
                )
            found.append((issue_id, folder))
        return found
    if not root.is_dir():
        return []
    return sorted((p.name, p) for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "_")))


def fingerprint(folder: Path) -> str:
    """Hash of every file's path and bytes under an issue folder; cheap, no parsing."""
    digest = hashlib.sha256()
    root = os.fspath(folder)
    # Sorted by path parts, as sorting Path objects does, so the hash is the same as before.
    for parts, problem in sorted(issue_files(root)):
        digest.update("/".join(parts).encode() + b"\0")
        if problem is None:
            with open(os.path.join(root, *parts), "rb") as handle:
                digest.update(handle.read())
        else:  # never opened (a pipe would hang the hash); its name and the refusal are the content
            digest.update(problem.encode())
        digest.update(b"\0")
    return digest.hexdigest()


def folder_signature(folder: Path, settled_ns: int) -> str | None:
    """Hash of every file's path, size, times and inode: when it is unchanged, so is
    :func:`fingerprint`. None if a file changed at or after ``settled_ns`` (a further edit in
    the same timestamp tick would not show), meaning: hash the bytes."""
    lines = []
    root = os.fspath(folder)
    # One stat per file, the one the walk made (a link's target is stat-ed here): a rebuild
    # signs every file of the archive, 6,000 at 500 issues.
    for parts, problem, st in sorted(_walk(root, ())):
        name = "/".join(parts)
        if problem is not None:
            lines.append(f"{name}\0{problem}\n")
            continue
        st = st or os.stat(os.path.join(root, *parts))
        if st.st_mtime_ns >= settled_ns or st.st_ctime_ns >= settled_ns:
            return None
        lines.append(f"{name}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0{st.st_ino}\n")
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def issue_files(folder: str | Path) -> Iterator[tuple[tuple[str, ...], str | None]]:
    """Relative path parts of every file below the issue folder, each with why the reading
    rule (:func:`pipeline.atomic.file_problem`) refuses it, or None.

    os.scandir is ~2x faster than rglob, and its entries know without a system call whether
    they are links: only those are resolved. Linked folders are never entered (no loops).
    """
    return ((parts, problem) for parts, problem, _ in _walk(os.fspath(folder), ()))


def _walk(top: str, prefix: tuple[str, ...], root: str | None = None) -> Iterator[tuple]:
    """``(parts, problem, stat)`` per file below ``top``; ``stat`` is the walk's own for a
    regular file, None for a link or anything else."""
    root = root or top
    with os.scandir(top) as entries:
        for entry in entries:
            parts = (*prefix, entry.name)
            if entry.is_symlink():
                yield parts, _link_problem(Path(entry.path), Path(root)), None
            elif entry.is_dir(follow_symlinks=False):
                yield from _walk(entry.path, parts, root)
            elif entry.is_file(follow_symlinks=False):
                st = entry.stat(follow_symlinks=False)
                yield parts, _size_problem(st.st_size), st
            else:
                yield parts, "is not a regular file (a pipe or a device): only ordinary files are read", None


def _size_problem(size: int) -> str | None:
    return f"is larger than {ASSET_LIMIT // 1024 // 1024} MB: make it smaller" if size > ASSET_LIMIT else None


def _link_problem(path: Path, folder: Path) -> str | None:
    """A symbolic link in an issue folder is read only when it leads to a file inside it."""
    return file_problem(path, folder) or _size_problem(path.stat().st_size)


_ARXIV_LINE = re.compile(r"^arxiv\s*:\s*['\"]?(?:arxiv:)?(\d{4}\.\d{4,5})", re.MULTILINE | re.IGNORECASE)
# `draft: true` as YAML 1.1 spells true (PyYAML reads yes/on as true too), then a comment or nothing
_DRAFT_LINE = re.compile(r"^draft[ \t]*:[ \t]*(?:true|True|TRUE|yes|Yes|YES|on|On|ON)[ \t\r]*(?:#|$)", re.MULTILINE)


def featured_papers(config: Config) -> dict[str, list[str]]:
    """arXiv id (no version) → ids of the issues featuring it; a quick scan, no full parse.

    Drafts do not count: a paper is featured once an issue that is meant to go out has it
    (the example entry of a fresh `publish new` is not a repeat of anything).
    """
    featured: dict[str, list[str]] = {}
    for issue_id, folder in issue_folders(config):
        if not is_issue_id(issue_id) or is_draft(folder):  # a rejected folder features nothing
            continue
        for arxiv_id in folder_papers(folder):
            featured.setdefault(arxiv_id, []).append(issue_id)
    return featured


def folder_papers(folder: Path) -> dict[str, str]:
    """arXiv id (no version) → name of the entry file with it, for one issue folder (quick scan)."""
    found: dict[str, str] = {}
    for path in sorted(folder.glob("*.md")):
        # `arxiv:` sits in the front matter, which rarely passes 4,000 bytes: the head is enough;
        # read_head: only a regular file inside the folder (a pipe would hang the scan)
        head = (read_head(path, folder, 4000) or b"").decode("utf-8", errors="replace")
        match = _ARXIV_LINE.search(head)
        if match:
            found.setdefault(match.group(1), path.name)
    return found


def is_draft(folder: Path) -> bool:
    """Whether the folder's issue.yaml says ``draft: true`` (a line scan, as the loader would read it)."""
    head = read_head(folder / "issue.yaml", folder, 64 * 1024)
    if head is None:  # no readable issue.yaml: not a draft, and the loader reports it
        return False
    return _DRAFT_LINE.search(head.decode("utf-8", errors="replace")) is not None
