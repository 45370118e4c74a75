"""`publish build`: every issue → its pages, email and WeChat files; all issues → index and feeds.

An issue is rendered again only when its key changes: the hash of its folder's bytes, the
config, the templates and the tool's version. The folder's bytes are hashed again only when
a file's size, times or inode changed (as git does), so an unchanged folder is not read.
The build's memory of earlier runs lives in ``<state folder>/build/`` (a manifest of keys,
cards and the time each issue's content last changed, which dates the feeds' entries, see
:mod:`pipeline.build.state`; and the feed HTML of the newest issues: an older one is rendered
again on the rare build whose feeds reach back to it). Many issues to render
are shared among forked worker processes, one per CPU (``PUBLISH_BUILD_JOBS`` caps them).
A build that meets an invalid selected issue writes nothing and raises IssueError.

An issue's email and WeChat files (:data:`SEND_OUTPUTS`) are rendered only while it may still
be sent: when it is among the newest :data:`SEND_WINDOW` folders, when the scheduler may still
send it by itself (due less than ``schedule.catch_up`` ago, or not yet due), or when it is
named (`publish build ID`, `publish issue`, which builds its issue before sending, and the
preview). Sent years ago, an issue needs only its page and BibTeX, and rendering the others for
every issue of an archive was a third of a cold build. The issue page links only to the
versions it has. An issue keeps the files it was rendered with while its key holds (leaving the
window does not render it again, so its links stay true and a send under way finds its files);
rendered again without them, it loses them, so a page and its folder always agree.
"""

from __future__ import annotations

import json
import os
import pickle
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import import_module
from pathlib import Path

from pipeline.atomic import ASSET_LIMIT, SETTLE_NS, Staging, UnreadableFile, read_file
from pipeline.build import neighbours, search, sending, site
from pipeline.build.cards import make_card
from pipeline.build.outputs import (
    ISSUE_FILES,
    ISSUE_OUTPUTS,
    ISSUE_TEMPLATES,
    NOT_COPIED_SUFFIXES,
    SEND_OUTPUTS,
    LazyRenderer,
    active_svg_problem,
    svg_runs_scripts,
)
from pipeline.build.parts import PartMemo
from pipeline.build.processes import Forked, collector_paused, cpu_budget, default_signals
from pipeline.build.state import (
    Manifest,
    Stamp,
    card_hash,
    date_card,
    environment_key,
    forget_removed,
    issue_key,
    template_cache,
    terms_file,
)
from pipeline.config import Config
from pipeline.errors import IssueError, Problem, RenderError
from pipeline.load.folders import fingerprint, folder_signature, issue_files, issue_folders
from pipeline.render.context import Card, RenderContext
from pipeline.render.search import issue_terms

ASSET_SKIP = {"issue.yaml"}


@dataclass
class BuildReport:
    built: list[str] = field(default_factory=list)  # issues rendered this time
    skipped: list[str] = field(default_factory=list)  # unchanged issues
    written: list[Path] = field(default_factory=list)  # output files that changed
    problems: list[Problem] = field(default_factory=list)  # warnings (errors raise)
    unlisted: list[str] = field(default_factory=list)  # drafts and issues not yet due: built, off the index


def build(
    config: Config,
    ids: Iterable[str] | None = None,
    now: datetime | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    force: bool = False,
) -> BuildReport:
    """Render the selected issues (all by default) and the site-level outputs."""
    with collector_paused():
        return _build(config, ids, now, progress, force)


