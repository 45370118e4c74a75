"""What a build remembers between runs, under ``<state folder>/build/``, and the keys it compares.

An issue's key hashes the tool's version, the config, the templates and the issue folder's
bytes; a site-level output's key hashes the public cards and the keys of the issues whose
content it read. Equal keys mean equal bytes, so that output is not rendered again.

The manifest also remembers when each issue's content, and each paper's, was last seen to
change (:func:`date_card`): the feeds' ``updated`` times come from there, never from the clock
of the build that renders them, so that they move on an edit and stay put otherwise.

A :class:`Stamp` beside the manifest answers a rebuild in which nothing changed (the usual
run of a scheduler or a CI job) without reading the manifest.
"""

from __future__ import annotations

import contextlib
import hashlib
import shutil
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from pipeline import __version__
from pipeline.atomic import write_atomic
from pipeline.build.cards import templates_fingerprint
from pipeline.config import Config

TERMS = "terms"  # the folder of each issue's search terms, in the build state


def terms_file(issue_id: str) -> str:
    """Where an issue's search terms are kept, relative to the build state folder."""
    return f"{TERMS}/{issue_id}.txt"


class Manifest:
    """The build's memory: per issue its key and card; per site-level output its key, the
    issues whose content it read and the files it wrote."""

    def __init__(self, config: Config) -> None:
        self.dir = config.state_dir / "build"
        self.path = self.dir / "manifest.json"
        try:
            data = orjson.loads(self.path.read_bytes())
        except (FileNotFoundError, orjson.JSONDecodeError):
            data = {}
        # Not a cache: a new tool version renders everything again, but the dates stay true.
        self.revisions: dict[str, dict] = data.get("revisions", {})
        # When each page in the sitemap last changed (pipeline.build.site.PageDates): history too.
        self.pages: dict[str, str] = data.get("pages", {})
        if data.get("version") != __version__:
            data = {}
        self.issues: dict[str, dict] = data.get("issues", {})
        self.site: dict[str, dict] = data.get("site", {})

    def content_path(self, issue_id: str) -> Path:
        return self.dir / "content" / f"{issue_id}.html"

    def terms_path(self, issue_id: str) -> Path:
        """The issue's search terms (pipeline.render.search), kept here rather than on its card:
        ~40 KB per issue of ten papers, which every build would read and write in the manifest."""
        return self.dir / terms_file(issue_id)

    def save(self) -> None:
        data = {
            "version": __version__,
            "site": self.site,
            "issues": self.issues,
            "revisions": self.revisions,
            "pages": self.pages,
        }
        # A cache: a torn write after a power cut only costs a full rebuild, so no fsync.
        # orjson: the manifest holds every issue's card (~6 MB for 500 issues), and the json
        # module's encoding and decoding of it took a quarter of a one-issue rebuild.
        write_atomic(self.path, orjson.dumps(data, option=orjson.OPT_SORT_KEYS), durable=False)


def template_cache(config: Config) -> Path | None:
    """The folder of compiled templates (per tool version, whose Environment settings the
    entries follow), created; None when the state folder is read-only (it costs compile time)."""
    folder = config.state_dir / "build" / f"templates-{__version__}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return None
    return folder


# Raised when the manifest starts to record something every issue must be built again to have
# (2: the files copied from its folder, so that one taken out of it leaves the site).
MANIFEST_FORMAT = 2


def environment_key(config: Config) -> str:
    """What every output depends on besides the issue itself."""
    digest = hashlib.sha256()
    digest.update(f"{__version__}\0{MANIFEST_FORMAT}\0".encode() + config.raw_bytes + b"\0")
    digest.update(templates_fingerprint(config).encode())
    return digest.hexdigest()


def issue_key(env_key: str, content: str) -> str:
    """The key an issue's outputs were rendered under: settings, templates, tool and folder."""
    return hashlib.sha256(f"{env_key}:{content}".encode()).hexdigest()


def card_hash(card_json: dict) -> str:
    """A card's hash, kept with it in the manifest (the site outputs' key is made of them)."""
    return hashlib.sha256(orjson.dumps(card_json, option=orjson.OPT_SORT_KEYS)).hexdigest()


def site_key(cards_key: str, name: str, reads: Iterable[str], manifest: Manifest) -> str:
    """A site-level output's key: the public cards, and the keys of the issues it read."""
    digest = hashlib.sha256(f"{cards_key}:{name}".encode())
    for issue_id in sorted(set(reads)):
        digest.update(f":{issue_id}={manifest.issues.get(issue_id, {}).get('key', '')}".encode())
    return digest.hexdigest()


