"""`publish add`: arXiv papers → ``NN-slug.md`` entries the editor then writes the digest in.

An entry starts with everything the API knows (front matter, and the English abstract under
``## 摘要`` as a starting point) and the usual section headings left empty. Files are created
with mode ``x``: an existing entry is never overwritten. A paper that another issue already
features (drafts do not count) is refused unless the editor says ``--again``; one this issue
has is always refused. A paper that fails (not on arXiv, withdrawn, API trouble) is reported
and writes nothing, while the others are still added.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from pipeline.authoring.arxiv import ArxivClient, ArxivError, ArxivPaper, base_id, parse_id
from pipeline.config import Config
from pipeline.errors import PublishError, UsageError
from pipeline.load.folders import featured_papers, folder_papers, validate_issue_id

# Headings the editor fills in, after the abstract (see FORMAT.md for the names in use).
SECTIONS = ("研究背景", "问题与挑战", "如何解决", "实验效果", "推荐理由")
# arXiv's category codes, as the newsletter's readers would call them.
CATEGORY_NAMES = {
    "cs.AI": "人工智能",
    "cs.CL": "自然语言处理",
    "cs.CV": "计算机视觉",
    "cs.LG": "机器学习",
    "stat.ML": "机器学习",
    "cs.LO": "逻辑与验证",
    "cs.SE": "软件工程",
    "cs.PL": "编程语言",
    "cs.CR": "安全与密码",
    "cs.IR": "信息检索",
    "cs.RO": "机器人",
    "cs.NE": "神经与进化计算",
    "cs.HC": "人机交互",
    "cs.DC": "分布式计算",
    "cs.DB": "数据库",
    "cs.MA": "多智能体",
    "cs.SD": "语音与音频",
    "eess.AS": "语音与音频",
    "eess.IV": "图像与视频",
    "cs.CY": "计算机与社会",
}
_STOP_WORDS = {"a", "an", "the", "of", "on", "in", "for", "and", "to", "with", "via", "by", "from", "is", "are"}
_NUMBER = re.compile(r"^(\d+)-")


class PaperError(PublishError):
    """Some of the papers given to `publish add` were not added."""


@dataclass
class Added:
    """What happened to one id given on the command line."""

    requested: str
    path: Path | None = None
    paper: ArxivPaper | None = None
    error: str | None = None
    hint: str | None = None


@dataclass
class AddReport:
    issue_id: str
    folder: Path
    created_issue: bool = False
    results: list[Added] = field(default_factory=list)

    @property
    def failed(self) -> list[Added]:
        return [r for r in self.results if r.error]


def add_papers(
    config: Config, issue_id: str, raw_ids: Sequence[str], again: bool = False, client: ArxivClient | None = None
) -> AddReport:
    """Look the papers up and write one entry per paper into the issue (made if missing)."""
    validate_issue_id(issue_id)
    ids = _parse_all(raw_ids)
    folder = config.issues_dir / issue_id
    report = AddReport(issue_id, folder)
    featured = featured_papers(config)  # drafts left out: their papers are not out yet
    here = folder_papers(folder) if folder.is_dir() else {}  # this issue's own, draft or not
    results = {i: Added(i) for i in ids}
    wanted = [
        i for i in ids if not _refused(results[i], featured.get(base_id(i), []), here.get(base_id(i)), issue_id, again)
    ]
    if wanted:
        answers = (client or ArxivClient(config)).lookup(wanted)
        for arxiv_id, answer in answers.items():
            if isinstance(answer, ArxivError):
                results[arxiv_id].error, results[arxiv_id].hint = str(answer), answer.hint
            else:
                results[arxiv_id].paper = answer
    report.results = [results[i] for i in ids]
    todo = [r for r in report.results if r.paper is not None and not r.error]
    if todo and not folder.exists():
        from pipeline.authoring.scaffold import new_issue

        slug = issue_id[11:] or None
        new_issue(config, issue_id[:10], slug, example=False)
        report.created_issue = True
    for item in todo:
        item.path = write_entry(folder, item.paper, item.requested)
    return report


def _parse_all(raw_ids: Sequence[str]) -> list[str]:
    """Normalise every id first, so that one typo stops the command before any request."""
    if not raw_ids:
        raise UsageError(
            "no arXiv ids given", hint="publish add 2024-09-30 2409.14274 https://arxiv.org/abs/2409.13686"
        )
    ids: list[str] = []
    for raw in raw_ids:
        arxiv_id = parse_id(raw)
        twin = next((i for i in ids if base_id(i) == base_id(arxiv_id)), None)
        if twin is not None:
            raise UsageError(f"{raw!r} is the same paper as {twin!r}, given twice")
        ids.append(arxiv_id)
    return ids


def _refused(item: Added, issues: list[str], entry: str | None, issue_id: str, again: bool) -> bool:
    """Record why a paper is not looked up: it is in this issue (as ``entry``), or (without
    --again) in another issue that is not a draft."""
    if entry is not None:
        item.error = f"{item.requested}: already in issue {issue_id} ({entry})"
        return True
    others = [i for i in dict.fromkeys(issues) if i != issue_id]
    if others and not again:
        item.error = f"{item.requested}: already featured in issue {', '.join(others)}"
        item.hint = "pass --again to add it anyway"
        return True
    return False


def write_entry(folder: Path, paper: ArxivPaper, arxiv_id: str) -> Path:
    """Create the next ``NN-slug.md`` in ``folder``; never overwrite an existing file."""
    text = entry_text(paper, arxiv_id)
    slug = entry_slug(paper.title, arxiv_id)
    number = next_number(folder)
    while True:
        path = folder / f"{number:02d}-{slug}.md"
        try:
            with open(path, "x", encoding="utf-8") as handle:
                handle.write(text)
            return path
        except FileExistsError:  # someone else took this number meanwhile: take the next
            number += 1


def next_number(folder: Path) -> int:
    """One more than the highest ``NN-`` prefix among the folder's entries."""
    numbers = [int(m.group(1)) for p in folder.glob("*.md") if (m := _NUMBER.match(p.name))]
    return max(numbers, default=0) + 1