def _build(
    config: Config,
    ids: Iterable[str] | None,
    now: datetime | None,
    progress: Callable[[int, int, str], None] | None,
    force: bool,
) -> BuildReport:
    now = now or datetime.now(timezone.utc)
    selected = {issue_id for issue_id, _ in issue_folders(config, ids)} if ids is not None else None
    folders = issue_folders(config)
    env_key = environment_key(config)
    settled = time.time_ns() - SETTLE_NS
    signatures, early = _sign_and_read(config, folders, settled)
    stamp = Stamp(config, env_key, signatures, search.enabled())
    if ids is None and not force:
        unlisted = stamp.unchanged(now)
        if unlisted is not None:  # nothing changed since the last build of every issue
            for done, (issue_id, _) in enumerate(folders, 1):
                if progress:
                    progress(done, len(folders), issue_id)
            return BuildReport(skipped=[issue_id for issue_id, _ in folders], unlisted=unlisted)
    stamp.clear()  # before anything changes: a build killed from here on leaves none
    newest = {issue_id for issue_id, _ in sorted(folders, reverse=True)[:SEND_WINDOW]}
    manifest = early or Manifest(config)
    site_before = json.dumps([manifest.site, manifest.pages], sort_keys=True)
    staging = Staging(config.output_dir)
    cache = Staging(manifest.dir)  # feed HTML per issue, committed with the outputs
    staging.sweep()  # what a killed build left
    cache.sweep()
    reads: list[str] = []  # issues whose feed HTML a site output asked for

    def content_of(issue_id: str) -> str:
        reads.append(issue_id)
        if manifest.issues.get(issue_id, {}).get("feed_html"):
            try:
                return cache.read(f"content/{issue_id}.html").decode()
            except FileNotFoundError:
                pass  # removed by hand, or by a build that stopped before saving the manifest
        return _feed_html_on_demand(issue_id, dict(folders)[issue_id], config, ctx, cache, manifest)

    ctx = RenderContext(config, now, content_of=content_of)
    ctx.template_cache = template_cache(config)
    part_caches: dict[str, PartMemo] = {}  # per site output that asked, saved after the commit

    def part_cache(output: str) -> PartMemo:
        if output not in part_caches:
            part_caches[output] = PartMemo(ctx, output, env_key.encode())  # hashing the templates once
        return part_caches[output]

    ctx.part_cache = part_cache

    def search_terms(issue_id: str) -> str:
        try:
            return cache.read(terms_file(issue_id)).decode()
        except FileNotFoundError:  # removed by hand: the issue is read again for them
            return _terms_on_demand(issue_id, dict(folders)[issue_id], config, cache)

    ctx.search_terms = search_terms
    ctx.page_dates = site.PageDates(manifest, staging, now)
    report = BuildReport()
    problems: list[Problem] = []
    cards: list[Card] = []
    refreshed = False  # an unchanged issue whose file times changed: remember the new ones
    done = 0
    try:
        jobs: list[_Job] = []
        window: set[str] | None = None  # computed when there is something to render

        def in_feed_window(issue_id: str) -> bool:
            nonlocal window
            if window is None:
                window = _feed_window(ctx, folders)
            return issue_id in window

        stale: list[str] = []  # rebuilt issues whose kept feed HTML is now out of date
        output = os.fspath(config.output_dir)  # a string: 500 pathlib joins cost ~15 ms per build
        for issue_id, folder in folders:
            cached = manifest.issues.get(issue_id)
            files = signatures[issue_id]
            # True: gets its email and WeChat files; None: if its publish time says it may be sent.
            send = True if issue_id in newest or (selected is not None and issue_id in selected) else None
            if cached is None:
                # Never built, so rendered whatever its key: its folder is hashed by the process
                # that renders it (on all CPUs) rather than here, one folder after another.
                jobs.append(
                    _Job(
                        issue_id,
                        folder,
                        None,
                        selected is None or issue_id in selected,
                        files,
                        None,
                        in_feed_window(issue_id),
                        send,
                    )
                )
                continue
            if files is not None and cached and cached.get("files") == files:
                content = cached["content"]  # no file was touched since it was hashed
            else:
                content = fingerprint(folder)
            key = issue_key(env_key, content)
            fresh = (
                cached
                and cached["key"] == key
                and os.path.isfile(f"{output}/issues/{issue_id}/index.html")
                and "search_key" in cached["card"]  # a card from before the search index had none
                and _has_wanted_outputs(cached, send, now, config)
                and cached.get("listed", not cached["card"]["draft"]) == _listed(cached["card"], now)
            )
            if fresh and not force:
                report.skipped.append(issue_id)
                if issue_id not in manifest.revisions:  # built before the build kept dates
                    date_card(manifest, issue_id, cached["card"], content, now)
                    cached["card_hash"] = card_hash(cached["card"])
                    refreshed = True
                cards.append(Card.from_json(cached["card"]))
                if cached.get("files") != files:
                    cached.update(files=files, content=content)
                    refreshed = True
            elif cached and selected is not None and issue_id not in selected:
                cards.append(Card.from_json(cached["card"]))  # not asked for: keep its last good build
            else:
                jobs.append(
                    _Job(
                        issue_id,
                        folder,
                        key,
                        selected is None or issue_id in selected,
                        files,
                        content,
                        in_feed_window(issue_id),
                        send,
                    )
                )
                continue
            done += 1
            if progress:
                progress(done, len(folders), issue_id)
        dropped: list[str] = []  # email and WeChat files of issues rendered again without them
        on_their_way: list[tuple[str, sending.Pending, list[str]]] = []  # (issue, child, files before)

        def settle(but: int = 0) -> None:
            """Take over and record the email and WeChat files children rendered, all but those
            of the ``but`` newest."""
            while len(on_their_way) > but:
                issue_id, child, before = on_their_way[0]
                files = child.settle(staging)
                on_their_way.pop(0)  # after: a build stopped meanwhile still takes its files to discard
                entry = manifest.issues[issue_id]
                if files:
                    entry["send_files"] = files
                dropped.extend(sorted(set(before) - set(files)))

        for job, card_json, own, content, send_files, assets in _run_jobs(jobs, config, ctx, staging, cache):
            last = manifest.issues.get(job.issue_id, {})
            before = last.get("send_files", [])
            deferred = isinstance(send_files, sending.Pending)
            if deferred:  # first: whatever happens next, the child is waited for
                on_their_way.append((job.issue_id, send_files, before))
                settle(but=1)  # the issue before's, done by now: one child at a time
                send_files = []  # recorded when they arrive
            done += 1
            if progress:
                progress(done, len(folders), job.issue_id)
            if job.selected:
                problems.extend(own)
            elif card_json is None:  # an issue the user did not ask for never stops this build
                problems.append(
                    Problem(
                        job.folder, None, "not built: this issue has errors (`publish check` shows them)", "warning"
                    )
                )
            if card_json is not None:
                key = job.key or issue_key(env_key, content)
                if manifest.issues.get(job.issue_id, {}).get("feed_html") and not job.feed:
                    stale.append(job.issue_id)
                date_card(manifest, job.issue_id, card_json, content, now)
                if not deferred:  # else when its files arrive
                    dropped.extend(sorted(set(before) - set(send_files or ())))
                dropped.extend(_assets_gone(config.output_dir, job.issue_id, last, assets))
                manifest.issues[job.issue_id] = {
                    "key": key,
                    "card": card_json,
                    "card_hash": card_hash(card_json),
                    "files": job.files,
                    "content": content,
                    "feed_html": job.feed,
                    "send": send_files is not None,
                    **({"send_files": send_files} if send_files else {}),
                    "assets": assets,  # to remove one that leaves the folder
                    "listed": _listed(card_json, now),  # its page then had no noindex
                }
                cards.append(Card.from_json(card_json))
                report.built.append(job.issue_id)
        report.problems = [p for p in problems if not p.is_error]
        if any(p.is_error for p in problems):
            raise IssueError(problems, "build stopped: nothing was written")
        site_files_before = {name: set(entry["files"]) for name, entry in manifest.site.items() if "files" in entry}
        outputs = site.SiteBuild(ctx, staging, cache, manifest, reads, part_caches)
        outputs.public = site.public_cards(cards, ctx)
        outputs.cards_key = site.cards_key(outputs.public, manifest, env_key)
        site.render(
            outputs,
            site.due(outputs, force),
            # the previous/next links, which depend on other issues, meanwhile
            lambda: neighbours.link_pages(cards, ctx, staging, manifest, report.built),
            split=cpu_budget() > 1,
        )
        settle()  # the edited issue's email and WeChat files, rendered meanwhile
    except BaseException:
        try:
            for _issue_id, child, _before in on_their_way:
                child.abandon(staging)  # its files go with the build's
        finally:
            staging.discard()
            cache.discard()
        raise
    report.written = staging.commit()
    cache.commit()
    for parts in part_caches.values():
        parts.save()
    for relative in [*dropped, *_unwritten_site_files(manifest, site_files_before)]:
        _remove_output(config.output_dir, relative)
    for issue_id in stale:
        if not manifest.issues[issue_id]["feed_html"]:  # unless the feeds asked for it again
            manifest.content_path(issue_id).unlink(missing_ok=True)
    removed = forget_removed(manifest, {issue_id for issue_id, _ in folders}, config.output_dir)
    search.drop_old_index(config)
    report.unlisted = sorted(card.id for card in cards if not card.is_public(now))
    site_changed = json.dumps([manifest.site, manifest.pages], sort_keys=True) != site_before
    if report.built or removed or refreshed or site_changed or not manifest.path.is_file():
        manifest.save()  # a rebuild that changed nothing leaves it as it is
    if ids is None:
        _stamp(stamp, cards, report, manifest, now)
    return report


