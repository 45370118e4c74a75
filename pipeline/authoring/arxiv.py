"""arXiv ids and the arXiv API: what `publish add` knows of a paper before the editor writes.

Ids come in many shapes (``2409.14274``, ``2409.14274v2``, ``arXiv:2409.14274``, abs/pdf URLs)
and are normalised to ``YYMM.NNNNN[vN]``. All papers of one command are looked up in a single
``GET {api_base}?id_list=ID1,ID2`` whose Atom answer is parsed with ``xml.etree``; a document
that declares a DOCTYPE or entities is refused before parsing, so no entity expansion happens.

The API's terms ask for one request every three seconds, one connection at a time and a
descriptive User-Agent. The time of the last request is kept in ``<state>/arxiv/`` under a
file lock, so separate processes wait for each other too. Answers are cached there per id,
so the same id is never fetched twice; failures are not cached.

What the API says about trouble (see its user manual, "Errors"): a malformed request is an
HTTP 200 feed with one entry titled ``Error``; an id that does not exist simply has no entry;
throttling is a plain-text ``Rate exceeded.`` or HTTP 429/503.
"""

from __future__ import annotations

import fcntl
import json
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

from pipeline import __version__
from pipeline.atomic import write_atomic
from pipeline.config import Config
from pipeline.errors import PublishError, UsageError
from pipeline.model import ARXIV_ID

# Seconds between two requests to the API, across processes. Tests set this to 0.
MIN_INTERVAL = 3.0

