"""Tag pages, topic feeds, the year pages of the index, the favicon and the link-preview image,
from a real build, read back with html.parser and feedparser."""

from __future__ import annotations

import posixpath
import random
import re
import struct
from datetime import datetime, timezone
from html import unescape
from pathlib import Path
from urllib.parse import unquote

import feedparser
import pytest
import yaml
from conftest import NOW, paper_md, write
from test_web_render import parse

from pipeline.build.builder import build
from pipeline.config import load_config
from pipeline.load.issues import load_issues
from pipeline.render.pages import tag_href, tag_slug
from pipeline.render.tags import collect_tags
from pipeline.render.web import INDEX_ISSUES


@pytest.fixture(autouse=True)
def no_search(monkeypatch):
    monkeypatch.setenv("PUBLISH_BUILD_SEARCH", "0")


@pytest.mark.parametrize(
    ("tag", "slug"),
    [
        ("长上下文", "长上下文"),
        ("AI 安全", "ai-安全"),
        ("KV Cache", "kv-cache"),
        ("ＫＶ　Ｃａｃｈｅ", "kv-cache"),  # full-width letters and space: NFKC
        ("C++/Rust · 编译器", "c++-rust-编译器"),
        ("C", "c"),
        ("C#", "c#"),
        ("Ｃ＋＋", "c++"),
        ("a+b", "a-b"),
        ("AI安全", "ai-安全"),  # with or without the space a Chinese writer may put there
        ("KV缓存压缩", "kv-缓存压缩"),
        ("GPT-4o多模态", "gpt-4o-多模态"),
        ("C编程", "c-编程"),
        ("C#编程", "c#-编程"),
        ("C++编程", "c++-编程"),
        ("C++ 编程", "c++-编程"),
        ("café安全", "café-安全"),
        ("++", "tag-cfc0c060"),
        ("  --思维链--  ", "思维链"),
        ("snake_case", "snake-case"),
        ("../../etc", "etc"),
        ("？！……", "tag-861c06ea"),
        ("形" * 100, "形" * 60),
    ],
)
def test_tag_slug_rule(tag: str, slug: str) -> None:
    assert tag_slug(tag) == slug
    assert "/" not in slug and "." not in slug and "?" not in slug


def test_tag_slugs_break_where_scripts_meet_as_the_rule_s_pattern_does() -> None:
    """The loop that puts the ``-`` of rule 2 gives what the rule written as a pattern gives, on
    random strings of letters, digits, + # _, punctuation and the CJK ranges' edges."""
    from pipeline.render.pages import _apart_at_cjk
    from pipeline.render.search import CJK

    rule = re.compile(rf"(?:(?<=[^\W_{CJK}])|(?<=[+#]))(?=[{CJK}])|(?<=[{CJK}])(?=[^\W_{CJK}])")
    edges = (0x303F, 0x3040, 0x30FB, 0x30FF, 0x3100, 0x3400, 0x4DBF, 0x4DC0, 0x4E00, 0x9FFF, 0xA000)
    edges += (0xAC00, 0xD7AF, 0xD7B0, 0xF8FF, 0xF900, 0xFAFF, 0xFB00, 0xE9, 0x3B1, 0x661, 0xFF21, 0x2460)
    alphabet = [*"aZ09_+#- .·，。！", *map(chr, edges)]
    rng = random.Random(7)
    for _ in range(20_000):
        text = "".join(rng.choices(alphabet, k=rng.randint(1, 8)))
        assert _apart_at_cjk(text) == rule.sub(" ", text), text


def test_tag_href_is_percent_encoded() -> None:
    assert tag_href("长上下文") == "tags/%E9%95%BF%E4%B8%8A%E4%B8%8B%E6%96%87/"
    assert tag_href("AI 安全") == "tags/ai-%E5%AE%89%E5%85%A8/"


def built_example(example: Path) -> Path:
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    return config.output_dir


def test_tag_index_lists_every_tag_with_its_count(example: Path) -> None:
    public = built_example(example)
    page = parse((public / "tags/index.html").read_bytes())
    entries = {a.text: a.attrs["href"] for a in page.find("a") if "tag-index" in a.parents or "li" in a.parents}
    assert entries["长上下文"] == "%E9%95%BF%E4%B8%8A%E4%B8%8B%E6%96%87/"
    counts = {}
    for li in page.find("li"):
        name, count = re.fullmatch(r"(.+?) ((?:\d+ 篇)?(?: · )?(?:\d+ 期)?)", li.text).groups()
        counts[name] = count
    # 大语言模型: the two issues; KV Cache: SnapKV only; 长上下文: a paper and an issue (as each page says)
    assert counts["大语言模型"] == "2 期" and counts["KV Cache"] == "1 篇" and counts["长上下文"] == "1 篇 · 1 期"
    for href in entries.values():
        assert (public / "tags" / unquote(href) / "index.html").is_file()


