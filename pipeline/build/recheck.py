"""Checking again only the issues that changed: for the preview, which checks after every save,
and for `publish check` of the whole archive.

`publish check` loads every issue and renders its email and WeChat article to measure them:
~0.12 s per issue of ten papers, a minute for a 500-issue archive, which the preview spent after
each keystroke that saved a file. :class:`CheckMemory` keeps each issue's findings under a key
and checks again only the issues whose key moved:

- the folder's files (their size, times and inode; when those moved, their bytes), as the
  build keys an issue (:mod:`pipeline.build.state`), and whether the folder may be read (a
  folder that is a link to elsewhere is refused);
- the settings, the templates, the tool's version (:func:`environment_key`) and where the
  issues are (the findings name their files by absolute path);
- which earlier issues feature the same arXiv papers (the repeat warnings name them).

Newsletter-wide findings (the config, the default cover, credentials) are checked every time;
they cost no rendering. The memory is kept in a JSON file (``build/checked.json`` in the state
folder, ``checked.json`` in the preview's scratch folder), so that the next run, or a preview
started again, does not check the whole archive again either.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from pipeline.atomic import SETTLE_NS, file_problem, write_atomic
from pipeline.build.builder import worker_count
from pipeline.build.check import check_issue_set, newsletter_problems
from pipeline.build.processes import default_signals
from pipeline.build.state import environment_key
from pipeline.config import Config
from pipeline.errors import Problem
from pipeline.load.folders import fingerprint, folder_papers, folder_signature, is_draft, issue_folders
from pipeline.model import is_issue_id


@dataclass
class CheckedIssue:
    """What checking one issue found, and what the preview shows of it."""

    key: str  # the environment and the folder's content it was checked under
    files: str | None  # the folder's signature then (None: not settled)
    problems: list[Problem]
    valid: bool  # no errors: the preview builds it
    draft: bool = False
    publish_at: str | None = None  # ISO time, for valid issues
    repeats: dict[str, list[str]] = field(default_factory=dict)  # its arXiv ids → earlier issues featuring them
    features: list[str] = field(default_factory=list)  # arXiv ids it counts as featuring (not a draft)
    notes: list[str] = field(default_factory=list)  # its email and WeChat sizes


@dataclass
class Rechecked:
    """Every finding and note, as `publish check` would report them, and each issue's state."""

    problems: list[Problem]
    issues: dict[str, CheckedIssue]
    checked: list[str]  # the issues checked this time (the others' findings were kept)
    issue_count: int = 0  # folders named as issues

    @property
    def valid(self) -> list[str]:
        return [issue_id for issue_id, entry in self.issues.items() if entry.valid]

    @property
    def notes(self) -> list[str]:
        return [line for entry in self.issues.values() for line in entry.notes]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.is_error]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if not p.is_error]


