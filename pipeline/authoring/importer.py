"""`publish import`: digests written as plain text → a new issue folder of entries.

Two forms are read:

- **labelled**: numbered papers ``1. Title``, a citation line ``M Lu, B Delaware - arXiv
  preprint arXiv:2409.14274, 2024``, optional link or PDF lines, a translated title, then
  labelled parts (``概览:``, ``论文研究背景:``, ``创新点:`` with text or ``-`` lists under them,
  ``推荐阅读指数:`` ``8/10``, ``推荐理由:``);
- **AMiner**: a page header (title, ``作者:``, ``时间:``), an intro, then numbered paragraphs
  ``1.论文介绍了…`` each followed by ``链接：<paper title> - AMiner``.

Each paper becomes ``NN-slug.md``: front matter dumped by a YAML emitter (so a title with
``: `` or an id like ``2409.14274`` reads back as written), the text before the first label as
the lead, and each label (its own words, without the colon) as a ``## `` section. Files may be
UTF-8 or GBK, with ``:`` or ``：``, CRLF or LF, with or without blank lines. A line that fits
nothing is left out with a warning at its line. Nothing is written when the issue folder
exists; the folder is assembled beside its place and renamed into it, so it appears whole.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import yaml

from pipeline.authoring.add import entry_slug
from pipeline.config import Config
from pipeline.errors import Problem, PublishError, UsageError
from pipeline.load.folders import validate_issue_id

MAX_DIGEST_BYTES = 10 * 1024 * 1024
_COLON = "[:：]"
_NUMBERED = re.compile(r"^(\d{1,3})\s*[.．、)）](?!\d)\s*(\S.*)$")
_BULLET = re.compile(r"^[-•·*●▪]\s*(?=[^-\s])(.*)$")
_LABEL = re.compile(rf"^(?:#+\s*)?(?:\*\*)?([^:：]{{1,20}}?)(?:\*\*)?\s*{_COLON}\s*(.*)$")
_URL = re.compile(r"https?://[^\s<>\"'，。）)]+")
_LINK_LINE = re.compile(rf"^(?:([^:：\s]{{1,10}})\s*{_COLON}\s*)?(https?://\S+)$")
_ARXIV_IN_TEXT = re.compile(r"arXiv\s*[:：]?\s*(\d{4}\.\d{4,5}(?:v\d+)?)", re.IGNORECASE)
_ARXIV_IN_URL = re.compile(r"arxiv\.org/(?:abs|pdf)/(\d{4}\.\d{4,5}(?:v\d+)?)")
_DATE = re.compile(r"((?:19|20)\d\d)\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})(?!\d)")
_RATING = re.compile(r"(\d{1,2}(?:\.\d+)?)\s*/\s*10(?!\d)")
_YEAR_AT_END = re.compile(r"(?:^|[,，\s])((?:19|20)\d\d)$")
_DASH = re.compile(r"\s+[-–—]\s+")
_AUTHOR = re.compile(r"^[\w .'’·\-]+$")
_CJK = re.compile(r"[\u3400-\u9fff]")
_SENTENCE = re.compile(r"[。；;！!？?]$|。")
_AMINER_TAIL = re.compile(r"\s*[-–—|]\s*AMiner\s*$", re.IGNORECASE)
_SCHOLAR_MARK = re.compile(r"^\[(?:PDF|HTML|BOOK|CITATION|引用)\]\s*", re.IGNORECASE)
_BREADCRUMB = re.compile(r"\s[>›»]\s|^所有文章")
_SPACES = "\u200b\ufeff"

# Labels that fill front matter rather than make a section (their own words, normalised).
_TRANSLATED = {"文章标题翻译", "标题翻译", "中文标题", "译名", "翻译标题", "中文译名", "标题"}
_RATING_LABELS = {"推荐阅读指数", "推荐指数", "阅读指数", "评分"}
_TAG_LABELS = {"标签", "关键词", "关键字", "tags", "keywords"}
_AUTHOR_LABELS = {"作者", "authors", "author"}
_LINK_LABELS = {
    "链接",
    "论文链接",
    "原文链接",
    "原文",
    "论文地址",
    "地址",
    "网址",
    "url",
    "link",
    "pdf",
    "论文",
    "paper",
    "arxiv",
}
_DATE_LABELS = {"时间", "日期", "发布时间", "发布日期", "date"}
_HEADER_LABELS = _DATE_LABELS | _AUTHOR_LABELS | {"来源", "source", "编辑", "责编"}
# FORMAT.md's usual section names: a line that is one of these with text after the colon is a label too.
_SECTION_NAMES = {
    "概览",
    "摘要",
    "研究背景",
    "论文研究背景",
    "技术挑战",
    "问题与挑战",
    "如何破局",
    "如何解决",
    "技术应用",
    "创新点",
    "算法模型",
    "实验效果",
    "推荐理由",
}


@dataclass(frozen=True)
class Line:
    """One line of a digest: its number in the file and its text without surrounding space."""

    number: int
    text: str
    indent: int = 0


@dataclass
class Part:
    """A labelled part of a paper: the label as the editor wrote it and its Markdown blocks."""

    label: str
    line: int
    blocks: list[tuple[str, str]] = field(default_factory=list)  # (kind, Markdown line)


@dataclass
class DigestPaper:
    """One paper as the digest gives it."""

    number: int
    line: int
    title: str
    title_translated: str | None = None
    authors: list[str] = field(default_factory=list)
    venue: str | None = None
    year: int | None = None
    arxiv: str | None = None
    url: str | None = None
    pdf: str | None = None
    rating: int | None = None
    tags: list[str] = field(default_factory=list)
    lead: Part = field(default_factory=lambda: Part("", 0))
    parts: list[Part] = field(default_factory=list)
    cited: bool = False  # a citation line (or an authors label) was found


@dataclass
class Digest:
    """What one digest file gave, and the lines it could not place."""

    path: Path
    encoding: str
    form: str  # "labelled" or "aminer"
    title: str | None = None
    day: date | None = None
    intro: list[str] = field(default_factory=list)
    source: str | None = None
    papers: list[DigestPaper] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    def warn(self, line: int | None, message: str) -> None:
        self.warnings.append(Problem(self.path, line, message, "warning"))


@dataclass
class ImportPlan:
    """The issue to be written: its folder and each file's text, in order."""

    issue_id: str
    folder: Path
    digests: list[Digest]
    files: dict[Path, str] = field(default_factory=dict)
    entries: list[tuple[Path, DigestPaper]] = field(default_factory=list)

    @property
    def warnings(self) -> list[Problem]:
        return [w for d in self.digests for w in d.warnings]