def _sign_and_read(
    config: Config, folders: list[tuple[str, Path]], settled: int
) -> tuple[dict[str, str | None], Manifest | None]:
    """Each folder's signature and, on two CPUs or more, the manifest: a forked child signs the
    folders (~50 ms at 500 issues) while the build reads the manifest (~55 ms), which a rebuild
    after an edit needs next and one that finds nothing changed drops unread. (Its cards from a
    pipe would cost what reading them does; the signatures are a few bytes each.)"""

    def sign() -> dict[str, str | None]:
        return {issue_id: folder_signature(folder, settled) for issue_id, folder in folders}

    if len(folders) < PARALLEL_MIN or cpu_budget() < 2:
        return sign(), None
    child = Forked.start(lambda: pickle.dumps(sign()))
    if child is None:  # no process to be had
        return sign(), None
    try:
        manifest = Manifest(config)
    finally:
        payload = child.join()  # b"" when it failed before writing
    try:
        return pickle.loads(payload), manifest
    except (pickle.UnpicklingError, EOFError, ValueError):  # nothing, or cut short by a kill
        return sign(), manifest


def _stamp(stamp: Stamp, cards: list[Card], report: BuildReport, manifest: Manifest, now: datetime) -> None:
    """Remember a build of every issue, with the pages whose absence makes the next one rebuild."""
    due = [card.published for card in cards if not card.draft and not card.unfinished and card.published > now]
    pages = [f"issues/{card.id}/index.html" for card in cards]
    site = [path for entry in manifest.site.values() for path in entry.get("files", ())]
    stamp.save(now, min(due, default=None), report.unlisted, sorted({*pages, *site}))


