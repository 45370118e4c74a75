"""`publish build`: every issue → its pages, email and WeChat files; all issues → index and feeds.

An issue is rendered again only when its key changes: the hash of its folder's bytes, the
config, the templates and the tool's version. The build's memory of earlier runs lives in
``<state folder>/build/`` (a manifest of keys and cards, and each issue's feed HTML).
A build that meets an invalid selected issue writes nothing and raises IssueError.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import __version__
from .atomic import Staging, write_atomic
from .config import Config
from .errors import IssueError, Problem
from .loader import fingerprint, issue_folders, load_issue
from .model import Issue
from .render import Card, RenderContext, make_card, templates_fingerprint
from .render import email as email_output
from .render import feeds, web, wechat
from .render import bibtex, papers

# Every per-issue output, in one explicit table: name → render_issue(issue, ctx) → {path: bytes}
ISSUE_OUTPUTS: dict[str, Callable[[Issue, RenderContext], dict[str, bytes]]] = {
    "web": web.render_issue,
    "email": email_output.render_issue,
    "wechat": wechat.render_issue,
    "bibtex": bibtex.render_issue,
}
# Outputs spanning issues: name → render_site(cards, ctx) → {path: bytes}
SITE_OUTPUTS: dict[str, Callable[[list[Card], RenderContext], dict[str, bytes]]] = {
    "web": web.render_site,
    "feeds": feeds.render_site,
    "papers": papers.render_site,
}
ASSET_SKIP = {"issue.yaml"}


@dataclass
class BuildReport:
    built: list[str] = field(default_factory=list)  # issues rendered this time
    skipped: list[str] = field(default_factory=list)  # unchanged issues
    written: list[Path] = field(default_factory=list)  # output files that changed
    problems: list[Problem] = field(default_factory=list)  # warnings (errors raise)


class Manifest:
    """The build's memory: per issue its key and card; the key of the site-level outputs."""

    def __init__(self, config: Config) -> None:
        self.dir = config.state_dir / "build"
        self.path = self.dir / "manifest.json"
        try:
            data = json.loads(self.path.read_text("utf-8"))
        except (FileNotFoundError, ValueError):
            data = {}
        if data.get("version") != __version__:
            data = {}
        self.issues: dict[str, dict] = data.get("issues", {})
        self.site_key: str | None = data.get("site_key")

    def card(self, issue_id: str) -> Card | None:
        entry = self.issues.get(issue_id)
        return Card.from_json(entry["card"]) if entry else None

    def content_path(self, issue_id: str) -> Path:
        return self.dir / "content" / f"{issue_id}.html"

    def save(self) -> None:
        data = {"version": __version__, "site_key": self.site_key, "issues": self.issues}
        write_atomic(self.path, json.dumps(data, ensure_ascii=False, sort_keys=True).encode())


def environment_key(config: Config) -> str:
    """What every output depends on besides the issue itself."""
    digest = hashlib.sha256()
    digest.update(__version__.encode() + b"\0" + config.raw_bytes + b"\0")
    digest.update(templates_fingerprint(config).encode())
    return digest.hexdigest()


