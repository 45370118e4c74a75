"""BibTeX for an issue's papers: ``issues/<id>/papers.bib`` and `publish bib`.

An arXiv paper is a ``@misc`` with ``eprint``, ``archivePrefix`` and ``primaryClass`` (the
first tag that is an arXiv category code, as `publish add` writes them). A venue that names
a conference ("Proceedings of …", "Findings of ACL", "… Workshop", or an acronym and a year
such as "COLM 2024") becomes ``@inproceedings`` with ``booktitle``, one that names a journal
``@article`` with ``journal``; those keep the eprint fields too. Any other venue is kept as
the ``@misc``'s ``howpublished`` (except "arXiv preprint …", which eprint already says). Keys are ``surname + year + first title word`` (``lu2024proof``), made
unique within the file by a letter suffix in entry order, so they only change when the
issue does. Every value is escaped for LaTeX; text stays UTF-8 (biber and bibtexu read it).
"""

from __future__ import annotations

import re
import unicodedata

from pipeline.model import Issue, Paper
from pipeline.render.context import RenderContext

_LATEX = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "$": r"\$",
    "&": r"\&",
    "%": r"\%",
    "#": r"\#",
    "_": r"\_",
    "^": r"\^{}",
    "~": r"\~{}",
    "<": r"\textless{}",
    ">": r"\textgreater{}",
}
_LATEX_CHARS = re.compile("[" + re.escape("".join(_LATEX)) + "]")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_CONFERENCE = re.compile(
    r"\b(proceedings|conference|workshop|symposium|findings|neurips|nips|icml|iclr|colm|acl|emnlp|naacl|eacl|coling|"
    r"cvpr|iccv|eccv|aaai|ijcai|kdd|sigir|sigmod|vldb|popl|pldi|oopsla|icse|fse|esec|ase|issta|cav|lics|usenix|osdi|sosp)\b|\bproc\.",
    re.IGNORECASE,
)
_JOURNAL = re.compile(
    r"\b(journal|transactions|letters|review|nature|science|volume)\b|\b(j|trans|vol)\.|\d+\s*\(\d{4}\)", re.IGNORECASE
)
# "COLM 2024", "CoRL'23", "SIGGRAPH Asia 2024": an acronym (two or more capitals) and a year is
# how conferences are cited; journals cited that way are the exceptions listed below.
_ACRONYM_YEAR = re.compile(r"^([A-Z][A-Za-z]*[A-Z][A-Za-z]*)\b[^\d]{0,12}?(?:(?:19|20)\d{2}|['’]\d{2})\b")
_JOURNAL_ACRONYMS = {
    "JMLR",
    "TMLR",
    "TACL",
    "TPAMI",
    "PAMI",
    "IJCV",
    "TOG",
    "TIP",
    "TNNLS",
    "TKDE",
    "JAIR",
    "CACM",
    "PNAS",
    "CSUR",
    "TOSEM",
    "TSE",
}
_PREPRINT = re.compile(r"\b(arxiv|preprint|corr)\b", re.IGNORECASE)
_CATEGORY = re.compile(
    r"^(cs|math|stat|eess|econ|q-bio|q-fin|physics|astro-ph|cond-mat|nlin|gr-qc|hep-ex|hep-lat|hep-ph|hep-th|"
    r"math-ph|nucl-ex|nucl-th|quant-ph)(\.[A-Za-z-]+)?$"
)
# Latin letters NFKD does not split into a base letter and an accent.
_LETTERS = str.maketrans(
    {
        "ł": "l",
        "Ł": "L",
        "ø": "o",
        "Ø": "O",
        "ß": "ss",
        "đ": "d",
        "Đ": "D",
        "æ": "ae",
        "Æ": "AE",
        "œ": "oe",
        "Œ": "OE",
        "þ": "th",
        "ı": "i",
    }
)
_STOP_WORDS = {
    "a",
    "an",
    "the",
    "of",
    "on",
    "in",
    "for",
    "and",
    "to",
    "with",
    "via",
    "by",
    "from",
    "is",
    "are",
    "do",
    "does",
}


def render_issue(issue: Issue, ctx: RenderContext) -> dict[str, bytes]:
    """``{"issues/<id>/papers.bib": bytes}`` for the build."""
    return {f"issues/{issue.id}/papers.bib": issue_bibtex(issue).encode("utf-8")}


def issue_bibtex(issue: Issue) -> str:
    """Every paper of the issue as a BibTeX entry, in the issue's order."""
    # Only the id in the comment: BibTeX reads any "@" outside an entry as the start of one.
    count = len(issue.papers)
    lines = [f"% Papers of issue {issue.id}: {count} {'entry' if count == 1 else 'entries'}", "% encoding: UTF-8", ""]
    used: set[str] = set()
    for paper in issue.papers:
        key = unique_key(base_key(paper), used)
        lines.append(paper_entry(paper, key))
    return "\n".join(lines)