@dataclass(frozen=True)
class _Job:
    """An issue to render: its folder, its new key, and whether the user asked for it."""

    issue_id: str
    folder: Path
    key: str | None  # None: not hashed yet (the process rendering it hashes it)
    selected: bool
    files: str | None  # folder_signature, kept in the manifest
    content: str | None  # fingerprint, kept in the manifest; None: not hashed yet
    feed: bool = True  # keep its feed HTML: it is among the issues the feeds may show
    send: bool | None = True  # render its email and WeChat files; None: if it may still be sent


# Issues beyond the feed's ``items`` whose feed HTML is kept as well: drafts and issues
# still to come among the newest folders push older issues into the feeds.
FEED_MARGIN = 10
# The newest issue folders that always get their email and WeChat files (and the links to
# them on their pages), whatever their publish time: the recent issues readers and editors
# look at. Older ones get them only when named or while the scheduler may still send them.
SEND_WINDOW = 10
# Issues to render before the build uses more than one process: forking costs ~50 ms.
PARALLEL_MIN = 16
# A worker's collector runs after this many new container objects rather than Python's 700:
# rendering makes short-lived trees of tokens and views, nearly all freed by reference
# counting, and each collection scanned them for nothing (~4% of a worker's time).
WORKER_GC_THRESHOLD = 20_000
_FORKED: tuple[Config, RenderContext, Path, int] | None = None  # what forked workers inherit