# ---------------------------------------------------------------- reading


def read_digest(path: Path) -> tuple[str, str]:
    """The file's text with LF line ends, and the encoding it was read in (UTF-8 or GBK)."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PublishError(f"cannot read {path}: {exc.strerror or exc}", hint="check the file name") from None
    if len(raw) > MAX_DIGEST_BYTES:
        raise PublishError(f"{path} is {len(raw) // 1024} KB; a digest is text of a few KB", hint="give the text file")
    text, encoding = _decode(raw, path)
    return text.replace("\r\n", "\n").replace("\r", "\n"), encoding


def _decode(raw: bytes, path: Path) -> tuple[str, str]:
    """UTF-8 first (with or without BOM), then GBK, which editors on Chinese Windows save."""
    tries = [("utf-16", "UTF-16")] if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else []
    tries += [("utf-8", "UTF-8"), ("gbk", "GBK")]
    bad_line = None
    for codec, name in tries:
        try:
            return raw.decode(codec).removeprefix("\ufeff"), name
        except UnicodeDecodeError as exc:
            bad_line = bad_line or raw[: exc.start].count(b"\n") + 1
    raise PublishError(
        f"{path}:{bad_line}: neither UTF-8 nor GBK text", hint="save the file as UTF-8 and import it again"
    )


def _lines(text: str) -> list[Line]:
    """Numbered lines, stripped of white space (full-width and no-break spaces too)."""
    lines = []
    for number, raw in enumerate(text.split("\n"), 1):
        bare = raw.strip().strip(_SPACES).strip()
        indent = len(raw) - len(raw.lstrip(" \t\u3000"))
        lines.append(Line(number, bare, indent))
    return lines


def parse_digest(path: Path) -> Digest:
    """Read and parse one digest file."""
    text, encoding = read_digest(path)
    return parse_text(text, path, encoding)


def parse_text(text: str, path: Path, encoding: str = "UTF-8") -> Digest:
    """Parse a digest's text (LF line ends) in whichever of the two forms it is written."""
    lines = _lines(text)
    digest = Digest(path, encoding, _form(lines))
    body, page_title = _take_trailer(lines, digest)
    first = _first_paper(body, digest.form)
    _read_header(body[:first], digest)
    digest.title = digest.title or page_title
    if digest.form == "aminer":
        _read_aminer(body[first:], digest)
    else:
        _read_labelled(body[first:], digest)
    return digest