def base_key(paper: Paper) -> str:
    """``surname + year + first word`` in ASCII; the slug stands in when all are non-Latin."""
    first = paper.authors[0] if paper.authors else ""
    # "Lu, Minghai" names the surname first; "Minghai Lu" last.
    surname = _ascii_word(first.split(",")[0] if "," in first else (first.split() or [""])[-1])
    words = [w for w in re.findall(r"[a-z0-9]+", _fold(paper.title)) if w not in _STOP_WORDS]
    year = str(paper.year) if paper.year else ""
    key = f"{surname}{year}{words[0] if words else ''}"
    if not surname and not words:
        key = _ascii_word(re.sub(r"^\d+-", "", paper.slug)) + year
    return key or "paper"


def unique_key(key: str, used: set[str]) -> str:
    """``key``, or ``key`` + a, b, … when an earlier entry of the file took it."""
    candidate, n = key, 0
    while candidate in used:
        candidate = key + _suffix(n)
        n += 1
    used.add(candidate)
    return candidate


def _suffix(n: int) -> str:
    letters = ""
    n += 1
    while n:
        n, rest = divmod(n - 1, 26)
        letters = chr(ord("a") + rest) + letters
    return letters


def entry_type(paper: Paper) -> str:
    """``inproceedings`` or ``article`` when the venue says so, else ``misc``."""
    venue = (paper.venue or "").strip()
    if _CONFERENCE.search(venue):
        return "inproceedings"
    if _PREPRINT.search(venue):
        return "misc"
    if _JOURNAL_ACRONYMS.intersection(re.findall(r"\b[A-Z]{2,}\b", venue)):
        return "article"  # "IEEE TPAMI 2024", "JMLR 25(1)"
    if _ACRONYM_YEAR.match(venue):
        return "inproceedings"
    if _JOURNAL.search(venue):
        return "article"
    return "misc"


def paper_entry(paper: Paper, key: str) -> str:
    """One ``@type{key, field = {value}, …}`` block."""
    kind = entry_type(paper)
    fields: list[tuple[str, str]] = [("title", "{" + escape(paper.title) + "}")]  # braces keep its capitals
    if paper.authors:
        fields.append(("author", " and ".join(_author(a) for a in paper.authors)))
    if paper.year:
        fields.append(("year", str(paper.year)))
    if kind == "inproceedings":
        fields.append(("booktitle", escape(paper.venue or "")))
    elif kind == "article":
        fields.append(("journal", escape(paper.venue or "")))
    elif paper.venue and not (paper.arxiv and _PREPRINT.search(paper.venue)):
        # A venue no rule recognises is still worth keeping; "arXiv preprint" only repeats eprint.
        fields.append(("howpublished", escape(paper.venue)))
    if paper.arxiv:
        fields += [("eprint", escape(paper.arxiv)), ("archivePrefix", "arXiv")]
        category = next((t for t in paper.tags if _CATEGORY.match(t)), None)
        if category:
            fields.append(("primaryClass", escape(category)))
    if paper.url:
        fields.append(("url", _url(paper.url)))
    if paper.title_translated:
        fields.append(("note", escape(paper.title_translated)))
    body = ",\n".join(f"  {name} = {{{value}}}" for name, value in fields)
    return f"@{kind}{{{key},\n{body}\n}}\n"


def escape(text: str) -> str:
    """Text safe inside a braced BibTeX value: LaTeX specials escaped, whitespace one line."""
    text = " ".join(_CONTROL.sub(" ", text).split())
    return _LATEX_CHARS.sub(lambda m: _LATEX[m.group(0)], text)


def _author(name: str) -> str:
    """An author for the ``and``-separated list: braced whole when BibTeX would misread it."""
    value = escape(name)
    # "and" inside a name would split it; a comma would swap first and last name.
    if re.search(r"\band\b", value, re.IGNORECASE) or "," in value:
        return "{" + value + "}"
    return value


def _url(url: str) -> str:
    """A URL with the characters that would break the braced value percent-encoded."""
    return "".join(f"%{ord(c):02X}" if c in '{}\\ "' or ord(c) < 32 else c for c in url)


def _fold(text: str) -> str:
    """ASCII lower case: accents dropped, letters without a decomposition spelled out."""
    text = unicodedata.normalize("NFKD", text.translate(_LETTERS))
    return text.encode("ascii", "ignore").decode().lower()


def _ascii_word(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", _fold(text))
