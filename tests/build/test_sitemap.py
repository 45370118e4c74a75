"""sitemap.xml and robots.txt against the sitemaps.org rules, from a real build."""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
from conftest import NOW, write
from lxml import etree

from pipeline.build.builder import build
from pipeline.build.outputs import ISSUE_FILES
from pipeline.config import load_config
from pipeline.render import sitemap
from pipeline.render.context import RenderContext

NS = {"s": sitemap.SITEMAP_NS}
# W3C Datetime (https://www.w3.org/TR/NOTE-datetime) to the second, with an offset
W3C_SECONDS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(Z|[+-]\d{2}:\d{2})$")
SITE = "https://digest.example.org/"


@pytest.fixture(autouse=True)
def no_search(monkeypatch):
    monkeypatch.setenv("PUBLISH_BUILD_SEARCH", "0")


def built(example: Path) -> Path:
    write(example / "issues/2024-10-07/issue.yaml", 'title: "草稿"\ndraft: true\n')
    write(example / "issues/2099-01-05/issue.yaml", 'title: "还没到发布时间"\n')
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    return config.output_dir


def urls(document: bytes) -> dict[str, str]:
    root = etree.fromstring(document)
    assert root.tag == f"{{{sitemap.SITEMAP_NS}}}urlset"
    found = {}
    for url in root.findall("s:url", NS):
        assert [child.tag.split("}")[1] for child in url] == ["loc", "lastmod"]
        found[url.findtext("s:loc", namespaces=NS)] = url.findtext("s:lastmod", namespaces=NS)
    return found


def test_sitemap_lists_every_public_page_with_lastmod(example: Path) -> None:
    public = built(example)
    found = urls((public / "sitemap.xml").read_bytes())
    assert 0 < len(found) <= sitemap.MAX_URLS
    for loc, lastmod in found.items():
        assert loc.startswith(SITE) and loc.isascii() and " " not in loc  # absolute, percent-encoded
        assert W3C_SECONDS.match(lastmod), lastmod
        page = public / unquote(urlsplit(loc).path).lstrip("/") / "index.html"
        assert page.is_file(), loc
    # every page a reader lands on, and nothing else
    pages = {
        path.relative_to(public).parent.as_posix()
        for path in public.rglob("index.html")
        if ".staging" not in path.as_posix()
    }
    listed = {unquote(urlsplit(loc).path).strip("/") or "." for loc in found}
    assert pages - listed == {"issues/2024-10-07", "issues/2099-01-05"}  # the draft and the issue to come
    assert listed <= pages
    assert f"{SITE}issues/2024-04-28/" in found and f"{SITE}tags/%E9%95%BF%E4%B8%8A%E4%B8%8B%E6%96%87/" in found
    assert not any(loc.endswith((".html", ".md", ".json", ".bib")) for loc in found)  # other versions and tools
    # dated by its newer neighbour too, whose title its link shows
    assert found[f"{SITE}issues/2024-04-28/"] == "2024-09-30T08:00:00+08:00"
    assert found[SITE] == max(found.values(), key=datetime.fromisoformat)


def test_sitemap_is_valid_against_the_protocol_schema_rules(example: Path) -> None:
    public = built(example)
    data = (public / "sitemap.xml").read_bytes()
    assert data.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert len(data) < 50 * 1024 * 1024
    locs = etree.fromstring(data).findall("s:url/s:loc", NS)
    assert len({loc.text for loc in locs}) == len(locs)  # no URL twice
    assert all(len(loc.text) < 2048 for loc in locs)


def test_robots_txt_points_to_the_sitemap(example: Path) -> None:
    public = built(example)
    lines = (public / "robots.txt").read_text().splitlines()
    assert lines[0] == "User-agent: *"
    assert f"Sitemap: {SITE}sitemap.xml" in lines
    # the other versions of an issue stay out of search results (RFC 9309 `*`), its page does not
    disallowed = [line.split(": ", 1)[1] for line in lines if line.startswith("Disallow: ")]
    prefix = urlsplit(SITE).path
    assert f"{prefix}issues/*/email.html" in disallowed and f"{prefix}issues/*/wechat.html" in disallowed
    for pattern in disallowed:
        rule = re.compile(re.escape(pattern).replace(r"\*", ".*"))
        assert rule.match(f"{prefix}issues/2024-09-30/{pattern.rsplit('/', 1)[1]}")
        assert not rule.match(f"{prefix}issues/2024-09-30/") and not rule.match(f"{prefix}issues/2024-09-30/index.html")
        assert pattern.rsplit("/", 1)[1] in ISSUE_FILES, pattern  # a file the build writes next to a page