def _form(lines: list[Line]) -> str:
    """``aminer`` when papers are closed by ``链接：`` lines and no citation line is found."""
    if any(_citation(line.text) for line in lines):
        return "labelled"
    if any(re.match(rf"^链接\s*{_COLON}", line.text) for line in lines):
        return "aminer"
    return "labelled"


def _take_trailer(lines: list[Line], digest: Digest) -> tuple[list[Line], str | None]:
    """A last line ``<page title>+<URL>`` says where the digest was copied from: not paper text.

    Gives the other lines and that page title (the issue's title when the digest has no title line)."""
    filled = [n for n, line in enumerate(lines) if line.text]
    if not filled:
        return lines, None
    last = lines[filled[-1]]
    match = re.match(r"^(.*?)\s*(\+)?\s*(https?://\S+)$", last.text)
    if not match or not match.group(1) or _BULLET.match(last.text):
        return lines, None
    if not match.group(2) and not _DATE.search(match.group(1)):
        return lines, None  # a sentence that ends in a link is the paper's text
    digest.source = match.group(3)
    digest.day = _find_date(match.group(1))
    return lines[: filled[-1]] + lines[filled[-1] + 1 :], match.group(1).strip(" +")


def _first_paper(lines: list[Line], form: str) -> int:
    """Index of the line that opens paper 1 (len(lines) if none does)."""
    for index, line in enumerate(lines):
        match = _NUMBERED.match(line.text)
        if match and int(match.group(1)) == 1 and _opens_paper(lines, index, form, None):
            return index
    return len(lines)


def _opens_paper(lines: list[Line], index: int, form: str, previous: str | None) -> bool:
    """Whether the numbered line at ``index`` opens a paper rather than continuing a numbered list."""
    text = _NUMBERED.match(lines[index].text).group(2)
    following = next((line.text for line in lines[index + 1 :] if line.text), "")
    if form == "labelled" and _citation(following):
        return True
    number = int(_NUMBERED.match(lines[index].text).group(1))
    listed = previous is not None and (match := _NUMBERED.match(previous)) and int(match.group(1)) == number - 1
    if listed:
        return False
    return form == "aminer" or not _SENTENCE.search(text) and len(text) <= 300


def _read_header(lines: list[Line], digest: Digest) -> None:
    """Before paper 1: the digest's title, its date and author lines, and an intro."""
    for line in lines:
        if not line.text:
            continue
        label = _label_of(line.text)
        if label and _norm(label[0]) in _HEADER_LABELS:
            if _norm(label[0]) in _DATE_LABELS:
                found = _find_date(label[1])
                if found is None:
                    digest.warn(line.number, f"no date YYYY-MM-DD in {line.text!r}; left out")
                digest.day = found or digest.day
            continue
        if _BREADCRUMB.search(line.text) and len(line.text) <= 40:
            digest.warn(line.number, f"page navigation {line.text!r} is not part of the digest; left out")
        elif digest.title is None and not digest.intro and _is_title(line.text):
            digest.title = line.text
        else:
            digest.intro.append(_paragraph(line))


def _is_title(text: str) -> bool:
    return len(text) <= 80 and "。" not in text and not _NUMBERED.match(text)


# ---------------------------------------------------------------- the labelled form