def test_tag_page_lists_papers_newest_first_with_anchor_links(example: Path) -> None:
    public = built_example(example)
    folder = public / "tags" / "长上下文"
    page = parse((folder / "index.html").read_bytes())
    assert page.find("h1")[0].text == "标签：长上下文"
    paper_links = [a.attrs["href"] for a in page.find("a") if "h2" in a.parents]
    assert paper_links == ["../../issues/2024-04-28/#paper-01-snapkv"]
    issue_links = [a.attrs["href"] for a in page.find("a") if "ul" in a.parents and "main" in a.parents]
    assert issue_links == ["../../issues/2024-04-28/"]
    target = (public / "issues/2024-04-28/index.html").read_text()
    assert 'id="paper-01-snapkv"' in target
    feeds = page.find("link", rel="alternate", type="application/atom+xml")
    assert feeds[-1].attrs["href"] == "https://digest.example.org/tags/%E9%95%BF%E4%B8%8A%E4%B8%8B%E6%96%87/feed.xml"
    assert page.find("link", rel="canonical")[0].attrs["href"].endswith("/tags/%E9%95%BF%E4%B8%8A%E4%B8%8B%E6%96%87/")

    together = parse((public / "tags/大语言模型/index.html").read_bytes())
    issues = [a.attrs["href"] for a in together.find("a") if "ul" in a.parents and "main" in a.parents]
    assert issues == ["../../issues/2024-09-30/", "../../issues/2024-04-28/"]  # newest first


def test_tag_feed_is_valid_atom(example: Path) -> None:
    public = built_example(example)
    feed = feedparser.parse((public / "tags/长上下文/feed.xml").read_bytes())
    assert not feed.bozo, feed.get("bozo_exception")
    assert feed.feed.title == "大模型前沿论文速递 · 长上下文"
    assert feed.version == "atom10"
    links = [entry.link for entry in feed.entries]
    assert sorted(links) == [  # the paper, and the issue tagged as a whole
        "https://digest.example.org/issues/2024-04-28/",
        "https://digest.example.org/issues/2024-04-28/#paper-01-snapkv",
    ]
    assert len({entry.updated for entry in feed.entries}) == len(feed.entries)  # validators warn on equal ones
    assert all(entry.get("author") or feed.feed.get("author") for entry in feed.entries)
    self_link = [link.href for link in feed.feed.links if link.rel == "self"]
    assert self_link == ["https://digest.example.org/tags/%E9%95%BF%E4%B8%8A%E4%B8%8B%E6%96%87/feed.xml"]


def test_tag_pills_on_issue_pages_lead_to_tag_pages(example: Path) -> None:
    public = built_example(example)
    page = parse((public / "issues/2024-09-30/index.html").read_bytes())
    pills = [
        a.attrs["href"]
        for a in page.find("a")
        if a.attrs.get("href", "").startswith("../../tags/") and a.attrs["href"] != "../../tags/"
    ]
    issue = {i.id: i for i in load_issues(load_config(example / "config.yaml")).issues}["2024-09-30"]
    assert len(pills) == len(issue.tags) + sum(len(paper.tags) for paper in issue.papers)  # every pill links
    assert "../../tags/%E5%BD%A2%E5%BC%8F%E5%8C%96%E9%AA%8C%E8%AF%81/" in pills
    for href in pills:
        path = posixpath.normpath(posixpath.join("issues/2024-09-30", unquote(href)))
        assert (public / path / "index.html").is_file(), href


def test_tags_that_share_a_slug_share_a_page_named_by_the_usual_spelling(newsletter) -> None:
    root = newsletter()
    for day, tag in (("2024-05-01", "KV Cache"), ("2024-05-08", "kv-cache"), ("2024-05-15", "KV Cache")):
        write(root / f"issues/{day}/issue.yaml", f'title: "{day}"\n')
        write(root / f"issues/{day}/01-a.md", paper_md(f"Paper {day}", arxiv=None, tags=f"['{tag}']"))
    config = load_config(root / "config.yaml")
    build(config, now=NOW)
    page = parse((config.output_dir / "tags/kv-cache/index.html").read_bytes())
    assert page.find("h1")[0].text == "标签：KV Cache"
    assert len(page.find("li", **{"class": "issue-card"})) == 3
    assert sorted(p.name for p in (config.output_dir / "tags").iterdir()) == ["index.html", "kv-cache"]


