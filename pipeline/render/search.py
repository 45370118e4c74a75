"""The archive's search: an index of terms the browser queries with no server (``search.js``).

Each issue gets ``issues/<id>/search.json``: the issue and each of its papers as a document
(link, title, a line of authors and venue, the plain text), from which the search box checks
a match and cuts an excerpt. Over the archive, one folder::

    search/index.json        {"version": 1, "years": [{"year": "2024", "shards": 3,
                               "issues": ["2024-09-30", "2024-04-28"]}, ...]}   newest first
    search/2024/0.json …     {term: [positions in that year's "issues"]}, a term in the
                               shard crc32(UTF-8 term) % shards

Terms come from the text lower-cased, with full-width Latin letters and digits made ASCII:
every two adjacent CJK characters (Chinese has no spaces between words, so a bigram index finds
a word of two or more characters wherever it stands, as Lucene's CJK analyzer does) and every
run of two or more Latin letters or digits. The search box looks up the terms of the query in
the shards it needs, keeps the issues that have them all, then reads those issues' documents
newest first and keeps those that contain the query itself: a match is exact, not two bigrams
somewhere in an issue.

The terms of an issue are computed where it is rendered (on all CPUs) and kept by the build in
its state folder, their digest on the issue's card; the index of a year is rendered again only
when its issues or their terms change (an edit costs one year: ~50 ms at 52 issues of ten
papers). Pagefind, which this replaces, spent ~55 ms of CPU per issue of ten papers, more than
rendering the issue, and could not update an index: a cold build of 200 issues took 1.15-1.37x
Pelican's time with it.
"""

from __future__ import annotations

import hashlib
import json
import re
import zlib
from collections.abc import Iterable
from functools import lru_cache, partial
from typing import Any

from pipeline.model import Issue, Markdown, Paper
from pipeline.render.context import Card, RenderContext

INDEX = "search/index.json"
VERSION = 1
# Bytes of JSON per shard file, about: a query of a few terms loads a few per year. By size, not by
# number of terms: a common term's list of issues is long (a year of a generated archive, where
# most terms are in most issues, made one shard of 112 KB at 1,500 terms a shard).
SHARD_BYTES = 25_000
# Kana, CJK ideographs (and extension A), Hangul syllables, compatibility ideographs
CJK_RANGES = ((0x3040, 0x30FF), (0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xAC00, 0xD7AF), (0xF900, 0xFAFF))
CJK = "".join(f"{chr(low)}-{chr(high)}" for low, high in CJK_RANGES)  # as a regex class's body


@lru_cache(maxsize=1)  # compiled on first use: a class of 40,000 characters takes ~4 ms
def _cjk_runs() -> re.Pattern[str]:
    return re.compile(f"[{CJK}]{{2,}}")


# Latin words in any case and width; lower-casing only them (not the whole text) halves the cost
_WORD = re.compile("[0-9A-Za-z\u00c0-\u024f\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]{2,}")
_FULL_WIDTH = re.compile("[\uff01-\uff5e]")
_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)}  # ＡＢＣ１２３ → ABC123
_BLOCKS = ("paragraph_open", "heading_open", "list_item_open", "blockquote_open")


def normalize(text: str) -> str:
    """The text as terms are cut from it, as search.js does too: lower case, full-width Latin
    letters and digits as ASCII. (Full NFKC would also do this, at twice the cost per issue.)"""
    text = text.lower()
    return text.translate(_HALF_WIDTH) if _FULL_WIDTH.search(text) else text


def terms_of(text: str) -> set[str]:
    """The index terms of ``text``: CJK bigrams and Latin words (see the module docstring)."""
    # CJK characters have no case and no other width: their pairs need no normalizing
    found = {run[i : i + 2] for run in _cjk_runs().findall(text) for i in range(len(run) - 1)}
    found.update(normalize(word) for word in set(_WORD.findall(text)))
    return found


def terms_key(terms: str) -> str:
    """A short digest of an issue's terms, kept on its card."""
    return hashlib.sha256(terms.encode()).hexdigest()[:16]


@lru_cache(maxsize=4)  # the card and the build's terms file of one issue are made one after the other
def issue_terms(issue: Issue) -> str:
    """Every term of the issue's documents, sorted and space-separated."""
    text = "\n".join(f"{doc['title']}\n{doc['meta']}\n{doc['text']}" for doc in documents(issue))
    return " ".join(sorted(terms_of(text)))