def _run_jobs(
    jobs: list[_Job], config: Config, ctx: RenderContext, staging: Staging, cache: Staging
) -> Iterator[tuple[_Job, dict | None, list[Problem], str, list[str] | None, list[str]]]:
    """``(job, card JSON or None, problems, folder fingerprint, email and WeChat files or None,
    files copied from the folder)`` per job, in order; on all CPUs when there are many. Rendered
    here (a few issues), the email and WeChat files may still be on their way: a
    :class:`pipeline.build.sending.Pending`."""
    workers = worker_count(len(jobs))
    if workers == 1:
        meanwhile = cpu_budget() > 1  # a child renders each issue's email and WeChat files
        if meanwhile and len(jobs) > 1:  # loaded once here rather than again in each child
            _preload(ctx)
        for job in jobs:
            own: list[Problem] = []
            content = job.content or fingerprint(job.folder)
            built = _build_issue(job.folder, config, ctx, staging, cache, own, content, job.feed, job.send, meanwhile)
            card, send_files, assets = built or (None, None, [])
            yield job, (card.to_json() if card else None), own, content, send_files, assets
        return
    import gc
    import multiprocessing

    _preload(ctx)
    global _FORKED
    _FORKED = (config, ctx, cache.root, os.getpid())
    failed: _Job | None = None
    # What the workers inherit is not garbage: frozen, their garbage collections skip it
    # (scanning it again and again cost ~4% of a worker's time) and leave its pages shared.
    gc.freeze()
    try:
        with multiprocessing.get_context("fork").Pool(workers, initializer=_start_worker) as pool:
            # Every result is taken, even after a failure, so that no staged temp file is lost.
            for job, outcome in zip(jobs, pool.imap(_forked_job, jobs, chunksize=2)):
                if outcome is None:
                    failed = failed or job
                    continue
                card_json, own, files, cached, content, send_files, assets = outcome
                staging.adopt(files)
                cache.adopt(cached)
                if failed is None:
                    yield job, card_json, own, content, send_files, assets
    finally:
        _FORKED = None
        gc.unfreeze()
    if failed is not None:  # raise the worker's exception here, where it can be reported as is
        content = failed.content or fingerprint(failed.folder)
        _build_issue(failed.folder, config, ctx, staging, cache, [], content, failed.feed, failed.send)
        raise RenderError(f"{failed.issue_id}: rendering failed in a worker process")


def _preload(ctx: RenderContext) -> None:
    """Import the loader and every renderer and compile the templates of an issue's outputs,
    once, before processes that render issues fork (each would do it again)."""
    import_module("pipeline.load.issues")
    import_module("pipeline.render.feeds")
    for render in ISSUE_OUTPUTS.values():
        if isinstance(render, LazyRenderer):
            render.load()
    ctx.preload_templates(ISSUE_TEMPLATES)