def test_an_issue_with_two_tags_of_one_slug_is_listed_once(newsletter) -> None:
    root = newsletter()
    write(
        root / "issues/2024-05-01/issue.yaml", 'title: "一期"\ntags: ["KV Cache", "kv-cache", "C#", "！！！", ".."]\n'
    )
    write(root / "issues/2024-05-01/01-a.md", paper_md("Paper", arxiv=None))
    config = load_config(root / "config.yaml")
    build(config, now=NOW)
    page = (config.output_dir / "tags/kv-cache/index.html").read_text("utf-8")
    assert page.count('href="../../issues/2024-05-01/"') == 1
    assert (config.output_dir / "tags/c#/index.html").is_file()  # a tag of its own, not C's
    punctuation_only = sorted(p.name for p in (config.output_dir / "tags").iterdir() if p.name.startswith("tag-"))
    assert len(punctuation_only) == 2  # `！！！` and `..` do not share a page


def test_drafts_and_future_issues_stay_off_tag_pages(newsletter) -> None:
    root = newsletter()
    write(root / "issues/2024-05-01/issue.yaml", 'title: "公开"\ntags: [公开标签]\n')
    write(root / "issues/2024-05-08/issue.yaml", 'title: "草稿"\ndraft: true\ntags: [秘密标签]\n')
    write(root / "issues/2099-01-01/issue.yaml", 'title: "未来"\ntags: [未来标签]\n')
    config = load_config(root / "config.yaml")
    build(config, now=NOW)
    tags = sorted(p.name for p in (config.output_dir / "tags").iterdir())
    assert tags == ["index.html", "公开标签"]


def test_index_shows_the_newest_issues_and_links_every_year(newsletter) -> None:
    root = newsletter()
    days = [f"{year}-{month:02d}-01" for year in (2022, 2023, 2024) for month in range(1, 13)]
    for day in days:
        write(root / f"issues/{day}/issue.yaml", yaml.safe_dump({"title": f"第 {day} 期"}, allow_unicode=True))
    config = load_config(root / "config.yaml")
    build(config, now=NOW)
    public = config.output_dir
    index = parse((public / "index.html").read_bytes())
    cards = index.find("li", **{"class": "issue-card"})
    assert len(cards) == INDEX_ISSUES
    assert [t.attrs["datetime"] for t in index.find("time")] == sorted(days, reverse=True)[:INDEX_ISSUES]
    years = [a.attrs["href"] for a in index.find("a") if "nav" in a.parents]
    assert years == ["./archive/2024/", "./archive/2023/", "./archive/2022/"]
    year = parse((public / "archive/2023/index.html").read_bytes())
    assert [t.attrs["datetime"] for t in year.find("time")] == [
        d for d in sorted(days, reverse=True) if d[:4] == "2023"
    ]
    assert year.find("strong", **{"aria-current": "page"})[0].text == "2023 年"
    assert year.find("link", rel="canonical")[0].attrs["href"] == "https://digest.example.org/archive/2023/"


def test_an_edit_renders_only_its_years_archive_page_and_a_new_year_renders_them_all(newsletter, monkeypatch) -> None:
    from pipeline.render import web

    root = newsletter()
    for day in ("2023-03-01", "2023-06-01", "2024-03-01"):
        write(root / f"issues/{day}/issue.yaml", yaml.safe_dump({"title": f"第 {day} 期"}, allow_unicode=True))
    config = load_config(root / "config.yaml")
    build(config, now=NOW)
    rendered: list[str] = []
    real = web._archive_page
    monkeypatch.setattr(web, "_archive_page", lambda year, *rest: rendered.append(year) or real(year, *rest))
    write(root / "issues/2023-06-01/issue.yaml", 'title: "第 2023-06-01 期（更正）"\n')
    build(config, now=NOW)
    assert rendered == ["2023"]
    assert "（更正）" in (config.output_dir / "archive/2023/index.html").read_text("utf-8")
    rendered.clear()
    write(root / "issues/2022-01-01/issue.yaml", 'title: "第 2022-01-01 期"\n')
    build(config, now=NOW)
    assert rendered == ["2024", "2023", "2022"]  # each page links every year: all of them change
    (config.output_dir / "archive/2024/index.html").write_text("edited by hand")
    rendered.clear()
    build(config, now=NOW, force=True)
    assert "edited by hand" not in (config.output_dir / "archive/2024/index.html").read_text("utf-8")