def test_over_the_limit_the_sitemap_becomes_an_index(example: Path, monkeypatch) -> None:
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    from pipeline.build.state import Manifest
    from pipeline.render.context import Card

    cards = [Card.from_json(entry["card"]) for entry in Manifest(config).issues.values()]
    monkeypatch.setattr(sitemap, "MAX_URLS", 10)
    files = sitemap.render_site(cards, RenderContext(config, NOW))
    total = len(sitemap.site_pages(cards))
    parts = sorted(name for name in files if name.startswith("sitemap-"))
    assert len(parts) == -(-total // 10) and len(parts) > 1
    index = etree.fromstring(files["sitemap.xml"])
    assert index.tag == f"{{{sitemap.SITEMAP_NS}}}sitemapindex"
    assert [loc.text for loc in index.findall("s:sitemap/s:loc", NS)] == [f"{SITE}{name}" for name in parts]
    assert all(W3C_SECONDS.match(m.text) for m in index.findall("s:sitemap/s:lastmod", NS))
    assert sum(len(urls(files[name])) for name in parts) == total


def test_a_tag_page_dates_from_its_newest_issue_and_never_before_1970() -> None:
    from pipeline.render.context import Card
    from pipeline.render.feeds import EPOCH

    def card(issue_id: str, publish_at: str, tags: list[str]) -> Card:
        paper = {"title": "论文", "anchor": "p1", "tags": ["KV Cache"]}
        return Card(issue_id, "一期", issue_id, publish_at, None, tags, False, None, [paper])

    cards = [
        card("1969-07-20", "1969-07-20T08:00:00+08:00", ["登月"]),
        card("2024-10-01", "2024-10-01T08:00:00+08:00", ["长上下文"]),
        card("2024-10-08", "2024-10-08T09:00:00+09:00", ["长上下文"]),  # an hour earlier than it reads: 08:00 +08:00
        card("2024-10-08-b", "2024-10-08T07:59:00+08:00", ["长上下文"]),
    ]
    dates = sitemap.tag_dates(cards)
    assert dates["登月"] == EPOCH
    assert dates["长上下文"] == datetime.fromisoformat("2024-10-08T09:00:00+09:00")
    assert dates["kv-cache"] == datetime.fromisoformat("2024-10-08T09:00:00+09:00")


def test_pages_are_dated_by_what_they_show() -> None:
    """An edit to an old issue's title dates its page and its neighbours' (their links show the
    title), not the index (which shows the newest issues) nor the subscription page."""
    from datetime import timedelta

    from pipeline.render.context import Card
    from pipeline.render.web import INDEX_ISSUES

    def card(day: int, updated: str | None = None) -> Card:
        issue_id = (datetime(2024, 1, 1) + timedelta(weeks=day)).date().isoformat()
        return Card(
            issue_id,
            f"第{day}期",
            issue_id,
            f"{issue_id}T08:00:00+08:00",
            None,
            [],
            False,
            None,
            [],
            updated_at=updated,
        )

    count = INDEX_ISSUES + 5
    edit = "2025-06-01T10:00:00+08:00"
    cards = [card(day, edit if day == 2 else None) for day in range(count)]
    dates = dict(sitemap.site_pages(cards))
    edited = datetime.fromisoformat(edit)
    newest = cards[-1].published
    assert dates[""] == newest and dates["subscribe/"] == newest  # the edited issue is not on the index
    assert [dates[f"issues/{c.id}/"] == edited for c in cards[:5]] == [False, True, True, True, False]
    assert dates["archive/2024/"] == edited


def test_every_page_in_the_sitemap_names_itself_as_canonical(example: Path) -> None:
    public = built(example)
    for loc in urls((public / "sitemap.xml").read_bytes()):
        page = (public / unquote(urlsplit(loc).path).lstrip("/") / "index.html").read_text("utf-8")
        assert re.search(r'<link rel="canonical" href="([^"]+)">', page).group(1) == loc, loc


def test_a_page_is_redated_when_and_only_when_its_bytes_change(example: Path) -> None:
    """After a cold build (every page dated by what it shows), each build moves the date of
    exactly the pages it writes anew to its own time: an edit to a paper's rating re-dates its
    issue's page, not the index; a new issue re-dates the pages it changes (the index, its year,
    its neighbour's links, its tags), a back-dated one likewise; a build that changes nothing
    moves nothing."""
    from datetime import timedelta

    config = load_config(example / "config.yaml")
    public = config.output_dir
    when = NOW
    build(config, now=when)

    def snapshot() -> tuple[dict[str, str], dict[str, bytes]]:
        dates = urls((public / "sitemap.xml").read_bytes())
        pages = {loc: (public / unquote(urlsplit(loc).path).lstrip("/") / "index.html").read_bytes() for loc in dates}
        return dates, pages

    def new_issue(issue_id: str, publish_at: str) -> None:
        write(
            example / f"issues/{issue_id}/issue.yaml",
            f'title: "新的一期"\npublish_at: "{publish_at}"\ntags: [新标签]\n',
        )
        write(example / f"issues/{issue_id}/01-a.md", "---\ntitle: 新论文\nauthors: [李四]\n---\n导语。\n")

    paper = example / "issues/2024-04-28/01-snapkv.md"
    edits = [
        lambda: paper.write_text(paper.read_text("utf-8").replace("rating: 9", "rating: 7"), "utf-8"),
        lambda: new_issue("2024-10-07", "2024-10-07T08:00:00+08:00"),
        lambda: new_issue("2024-05-06", "2024-05-06T08:00:00+08:00"),  # brought in late, dated back
        lambda: None,
    ]
    for step, edit in enumerate(edits):
        dates, pages = snapshot()
        edit()
        when += timedelta(days=1)
        build(config, now=when)
        new_dates, new_pages = snapshot()
        stamp = sitemap.w3c_datetime(when)
        changed = {loc for loc in new_pages if loc in pages and new_pages[loc] != pages[loc]}
        assert {loc: new_dates[loc] for loc in changed if new_dates[loc] != stamp} == {}, (step, stamp)
        kept = {loc for loc in new_pages if loc in pages} - changed
        assert {loc for loc in kept if new_dates[loc] != dates[loc]} == set(), step
        assert bool(changed) == (step < 3) and kept, step
    back_dated = sitemap.w3c_datetime(when - timedelta(days=1))  # the build that listed 2024-05-06
    assert new_dates[SITE] == new_dates[f"{SITE}archive/2024/"] == back_dated