def worker_count(jobs: int) -> int:
    """How many processes to render (or check) ``jobs`` issues with: 1 unless it is worth forking."""
    if jobs < PARALLEL_MIN:
        return 1
    return max(1, min(cpu_budget(), jobs // (PARALLEL_MIN // 2)))


def _start_worker() -> None:
    import gc

    default_signals()
    gc.set_threshold(WORKER_GC_THRESHOLD, *gc.get_threshold()[1:])
    gc.enable()  # paused in the build that forked it; a worker renders many issues, and collects


def _forked_job(job: _Job) -> tuple[dict | None, list[Problem], list, list, str, list[str] | None, list[str]] | None:
    """In a worker: render one issue into temp files the parent commits; None if it raised."""
    assert _FORKED is not None
    config, ctx, cache_root, build_pid = _FORKED
    # Their temp files are named by the build, which commits them after this worker has exited.
    staging, cache = Staging(config.output_dir, build_pid), Staging(cache_root, build_pid)
    own: list[Problem] = []
    try:
        content = job.content or fingerprint(job.folder)
        built = _build_issue(job.folder, config, ctx, staging, cache, own, content, job.feed, job.send)
        card, send_files, assets = built or (None, None, [])
        return (card.to_json() if card else None), own, staging.take(), cache.take(), content, send_files, assets
    except BaseException:
        staging.discard()
        cache.discard()
        return None


def _build_issue(
    folder: Path,
    config: Config,
    ctx: RenderContext,
    staging: Staging,
    cache: Staging,
    problems: list[Problem],
    content: str,
    feed: bool = True,
    send: bool | None = True,
    meanwhile: bool = False,
) -> tuple[Card, list[str] | sending.Pending | None, list[str]] | None:
    """Render one issue; its card, the files of its email and WeChat editions (None when it
    does not get them this time) and the files copied from its folder (paths in the output).
    ``meanwhile``: the editions are rendered by a forked child, and what comes back in their
    place is the child (:class:`pipeline.build.sending.Pending`)."""
    from pipeline.load.issues import load_issue  # not needed by a build with nothing to render (~8 ms)

    issue = load_issue(folder, config, problems, content)  # content: its fingerprint, already computed
    if issue is None:
        return None
    if send is None:
        send = _may_still_send(issue.publish_at, ctx.now, config)
    names = [name for name in ISSUE_OUTPUTS if send or name not in SEND_OUTPUTS]
    ctx.issue_outputs[issue.id] = frozenset(names)  # before the page, which links to the others
    editions = [name for name in names if name in SEND_OUTPUTS]
    child = sending.Pending.start(issue, ctx, staging, editions) if editions and meanwhile else None
    try:
        for name in names:
            if name not in SEND_OUTPUTS:
                for relative, data in ISSUE_OUTPUTS[name](issue, ctx).items():
                    staging.add(relative, data)
        send_files = sending.render(issue, ctx, staging, editions) if send and child is None else None
        assets = []
        for asset in _assets(issue.folder):
            try:  # checked again: the file may have changed since the load
                data = read_file(asset, issue.folder, ASSET_LIMIT)
            except UnreadableFile as exc:
                raise IssueError([Problem(asset, None, f"{asset.name} {exc.reason}")]) from None
            relative = asset.relative_to(issue.folder).as_posix()
            if relative.lower().endswith(".svg") and svg_runs_scripts(data):
                problems.append(active_svg_problem(asset, relative))
                continue
            assets.append(f"issues/{issue.id}/{relative}")
            staging.add(assets[-1], data)
        if feed:
            from pipeline.render import feeds

            cache.add(f"content/{issue.id}.html", feeds.item_content(issue, ctx).encode())
        cache.add(terms_file(issue.id), issue_terms(issue).encode())
        card = make_card(issue, ctx)
    except BaseException:
        if child is not None:
            child.abandon(staging)  # its files go with the build's
        raise
    return card, child if child is not None else send_files, assets


def _may_still_send(publish_at: datetime, now: datetime, config: Config) -> bool:
    """Whether the scheduler may still send the issue by itself: due less than
    ``schedule.catch_up`` ago, or not yet due (it never sends an issue later than that)."""
    return now - publish_at <= config.catch_up


def _listed(card_json: dict, now: datetime) -> bool:
    """Whether the issue's page is one for search engines at ``now``: neither a draft, nor due
    later, nor holding example text (such a page has noindex, and is rendered again without it
    when its time comes; example text goes with an edit, which renders it again anyway)."""
    return (
        not card_json["draft"]
        and not card_json.get("unfinished")
        and datetime.fromisoformat(card_json["publish_at"]) <= now
    )


def _has_wanted_outputs(entry: dict, send: bool | None, now: datetime, config: Config) -> bool:
    """Whether an issue built before has the per-issue outputs this build wants for it. One
    built with its email and WeChat files keeps them while its key holds; a manifest entry from
    before outputs were chosen has them all."""
    if entry.get("send", True):
        return True
    return not (send or _may_still_send(datetime.fromisoformat(entry["card"]["publish_at"]), now, config))


def _feed_window(ctx: RenderContext, folders: list[tuple[str, Path]]) -> set[str]:
    """The newest issue folders, whose feed HTML the build keeps for the site's feeds.

    Rendering and writing it for every issue of a long archive cost ~4% of a cold build,
    for the few issues the feeds show.
    """
    from pipeline.render import feeds  # only reached when there is something to render

    items = feeds.feed_settings(ctx).items
    newest = sorted((issue_id for issue_id, _ in folders), reverse=True)
    return set(newest[: items + FEED_MARGIN])


def _feed_html_on_demand(
    issue_id: str, folder: Path, config: Config, ctx: RenderContext, cache: Staging, manifest: Manifest
) -> str:
    """An older issue's feed HTML, when the feeds reach back past the kept ones."""
    from pipeline.load.issues import load_issue
    from pipeline.render import feeds

    issue = load_issue(folder, config, [])
    if issue is None:  # it had a card, so it loaded a moment ago: only a concurrent edit gets here
        raise RenderError(f"{issue_id}: the issue changed during the build; build again")
    html = feeds.item_content(issue, ctx)
    cache.add(f"content/{issue_id}.html", html.encode())
    manifest.issues[issue_id]["feed_html"] = True
    return html


def _terms_on_demand(issue_id: str, folder: Path, config: Config, cache: Staging) -> str:
    """An issue's search terms when their file is gone (its card still has their digest)."""
    from pipeline.load.issues import load_issue

    issue = load_issue(folder, config, [])
    if issue is None:  # it had a card, so it loaded a moment ago: only a concurrent edit gets here
        raise RenderError(f"{issue_id}: the issue changed during the build; build again")
    terms = issue_terms(issue)
    cache.add(terms_file(issue_id), terms.encode())
    return terms


def _assets(folder: Path) -> list[Path]:
    """Images and other files an issue references, copied next to its pages: those the reading
    rule allows (the loader has refused the issue when any other is there), but for one with
    the name of a file the build writes there (see ISSUE_FILES) and web pages and scripts
    (NOT_COPIED_SUFFIXES); `publish check` warns about both. (An SVG that can run a script is
    left out once read, in _build_issue.)"""
    return sorted(
        folder.joinpath(*parts)
        for parts, problem in issue_files(folder)
        if problem is None
        and not parts[-1].lower().endswith((".md", *NOT_COPIED_SUFFIXES))
        and parts[-1] not in ASSET_SKIP
        and not any(part.startswith(".") for part in parts)
        and parts[0].lower() not in ISSUE_FILES  # nor a folder so named, nor in another case
    )


def _assets_gone(output: Path, issue_id: str, last: dict, assets: list[str]) -> list[str]:
    """The files copied from an issue's folder last time that are not copied this time (taken out
    of the folder, or of a kind no longer copied). A manifest entry from before copied files were
    recorded: every file in the issue's output folder that the build neither writes nor copies."""
    if "assets" in last:
        before = set(last["assets"])
    elif last:
        before = set(_copied_before(output, issue_id))
    else:
        return []
    # A file that became a folder (data → data/x.csv), or the other way: the commit replaced it.
    now = set(assets)
    folders = {parent for path in assets for parent in _folders_of(path)}
    gone = {path for path in before - now - folders if now.isdisjoint(_folders_of(path))}
    kept = {path.casefold() for path in assets}
    # Fig.PNG renamed fig.png: on a file system that ignores case, removing the old name would
    # remove the new file; there the one file is simply written again.
    return sorted(path for path in gone if path.casefold() not in kept or _case_sensitive(output))


def _folders_of(path: str) -> list[str]:
    """``a/b/c`` → ``a``, ``a/b``."""
    parts = path.split("/")
    return ["/".join(parts[:end]) for end in range(1, len(parts))]


def _copied_before(output: Path, issue_id: str) -> list[str]:
    """Files under ``public/issues/<id>/`` but the build's own (ISSUE_FILES) and hidden ones."""
    folder = output / "issues" / issue_id
    found = []
    for parent, folders, files in os.walk(folder):
        folders[:] = [name for name in folders if not name.startswith(".")]
        for name in files:
            path = Path(parent, name).relative_to(output).as_posix()
            if not name.startswith(".") and not (Path(parent) == folder and name in ISSUE_FILES):
                found.append(path)
    return found


def _case_sensitive(output: Path) -> bool:
    """Whether the output folder's file system tells names apart by case alone."""
    probe = output / "issues"
    return not (probe.exists() and output.joinpath("ISSUES").exists() and os.path.samefile(probe, output / "ISSUES"))


def _remove_output(output: Path, relative: str) -> None:
    """Remove an output file, and its folders that it leaves empty (a tag's), up to ``output``.
    Never through a symbolic link to a folder, which may lead out of ``output``."""
    path = output / relative
    if any((output / above).is_symlink() for above in Path(relative).parents[:-1]):
        return
    try:
        path.unlink(missing_ok=True)
    except (NotADirectoryError, IsADirectoryError):  # a file or folder now stands there
        return
    for folder in path.parents:
        if folder == output or output not in folder.parents:
            break
        try:
            folder.rmdir()
        except OSError:  # not empty (or already gone): the folders above are not empty either
            break


def _unwritten_site_files(manifest: Manifest, before: dict[str, set[str]]) -> list[str]:
    """Files a site output wrote last time and not this time (the page of a tag no paper has any
    more): removed after the commit, so the archive holds no page that nothing links to."""
    stale: set[str] = set()
    for name, files in before.items():
        entry = manifest.site.get(name)
        if entry is not None and "files" in entry:
            stale |= files - set(entry["files"])
    still_written = {path for entry in manifest.site.values() if "files" in entry for path in entry["files"]}
    return sorted(stale - still_written)
