"""Full-text search of the archive without a server: Pagefind indexes in ``public/pagefind/``.

Pagefind (the ``pagefind`` package on PyPI, its binary a wheel) reads the public issue pages
and writes an index and its search UI. Chinese text is split into words only by the extended
binary (``pip install 'pagefind[extended]'``); with the plain one a phrase is found only as a whole.

Only the pages of public issues are indexed (a draft or an issue still to come is built but
never searchable), and only the ``data-pagefind-body`` part of each: the paper digests, not
the navigation.

Pagefind cannot update an index, so the archive has one per year of issues (an issue id is
its date, ``YYYY-MM-DD``)::

    pagefind/
      shards.json           {"years": ["2024", "2023"]}, newest first: read by search.js
      pagefind-ui.js, .css  the search box, which search.js loads from here when there is an index
      2024/  2023/          one Pagefind bundle per year

The search box opens the newest year and merges the others into it (Pagefind UI's
``mergeIndex``); the list of years lives only in ``shards.json``, so a new year changes no page.
A build re-indexes only the years whose public issues or issue pages changed, several at once
(one Pagefind process per year, as many as CPUs or ``PUBLISH_BUILD_JOBS``), and carries the
other years over as hard links. The new folder is assembled beside the output
(``.public.pagefind/`` for ``public/``; ``.pagefind.new/`` inside it when it is a mount point)
and swapped in with one rename, so a deploy never uploads half an index. A year whose Pagefind
run fails leaves the whole old index in place, and is indexed again by the next build.

Cost: ~35 ms of CPU per issue of five papers, ~60 ms per issue of ten long ones; an edit pays
only for its own year. Pagefind missing or failing is a warning: the site works without its
search box, which stays hidden when ``pagefind/`` is absent. ``PUBLISH_BUILD_SEARCH=0`` in the
environment, or a build inside ``with search.skipped():``, leaves the index out.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path
from typing import Protocol

from pipeline.config import Config
from pipeline.errors import Problem

BUNDLE = "pagefind"
SHARDS = "shards.json"  # the years, newest first
UI_FILES = ("pagefind-ui.js", "pagefind-ui.css")  # loaded by search.js from pagefind/ itself
TIMEOUT = 600  # seconds per year; ~1 s per 100 issues here
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
    bundle = output / BUNDLE
    stamp = config.state_dir / "build" / "search-shards.json"
    by_year = years_of(public_ids)
    if not by_year:  # nothing public: no search box
        shutil.rmtree(bundle, ignore_errors=True)
        stamp.unlink(missing_ok=True)
        return False
    before = _read_stamp(stamp) if (bundle / SHARDS).is_file() else Stamp({}, {})
    now = Stamp({year: _key(ids) for year, ids in by_year.items()}, {})
    stale = _stale_years(output, bundle, by_year, before, now, report.written)
    if not stale and now.years.keys() == before.years.keys():
        return False
    if find_spec("pagefind") is None:
        report.problems.append(
            _warning(output, "no search index: Pagefind is not installed (pip install 'pagefind[extended]')")
        )
        return False
    if find_spec("pagefind_bin_extended") is None:
        report.problems.append(
            _warning(output, "Chinese is searched without word splitting: install pip install 'pagefind[extended]'")
        )
    error = _rebuild(output, bundle, by_year, stale)
    if error:
        report.problems.append(_warning(output, f"search index not updated: {error}"))
        kept = {year: key for year, key in before.years.items() if year not in stale}  # they run again next time
        _write_stamp(stamp, Stamp(kept, before.pages))
        return False
    for year in stale:  # what Pagefind read now, to tell whether a page rewritten later changed for it
        now.pages.update((issue_id, _fingerprint(output, issue_id)) for issue_id in by_year[year])
    for year in by_year.keys() - stale:
        now.pages.update((issue_id, before.pages[issue_id]) for issue_id in by_year[year] if issue_id in before.pages)
    _write_stamp(stamp, now)
    (config.state_dir / "build" / "search.key").unlink(missing_ok=True)  # the one-index layout's stamp
    return True


@dataclass
class Stamp:
    """What the index was built from: a key per year (its public issue ids) and a fingerprint per
    issue page (its bytes without the previous/next links, which Pagefind does not index)."""

    years: dict[str, str]
    pages: dict[str, str]


def years_of(public_ids: Iterable[str]) -> dict[str, list[str]]:
    """The public issue ids by year (the first four characters of the id, a date), ids sorted."""
    by_year: dict[str, list[str]] = {}
    for issue_id in sorted(public_ids):
        by_year.setdefault(issue_id[:4], []).append(issue_id)
    return by_year


def _stale_years(
    output: Path, bundle: Path, by_year: dict[str, list[str]], before: Stamp, now: Stamp, written: Iterable[Path]
) -> set[str]:
    """The years to index again: their public issues changed, or what Pagefind reads of one of
    their pages this build rewrote, or their bundle is gone."""
    stale = {
        year
        for year, key in now.years.items()
        if before.years.get(year) != key or not (bundle / year / "pagefind.js").is_file()
    }
    for path in written:
        issue_id = path.parent.name
        if path.name != "index.html" or path.parent.parent.name != "issues" or issue_id[:4] in stale:
            continue
        if issue_id in by_year.get(issue_id[:4], ()) and before.pages.get(issue_id) != _fingerprint(output, issue_id):
            stale.add(issue_id[:4])  # a draft's page is not searched: its changes do not count
    return stale


def _fingerprint(output: Path, issue_id: str) -> str:
    """The issue page as Pagefind reads it: its bytes without the links to its neighbours, which
    change with another issue's title (and are no part of the indexed body)."""
    from pipeline.render.web import NAV_END, NAV_START  # only when indexing: the CLI starts faster

    try:
        page = (output / "issues" / issue_id / "index.html").read_bytes()
    except OSError:
        return ""
    start, end = page.find(NAV_START), page.find(NAV_END)
    if 0 <= start < end:
        page = page[:start] + page[end:]
    return hashlib.sha256(page).hexdigest()


