"""Full-text search of the archive without a server: a Pagefind index in ``public/pagefind/``.

Pagefind (the ``pagefind`` package on PyPI, its binary a wheel) reads the public issue pages
and writes the index and its search UI, which the index and issue pages load from
``pagefind/``. Chinese text is split into words only by the extended binary
(``pip install 'pagefind[extended]'``); with the plain one a phrase is found only as a whole.

Only the pages of public issues are indexed (a draft or an issue still to come is built but
never searchable), and only the ``data-pagefind-body`` part of each: the paper digests, not
the navigation. The index is written to a folder beside the output (``.public.pagefind/``
for ``public/``; ``.pagefind.new/`` inside it when it is a mount point) and swapped in with
one rename, so a deploy never uploads half an index.

A build that changed no issue page and publishes the same issues as last time leaves the
index as it is; any other runs Pagefind over every public issue page (Pagefind cannot update
an index): ~35 ms of CPU per issue of five papers, ~60 ms per issue of ten long ones.
Pagefind missing or failing is a warning: the site works without its search box, which stays
hidden when ``pagefind/`` is absent. ``PUBLISH_BUILD_SEARCH=0`` in the environment, or a build
inside ``with search.skipped():``, leaves the index out.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from importlib.util import find_spec
from pathlib import Path
from typing import Protocol

from pipeline.config import Config
from pipeline.errors import Problem

BUNDLE = "pagefind"
TIMEOUT = 600  # seconds; ~1 s per 100 issues here
_RENAME_EXCHANGE = 2  # renameat2 flag (Linux): swap two paths in one step
_ENABLED: ContextVar[bool] = ContextVar("search_enabled", default=True)


@contextmanager
def skipped() -> Iterator[None]:
    """Builds inside this block leave the search index as it is (the editors' preview, which
    rebuilds on every save and never deploys its scratch folder)."""
    token = _ENABLED.set(False)
    try:
        yield
    finally:
        _ENABLED.reset(token)


class Report(Protocol):
    written: list[Path]
    problems: list[Problem]


def index(config: Config, report: Report, public_ids: Iterable[str]) -> bool:
    """Index the public issue pages into ``<output>/pagefind/``; True when it was (re)written.

    Problems (Pagefind missing or failing) are added to ``report.problems`` as warnings.
    """
    if not _ENABLED.get() or os.environ.get("PUBLISH_BUILD_SEARCH", "") == "0":
        return False
    output = config.output_dir
    ids = sorted(public_ids)
    bundle = output / BUNDLE
    stamp = config.state_dir / "build" / "search.key"
    key = _key(ids)
    pages_changed = any(path.name == "index.html" and path.parent.parent.name == "issues" for path in report.written)
    if not pages_changed and bundle.is_dir() and _read(stamp) == key:
        return False
    if find_spec("pagefind") is None:
        report.problems.append(
            _warning(output, "no search index: Pagefind is not installed (pip install 'pagefind[extended]')")
        )
        return False
    if not ids:
        shutil.rmtree(bundle, ignore_errors=True)
        stamp.unlink(missing_ok=True)
        return False
    if find_spec("pagefind_bin_extended") is None:
        report.problems.append(
            _warning(output, "Chinese is searched without word splitting: install pip install 'pagefind[extended]'")
        )
    fresh = _fresh_folder(output)
    shutil.rmtree(fresh, ignore_errors=True)  # what a killed build left
    error = _run_pagefind(output, fresh, ids)
    if not error:
        try:
            _swap_in(fresh, bundle)
            stamp.parent.mkdir(parents=True, exist_ok=True)
            stamp.write_text(key)
        except OSError as exc:  # a full disk, say: the pages are built, the old index stays
            error = f"{exc.strerror or exc} ({exc.filename or bundle})"
    if error:
        shutil.rmtree(fresh, ignore_errors=True)
        report.problems.append(_warning(output, f"search index not updated: {error}"))
        return False
    return True


def _fresh_folder(output: Path) -> Path:
    """Where the new index is written: beside the output, or inside it when the output is a
    mount point of its own (a rename cannot cross file systems), as the build's staging does."""
    beside = output.parent / f".{output.name}.{BUNDLE}"
    try:
        own_device = output.stat().st_dev != output.parent.stat().st_dev
    except OSError:
        return beside
    return output / f".{BUNDLE}.new" if own_device else beside


def _run_pagefind(site: Path, into: Path, ids: list[str]) -> str | None:
    """Run Pagefind over the issue pages of ``ids``; the reason when it fails."""
    pages = ids[0] if len(ids) == 1 else "{" + ",".join(ids) + "}"
    command = [
        sys.executable,
        "-m",
        "pagefind",
        "--site",
        str(site),
        "--output-path",
        str(into),
        "--glob",
        f"issues/{pages}/index.html",
        "--silent",
    ]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"Pagefind did not run ({exc})"
    if done.returncode != 0 or not (into / "pagefind.js").is_file():
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        return f"Pagefind exited with {done.returncode}: {last[0]}"
    return None


def _swap_in(fresh: Path, bundle: Path) -> None:
    """Put ``fresh`` at ``bundle`` in one step where the system allows it, then drop the old one."""
    if not bundle.exists():
        os.rename(fresh, bundle)
        return
    if not _exchange(fresh, bundle):
        old = fresh.with_name(fresh.name + ".old")
        shutil.rmtree(old, ignore_errors=True)
        os.rename(bundle, old)  # a moment without an index: only where renameat2 is missing
        os.rename(fresh, bundle)
        fresh = old
    shutil.rmtree(fresh, ignore_errors=True)


def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths atomically (Linux renameat2 RENAME_EXCHANGE); False when unsupported."""
    name = ctypes.util.find_library("c")
    libc = ctypes.CDLL(name, use_errno=True) if name else None
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    at_cwd = -100
    result = renameat2(at_cwd, os.fsencode(first), at_cwd, os.fsencode(second), _RENAME_EXCHANGE)
    return result == 0


def _key(ids: list[str]) -> str:
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _warning(path: Path, message: str) -> Problem:
    return Problem(path, None, message, "warning")