ATOM = "{http://www.w3.org/2005/Atom}"
ARXIV_NS = "{http://arxiv.org/schemas/atom}"
_URL_ID = re.compile(
    r"^https?://(?:www\.|export\.)?arxiv\.org/(?:abs|pdf|html)/([^?#]+?)(?:\.pdf)?/?(?:[?#].*)?$", re.IGNORECASE
)
_ENTRY_ID = re.compile(r"/abs/([^/?#]+)$")
_DTD = re.compile(rb"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)
# How arXiv marks a withdrawn version: in its comment, or as the whole of its abstract.
_WITHDRAWN = re.compile(
    r"^\s*withdrawn\b|\b(?:this|the) (?:paper|article|submission|manuscript|work) (?:has been|is|was) withdrawn|\bwithdrawn by (?:the )?(?:authors?|arxiv|admin)",
    re.IGNORECASE,
)


class ArxivError(PublishError):
    """The arXiv API could not give us a usable record of a paper."""


@dataclass(frozen=True)
class ArxivPaper:
    """One paper as the API describes it (the version it returned)."""

    id: str  # with version, e.g. 2409.14274v2
    title: str
    authors: tuple[str, ...]
    summary: str
    published: str  # first version, ISO 8601
    updated: str = ""
    primary_category: str | None = None
    categories: tuple[str, ...] = ()
    journal_ref: str | None = None
    doi: str | None = None
    comment: str | None = None
    abs_url: str | None = None
    pdf_url: str | None = None

    @property
    def base_id(self) -> str:
        return base_id(self.id)

    @property
    def year(self) -> int | None:
        match = re.match(r"^(\d{4})-", self.published)
        return int(match.group(1)) if match else None

    @property
    def withdrawn(self) -> bool:
        return bool(_WITHDRAWN.search(self.comment or "") or _WITHDRAWN.search(self.summary[:300]))

    def to_json(self) -> dict:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> ArxivPaper:
        data = dict(data)
        data["authors"] = tuple(data.get("authors") or ())
        data["categories"] = tuple(data.get("categories") or ())
        return cls(**data)


# ---------------------------------------------------------------- ids


def parse_id(text: str) -> str:
    """``arXiv:2409.14274``, ``https://arxiv.org/pdf/2409.14274v1`` … → ``2409.14274[vN]``."""
    raw = text.strip()
    value = raw
    match = _URL_ID.match(value)
    if match:
        value = match.group(1)
    elif value.lower().startswith("arxiv:"):
        value = value[6:].strip()
    match = ARXIV_ID.match(value)
    if not match or not _plausible(match.group(1)):
        raise UsageError(
            f"{raw!r} is not an arXiv id",
            hint="give ids like 2409.14274, 2409.14274v2, arXiv:2409.14274 or https://arxiv.org/abs/2409.14274 (ids from before 2007 are not supported)",
        )
    return value


def _plausible(number: str) -> bool:
    """A real month, and the number's length of that time: 4 digits until 2014, then 5."""
    yymm, serial = number.split(".")
    if not 1 <= int(yymm[2:]) <= 12 or yymm < "0704":
        return False
    return len(serial) == (5 if yymm >= "1501" else 4)


def base_id(arxiv_id: str) -> str:
    """The id without its version suffix."""
    match = ARXIV_ID.match(arxiv_id)
    return match.group(1) if match else arxiv_id


def _matches(requested: str, paper: ArxivPaper) -> bool:
    if requested == base_id(requested):
        return paper.base_id == requested
    return paper.id == requested


# ---------------------------------------------------------------- Atom parsing


def _text(element: ET.Element | None) -> str:
    """Element text with arXiv's hard line wrapping undone."""
    if element is None or element.text is None:
        return ""
    return " ".join(element.text.split())


def _summary(element: ET.Element | None) -> str:
    """The abstract, one line per paragraph (paragraphs are separated by blank lines)."""
    if element is None or element.text is None:
        return ""
    paragraphs = re.split(r"\n\s*\n", element.text.strip())
    return "\n\n".join(" ".join(p.split()) for p in paragraphs if p.strip())


def _https(url: str | None) -> str | None:
    if url and url.startswith("http://arxiv.org/"):
        return "https://" + url[len("http://") :]
    return url


def parse_feed(data: bytes) -> list[ArxivPaper]:
    """The papers of an API answer; ArxivError for an error entry or a malformed answer."""
    if data.lstrip().startswith(b"Rate exceeded"):
        raise ArxivError(
            "the arXiv API is throttling requests (Rate exceeded)", hint="wait a minute and run the command again"
        )
    if _DTD.search(data):
        raise ArxivError("the arXiv API answer declares a DOCTYPE or entities; refused")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ArxivError(f"the arXiv API answer is not well-formed XML ({exc})") from None
    if root.tag != f"{ATOM}feed":
        raise ArxivError(f"the arXiv API answer is not an Atom feed (root element {root.tag!r})")
    papers = []
    for entry in root.findall(f"{ATOM}entry"):
        title = _text(entry.find(f"{ATOM}title"))
        entry_id = _text(entry.find(f"{ATOM}id"))
        if title == "Error" or "/api/errors" in entry_id:
            message = _text(entry.find(f"{ATOM}summary")) or "unknown error"
            raise ArxivError(f"the arXiv API refused the request: {message}")
        paper = _entry(entry, entry_id, title)
        if paper is not None:
            papers.append(paper)
    return papers


def _entry(entry: ET.Element, entry_id: str, title: str) -> ArxivPaper | None:
    match = _ENTRY_ID.search(entry_id)
    if not match or not ARXIV_ID.match(match.group(1)):
        raise ArxivError(f"the arXiv API answer has an entry with an unexpected id {entry_id!r}")
    if not title:  # how older API versions answered an id that does not exist
        return None
    links = entry.findall(f"{ATOM}link")
    abs_url = next((link.get("href") for link in links if link.get("rel") == "alternate"), None)
    pdf_url = next((link.get("href") for link in links if link.get("title") == "pdf"), None)
    primary = entry.find(f"{ARXIV_NS}primary_category")
    return ArxivPaper(
        id=match.group(1),
        title=title,
        authors=tuple(name for name in (_text(a.find(f"{ATOM}name")) for a in entry.findall(f"{ATOM}author")) if name),
        summary=_summary(entry.find(f"{ATOM}summary")),
        published=_text(entry.find(f"{ATOM}published")),
        updated=_text(entry.find(f"{ATOM}updated")),
        primary_category=primary.get("term") if primary is not None else None,
        categories=tuple(c.get("term") or "" for c in entry.findall(f"{ATOM}category") if c.get("term")),
        journal_ref=_text(entry.find(f"{ARXIV_NS}journal_ref")) or None,
        doi=_text(entry.find(f"{ARXIV_NS}doi")) or None,
        comment=_text(entry.find(f"{ARXIV_NS}comment")) or None,
        abs_url=_https(abs_url),
        pdf_url=_https(pdf_url),
    )


# ---------------------------------------------------------------- the client


class ArxivClient:
    """Looks papers up through the API, politely, and remembers the answers."""

    def __init__(self, config: Config, interval: float | None = None) -> None:
        self.api_base = str(config.arxiv.get("api_base"))
        self.timeout = float(config.arxiv.get("timeout", 20))
        self.interval = MIN_INTERVAL if interval is None else interval
        self.cache_dir = config.state_dir / "arxiv"
        self.user_agent = f"paper-digest-publish/{__version__} (+{config.site.url})"

    def lookup(self, ids: Sequence[str]) -> dict[str, ArxivPaper | ArxivError]:
        """Each normalised id → its paper, or the error that explains why there is none."""
        results: dict[str, ArxivPaper | ArxivError] = {}
        wanted = []
        for arxiv_id in ids:
            cached = self._cached(arxiv_id)
            if cached is not None:
                results[arxiv_id] = cached
            else:
                wanted.append(arxiv_id)
        if wanted:
            results.update(self._fetch(wanted))
        return {arxiv_id: results[arxiv_id] for arxiv_id in ids}

    def _fetch(self, ids: list[str]) -> dict[str, ArxivPaper | ArxivError]:
        try:
            papers = parse_feed(self._request(ids))
        except ArxivError as exc:
            return dict.fromkeys(ids, exc)
        results: dict[str, ArxivPaper | ArxivError] = {}
        for arxiv_id in ids:
            paper = next((p for p in papers if _matches(arxiv_id, p)), None)
            if paper is None:
                results[arxiv_id] = ArxivError(
                    f"{arxiv_id}: no such paper on arXiv", hint="check the id on https://arxiv.org/abs/" + arxiv_id
                )
            elif paper.withdrawn:
                results[arxiv_id] = ArxivError(
                    f"{arxiv_id}: the paper has been withdrawn ({paper.comment or paper.summary[:120]})"
                )
            else:
                self._store(arxiv_id, paper)
                results[arxiv_id] = paper
        return results

    def _request(self, ids: list[str]) -> bytes:
        import requests  # imported here: `publish --help` stays fast

        # Ids are validated, so they go into the query as they are: the commas stay commas.
        joiner = "&" if "?" in self.api_base else "?"
        url = f"{self.api_base}{joiner}id_list={','.join(ids)}&max_results={len(ids)}"
        with self._turn():
            try:
                response = requests.get(url, headers={"User-Agent": self.user_agent}, timeout=self.timeout)
            except requests.Timeout:
                raise ArxivError(
                    f"the arXiv API did not answer within {self.timeout:g} s",
                    hint="try again later, or raise arxiv.timeout in config.yaml",
                ) from None
            except requests.RequestException as exc:
                raise ArxivError(
                    f"could not reach the arXiv API at {self.api_base}: {exc.__class__.__name__}"
                ) from None
        if response.status_code in (429, 503):
            raise ArxivError(
                f"the arXiv API is busy (HTTP {response.status_code})", hint="wait a minute and run the command again"
            )
        if response.status_code != 200:
            raise ArxivError(f"the arXiv API answered HTTP {response.status_code}")
        return response.content

    def _turn(self):
        """A lock held across processes while waiting for and making one request."""
        return _Turn(self.cache_dir, self.interval)

    def _path(self, arxiv_id: str) -> Path:
        return self.cache_dir / f"{arxiv_id}.json"

    def _cached(self, arxiv_id: str) -> ArxivPaper | None:
        try:
            return ArxivPaper.from_json(json.loads(self._path(arxiv_id).read_text("utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    def _store(self, arxiv_id: str, paper: ArxivPaper) -> None:
        data = json.dumps(paper.to_json(), ensure_ascii=False, indent=1).encode("utf-8")
        # Also under the version returned, so asking for it by that name needs no request.
        for name in dict.fromkeys((arxiv_id, paper.id)):
            write_atomic(self._path(name), data)


class _Turn:
    """Waits until ``interval`` seconds have passed since the last request of any process."""

    def __init__(self, folder: Path, interval: float) -> None:
        self.folder, self.interval = folder, interval
        self.stamp = folder / "last-request"

    def __enter__(self) -> _Turn:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.folder / "request.lock", "a+")
        fcntl.flock(self.handle, fcntl.LOCK_EX)  # one connection at a time, across processes
        try:
            last = float(self.stamp.read_text().strip())
        except (OSError, ValueError):
            last = 0.0
        # min(): a clock set back must not make us wait for ages.
        wait = min(last + self.interval - time.time(), self.interval)
        if wait > 0:
            time.sleep(wait)
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            write_atomic(self.stamp, f"{time.time():.3f}\n".encode())
        finally:
            self.handle.close()