@lru_cache(maxsize=4)  # the card and the fragment of one issue are made one after the other
def documents(issue: Issue) -> tuple[dict[str, str], ...]:
    """The issue (title, summary, introduction, closing words) and each paper as a document."""
    lead = {
        "url": f"issues/{issue.id}/",
        "title": issue.title,
        "meta": " · ".join(issue.tags),
        "text": "\n".join(filter(None, (issue.summary, plain_text(issue.intro), plain_text(issue.outro)))),
    }
    return (lead, *(_paper_document(issue, paper) for paper in issue.papers))


def _paper_document(issue: Issue, paper: Paper) -> dict[str, str]:
    meta = [", ".join(paper.authors), paper.venue or "", " ".join(paper.tags)]
    # Headed as the pages head it (the translated title), the original title in the text.
    heading, other = (paper.title_translated, paper.title) if paper.title_translated else (paper.title, "")
    parts = [other, plain_text(paper.lead)]
    for section in paper.sections:
        parts += [section.title, plain_text(section.body)]
    return {
        "url": f"issues/{issue.id}/#{paper.anchor}",
        "title": heading,
        "meta": " · ".join(filter(None, meta)),
        "text": "\n".join(filter(None, parts)),
    }


def plain_text(fragment: Markdown | None) -> str:
    """What a reader sees of a Markdown fragment: its text and code, a line per block, no URLs."""
    if fragment is None:
        return ""
    pieces: list[str] = []
    for token in fragment.tokens:
        if token.type in _BLOCKS and pieces and pieces[-1] != "\n":
            pieces.append("\n")
        elif token.type in ("code_block", "fence"):
            pieces += [token.content, "\n"]
        for child in token.children or ():
            if child.type in ("text", "code_inline"):
                pieces.append(child.content)
            elif child.type in ("softbreak", "hardbreak"):
                pieces.append(" ")
            elif child.type == "image":
                pieces.append(child.content)  # its alt text
    return "".join(pieces).strip()


def render_issue(issue: Issue, ctx: RenderContext) -> dict[str, bytes]:
    """``issues/<id>/search.json``: the issue's documents, read by the search box."""
    fragment = {"id": issue.id, "title": issue.title, "date": issue.date.isoformat(), "docs": documents(issue)}
    return {f"issues/{issue.id}/search.json": _json(fragment)}


def render_site(cards: list[Card], ctx: RenderContext) -> dict[str, bytes]:
    """``search/index.json`` and each year's shards, over the public issues (cards come filtered)."""
    years: dict[str, list[Card]] = {}
    for card in sorted(cards, key=lambda c: c.id, reverse=True):
        years.setdefault(card.id[:4], []).append(card)
    parts = ctx.part_cache("search")
    files: dict[str, bytes] = {}
    listing = []
    for year, year_cards in years.items():
        inputs = "\n".join(f"{card.id}\t{card.search_key}" for card in year_cards).encode()
        shards = parts.files(year, inputs, partial(_year_shards, year, year_cards, ctx))
        files.update(shards)
        listing.append({"year": year, "shards": len(shards), "issues": [card.id for card in year_cards]})
    files[INDEX] = _json({"version": VERSION, "years": listing})
    return files


def _year_shards(year: str, cards: Iterable[Card], ctx: RenderContext) -> dict[str, bytes]:
    """``search/<year>/<n>.json``: each term with the positions of the year's issues that have it."""
    postings: dict[str, list[int]] = {}
    for position, card in enumerate(cards):
        for term in ctx.search_terms(card.id).split():
            postings.setdefault(term, []).append(position)
    # "term":[1,2,3], — a position takes ~3 bytes with its comma (a year has tens of issues)
    size = sum(len(term.encode()) + 6 + 3 * len(positions) for term, positions in postings.items())
    count = max(1, -(-size // SHARD_BYTES))
    shards: list[dict[str, list[int]]] = [{} for _ in range(count)]
    for term in sorted(postings):
        shards[shard_of(term, count)][term] = postings[term]
    return {f"search/{year}/{n}.json": _json(shard) for n, shard in enumerate(shards)}


def shard_of(term: str, shards: int) -> int:
    """The shard a term is in (search.js computes the same CRC-32)."""
    return zlib.crc32(term.encode()) % shards


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
