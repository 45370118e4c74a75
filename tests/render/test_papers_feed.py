"""papers.xml (Atom) and papers.json (JSON Feed): one item per paper, read back with feedparser."""

from __future__ import annotations

import json
from html import unescape
from pathlib import Path

import feedparser
from conftest import BASIC_CONFIG, NOW, paper_md, write

from pipeline.build.builder import build
from pipeline.build.cards import make_card
from pipeline.config import load_config
from pipeline.load.issues import load_issues
from pipeline.markdown import parse
from pipeline.render.context import RenderContext
from pipeline.render.papers import plain_text, render_site


def cards_of(root: Path, ctx_now=NOW):
    config = load_config(root / "config.yaml")
    result = load_issues(config)
    assert not result.errors, [p.format() for p in result.errors]
    ctx = RenderContext(config, ctx_now)
    cards = [make_card(issue, ctx) for issue in result.issues]
    return [c for c in cards if c.is_public(ctx_now)], ctx


def test_build_writes_one_item_per_paper_newest_issue_first(example: Path) -> None:
    build(load_config(example / "config.yaml"), now=NOW)
    feed = feedparser.parse((example / "public" / "papers.xml").read_bytes())
    assert not feed.bozo, feed.bozo_exception
    assert feed.feed.title == "大模型前沿论文速递 · 论文"
    assert len(feed.entries) == 8
    first = feed.entries[0]
    assert first.id == "https://arxiv.org/abs/2409.14274"
    assert first.link == "https://digest.example.org/issues/2024-09-30/#paper-01-palm"
    assert first.title == "使用大语言模型做自动化证明"
    assert [a.name for a in first.authors][:3] == ["M Lu", "B Delaware", "T Zhang"]
    assert first.author == "M Lu, B Delaware, T Zhang"  # dc:creator, what single-author readers show
    assert {"定理证明", "Coq"} <= {t.term for t in first.tags}
    assert "推荐阅读指数 8/10" in first.summary and "PALM" in first.summary
    pdf = [link for link in first.links if link.get("type") == "application/pdf"]
    assert pdf and pdf[0].href == "https://arxiv.org/pdf/2409.14274"
    assert feed.entries[3].link.startswith("https://digest.example.org/issues/2024-04-28/#paper-01-")
    # The page the items point at has those anchors.
    page = (example / "public" / "issues" / "2024-09-30" / "index.html").read_text("utf-8")
    assert 'id="paper-01-palm"' in page


def test_json_feed_mirrors_the_atom_items(example: Path) -> None:
    build(load_config(example / "config.yaml"), now=NOW)
    data = json.loads((example / "public" / "papers.json").read_text("utf-8"))
    assert data["version"] == "https://jsonfeed.org/version/1.1"
    assert data["feed_url"] == "https://digest.example.org/papers.json"
    atom = feedparser.parse((example / "public" / "papers.xml").read_bytes())
    assert [i["id"] for i in data["items"]] == [e.id for e in atom.entries]
    assert [i["url"] for i in data["items"]] == [e.link for e in atom.entries]
    item = data["items"][0]
    assert item["_arxiv"]["id"] == "2409.14274" and item["external_url"] == "https://arxiv.org/abs/2409.14274"
    assert item["authors"][0] == {"name": "M Lu"}


def test_guid_is_stable_across_versions_and_issues(newsletter) -> None:
    root = newsletter()
    write(root / "issues" / "2024-09-30" / "issue.yaml", "title: 第一期\n")
    write(root / "issues" / "2024-09-30" / "01-proof.md", paper_md("Proof Automation", arxiv="2409.14274v1"))
    write(root / "issues" / "2024-09-30" / "02-notes.md", paper_md("编辑随笔", arxiv=None))
    write(root / "issues" / "2024-10-07" / "issue.yaml", "title: 第二期\n")
    write(root / "issues" / "2024-10-07" / "01-proof-again.md", paper_md("Proof Automation", arxiv="2409.14274v2"))
    cards, ctx = cards_of(root)
    feed = feedparser.parse(render_site(cards, ctx)["papers.xml"])
    ids = [e.id for e in feed.entries]
    assert ids == ["https://arxiv.org/abs/2409.14274", "https://digest.example.org/issues/2024-09-30/#paper-02-notes"]
    assert feed.entries[0].link == "https://digest.example.org/issues/2024-10-07/#paper-01-proof-again"
    older, _ = cards_of(root)
    # Dropping the newer issue keeps the same GUID, now pointing at the first appearance.
    only_first = feedparser.parse(render_site([c for c in older if c.id == "2024-09-30"], ctx)["papers.xml"])
    assert only_first.entries[0].id == ids[0]


def test_hostile_text_is_escaped_in_both_feeds(newsletter) -> None:
    root = newsletter()
    hostile = '<script>alert(1)</script> & "引号" ]]> xy'  # a control character in a title is refused by the loader
    write(root / "issues" / "2024-09-30" / "issue.yaml", "title: 第一期 <b>&</b>\n")
    write(
        root / "issues" / "2024-09-30" / "01-x.md",
        paper_md(
            hostile,
            arxiv="2409.14274",
            tags='["<i>tag</i>", "a&b"]',
            body="导语 <img src=x onerror=alert(1)> **粗体**。x\u000by\n",
        ),
    )
    cards, ctx = cards_of(root)
    files = render_site(cards, ctx)
    feed = feedparser.parse(files["papers.xml"])
    assert not feed.bozo, feed.bozo_exception
    assert feed.entries[0].title_detail.type == "text/html"  # markup characters: declared HTML, escaped
    assert unescape(feed.entries[0].title) == '<script>alert(1)</script> & "引号" ]]> xy'
    assert {t.term for t in feed.entries[0].tags} == {"<i>tag</i>", "a&b"}
    assert b"<script>" not in files["papers.xml"] and b"\x0b" not in files["papers.xml"]
    item = json.loads(files["papers.json"])["items"][0]
    assert item["title"].startswith("<script>alert(1)</script>")
    assert "导语 <img src=x onerror=alert(1)> 粗体。" in item["content_text"]
    assert "《第一期 <b>&</b>》" in item["content_text"]