def date_card(manifest: Manifest, issue_id: str, card: dict[str, Any], content: str, now: datetime) -> None:
    """Set ``updated_at`` on a card and each of its papers from what the manifest remembers.

    An issue seen for the first time is dated at its publish time; one whose folder hash
    changed since, at this build's time (never before its publish time); an unchanged one keeps
    its date. A paper likewise, by the hash of what the paper feeds show of it, plus its index
    in seconds, so that the papers of one issue never share a time.
    """
    old = manifest.revisions.get(issue_id)
    published = datetime.fromisoformat(card["publish_at"])
    base = published if old is None else max(published, now.astimezone(published.tzinfo).replace(microsecond=0))
    issue = _kept(old and old.get("issue"), content, base)
    kept_papers = (old or {}).get("papers", {})
    papers = {}
    for index, paper in enumerate(card["papers"]):
        digest = _paper_hash(paper, card["title"])
        papers[paper["anchor"]] = _kept(kept_papers.get(paper["anchor"]), digest, base + timedelta(seconds=index))
        paper["updated_at"] = papers[paper["anchor"]][1]
    card["updated_at"] = issue[1]
    manifest.revisions[issue_id] = {"issue": issue, "papers": papers}


def _kept(previous: list | None, digest: str, when: datetime) -> list:
    """``[hash, time]``: the previous pair while the hash is the same, else the new one."""
    if previous and previous[0] == digest:
        return list(previous)
    return [digest, when.isoformat()]


def _paper_hash(paper: dict[str, Any], issue_title: str) -> str:
    """What a paper's feed item shows: its card entry and the title of the issue it is in."""
    shown = {key: value for key, value in paper.items() if key != "updated_at"}
    return hashlib.sha256(orjson.dumps([shown, issue_title], option=orjson.OPT_SORT_KEYS)).hexdigest()


def forget_removed(manifest: Manifest, present: set[str], output_dir: Path) -> bool:
    """Drop issues whose folders are gone, with the pages built for them; True if there were any."""
    gone = [issue_id for issue_id in manifest.issues if issue_id not in present]
    for issue_id in gone:
        del manifest.issues[issue_id]
        manifest.content_path(issue_id).unlink(missing_ok=True)
        manifest.terms_path(issue_id).unlink(missing_ok=True)
        # Only a folder this build made for that issue id (the manifest knew it) is removed.
        shutil.rmtree(output_dir / "issues" / issue_id, ignore_errors=True)
    dated = [issue_id for issue_id in manifest.revisions if issue_id not in present]
    for issue_id in dated:  # also those a new tool version's manifest no longer lists
        del manifest.revisions[issue_id]
    return bool(gone or dated)


class Stamp:
    """What the last build of every issue was made from, to answer a rebuild with nothing to do
    without reading the manifest (~6 MB at 500 issues) and the cards in it.

    Its key hashes the settings, the templates, the tool's version, the search switch and every
    issue folder's signature (:func:`pipeline.load.folders.folder_signature`). It holds while
    the key is the same, the manifest is the file the stamped build left (a build by an older
    version, which knows no stamp, rewrites it), the clock has not gone back, no issue has
    become public since (its ``public_until``: the next publish time among the issues not yet
    public) and every page it lists is still there. Any other build removes it first; only a
    successful build of every issue writes it.
    """

    def __init__(self, config: Config, env_key: str, signatures: dict[str, str | None], search: bool) -> None:
        self.path = config.state_dir / "build" / "stamp.json"
        self.manifest = config.state_dir / "build" / "manifest.json"
        self.output = config.output_dir
        unsettled = any(files is None for files in signatures.values())
        lines = "".join(f"{issue_id}={files}\n" for issue_id, files in sorted(signatures.items()))
        self.key = None if unsettled else hashlib.sha256(f"{env_key}\n{search}\n{lines}".encode()).hexdigest()

    def unchanged(self, now: datetime) -> list[str] | None:
        """The issues left off the index as the last build had them, when it still holds; else None."""
        try:
            data = orjson.loads(self.path.read_bytes())
            if self.key is None or data["key"] != self.key or data["manifest"] != _file_stat(self.manifest):
                return None
            if now < datetime.fromisoformat(data["now"]):
                return None  # a clock set back (or a build told another time) may take issues off the index
            if data["public_until"] and now >= datetime.fromisoformat(data["public_until"]):
                return None  # an issue is due: the index and the feeds get it
            if not all((self.output / relative).is_file() for relative in data["files"]):
                return None
            return list(data["unlisted"])
        except (OSError, ValueError, TypeError, KeyError):
            return None

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)

    def save(self, now: datetime, public_until: datetime | None, unlisted: list[str], files: list[str]) -> None:
        """Remember this build (a cache: no fsync); ``files``: the outputs that must still be there."""
        if self.key is None:
            return
        try:
            manifest = _file_stat(self.manifest)
        except OSError:
            return
        data = {
            "key": self.key,
            "manifest": manifest,
            "now": now.isoformat(),
            "public_until": public_until.isoformat() if public_until else None,
            "unlisted": unlisted,
            "files": files,
        }
        with contextlib.suppress(OSError):  # a read-only state folder: the next rebuild takes the long way
            write_atomic(self.path, orjson.dumps(data), durable=False)


def _file_stat(path: Path) -> str:
    stat = path.stat()
    return f"{stat.st_size}:{stat.st_mtime_ns}:{stat.st_ino}"