def test_og_image_is_the_cover_or_the_site_image(example: Path) -> None:
    (example / "issues/2024-09-30/cover.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    meta = yaml.safe_load((example / "issues/2024-09-30/issue.yaml").read_text())
    meta["cover"] = "cover.png"
    (example / "issues/2024-09-30/issue.yaml").write_text(yaml.safe_dump(meta, allow_unicode=True))
    public = built_example(example)

    def og_image(path: str) -> str:
        return parse((public / path).read_bytes()).find("meta", property="og:image")[0].attrs["content"]

    assert og_image("issues/2024-09-30/index.html") == "https://digest.example.org/issues/2024-09-30/cover.png"
    for path in ("issues/2024-04-28/index.html", "index.html", "tags/index.html", "archive/2024/index.html"):
        assert og_image(path) == "https://digest.example.org/og-image.png"
    png = (public / "og-image.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", png[16:24]) == (1200, 630)


def test_site_image_and_favicon_can_be_replaced_by_the_newsletter(example: Path) -> None:
    (example / "templates").mkdir(exist_ok=True)
    (example / "templates/og-image.png").write_bytes(b"\x89PNG own")
    write(example / "templates/favicon.svg", "<svg xmlns='http://www.w3.org/2000/svg'/>")
    public = built_example(example)
    assert (public / "og-image.png").read_bytes() == b"\x89PNG own"
    assert (public / "favicon.svg").read_text() == "<svg xmlns='http://www.w3.org/2000/svg'/>"


def test_every_page_links_the_favicon_and_the_paper_feeds(example: Path) -> None:
    public = built_example(example)
    svg = (public / "favicon.svg").read_bytes()
    assert svg.startswith(b"<svg") and len(svg) < 1024
    for path in ("index.html", "issues/2024-04-28/index.html", "tags/index.html", "subscribe/index.html"):
        page = parse((public / path).read_bytes())
        icon = page.find("link", rel="icon")[0]
        assert icon.attrs["type"] == "image/svg+xml"
        assert posixpath.normpath(posixpath.join(posixpath.dirname(path), icon.attrs["href"])) == "favicon.svg"
        alternates = {link.attrs["href"]: link.attrs["type"] for link in page.find("link", rel="alternate")}
        assert alternates["https://digest.example.org/papers.xml"] == "application/atom+xml"
        assert alternates["https://digest.example.org/papers.json"] == "application/feed+json"


def test_collect_tags_keeps_paper_and_issue_tags_apart(example: Path, ctx) -> None:
    from pipeline.build.cards import make_card

    cards = [make_card(issue, ctx) for issue in load_issues(load_config(example / "config.yaml")).issues]
    tags = {tag.name: tag for tag in collect_tags(cards)}
    assert [p.paper["anchor"] for p in tags["长上下文"].papers] == ["paper-01-snapkv"]
    assert [c.id for c in tags["长上下文"].issues] == ["2024-04-28"]
    assert not tags["KV Cache"].issues


def test_hostile_tags_are_escaped_in_pages_feeds_and_paths(tmp_path: Path) -> None:
    from tests.build.test_feed_validity import hostile_corpus

    root = tmp_path / "hostile"
    hostile_corpus(root)  # every issue tagged "<标签>" and "a&b"
    config = load_config(root / "config.yaml")
    build(config, now=NOW)
    public = config.output_dir
    assert sorted(p.name for p in (public / "tags").iterdir()) == ["a-b", "index.html", "标签"]
    page = (public / "tags/标签/index.html").read_text()
    assert "<标签>" not in page and "标签：&lt;标签&gt;" in page and "<script" not in page.split("</head>")[1]
    for slug in ("标签", "a-b"):
        feed = feedparser.parse((public / f"tags/{slug}/feed.xml").read_bytes())
        assert not feed.bozo, feed.get("bozo_exception")
        assert len(feed.entries) == 12  # one per issue, tagged as a whole
        # declared HTML (type="html"), so feedparser hands back escaped HTML: a reader shows the text
        assert {unescape(e.title) for e in feed.entries} == {f"第{n}期 </title> & <i>" for n in range(1, 13)}
    assert unescape(feedparser.parse((public / "tags/a-b/feed.xml").read_bytes()).feed.title) == "测试论文速递 · a&b"


def test_tag_pages_are_kept_only_while_their_inputs_and_bytes_are_the_same(example: Path) -> None:
    from pipeline.render import tags as tag_output
    from pipeline.render.context import Card, RenderContext

    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    public = config.output_dir
    from pipeline.build.state import Manifest

    cards = [Card.from_json(entry["card"]) for entry in Manifest(config).issues.values()]
    ctx = RenderContext(config, NOW)
    first = tag_output.render_site(cards, ctx)
    assert tag_output.render_site(cards, ctx) == first  # kept: read back from public/
    page = public / "tags/长上下文/index.html"
    page.write_text("edited by hand")
    assert tag_output.render_site(cards, ctx)["tags/长上下文/index.html"] == first["tags/长上下文/index.html"]
    write(
        example / "templates/tag.html",
        '{% extends "base.html" %}{% block content %}<h1>新模板 {{ tag.name }}</h1>{% endblock %}',
    )
    changed = tag_output.render_site(cards, RenderContext(load_config(example / "config.yaml"), NOW))
    assert "新模板 长上下文" in changed["tags/长上下文/index.html"].decode()


def test_a_tag_no_issue_has_any_more_leaves_no_page_and_no_folder(newsletter) -> None:
    root = newsletter()
    write(root / "issues/2024-05-01/issue.yaml", 'title: "一期"\ntags: ["长上下文", "旧标签"]\n')
    write(root / "issues/2024-05-01/01-a.md", paper_md("Paper", arxiv=None))
    config = load_config(root / "config.yaml")
    build(config, now=NOW)
    assert (config.output_dir / "tags/旧标签/index.html").is_file()
    write(root / "issues/2024-05-01/issue.yaml", 'title: "一期"\ntags: ["长上下文"]\n')
    build(config, now=NOW)
    assert sorted(p.name for p in (config.output_dir / "tags").iterdir()) == ["index.html", "长上下文"]
    assert "旧标签" not in (config.output_dir / "sitemap.xml").read_text("utf-8")


def test_an_edit_to_one_paper_renders_only_its_tags_feeds_and_the_others_stay_right(newsletter, monkeypatch) -> None:
    from pipeline.render import tags as tag_output

    root = newsletter()
    write(root / "issues/2024-05-01/issue.yaml", 'title: "一期"\n')
    write(root / "issues/2024-05-01/01-a.md", paper_md("Paper A", arxiv=None, tags="[甲标签]"))
    write(root / "issues/2024-05-01/02-b.md", paper_md("Paper B", arxiv=None, tags="[乙标签]"))
    config = load_config(root / "config.yaml")
    build(config, now=NOW)
    rendered: list[str] = []
    real = tag_output._tag_feed_file
    monkeypatch.setattr(tag_output, "_tag_feed_file", lambda tag, ctx: rendered.append(tag.slug) or real(tag, ctx))
    entry = root / "issues/2024-05-01/02-b.md"
    entry.write_text(entry.read_text("utf-8") + "\n补充一句。\n", encoding="utf-8")  # not in any feed
    later = NOW.replace(month=2)
    build(config, now=later)
    assert rendered == []  # the issue changed, but nothing a tag feed shows of it
    write(root / "issues/2024-05-01/01-a.md", paper_md("Paper A, retitled", arxiv=None, tags="[甲标签]"))
    build(config, now=later)
    assert rendered == ["甲标签"]
    assert "Paper A, retitled" in (config.output_dir / "tags/甲标签/feed.xml").read_text("utf-8")
    kept = {slug: (config.output_dir / f"tags/{slug}/feed.xml").read_bytes() for slug in ("甲标签", "乙标签")}
    (config.state_dir / "build/tags-parts.json").unlink()  # no memory: every part rendered afresh
    build(config, now=later, force=True)
    assert {slug: (config.output_dir / f"tags/{slug}/feed.xml").read_bytes() for slug in kept} == kept


def test_a_tag_feed_takes_the_newest_papers_by_publish_time_each_issue_s_in_their_order() -> None:
    import heapq

    from pipeline.render.context import Card
    from pipeline.render.tags import _newest_papers

    def card(day: int, hour: int, papers: int) -> Card:
        # the date shown and the publish time disagree in order for some issues
        return Card(
            id=f"2024-05-{day:02d}",
            title=f"第{day}期",
            date=f"2024-05-{day:02d}",
            publish_at=f"2024-05-{(31 - day):02d}T{hour:02d}:00:00+08:00",
            summary=None,
            tags=[],
            draft=False,
            cover_url=None,
            papers=[{"anchor": f"p{n}", "title": f"论文 {day}-{n}", "tags": ["长上下文"]} for n in range(papers)],
        )

    cards = [card(day, day % 5, 1 + day % 4) for day in range(1, 29)]
    [tag] = collect_tags(cards)
    for limit in (1, 2, 5, 20, 200):
        expected = heapq.nlargest(limit, tag.papers, key=lambda tagged: (tagged.card.published, tagged.card.id))
        assert [(t.card.id, t.paper["anchor"]) for t in _newest_papers(tag, limit)] == [
            (t.card.id, t.paper["anchor"]) for t in expected
        ]


def _long_tag_archive(root: Path, days: tuple[str, ...]) -> None:
    """Issues with two papers each tagged 长上下文, the issue tagged 大语言模型 as a whole."""
    for day in days:
        write(root / f"issues/{day}/issue.yaml", f'title: "{day} 期"\ntags: ["大语言模型"]\n')
        for n in (1, 2):
            write(root / f"issues/{day}/0{n}-p.md", paper_md(f"Paper {day} {n}", arxiv=None, tags="[长上下文]"))


def _links(page: Path, public: Path) -> set[str]:
    """Every relative link of a page, as a path under public/ (folders end in /)."""
    found = set()
    for href in parse(page.read_bytes()).hrefs():
        if "://" in href or href.startswith("#"):
            continue
        target = posixpath.normpath(
            posixpath.join(page.parent.relative_to(public).as_posix(), unquote(href.split("#")[0]))
        )
        found.add(target + ("/" if href.split("#")[0].endswith("/") else ""))
    return found


def test_a_tag_with_many_papers_gets_a_page_per_year_and_its_own_page_shows_the_newest(newsletter, monkeypatch) -> None:
    from pipeline.render import pages, tags

    monkeypatch.setattr(pages, "TAG_PAGE_LINES", 5)
    monkeypatch.setattr(tags, "TAG_NEWEST", 3)
    root = newsletter()
    days = ("2023-03-01", "2023-09-01", "2024-03-01", "2024-09-01", "2025-03-01")
    _long_tag_archive(root, days)
    config = load_config(root / "config.yaml")
    build(config, now=NOW)
    public = config.output_dir
    folder = public / "tags/长上下文"
    assert sorted(p.name for p in folder.iterdir()) == ["2023", "2024", "2025", "feed.xml", "index.html"]
    own = folder.joinpath("index.html").read_text("utf-8")
    assert "10 篇论文" in own  # the count of the tag, not of the page
    # the years before the list as well as after it: a long list is many screens on a phone
    first_paper = own.index('<ol class="tagged-papers">')
    assert all(own.index(f'<a href="{year}/">{year}</a>') < first_paper for year in ("2023", "2024", "2025"))
    in_2024 = folder.joinpath("2024", "index.html").read_text("utf-8")
    assert in_2024.index('<a href="../2023/">2023</a>') < in_2024.index('<ol class="tagged-papers">')
    assert "<strong>2024</strong>" in in_2024
    assert [f"Paper {d} {n}" in own for d in days for n in (1, 2)] == [False] * 6 + [
        True,
        False,
        True,
        True,
    ]  # the newest three, each issue's in order
    listed = []
    for year in ("2023", "2024", "2025"):
        page = folder.joinpath(year, "index.html").read_text("utf-8")
        in_year = [f"Paper {d} {n}" for d in days for n in (1, 2) if d.startswith(year)]
        assert all(title in page for title in in_year)
        assert f"{len(in_year)} 篇论文" in page and f"标签：长上下文 · {year} 年" in page
        listed += [f"Paper {d} {n}" for d in days for n in (1, 2) if f"Paper {d} {n}" in page]
        assert {f"tags/长上下文/{y}/" for y in ("2023", "2024", "2025") if y != year} <= _links(
            folder / year / "index.html", public
        )
    assert sorted(listed) == sorted(f"Paper {d} {n}" for d in days for n in (1, 2))  # each on one year's page
    for page in [folder / "index.html", *(folder / y / "index.html" for y in ("2023", "2024", "2025"))]:
        for target in _links(page, public):
            assert (
                (public / target / "index.html").is_file() if target.endswith("/") else (public / target).is_file()
            ), (page, target)
    issue_tag = public / "tags/大语言模型"  # five issues: one page, as before
    assert sorted(p.name for p in issue_tag.iterdir()) == ["feed.xml", "index.html"]
    sitemap = unquote((public / "sitemap.xml").read_text("utf-8"))
    assert all(f"/tags/长上下文/{year}/</loc>" in sitemap for year in ("2023", "2024", "2025"))
    assert "/tags/大语言模型/2023/" not in sitemap


def test_a_new_issue_leaves_the_pages_of_earlier_years_as_they_are_and_a_shrinking_tag_loses_them(
    newsletter, monkeypatch
) -> None:
    from pipeline.render import pages, tags

    monkeypatch.setattr(pages, "TAG_PAGE_LINES", 5)
    monkeypatch.setattr(tags, "TAG_NEWEST", 3)
    root = newsletter()
    _long_tag_archive(root, ("2023-03-01", "2024-03-01", "2024-09-01"))
    config = load_config(root / "config.yaml")
    build(config, now=NOW)
    folder = config.output_dir / "tags/长上下文"
    before = {year: folder.joinpath(year, "index.html").stat().st_mtime_ns for year in ("2023", "2024")}
    old_page = folder.joinpath("2023/index.html").read_bytes()
    _long_tag_archive(root, ("2024-12-01",))
    build(config, now=NOW)
    assert folder.joinpath("2023/index.html").stat().st_mtime_ns == before["2023"]
    assert folder.joinpath("2023/index.html").read_bytes() == old_page
    assert "Paper 2024-12-01 1" in folder.joinpath("2024/index.html").read_text("utf-8")
    assert "Paper 2024-12-01 1" in folder.joinpath("index.html").read_text("utf-8")
    for day in ("2024-03-01", "2024-09-01", "2024-12-01"):
        for n in (1, 2):
            write(root / f"issues/{day}/0{n}-p.md", paper_md(f"Paper {day} {n}", arxiv=None))  # untagged
    build(config, now=NOW)
    assert sorted(p.name for p in folder.iterdir()) == ["feed.xml", "index.html"]  # two papers: one page
    sitemap = unquote((config.output_dir / "sitemap.xml").read_text("utf-8"))
    assert "/tags/长上下文/</loc>" in sitemap and "/tags/长上下文/2023/" not in sitemap


def test_c_c_sharp_and_c_plus_plus_are_three_tags_with_links_that_resolve(newsletter) -> None:
    root = newsletter()
    write(root / "issues/2024-05-01/issue.yaml", 'title: "一期"\n')
    for n, tag in enumerate(("C", "C#", "C++"), 1):
        write(root / f"issues/2024-05-01/0{n}-p.md", paper_md(f"Paper {tag}", arxiv=None, tags=f'["{tag}"]'))
    config = load_config(root / "config.yaml")
    build(config, now=NOW)
    tags_folder = config.output_dir / "tags"
    hrefs = [h for h in parse((tags_folder / "index.html").read_bytes()).hrefs() if h.startswith("c")]
    assert sorted(hrefs) == ["c%23/", "c%2B%2B/", "c/"]
    for href in hrefs:
        page = (tags_folder / unquote(href) / "index.html").read_text("utf-8")
        name = {"c/": "C", "c%23/": "C#", "c%2B%2B/": "C++"}[href]
        assert f"<h1>标签：{name}</h1>" in page and f"Paper {name}<" in page


def test_an_issue_not_due_yet_has_noindex_until_its_time_then_loses_it(newsletter) -> None:
    from datetime import timedelta

    root = newsletter()
    write(root / "issues/2026-01-05/issue.yaml", 'title: "下周才发的一期"\n')  # due after NOW
    write(root / "issues/2026-01-05/01-a.md", paper_md("Paper", arxiv=None))
    write(root / "issues/2025-12-01/issue.yaml", 'title: "草稿"\ndraft: true\n')
    write(root / "issues/2025-12-01/01-a.md", paper_md("Draft paper", arxiv=None))
    config = load_config(root / "config.yaml")
    robots = '<meta name="robots" content="noindex">'

    def page(day: str) -> str:
        return (config.output_dir / f"issues/{day}/index.html").read_text("utf-8")

    build(config, now=NOW)
    assert robots in page("2026-01-05") and robots in page("2025-12-01")
    later = NOW + timedelta(days=10)
    report = build(config, now=later)  # nothing edited: its time came
    assert report.built == ["2026-01-05"]
    assert robots not in page("2026-01-05") and robots in page("2025-12-01")
    assert build(config, now=later + timedelta(hours=1)).built == []


def test_an_issue_with_example_text_keeps_noindex_when_its_time_comes_as_a_cold_build_has_it(newsletter) -> None:
    import shutil
    from datetime import timedelta

    from pipeline.load.text import scaffold_text

    root = newsletter()
    summary = scaffold_text().issue["summary"]  # left from `publish new`: not for readers yet
    write(root / "issues/2026-01-05/issue.yaml", f'title: "下周"\nsummary: "{summary}"\n')
    write(root / "issues/2026-01-05/01-a.md", paper_md("Paper", arxiv=None))
    config = load_config(root / "config.yaml")
    page = config.output_dir / "issues/2026-01-05/index.html"
    robots = '<meta name="robots" content="noindex">'
    build(config, now=NOW)
    later = NOW + timedelta(days=10)
    build(config, now=later)
    incremental = page.read_text("utf-8")
    shutil.rmtree(config.output_dir)
    shutil.rmtree(config.state_dir)
    build(config, now=later)
    assert robots in incremental and page.read_text("utf-8") == incremental


def test_pages_not_yet_public_name_their_tags_without_links(newsletter) -> None:
    """The tag pages list public issues only: a draft's or a future issue's own tag has no page,
    so its (noindex) page names the tags rather than linking a 404. Once public, they link."""
    root = newsletter()
    write(root / "issues/2024-05-01/issue.yaml", 'title: "已发布"\ntags: [公开标签]\n')
    write(root / "issues/2024-05-01/01-a.md", paper_md("Public"))
    write(root / "issues/2024-05-08/issue.yaml", 'title: "草稿"\ndraft: true\ntags: [草稿标签, 公开标签]\n')
    write(root / "issues/2024-05-08/01-a.md", paper_md("Draft", arxiv="2405.00001", tags="[草稿论文标签]"))
    write(root / "issues/2031-01-06/issue.yaml", 'title: "未来"\ntags: [未来标签]\n')
    write(root / "issues/2031-01-06/01-a.md", paper_md("Future", arxiv="2405.00002"))
    config = load_config(root / "config.yaml")
    build(config, now=NOW)
    public = config.output_dir

    def tags_shown(issue_id: str) -> tuple[list[str], list[str]]:
        page = parse((public / "issues" / issue_id / "index.html").read_bytes())
        items = [li.text for li in page.find("li") if "ul" in li.parents]
        hrefs = [a.attrs.get("href", "") for a in page.find("a")]
        links = [href for href in hrefs if href.startswith("../../tags/") and href != "../../tags/"]  # not the nav's
        return items, links

    items, links = tags_shown("2024-05-08")
    assert {"草稿标签", "公开标签", "草稿论文标签"} <= set(items) and links == []
    items, links = tags_shown("2031-01-06")
    assert "未来标签" in items and links == []
    items, links = tags_shown("2024-05-01")
    assert links == [f"../../{tag_href('公开标签')}"]
    assert not (public / "tags" / "草稿标签").exists() and not (public / "tags" / "未来标签").exists()

    build(config, now=datetime(2031, 1, 7, tzinfo=timezone.utc))  # the future issue's time has come
    items, links = tags_shown("2031-01-06")
    assert links == [f"../../{tag_href('未来标签')}"] and (public / "tags" / "未来标签" / "index.html").is_file()


def test_issues_of_one_date_are_ordered_by_their_publish_times_not_their_text() -> None:
    """`2024-10-08T08:30:00+09:00` reads later than `2024-10-08T08:00:00+08:00` but comes half an
    hour before it."""
    from pipeline.render.context import Card
    from pipeline.render.pages import newest_first

    def card(issue_id: str, publish_at: str) -> Card:
        return Card(issue_id, issue_id, "2024-10-08", publish_at, None, [], False, None, [])

    tokyo, beijing = (
        card("2024-10-08-a", "2024-10-08T08:30:00+09:00"),
        card("2024-10-08-b", "2024-10-08T08:00:00+08:00"),
    )
    assert [c.id for c in newest_first([tokyo, beijing])] == ["2024-10-08-b", "2024-10-08-a"]
    assert [c.id for c in newest_first([beijing, tokyo])] == ["2024-10-08-b", "2024-10-08-a"]