def test_items_follow_the_feed_channel_and_skip_drafts(newsletter) -> None:
    root = newsletter(BASIC_CONFIG.replace("items: 20", "items: 1"))
    write(root / "issues" / "2024-09-30" / "issue.yaml", "title: 第一期\n")
    write(root / "issues" / "2024-09-30" / "01-a.md", paper_md("Paper A", arxiv="2409.00001"))
    write(root / "issues" / "2024-10-07" / "issue.yaml", "title: 第二期\n")
    write(root / "issues" / "2024-10-07" / "01-b.md", paper_md("Paper B", arxiv="2410.00001"))
    write(root / "issues" / "2024-10-07" / "02-c.md", paper_md("Paper C", arxiv="2410.00002"))
    write(root / "issues" / "2024-10-14" / "issue.yaml", "title: 草稿\ndraft: true\n")
    write(root / "issues" / "2024-10-14" / "01-d.md", paper_md("Paper D", arxiv="2410.00003"))
    build(load_config(root / "config.yaml"), now=NOW)
    feed = feedparser.parse((root / "public" / "papers.xml").read_bytes())
    assert [e.title for e in feed.entries] == ["Paper B", "Paper C"]


def test_output_is_deterministic(example: Path) -> None:
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    first = {name: (example / "public" / name).read_bytes() for name in ("papers.xml", "papers.json")}
    cards, ctx = cards_of(example)
    again = render_site(sorted(cards, key=lambda c: c.id), ctx)
    assert again == first
    build(config, now=NOW, force=True)
    assert {name: (example / "public" / name).read_bytes() for name in first} == first


def test_plain_text_drops_markup_and_cuts_long_text() -> None:
    fragment = parse("第一段 **粗体** 与 `code` 和 [链接](https://example.org)。\n\n- 列表项\n")
    assert plain_text(fragment) == "第一段 粗体 与 code 和 链接。 列表项"
    assert plain_text(parse("字" * 400), limit=10) == "字" * 9 + "…"
    assert plain_text(None) is None and plain_text(parse("")) is None


def test_papers_of_one_issue_never_share_an_updated_time(newsletter) -> None:
    root = newsletter()
    for folder in ("2024-09-30", "2024-09-30-extra"):  # two issues on one day, at one time
        write(root / "issues" / folder / "issue.yaml", f"title: 同日 {folder}\n")
        for n in range(3):
            write(root / "issues" / folder / f"0{n}-p.md", paper_md(f"论文 {folder} {n}", arxiv=None))
    cards, ctx = cards_of(root)
    files = render_site(cards, ctx)
    feed = feedparser.parse(files["papers.xml"])
    assert not feed.bozo and len(feed.entries) == 6
    updated = [e.updated for e in feed.entries]
    assert len(set(updated)) == 6
    assert all(e.updated >= e.published for e in feed.entries)
    assert feed.feed.updated == max(updated)
    assert [i["date_modified"] for i in json.loads(files["papers.json"])["items"]] == updated
    assert render_site(cards, ctx) == files


def test_paper_summaries_and_authors_read_back_exactly(newsletter) -> None:
    root = newsletter()
    lead = "导语 </title> 与 <![CDATA[ x ]]> 和 AT & T，全角“标点”！"
    write(root / "issues" / "2024-09-30" / "issue.yaml", "title: 第一期\n")
    write(root / "issues" / "2024-09-30" / "01-a.md", paper_md("论文", arxiv=None, body=f"{lead}\n"))
    cards, ctx = cards_of(root)
    entry = feedparser.parse(render_site(cards, ctx)["papers.xml"]).entries[0]
    assert entry.summary_detail.type == "text/html"  # `<` and `&` in it: declared HTML, escaped
    assert cards[0].papers[0]["summary"] == lead and unescape(entry.summary).endswith(lead)
    assert entry.title_detail.type == "text/plain" and entry.title == "论文"  # plain text stays text
    assert entry.author == "Ann Author, 张三"  # dc:creator; feedparser alone would give the last author
    assert [a.name for a in entry.authors][:2] == ["Ann Author", "张三"]


def test_a_paper_without_authors_has_no_authors_key(newsletter) -> None:
    """``authors: []`` is allowed (docs/FORMAT.md); JSON Feed 1.1 wants one or more authors
    where the key is given, so the item leaves it out."""
    root = newsletter()
    folder = root / "issues" / "2024-09-30"
    write(folder / "issue.yaml", "title: 第一期\n")
    write(folder / "01-a.md", paper_md("有作者"))
    write(
        folder / "02-b.md", paper_md("无作者", arxiv="2409.00001").replace("authors: [Ann Author, 张三]", "authors: []")
    )
    cards, ctx = cards_of(root)
    items = {i["title"]: i for i in json.loads(render_site(cards, ctx)["papers.json"])["items"]}
    assert "authors" not in items["无作者"]
    assert items["有作者"]["authors"] == [{"name": "Ann Author"}, {"name": "张三"}]
    assert list(items["有作者"]).index("authors") < list(items["有作者"]).index("tags")  # the order before