class CheckMemory:
    """Each issue's findings across checks, kept in ``path``."""

    def __init__(self, path: Path, reuse: bool = True) -> None:
        """``reuse``: False checks every issue again (and remembers the findings for next time)."""
        self.path = path
        self.issues: dict[str, CheckedIssue] = {}
        if not reuse:
            return
        try:
            data = orjson.loads(path.read_bytes())
            self.issues = {issue_id: _entry(value) for issue_id, value in data.items()}
        except (OSError, ValueError, TypeError, KeyError, AttributeError):  # unreadable: check everything
            self.issues = {}

    def check(self, config: Config) -> Rechecked:
        """Check the issues whose key moved; keep the findings of the others."""
        # The findings name files by absolute path: a moved newsletter is checked again.
        env = f"{environment_key(config)}:{config.issues_dir}"
        settled = time.time_ns() - SETTLE_NS
        folders = issue_folders(config)
        keys: dict[str, tuple[str, str | None]] = {}  # id → (key, folder signature)
        features: dict[str, list[str]] = {}  # id → the arXiv ids it features (see featured_papers)
        for issue_id, folder in folders:
            kept = self.issues.get(issue_id)
            files = folder_signature(folder, settled)
            if kept is not None and files is not None and kept.files == files and kept.key.startswith(f"{env}:"):
                keys[issue_id] = (kept.key, files)  # no file touched since
            else:  # the bytes, and whether the folder itself may be read (a link may lead elsewhere)
                where = file_problem(folder, config.issues_dir, folder=True) or ""
                keys[issue_id] = (f"{env}:{fingerprint(folder)}:{where}", files)
            same = kept is not None and kept.key == keys[issue_id][0]
            features[issue_id] = kept.features if same else _features(issue_id, folder)
        featured: dict[str, list[str]] = {}
        for issue_id, arxiv_ids in features.items():
            for arxiv_id in arxiv_ids:
                featured.setdefault(arxiv_id, []).append(issue_id)
        stale = [
            issue_id
            for issue_id in keys
            if (kept := self.issues.get(issue_id)) is None
            or kept.key != keys[issue_id][0]
            or kept.repeats != _repeats(kept.repeats, featured, issue_id)
        ]
        found = check_each(config, stale, featured)
        for issue_id in stale:
            one = found.pop(issue_id)
            self.issues[issue_id] = CheckedIssue(
                key=keys[issue_id][0],
                files=keys[issue_id][1],
                problems=one.problems,
                valid=one.valid,
                draft=one.draft,
                publish_at=one.publish_at,
                repeats=_repeats(dict.fromkeys(one.papers), featured, issue_id),
                features=features[issue_id],
                notes=one.notes,
            )
        outside = [p for one in found.values() for p in one.problems]  # in no issue's folder (none so far)
        touched = False
        for issue_id in set(self.issues) - set(keys):
            del self.issues[issue_id]  # its folder is gone
            touched = True
        for issue_id, (_key, files) in keys.items():
            if self.issues[issue_id].files != files:
                self.issues[issue_id].files = files  # a touched but unchanged folder: its new times
                touched = True
        if stale or touched:
            self._save()
        problems = [
            *newsletter_problems(config),
            *outside,
            *(p for entry in self.issues.values() for p in entry.problems),
        ]
        count = sum(1 for issue_id in keys if is_issue_id(issue_id))
        return Rechecked(problems, dict(sorted(self.issues.items())), stale, count)

    def _save(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # orjson writes dataclasses itself; paths as text (a cache, so no fsync)
            write_atomic(self.path, orjson.dumps(self.issues, default=str), durable=False)
        except OSError:
            pass  # a read-only state folder: the next start checks everything again


def _features(issue_id: str, folder: Path) -> list[str]:
    """The arXiv ids the folder features, as :func:`featured_papers` scans them."""
    if not is_issue_id(issue_id) or is_draft(folder):
        return []
    return list(folder_papers(folder))


def _repeats(ids: dict[str, list[str]], featured: dict[str, list[str]], issue_id: str) -> dict[str, list[str]]:
    """For each of the issue's arXiv ids, the earlier issues featuring it now."""
    return {arxiv: sorted({i for i in featured.get(arxiv, []) if i < issue_id}) for arxiv in ids}


@dataclass
class Found:
    """What checking one issue found, as a worker process hands it back."""

    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    valid: bool = False
    draft: bool = False
    publish_at: str | None = None
    papers: list[str] = field(default_factory=list)  # the arXiv ids of its papers


_FORKED: tuple[Config, dict[str, list[str]]] | None = None  # what forked workers inherit
CHUNK = 4  # issues per task handed to a worker


def check_each(config: Config, ids: list[str], featured: dict[str, list[str]]) -> dict[str, Found]:
    """Check the issues, on all CPUs when there are many (a preview's first start, a first
    `publish check`: ~0.12 s per issue); ``""`` holds findings outside every issue folder."""
    workers = worker_count(len(ids))
    if workers == 1:
        return _check_chunk(config, ids, featured)
    import multiprocessing

    from pipeline.render import email, wechat  # noqa: F401  imported once here rather than in every worker

    global _FORKED
    _FORKED = (config, featured)
    found: dict[str, Found] = {"": Found()}
    try:
        with multiprocessing.get_context("fork").Pool(workers, initializer=default_signals) as pool:
            chunks = [ids[start : start + CHUNK] for start in range(0, len(ids), CHUNK)]
            for part in pool.imap_unordered(_forked_chunk, chunks):
                found[""].problems.extend(part.pop("").problems)
                found.update(part)
    finally:
        _FORKED = None
    return found


def _forked_chunk(ids: list[str]) -> dict[str, Found]:
    assert _FORKED is not None
    return _check_chunk(_FORKED[0], ids, _FORKED[1])


def _check_chunk(config: Config, ids: list[str], featured: dict[str, list[str]]) -> dict[str, Found]:
    report = check_issue_set(config, ids, featured)
    grouped = _by_issue(report.problems, config.issues_dir)
    loaded = {issue.id: issue for issue in report.issues}
    found = {"": Found(grouped.get("", []))}
    for issue_id in ids:
        issue = loaded.get(issue_id)
        one = found[issue_id] = Found(grouped.get(issue_id, []), report.issue_notes.get(issue_id, []))
        if issue is not None:
            one.valid, one.draft, one.publish_at = True, issue.draft, issue.publish_at.isoformat()
            one.papers = [paper.arxiv_base for paper in issue.papers if paper.arxiv_base]
    return found


def _by_issue(problems: list[Problem], issues: Path) -> dict[str, list[Problem]]:
    """Problems by the issue folder they are in ("" for none)."""
    grouped: dict[str, list[Problem]] = {}
    for problem in problems:
        try:
            issue_id = Path(problem.path).relative_to(issues).parts[0]
        except (ValueError, IndexError):
            issue_id = ""
        grouped.setdefault(issue_id, []).append(problem)
    return grouped


def _entry(value: dict) -> CheckedIssue:
    problems = [Problem(**problem) for problem in value.pop("problems")]
    return CheckedIssue(problems=problems, **value)