def entry_slug(title: str, arxiv_id: str) -> str:
    """A short ASCII file name from the title's first words (the id when there are none)."""
    folded = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode().lower()
    words = list(re.findall(r"[a-z0-9]+", folded))
    useful = [w for w in words if w not in _STOP_WORDS] or words
    slug = ""
    for word in useful:
        if slug and len(slug) + 1 + len(word) > 40:
            break
        slug = f"{slug}-{word}" if slug else word
    return slug[:40].strip("-") or "arxiv-" + base_id(arxiv_id).replace(".", "-")


def front_matter(paper: ArxivPaper, arxiv_id: str) -> dict:
    """The entry's keys, as FORMAT.md names them; rating and translation left for the editor."""
    # Links follow the id as given: pinned to a version if the editor named one, else the latest.
    pdf = f"https://arxiv.org/pdf/{arxiv_id}"
    if arxiv_id != base_id(arxiv_id) and (paper.pdf_url or "").startswith(f"https://arxiv.org/pdf/{arxiv_id}"):
        pdf = paper.pdf_url
    # arxiv before the authors: the repeat check reads only the first 4000 characters,
    # and a collaboration's author list can be longer than that.
    data = {
        "title": paper.title,
        "title_translated": "",
        "arxiv": arxiv_id,
        "authors": list(paper.authors),
        "year": paper.year,
        "venue": paper.journal_ref or f"arXiv preprint arXiv:{base_id(arxiv_id)}",
        "url": f"https://arxiv.org/abs/{arxiv_id}",
        "pdf": pdf,
        "rating": None,
        "tags": _tags(paper),
    }
    if data["year"] is None:
        del data["year"]
    return data


def _tags(paper: ArxivPaper) -> list[str]:
    code = paper.primary_category or (paper.categories[0] if paper.categories else None)
    if not code:
        return []
    name = CATEGORY_NAMES.get(code)
    return [code, name] if name else [code]


def entry_text(paper: ArxivPaper, arxiv_id: str) -> str:
    """The whole entry file: front matter, the abstract, then empty section headings."""
    # safe_dump quotes whatever YAML would misread (2409.14274 as a number, ": " in titles).
    front = yaml.safe_dump(front_matter(paper, arxiv_id), allow_unicode=True, sort_keys=False, width=1000)
    parts = [f"---\n{front}---\n", "## 摘要\n", markdown_text(paper.summary) + "\n"]
    parts += [f"## {title}\n" for title in SECTIONS]
    return "\n".join(parts)


def markdown_text(text: str) -> str:
    """Plain text made safe to put into Markdown: it reads back as exactly this text."""
    paragraphs = []
    for paragraph in text.split("\n\n"):
        escaped = re.sub(r"([\\`*_\[\]<>&|~])", r"\\\1", paragraph.strip())
        # Only a paragraph's start can make a heading, list, quote or code block.
        escaped = re.sub(r"^([#=+\-])", r"\\\1", escaped)
        escaped = re.sub(r"^(\d+)([.)])", r"\1\\\2", escaped)
        if escaped:
            paragraphs.append(escaped)
    return "\n\n".join(paragraphs) or "（arXiv 未提供摘要）"