def _read_labelled(lines: list[Line], digest: Digest) -> None:
    """Split at each ``N. Title`` line and read each paper's lines."""
    for start, end in _paper_spans(lines, "labelled"):
        match = _NUMBERED.match(lines[start].text)
        paper = DigestPaper(int(match.group(1)), lines[start].number, _clean_title(match.group(2)))
        _read_labelled_paper(paper, lines[start + 1 : end], digest)
        if not paper.cited:
            digest.warn(
                paper.line,
                f"paper {paper.number} has no citation line (`authors - venue, year`) after its title: "
                "authors left empty, no venue or year; add them to the entry",
            )
        digest.papers.append(paper)


def _paper_spans(lines: list[Line], form: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each paper: from its numbered line to the next paper's."""
    starts: list[int] = []
    previous: str | None = None
    for index, line in enumerate(lines):
        match = _NUMBERED.match(line.text)
        expected = len(starts) + 1
        if match and int(match.group(1)) == expected and _opens_paper(lines, index, form, previous):
            starts.append(index)
            previous = None
        elif line.text:
            previous = line.text
    return list(zip(starts, [*starts[1:], len(lines)]))


def _read_labelled_paper(paper: DigestPaper, lines: list[Line], digest: Digest) -> None:
    """Citation, links and translated title first; then the lead and the labelled parts."""
    part: Part | None = None  # None: still before the first label (the lead)
    special: Callable[[Line], bool] | None = None  # a label that fills front matter, until the next label
    heading = True  # still among the lines that follow the title
    for line in lines:
        if not line.text:
            continue
        if _take_link(paper, line.text, digest, line.number, bare=part is None):
            continue
        if heading and not paper.cited and _take_citation(paper, line.text, digest, line.number):
            continue
        label = _label_of(line.text)
        if label and _is_label(*label):
            heading = False
            special = _special_label(paper, label[0], digest)
            if special is None:
                part = Part(label[0], line.number)
                paper.parts.append(part)
            elif part is None:
                part = Part("", line.number)  # text after a front-matter label is no longer the lead
            if label[1] and not (special(Line(line.number, label[1])) if special else _add_block(part, line, label[1])):
                digest.warn(line.number, f"{label[1]!r} after {label[0]!r} not understood; left out")
            continue
        if special is not None:
            if not special(line):
                digest.warn(line.number, f"line not understood after a front-matter label; left out: {line.text!r}")
            continue
        if heading and paper.title_translated is None and _looks_translated(line.text):
            paper.title_translated = line.text
            continue
        heading = False
        _add_block(part if part is not None else paper.lead, line, line.text)
    paper.parts = _kept_parts(paper.parts, digest)


def _kept_parts(parts: list[Part], digest: Digest) -> list[Part]:
    """Drop labels with nothing under them (`publish check` would warn of an empty section)."""
    kept = []
    for part in parts:
        if part.blocks:
            kept.append(part)
        else:
            digest.warn(part.line, f"label {part.label!r} has no text under it; no section made")
    return kept


def _special_label(paper: DigestPaper, label: str, digest: Digest) -> Callable[[Line], bool] | None:
    """For a label that fills a front-matter key, the function that takes its lines."""
    name = _norm(label)

    def translated(line: Line) -> bool:
        if paper.title_translated is not None:
            return False
        paper.title_translated = line.text
        return True

    def rating(line: Line) -> bool:
        if paper.rating is not None:
            return False
        paper.rating = _rating(line, digest)
        return paper.rating is not None

    def tags(line: Line) -> bool:
        found = [t.strip() for t in re.split(r"[,，、;；|#]+", _strip_bullet(line.text)) if t.strip()]
        paper.tags.extend(t for t in found if t not in paper.tags)
        return bool(found)

    def authors(line: Line) -> bool:
        names = _split_authors(line.text, digest, line.number)
        if names and not paper.authors:
            paper.authors, paper.cited = names, True
        return bool(names)

    def link(line: Line) -> bool:
        return _take_link(paper, line.text, digest, line.number, bare=True)

    if name in _TRANSLATED:
        return translated
    if name in _RATING_LABELS:
        return rating
    if name in _TAG_LABELS:
        return tags
    if name in _AUTHOR_LABELS:
        return authors
    if name in _LINK_LABELS:
        return link
    return None


def _rating(line: Line, digest: Digest) -> int | None:
    """``8/10`` (or a bare 0–10) as an integer score; a half point is rounded up."""
    match = _RATING.search(line.text) or re.fullmatch(r"(\d{1,2}(?:\.\d+)?)\s*分?", line.text)
    if not match:
        return None
    value = float(match.group(1))
    if not 0 <= value <= 10:
        digest.warn(line.number, f"reading score {match.group(0)!r} is outside 0–10; no rating written")
        return -1  # taken, so the line is not reported a second time
    if value != int(value):
        digest.warn(line.number, f"reading score {match.group(0)!r} rounded to {int(value + 0.5)}: ratings are whole")
    return int(value + 0.5)


def _looks_translated(text: str) -> bool:
    """A short line in Chinese right after the title: the title in the newsletter's language."""
    return bool(_CJK.search(text)) and len(text) <= 100 and not _SENTENCE.search(text)


# ---------------------------------------------------------------- the AMiner form


def _read_aminer(lines: list[Line], digest: Digest) -> None:
    """Each numbered paragraph is a paper's lead; its ``链接：`` line gives the title."""
    for start, end in _paper_spans(lines, "aminer"):
        match = _NUMBERED.match(lines[start].text)
        paper = DigestPaper(int(match.group(1)), lines[start].number, "")
        _add_block(paper.lead, lines[start], match.group(2))
        closed = False
        for line in lines[start + 1 : end]:
            if not line.text:
                continue
            if closed:
                if not (paper.url is None and _take_link(paper, line.text, digest, line.number, bare=True)):
                    digest.warn(
                        line.number, f"line not understood (after paper {paper.number}); left out: {line.text!r}"
                    )
            elif link := re.match(rf"^链接\s*{_COLON}\s*(.*)$", line.text):
                _aminer_link(paper, link.group(1), digest, line.number)
                closed = True
            else:
                _add_block(paper.lead, line, line.text)
        if not paper.title:
            paper.title = _stand_in_title(paper)
            digest.warn(
                paper.line,
                f"paper {paper.number} has no `链接：<title>` line: its title is unknown; "
                f"written as {paper.title!r}, replace it with the paper's title",
            )
        paper.cited = True  # AMiner digests name no authors: nothing to warn about
        digest.papers.append(paper)


def _aminer_link(paper: DigestPaper, text: str, digest: Digest, number: int) -> None:
    """``Title - AMiner``, a URL, or both."""
    for url in _URL.findall(text):
        _take_link(paper, url, digest, number, bare=True)
    title = _AMINER_TAIL.sub("", _URL.sub("", text)).strip(" -–—|")
    paper.title = _clean_title(title) if title else paper.title


def _stand_in_title(paper: DigestPaper) -> str:
    first = paper.lead.blocks[0][1] if paper.lead.blocks else f"论文 {paper.number}"
    first = first.replace("\\", "")
    return first[:40] + "…" if len(first) > 40 else first


# ---------------------------------------------------------------- lines of either form


def _label_of(text: str) -> tuple[str, str] | None:
    """``(label, rest)`` of a ``label: rest`` line (either colon), or None."""
    if _LINK_LINE.match(text) or _BULLET.match(text):
        return None
    match = _LABEL.match(text)
    if not match:
        return None
    return match.group(1).strip().strip("*【】[]").strip(), match.group(2).strip()


def _is_label(label: str, rest: str) -> bool:
    """A known label, or a short one alone on its line (``创新点:``)."""
    name = _norm(label)
    known = name in _SECTION_NAMES | _TRANSLATED | _RATING_LABELS | _TAG_LABELS | _AUTHOR_LABELS | _LINK_LABELS
    if known:
        return name != "标题" or not rest  # 标题 alone introduces a translation; with text it is content
    return not rest and 0 < len(label) <= 12 and not re.search(r"[，。,.;；！!？?、]", label)


def _norm(label: str) -> str:
    return re.sub(r"\s+", "", label).lower()


def _citation(text: str) -> tuple[list[str], str | None, int | None, str | None] | None:
    """``(authors, venue, year, arxiv id)`` of a Google Scholar citation line, or None."""
    parts = _DASH.split(text.replace("\u00a0", " "))
    if len(parts) < 2 or not _CJK.search(parts[0]) and not re.search(r"[A-Za-z]", parts[0]):
        return None
    names = [n.strip() for n in re.split(r"[,，、]", parts[0])]
    if not all(n and len(n) <= 40 and len(n.split()) <= 5 and _AUTHOR.match(n.replace("…", "")) for n in names):
        return None
    venue, year = None, None
    for part in parts[1:]:
        match = _YEAR_AT_END.search(part.strip())
        if match:
            year = int(match.group(1))
            venue = part.strip()[: match.start()].strip(" ,，") or None
            break
    if year is None:
        return None
    arxiv = _ARXIV_IN_TEXT.search(text)
    return names, venue, year, arxiv.group(1) if arxiv else None


def _take_citation(paper: DigestPaper, text: str, digest: Digest, number: int) -> bool:
    found = _citation(text)
    if found is None:
        return False
    names, paper.venue, paper.year, arxiv = found
    paper.authors = _split_authors(", ".join(names), digest, number)
    paper.cited = True
    if arxiv:
        _set_arxiv(paper, arxiv, digest, number)
    return True


def _split_authors(text: str, digest: Digest, number: int) -> list[str]:
    """Names separated by commas; Scholar's ``…`` (a list cut short) is dropped with a warning."""
    names = [n.strip() for n in re.split(r"[,，、;；]", text) if n.strip()]
    kept = [n for n in names if n.strip(".…") and n not in ("et al", "等")]
    if len(kept) < len(names) or any("…" in n for n in kept):
        digest.warn(number, "the author list is cut short (…) in the digest: add the missing names to the entry")
        kept = [n.replace("…", "").strip() for n in kept]
    return [n for n in kept if n]


def _take_link(paper: DigestPaper, text: str, digest: Digest, number: int, bare: bool) -> bool:
    """A link line (``https://…``, ``PDF: https://…``, ``链接：https://…``): fills url or pdf.

    A bare URL counts only where links are expected (after the title, under a link label)."""
    match = _LINK_LINE.match(text)
    if not match or (match.group(1) is None and not bare):
        return False
    label, url = _norm(match.group(1) or ""), match.group(2).rstrip(".,，。)）")
    if label and label not in _LINK_LABELS:
        return False
    arxiv = _ARXIV_IN_URL.search(url)
    if arxiv:
        _set_arxiv(paper, arxiv.group(1), digest, number)
    key = "pdf" if label == "pdf" or url.lower().endswith(".pdf") or "/pdf/" in url else "url"
    if getattr(paper, key) is None:
        setattr(paper, key, url)
    elif getattr(paper, key) != url:
        digest.warn(number, f"a second {key} link for paper {paper.number}; the first is kept: {url}")
    return True


def _set_arxiv(paper: DigestPaper, arxiv: str, digest: Digest, number: int) -> None:
    if paper.arxiv is None:
        paper.arxiv = arxiv
    elif paper.arxiv.split("v")[0] != arxiv.split("v")[0]:
        digest.warn(number, f"arXiv {arxiv} differs from {paper.arxiv} given before for paper {paper.number}")


def _clean_title(text: str) -> str:
    """A title as printed, without Scholar's ``[PDF]`` mark or surrounding emphasis."""
    return _SCHOLAR_MARK.sub("", text).strip().strip("*").strip()


def _find_date(text: str) -> date | None:
    match = _DATE.search(text)
    if not match:
        return None
    try:
        return date(int(match.group(1)), int(match.group(2)), int(match.group(3)))
    except ValueError:
        return None


# ---------------------------------------------------------------- Markdown


def _add_block(part: Part, line: Line, text: str) -> bool:
    """Add one line of text to a part as Markdown: a list item stays a list item."""
    bullet = _BULLET.match(text)
    numbered = _NUMBERED.match(text)
    nested = "  " if line.indent >= 2 and part.blocks and part.blocks[-1][0] != "p" else ""
    if bullet:
        part.blocks.append(("-", f"{nested}- {_escape(bullet.group(1))}"))
    elif numbered and part.label:  # a paper's lead may start with its number: that is no list
        part.blocks.append(("1", f"{nested}{numbered.group(1)}. {_escape(numbered.group(2))}"))
    else:
        part.blocks.append(("p", _escape(text)))
    return True


def _paragraph(line: Line) -> str:
    return _escape(line.text)


def _strip_bullet(text: str) -> str:
    match = _BULLET.match(text)
    return match.group(1) if match else text


def _escape(text: str) -> str:
    """Plain text that reads back from Markdown as exactly this text."""
    escaped = re.sub(r"([\\`*_\[\]<>&|~])", r"\\\1", text)
    escaped = re.sub(r"^([#=+\-])", r"\\\1", escaped)  # a line's start could make a heading or list
    return re.sub(r"^(\d+)([.)])", r"\1\\\2", escaped)


def _markdown(blocks: list[tuple[str, str]]) -> str:
    """Blocks joined: list items of one list by a line break, everything else by a blank line."""
    out = ""
    for index, (kind, text) in enumerate(blocks):
        if index:
            out += "\n" if kind != "p" and blocks[index - 1][0] == kind else "\n\n"
        out += text
    return out


# ---------------------------------------------------------------- files


class _Dumper(yaml.SafeDumper):
    """Safe YAML, with ``|`` blocks for multi-line text and never an alias (check refuses them)."""

    def ignore_aliases(self, data) -> bool:
        return True


def _represent_text(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_Dumper.add_representer(str, _represent_text)


def dump_yaml(data: dict) -> str:
    """YAML any value reads back from as it was: quoting is the emitter's, never ours."""
    return yaml.dump(data, Dumper=_Dumper, allow_unicode=True, sort_keys=False, width=1000)


def front_matter(paper: DigestPaper) -> dict:
    """The entry's keys in FORMAT.md's terms; keys the digest says nothing about are left out."""
    # arxiv before the authors, as `publish add` writes it: the repeat check reads a file's head only.
    data = {
        "title": paper.title,
        "title_translated": paper.title_translated,
        "arxiv": paper.arxiv,
        "authors": list(paper.authors),
        "venue": paper.venue,
        "year": paper.year,
        "url": paper.url,
        "pdf": paper.pdf,
        "rating": paper.rating if paper.rating is not None and paper.rating >= 0 else None,
        "tags": list(paper.tags) or None,
    }
    return {k: v for k, v in data.items() if v is not None or k == "authors"}


def entry_text(paper: DigestPaper) -> str:
    """The whole entry: front matter, the lead, then one ``## `` section per label."""
    parts = [f"---\n{dump_yaml(front_matter(paper))}---\n"]
    if paper.lead.blocks:
        parts.append(_markdown(paper.lead.blocks) + "\n")
    for part in paper.parts:
        parts.append(f"## {_escape(part.label)}\n\n{_markdown(part.blocks)}\n")
    return "\n".join(parts)


def issue_text(title: str, digests: Sequence[Digest]) -> str:
    """issue.yaml: the title, the digests' intro and source; a draft until the editor says so."""
    intro = "\n\n".join(p for d in digests for p in d.intro)
    sources = list(dict.fromkeys(d.source for d in digests if d.source))
    data: dict = {"title": title}
    if intro:
        data["intro"] = intro + "\n"
    if len(sources) == 1:
        data["source"] = sources[0]
    # A constant line, so that the comment stays: the scheduler would send an imported issue at once.
    return dump_yaml(data) + "draft: true        # remove this line when the issue is ready to publish\n"


def _entry_name(number: int, width: int, paper: DigestPaper) -> str:
    """``NN-slug.md`` from the title's English words (else the arXiv id, else ``paper``)."""
    slug = entry_slug(paper.title, paper.arxiv or "0000.00000")
    if slug == "arxiv-0000-00000":  # entry_slug's stand-in when the title has no ASCII word
        slug = "paper"
    return f"{number:0{width}d}-{slug}.md"


# ---------------------------------------------------------------- the import


def plan_import(config: Config, paths: Sequence[Path], issue_id: str | None = None) -> ImportPlan:
    """Read every digest and decide the folder and each file's text; write nothing."""
    if not paths:
        raise UsageError("no digest files given", hint="publish import digest.txt [--issue 2024-09-30]")
    digests = [parse_digest(Path(p)) for p in paths]
    for digest in digests:
        if not digest.papers:
            raise PublishError(
                f"{digest.path}: no papers found (read as {digest.encoding})",
                hint="number each paper `1. Title` (or `1.` paragraphs with a `链接：` line) and import it again",
            )
    issue_id = _issue_id(issue_id, digests)
    folder = config.issues_dir / issue_id
    if folder.exists() or folder.is_symlink():
        raise PublishError(
            f"issue folder {folder} already exists; nothing was written",
            hint=f"pass --issue {issue_id[:10]}-SLUG for a second issue that day, or move the folder away",
        )
    title = next((d.title for d in digests if d.title), None) or f"{config.site.title} · {issue_id[:10]}"
    plan = ImportPlan(issue_id, folder, digests)
    plan.files[folder / "issue.yaml"] = issue_text(title, digests)
    papers = _unrepeated(digests)
    width = max(2, len(str(len(papers))))
    for number, paper in enumerate(papers, 1):
        path = folder / _entry_name(number, width, paper)
        plan.files[path] = entry_text(paper)
        plan.entries.append((path, paper))
    return plan


def _issue_id(given: str | None, digests: Sequence[Digest]) -> str:
    """``--issue`` if given, else the date the digests state."""
    if given:
        return validate_issue_id(given)
    days = list(dict.fromkeys(d.day for d in digests if d.day))
    if not days:
        names = ", ".join(str(d.path) for d in digests)
        raise UsageError(f"no date found in {names} (no `时间: YYYY-MM-DD` line)", hint="pass --issue YYYY-MM-DD")
    if len(days) > 1:
        raise UsageError(
            f"the digests give different dates ({', '.join(map(str, days))})", hint="pass --issue YYYY-MM-DD"
        )
    return days[0].isoformat()


def _unrepeated(digests: Sequence[Digest]) -> list[DigestPaper]:
    """Every paper once: a second one with the same arXiv id would make `publish check` fail."""
    seen: dict[str, DigestPaper] = {}
    papers = []
    for digest in digests:
        for paper in digest.papers:
            base = paper.arxiv.split("v")[0] if paper.arxiv else None
            if base and base in seen:
                digest.warn(
                    paper.line, f"paper {paper.number} is arXiv {base} again (paper {seen[base].number}); left out"
                )
                continue
            if base:
                seen[base] = paper
            papers.append(paper)
    return papers


def write_plan(plan: ImportPlan) -> None:
    """Write the issue folder whole: assembled beside its place, then renamed into it."""
    root = plan.folder.parent
    staging = root / f".import-{plan.issue_id}-{os.getpid()}"
    try:
        root.mkdir(parents=True, exist_ok=True)
        plan.folder.mkdir()  # claims the name: a folder made meanwhile by someone else stops us here
    except FileExistsError:
        raise PublishError(f"issue folder {plan.folder} already exists; nothing was written") from None
    except OSError as exc:
        raise PublishError(
            f"cannot create {plan.folder}: {exc.strerror or exc}", hint="choose a folder you can write to"
        ) from None
    try:
        staging.mkdir()
        for path, text in plan.files.items():
            with open(staging / path.name, "x", encoding="utf-8") as handle:
                handle.write(text)
        os.replace(staging, plan.folder)  # over the empty folder claimed above
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        with contextlib.suppress(OSError):
            plan.folder.rmdir()
        raise PublishError(f"cannot write {plan.folder}: {exc.strerror or exc}; nothing was written") from None


def import_digests(
    config: Config, paths: Sequence[Path], issue_id: str | None = None, dry_run: bool = False
) -> ImportPlan:
    """Plan the issue from the digests and, unless ``dry_run``, write it."""
    plan = plan_import(config, paths, issue_id)
    if not dry_run:
        write_plan(plan)
    return plan