def _rebuild(output: Path, bundle: Path, by_year: dict[str, list[str]], stale: set[str]) -> str | None:
    """Assemble the new ``pagefind/`` (stale years indexed, the others linked) and swap it in;
    the reason when it could not be."""
    fresh = _fresh_folder(output)
    shutil.rmtree(fresh, ignore_errors=True)  # what a killed build left
    try:
        fresh.mkdir(parents=True)
        error = _index_years(output, fresh, {year: by_year[year] for year in sorted(stale)})
        if not error:
            for year in sorted(by_year.keys() - stale):
                shutil.copytree(bundle / year, fresh / year, copy_function=_link_or_copy)
            _write_front(fresh, sorted(by_year, reverse=True))
            _swap_in(fresh, bundle)
    except OSError as exc:  # a full disk, say: the pages are built, the old index stays
        error = f"{exc.strerror or exc} ({exc.filename or bundle})"
    shutil.rmtree(fresh, ignore_errors=True)
    return error


def _index_years(site: Path, fresh: Path, stale: dict[str, list[str]]) -> str | None:
    """Run Pagefind for each stale year into ``fresh/<year>``, several at once; the first failure."""
    if not stale:
        return None
    with ThreadPoolExecutor(max_workers=min(len(stale), _jobs())) as pool:
        errors = list(pool.map(lambda year: _run_pagefind(site, fresh / year, stale[year]), stale))
    failed = [f"{year}: {error}" if len(stale) > 1 else error for year, error in zip(stale, errors) if error]
    return "; ".join(failed) or None


def _jobs() -> int:
    """How many Pagefind processes at once: one per CPU this process may use, or ``PUBLISH_BUILD_JOBS``."""
    wanted = os.environ.get("PUBLISH_BUILD_JOBS", "")
    if wanted.isdigit() and int(wanted) > 0:
        return int(wanted)
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _write_front(fresh: Path, years: list[str]) -> None:
    """The files at the top of ``pagefind/``: the list of years and the search box's script and styles
    (the same in every bundle: copied from the newest)."""
    for name in UI_FILES:
        shutil.copyfile(fresh / years[0] / name, fresh / name)
    (fresh / SHARDS).write_text(json.dumps({"years": years}) + "\n")


def _link_or_copy(source: str, target: str) -> None:
    """A year carried over shares its files with the old index (they are never written in place)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


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
    """Run Pagefind over the issue pages of ``ids`` into ``into``; the reason when it fails."""
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


def _read_stamp(stamp: Path) -> Stamp:
    """What the index was last built from; empty when unknown (every year is indexed again)."""
    try:
        data = json.loads(stamp.read_text())
        return Stamp(dict(data["years"]), dict(data["pages"]))
    except (OSError, ValueError, KeyError, TypeError):
        return Stamp({}, {})


def _write_stamp(stamp: Path, data: Stamp) -> None:
    stamp.parent.mkdir(parents=True, exist_ok=True)
    stamp.write_text(json.dumps({"years": data.years, "pages": data.pages}, sort_keys=True) + "\n")


def _warning(path: Path, message: str) -> Problem:
    return Problem(path, None, message, "warning")