def build(
    config: Config,
    ids: Iterable[str] | None = None,
    now: datetime | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    force: bool = False,
) -> BuildReport:
    """Render the selected issues (all by default) and the site-level outputs."""
    now = now or datetime.now(timezone.utc)
    selected = {issue_id for issue_id, _ in issue_folders(config, ids)} if ids is not None else None
    folders = issue_folders(config)
    manifest = Manifest(config)
    env_key = environment_key(config)
    staging = Staging(config.output_dir)
    cache = Staging(manifest.dir)  # feed HTML per issue, committed with the outputs
    ctx = RenderContext(config, now, content_of=lambda issue_id: cache.read(f"content/{issue_id}.html").decode())
    report = BuildReport()
    problems: list[Problem] = []
    cards: list[Card] = []
    try:
        for index, (issue_id, folder) in enumerate(folders, 1):
            if progress:
                progress(index, len(folders), issue_id)
            key = hashlib.sha256(f"{env_key}:{fingerprint(folder)}".encode()).hexdigest()
            cached = manifest.issues.get(issue_id)
            fresh = cached and cached["key"] == key and (config.output_dir / "issues" / issue_id / "index.html").is_file()
            if fresh and not force:
                report.skipped.append(issue_id)
                cards.append(Card.from_json(cached["card"]))
                continue
            if selected is not None and issue_id not in selected:
                card = _unselected(issue_id, folder, cached, config, ctx, staging, cache, manifest, problems, key)
            else:
                card = _build_issue(folder, config, ctx, staging, cache, manifest, problems, key)
            if card is not None:
                cards.append(card)
                report.built.append(issue_id)
        report.problems = [p for p in problems if not p.is_error]
        if any(p.is_error for p in problems):
            raise IssueError(problems, "build stopped: nothing was written")
        _render_site(cards, ctx, staging, manifest, env_key)
    except BaseException:
        staging.discard()
        cache.discard()
        raise
    report.written = staging.commit()
    cache.commit()
    _forget_removed(manifest, {issue_id for issue_id, _ in folders})
    manifest.save()
    return report


def _unselected(issue_id: str, folder: Path, cached: dict | None, config: Config, ctx: RenderContext, staging: Staging, cache: Staging, manifest: Manifest, problems: list[Problem], key: str) -> Card | None:
    """An issue the user did not ask for: keep its last good build; never let it stop this one."""
    if cached:
        return Card.from_json(cached["card"])
    own: list[Problem] = []
    card = _build_issue(folder, config, ctx, staging, cache, manifest, own, key)
    if card is None:
        problems.append(Problem(folder, None, "not built: this issue has errors (`publish check` shows them)", "warning"))
    return card


def _build_issue(folder: Path, config: Config, ctx: RenderContext, staging: Staging, cache: Staging, manifest: Manifest, problems: list[Problem], key: str) -> Card | None:
    issue = load_issue(folder, config, problems)
    if issue is None:
        return None
    for render in ISSUE_OUTPUTS.values():
        for relative, data in render(issue, ctx).items():
            staging.add(relative, data)
    for asset in _assets(issue.folder):
        staging.add(f"issues/{issue.id}/{asset.relative_to(issue.folder).as_posix()}", asset.read_bytes())
    card = make_card(issue, ctx)
    cache.add(f"content/{issue.id}.html", feeds.item_content(issue, ctx).encode())
    manifest.issues[issue.id] = {"key": key, "card": card.to_json()}
    return card


def _assets(folder: Path) -> list[Path]:
    """Images and other files an issue references, copied next to its pages."""
    return sorted(
        p for p in folder.rglob("*")
        if p.is_file() and p.suffix.lower() != ".md" and p.name not in ASSET_SKIP and not p.name.startswith(".")
    )


def _render_site(cards: list[Card], ctx: RenderContext, staging: Staging, manifest: Manifest, env_key: str) -> None:
    public = sorted((c for c in cards if c.is_public(ctx.now)), key=lambda c: (c.publish_at, c.id), reverse=True)
    digest = hashlib.sha256(env_key.encode())
    for card in public:
        digest.update(json.dumps(card.to_json(), sort_keys=True, ensure_ascii=False).encode())
        digest.update(manifest.issues.get(card.id, {}).get("key", "").encode())
    site_key = digest.hexdigest()
    if site_key == manifest.site_key and (ctx.config.output_dir / "index.html").is_file() and not staging.changed:
        return
    for render in SITE_OUTPUTS.values():
        for relative, data in render(public, ctx).items():
            staging.add(relative, data)
    manifest.site_key = site_key


def _forget_removed(manifest: Manifest, present: set[str]) -> None:
    for issue_id in list(manifest.issues):
        if issue_id not in present:
            del manifest.issues[issue_id]
            manifest.content_path(issue_id).unlink(missing_ok=True)


def clean(config: Config) -> None:
    """Remove the output folder and the build cache (for `publish build --force`)."""
    shutil.rmtree(config.state_dir / "build", ignore_errors=True)
