"""RSS, Atom and JSON Feed output, read back with feedparser, lxml and json."""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterable
from datetime import datetime, timezone
from html import unescape
from pathlib import Path

import feedparser
import pytest
import yaml
from conftest import BASIC_CONFIG, NOW, paper_md, write
from lxml import etree

from pipeline.build.cards import make_card
from pipeline.config import Config, load_config
from pipeline.load.issues import load_issues
from pipeline.model import Issue
from pipeline.render.context import Card, RenderContext
from pipeline.render.feeds import item_content, render_site

ATOM = "{http://www.w3.org/2005/Atom}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
SITE = "https://digest.example.org/"
HOSTILE = 'Evil <script>alert("x")</script> ]]> \'q\' "dq" & 😀 שלום عربي {{ x }} {% if 1 %}'
HOSTILE_TAG = 'Evil <script>alert("x")</script> ]]> & 😀 שלום {{ x }}'  # a tag keeps 60 characters
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


def render_feeds(issues: Iterable[Issue], config: Config, now: datetime = NOW) -> dict[str, bytes]:
    """What the build does: item HTML per issue, cards newest first, then the site feeds."""
    issues = list(issues)
    contents = {issue.id: item_content(issue, RenderContext(config, now)) for issue in issues}
    ctx = RenderContext(config, now, content_of=contents.__getitem__)
    cards = [make_card(issue, ctx) for issue in issues]
    public = sorted((c for c in cards if c.is_public(now)), key=lambda c: c.published, reverse=True)
    return render_site(public, ctx)


def load(root: Path) -> tuple[Config, list[Issue]]:
    config = load_config(root / "config.yaml")
    result = load_issues(config)
    assert not result.errors, [p.format() for p in result.errors]
    return config, result.issues


def issue_yaml(folder: Path, **meta) -> None:
    meta.setdefault("title", "测试期刊")
    meta.setdefault("summary", "一句话摘要。")
    write(folder / "issue.yaml", yaml.safe_dump(meta, allow_unicode=True))


@pytest.fixture
def example_feeds(example_config, example_issues) -> dict[str, bytes]:
    return render_feeds(example_issues.values(), example_config)


# ---------------------------------------------------------------- item content


def test_item_content_carries_the_whole_issue(example_issues, ctx):
    html = item_content(example_issues["2024-09-30"], ctx)
    assert "本期我们从三个截然不同的角度看大模型" in html  # intro
    assert '<h2 id="paper-01-palm">' in html
    assert "Proof Automation with Large Language Models" in html and "使用大语言模型做自动化证明" in html
    assert "作者：M Lu, B Delaware, T Zhang" in html
    assert "arXiv preprint arXiv:2409.14274" in html
    assert "推荐阅读指数 8/10" in html
    assert "<h3>研究背景</h3>" in html and "<h3>推荐理由</h3>" in html
    assert '<a href="https://arxiv.org/abs/2409.14274">arXiv</a>' in html
    assert '<a href="https://arxiv.org/pdf/2409.14274">PDF</a>' in html
    assert html.rstrip().endswith("</div>") and "感谢阅读" in html  # outro last
    assert html.index("本期我们") < html.index("paper-01-palm") < html.index("感谢阅读")


def test_item_content_makes_images_absolute_and_skips_missing_rating(newsletter):
    root = newsletter()
    folder = root / "issues" / "2024-10-01"
    issue_yaml(folder, intro="![封面](images/fig.png)")
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "fig.png").write_bytes(PNG)
    write(folder / "01-a.md", paper_md("Plain", body="导语。\n\n## 实验效果\n\n![图](images/fig.png)\n"))
    config, issues = load(root)
    html = item_content(issues[0], RenderContext(config, NOW))
    assert html.count(f'src="{SITE}issues/2024-10-01/images/fig.png"') == 2
    assert "推荐阅读指数" not in html


def test_item_content_escapes_every_value(newsletter):
    root = newsletter()
    folder = root / "issues" / "2024-10-01"
    issue_yaml(folder, title=HOSTILE, summary=HOSTILE, intro="<script>bad()</script> {{ x }}")
    body = f"{HOSTILE}\n\n## {HOSTILE}\n\n正文 <b>粗</b>\n"
    write(folder / "01-a.md", paper_md(HOSTILE, body=body, title_translated=json.dumps(HOSTILE, ensure_ascii=False)))
    config, issues = load(root)
    html = item_content(issues[0], RenderContext(config, NOW))
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;script&gt;" in html and "&lt;b&gt;粗&lt;/b&gt;" in html
    assert "{{ x }}" in html and "{% if 1 %}" in html  # shown, never evaluated
    assert "😀 שלום عربي" in html


def test_item_template_can_be_overridden(newsletter):
    root = newsletter()
    write(root / "templates" / "feed_item.html", "<p>自定义：{{ issue.title }}</p>\n")
    issue_yaml(root / "issues" / "2024-10-01", title="标题 <i>")
    config, issues = load(root)
    assert item_content(issues[0], RenderContext(config, NOW)) == "<p>自定义：标题 &lt;i&gt;</p>\n"


# ---------------------------------------------------------------- RSS and Atom


def test_rss_reads_back(example_feeds):
    parsed = feedparser.parse(example_feeds["rss.xml"])
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "rss20"
    assert parsed.feed.title == "大模型前沿论文速递"
    assert parsed.feed.link == SITE  # the alternate link, not the self link
    assert parsed.feed.subtitle.startswith("每期精选几篇大模型方向的新论文")
    assert parsed.feed.language == "zh-CN"
    assert {"rel": "self", "href": f"{SITE}rss.xml"}.items() <= _link(parsed.feed, "self").items()
    assert [e.link for e in parsed.entries] == [f"{SITE}issues/2024-09-30/", f"{SITE}issues/2024-04-28/"]
    first = parsed.entries[0]
    assert first.id == first.link
    assert first.published == "Mon, 30 Sep 2024 08:00:00 +0800"
    assert first.summary.startswith("本期三篇")
    assert "形式化验证" in [t.term for t in first.tags]
    assert "<h3>研究背景</h3>" in first.content[0].value and "普渡大学团队" in first.content[0].value


def test_rss_raw_structure(example_feeds):
    channel = etree.fromstring(example_feeds["rss.xml"]).find("channel")
    assert channel.findtext("lastBuildDate") == "Mon, 30 Sep 2024 08:00:00 +0800"  # newest item, not now
    guid = channel.find("item/guid")
    assert guid.get("isPermaLink") == "true" and guid.text == f"{SITE}issues/2024-09-30/"
    assert channel.find("item/enclosure") is None  # no cover in the example


def test_atom_reads_back(example_feeds):
    raw = example_feeds["atom.xml"]
    parsed = feedparser.parse(raw)
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert parsed.version == "atom10"
    assert parsed.feed.title == "大模型前沿论文速递"
    assert parsed.feed.link == SITE
    assert _link(parsed.feed, "self")["href"] == f"{SITE}atom.xml"
    assert parsed.feed.author == "Digest Editors"
    assert parsed.feed.updated == "2024-09-30T08:00:00+08:00"
    first = parsed.entries[0]
    assert first.id == f"{SITE}issues/2024-09-30/"
    assert first.published == "2024-09-30T08:00:00+08:00"
    assert first.content[0].type == "text/html"
    assert "<h3>研究背景</h3>" in first.content[0].value and "普渡大学团队" in first.content[0].value
    root = etree.fromstring(raw)
    assert root.get(XML_LANG) == "zh-CN"
    assert root.find(f"{ATOM}entry/{ATOM}content").get("type") == "html"  # never "CDATA"


def test_feeds_are_byte_identical_across_builds(example_config, example_issues):
    first = render_feeds(example_issues.values(), example_config, NOW)
    later = datetime(2030, 6, 1, tzinfo=timezone.utc)  # "now" must not leak into any feed
    assert render_feeds(example_issues.values(), example_config, later) == first


def test_guid_survives_an_edit(example):
    config, issues = load(example)
    before = feedparser.parse(render_feeds(issues, config)["rss.xml"])
    folder = example / "issues" / "2024-09-30"
    meta = yaml.safe_load((folder / "issue.yaml").read_text("utf-8"))
    meta["title"] = "修订版：第40期"
    (folder / "issue.yaml").write_text(yaml.safe_dump(meta, allow_unicode=True), "utf-8")
    with open(folder / "01-palm.md", "a", encoding="utf-8") as fh:
        fh.write("\n勘误：补充一句。\n")
    config, issues = load(example)
    feeds = render_feeds(issues, config)
    after = feedparser.parse(feeds["rss.xml"])
    atom = feedparser.parse(feeds["atom.xml"])
    assert after.entries[0].title == "修订版：第40期"
    assert "勘误：补充一句。" in after.entries[0].content[0].value
    assert [e.id for e in after.entries] == [e.id for e in before.entries]
    assert [e.id for e in atom.entries] == [e.id for e in before.entries]


def test_json_feed(example_feeds):
    feed = json.loads(example_feeds["feed.json"])
    assert feed["version"] == "https://jsonfeed.org/version/1.1"
    assert feed["title"] == "大模型前沿论文速递"
    assert feed["home_page_url"] == SITE and feed["feed_url"] == f"{SITE}feed.json"
    assert feed["language"] == "zh-CN" and feed["authors"] == [{"name": "Digest Editors"}]
    assert "hubs" not in feed
    assert [i["id"] for i in feed["items"]] == [f"{SITE}issues/2024-09-30/", f"{SITE}issues/2024-04-28/"]
    item = feed["items"][0]
    assert item["url"] == item["id"]
    assert item["date_published"] == "2024-09-30T08:00:00+08:00"
    assert "<h3>研究背景</h3>" in item["content_html"]
    assert item["summary"].startswith("本期三篇") and "可解释性" in item["tags"]
    assert "本期三篇".encode() in example_feeds["feed.json"]  # not \u-escaped


def test_hostile_content_stays_escaped_and_parses(newsletter):
    root = newsletter()
    folder = root / "issues" / "2024-10-01"
    issue_yaml(folder, title=HOSTILE, summary=HOSTILE, tags=[HOSTILE_TAG, "标签"])
    write(folder / "01-a.md", paper_md(HOSTILE, body=f"导语 {HOSTILE}\n\n## 方法 ]]>\n\n内容。\n"))
    config, issues = load(root)
    feeds = render_feeds(issues, config)
    for name in ("rss.xml", "atom.xml"):
        assert b"<script>" not in feeds[name]
        assert not feedparser.parse(feeds[name]).bozo
    rss_item = etree.fromstring(feeds["rss.xml"]).find("channel/item")
    assert rss_item.findtext("title") == HOSTILE
    assert unescape(rss_item.findtext("description")) == HOSTILE  # HTML, as readers take it
    assert HOSTILE_TAG in [c.text for c in rss_item.findall("category")]
    content = rss_item.findtext("{http://purl.org/rss/1.0/modules/content/}encoded")
    assert "<script>" not in content and "&lt;script&gt;" in content and "<h3>方法 ]]&gt;</h3>" in content
    entry = etree.fromstring(feeds["atom.xml"]).find(f"{ATOM}entry")
    assert entry.find(f"{ATOM}title").get("type") == "html"  # markup characters: declared HTML, escaped
    assert unescape(entry.findtext(f"{ATOM}title")) == HOSTILE
    assert "&lt;script&gt;" in entry.findtext(f"{ATOM}content")
    item = json.loads(feeds["feed.json"])["items"][0]
    assert item["title"] == HOSTILE and "<script>" not in item["content_html"]


def test_control_characters_are_dropped_from_xml(example_config):
    card = Card(
        "2024-10-01", "标题\x0b\x00尾", "2024-10-01", "2024-10-01T08:00:00+08:00", "摘\x1b要", ["标\x01签"], False, None
    )
    ctx = RenderContext(example_config, NOW, content_of=lambda _id: "<p>正文\x08</p>")
    feeds = render_site([card], ctx)
    assert etree.fromstring(feeds["rss.xml"]).findtext("channel/item/title") == "标题尾"
    assert etree.fromstring(feeds["atom.xml"]).findtext(f"{ATOM}entry/{ATOM}summary") == "摘要"


def test_items_limit_keeps_the_newest(newsletter):
    root = newsletter(BASIC_CONFIG.replace("items: 20", "items: 2"))
    for day in ("2024-10-01", "2024-10-08", "2024-10-15"):
        issue_yaml(root / "issues" / day, title=f"第 {day} 期")
    config, issues = load(root)
    feeds = render_feeds(issues, config)
    expected = [f"{SITE}issues/2024-10-15/", f"{SITE}issues/2024-10-08/"]
    assert [e.id for e in feedparser.parse(feeds["rss.xml"]).entries] == expected
    assert [e.id for e in feedparser.parse(feeds["atom.xml"]).entries] == expected
    assert [i["id"] for i in json.loads(feeds["feed.json"])["items"]] == expected


def test_description_falls_back_to_title_and_drafts_stay_out(newsletter):
    root = newsletter()  # BASIC_CONFIG has no site.description
    issue_yaml(root / "issues" / "2024-10-01", title="公开一期")
    issue_yaml(root / "issues" / "2024-10-08", title="草稿一期", draft=True)
    config, issues = load(root)
    parsed = feedparser.parse(render_feeds(issues, config)["rss.xml"])
    assert parsed.feed.subtitle == "测试论文速递"
    assert [e.title for e in parsed.entries] == ["公开一期"]


def test_websub_hub_is_advertised(newsletter):
    hub = "https://hub.example.org/"
    root = newsletter(BASIC_CONFIG.replace("items: 20}", f"items: 20, websub_hub: '{hub}'}}"))
    issue_yaml(root / "issues" / "2024-10-01")
    config, issues = load(root)
    feeds = render_feeds(issues, config)
    channel = etree.fromstring(feeds["rss.xml"]).find("channel")
    assert [(link.get("rel"), link.get("href")) for link in channel.findall(f"{ATOM}link")] == [
        ("self", f"{SITE}rss.xml"),
        ("hub", hub),
    ]
    atom = etree.fromstring(feeds["atom.xml"])
    assert {(link.get("rel"), link.get("href")) for link in atom.findall(f"{ATOM}link")} == {
        ("self", f"{SITE}atom.xml"),
        ("hub", hub),
        ("alternate", SITE),
    }
    assert json.loads(feeds["feed.json"])["hubs"] == [{"type": "WebSub", "url": hub}]
    assert not feedparser.parse(feeds["rss.xml"]).bozo and not feedparser.parse(feeds["atom.xml"]).bozo


@pytest.mark.parametrize(
    ("name", "href"),
    [
        ("cover.png", "cover.png"),
        # a file name, not a URL: unencoded, the space is invalid and `#` starts a fragment
        ("封面 1#2.png", "%E5%B0%81%E9%9D%A2%201%232.png"),
    ],
)
def test_cover_becomes_enclosure_and_image(newsletter, name, href):
    root = newsletter()
    folder = root / "issues" / "2024-10-01"
    issue_yaml(folder, cover=f"images/{name}")
    (folder / "images").mkdir(parents=True)
    (folder / "images" / name).write_bytes(PNG)
    config, issues = load(root)
    feeds = render_feeds(issues, config)
    cover = f"{SITE}issues/2024-10-01/images/{href}"
    enclosure = etree.fromstring(feeds["rss.xml"]).find("channel/item/enclosure")
    assert (enclosure.get("url"), enclosure.get("type"), enclosure.get("length")) == (cover, "image/png", str(len(PNG)))
    links = etree.fromstring(feeds["atom.xml"]).findall(f"{ATOM}entry/{ATOM}link")
    # exactly one alternate: the enclosure is a link of its own
    assert [(link.get("rel") or "alternate", link.get("href")) for link in links] == [
        ("alternate", f"{SITE}issues/2024-10-01/"),
        ("enclosure", cover),
    ]
    parsed = feedparser.parse(feeds["atom.xml"])
    assert not parsed.bozo and parsed.entries[0].link == f"{SITE}issues/2024-10-01/"
    assert [e.href for e in parsed.entries[0].enclosures] == [cover]
    assert json.loads(feeds["feed.json"])["items"][0]["image"] == cover


def test_empty_feeds_are_valid_and_stable(example_config):
    ctx = RenderContext(example_config, NOW, content_of=lambda _id: "")
    feeds = render_site([], ctx)
    assert feeds == render_site([], RenderContext(example_config, datetime(2031, 1, 1, tzinfo=timezone.utc)))
    for name in ("rss.xml", "atom.xml"):
        parsed = feedparser.parse(feeds[name])
        assert not parsed.bozo and parsed.entries == []
    assert json.loads(feeds["feed.json"])["items"] == []


# ---------------------------------------------------------------- through the build


def test_build_writes_the_feeds(example_config):
    for name in ("web", "email", "wechat"):
        try:
            importlib.import_module(f"pipeline.render.{name}")
        except ImportError:
            pytest.skip(f"pipeline.render.{name} is not written yet")
    from pipeline.build.builder import build

    build(example_config, now=NOW)
    out = example_config.output_dir
    files = {name: (out / name).read_bytes() for name in ("rss.xml", "atom.xml", "feed.json")}
    rss = feedparser.parse(files["rss.xml"])
    assert not rss.bozo and [e.id for e in rss.entries] == [f"{SITE}issues/2024-09-30/", f"{SITE}issues/2024-04-28/"]
    assert "推荐阅读指数" in rss.entries[1].content[0].value
    assert json.loads(files["feed.json"])["items"][1]["title"].startswith("大模型前沿论文速递 · 第17期")
    build(example_config, now=datetime(2027, 1, 1, tzinfo=timezone.utc), force=True)
    assert {name: (out / name).read_bytes() for name in files} == files


def _link(feed, rel: str) -> dict:
    return next(link for link in feed.links if link.get("rel") == rel)


def _feed_ids(config: Config) -> list[str]:
    parsed = feedparser.parse((config.output_dir / "atom.xml").read_bytes())
    assert not parsed.bozo
    return [e.id.removeprefix(f"{SITE}issues/").rstrip("/") for e in parsed.entries]


def test_build_keeps_feed_html_only_for_the_newest_issues(newsletter, monkeypatch):
    from pipeline.build import builder as build_module

    monkeypatch.setattr(build_module, "FEED_MARGIN", 1)
    root = newsletter(BASIC_CONFIG.replace("items: 20", "items: 2"))
    days = ["2024-10-01", "2024-10-08", "2024-10-15", "2024-10-22", "2024-10-29"]
    for day in days:
        issue_yaml(root / "issues" / day, title=f"第 {day} 期")
        write(root / "issues" / day / "01-paper.md", paper_md(f"论文 {day}", arxiv=None))
    config = load_config(root / "config.yaml")
    build_module.build(config, now=NOW)
    kept = sorted(p.stem for p in (config.state_dir / "build" / "content").glob("*.html"))
    assert kept == days[-3:]  # items (2) + margin (1)
    assert _feed_ids(config) == ["2024-10-29", "2024-10-22"]


def test_feeds_reaching_past_the_kept_html_render_it_again(newsletter, monkeypatch):
    """Newer issues turned into drafts push an older issue, never kept, into the feed."""
    from pipeline.build import builder as build_module

    monkeypatch.setattr(build_module, "FEED_MARGIN", 0)
    root = newsletter(BASIC_CONFIG.replace("items: 20", "items: 1"))
    for day in ("2024-10-01", "2024-10-08"):
        issue_yaml(root / "issues" / day, title=f"第 {day} 期")
        write(root / "issues" / day / "01-paper.md", paper_md(f"论文 {day}", arxiv=None, body="旧的导语。\n"))
    config = load_config(root / "config.yaml")
    build_module.build(config, now=NOW)
    assert _feed_ids(config) == ["2024-10-08"]
    # The older issue is edited while out of the window, then the newer one becomes a draft.
    write(
        root / "issues" / "2024-10-01" / "01-paper.md", paper_md("论文 2024-10-01", arxiv=None, body="改过的导语。\n")
    )
    build_module.build(config, now=NOW)
    issue_yaml(root / "issues" / "2024-10-08", title="第 2024-10-08 期", draft=True)
    build_module.build(config, now=NOW)
    assert _feed_ids(config) == ["2024-10-01"]
    entry = feedparser.parse((config.output_dir / "atom.xml").read_bytes()).entries[0]
    assert "改过的导语" in entry.content[0].value and "旧的导语" not in entry.content[0].value
    config_again, issues = load(root)
    built = json.loads((config.output_dir / "feed.json").read_bytes())
    fresh = json.loads(render_feeds(issues, config_again)["feed.json"])
    # The same feed but for the edit's date, which only the build remembers.
    assert built["items"][0].pop("date_modified") > fresh["items"][0].pop("date_modified")
    assert built == fresh


# ---------------------------------------------------------------- enclosures, namespaces, labels


def test_enclosure_length_is_the_cover_files_size_or_zero_for_a_url(newsletter):
    root = newsletter()
    local, remote = root / "issues" / "2024-10-01", root / "issues" / "2024-10-08"
    issue_yaml(local, title="本地封面", cover="images/封面 1.png")
    (local / "images").mkdir(parents=True)
    (local / "images" / "封面 1.png").write_bytes(PNG * 3)
    issue_yaml(remote, title="远程封面", cover="https://cdn.example.org/covers/第2期.jpg")
    config, issues = load(root)
    feeds = render_feeds(issues, config)
    size = str(len(PNG) * 3)
    items = {i.findtext("title"): i.find("enclosure") for i in etree.fromstring(feeds["rss.xml"]).iter("item")}
    assert (items["本地封面"].get("url"), items["本地封面"].get("length")) == (
        f"{SITE}issues/2024-10-01/images/%E5%B0%81%E9%9D%A2%201.png",  # the file's name as a URL
        size,
    )
    assert (items["远程封面"].get("url"), items["远程封面"].get("type"), items["远程封面"].get("length")) == (
        "https://cdn.example.org/covers/%E7%AC%AC2%E6%9C%9F.jpg",  # a URL: encoded as links in the text are
        "image/jpeg",
        "0",  # size unknown
    )
    rss = {e.title: e.enclosures[0] for e in feedparser.parse(feeds["rss.xml"]).entries}
    atom = {e.title: e.enclosures[0] for e in feedparser.parse(feeds["atom.xml"]).entries}
    assert rss["本地封面"]["length"] == atom["本地封面"]["length"] == size
    assert rss["远程封面"]["length"] == "0" and "length" not in atom["远程封面"]  # Atom's length is optional


def test_atom_extension_links_use_the_default_namespace(newsletter):
    """No ns0: prefix: the enclosure and hub links are written in the default namespace."""
    hub = "https://hub.example.org/"
    root = newsletter(BASIC_CONFIG.replace("items: 20}", f"items: 20, websub_hub: '{hub}'}}"))
    folder = root / "issues" / "2024-10-01"
    issue_yaml(folder, cover="images/cover.png")
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "cover.png").write_bytes(PNG)
    config, issues = load(root)
    atom = render_feeds(issues, config)["atom.xml"]
    cover = f"{SITE}issues/2024-10-01/images/cover.png"
    assert b"ns0" not in atom and b"xmlns:" not in atom.replace(b"xmlns:xml", b"")
    assert f'<link href="{cover}" rel="enclosure" type="image/png" length="{len(PNG)}"/>'.encode() in atom
    assert f'<link href="{hub}" rel="hub"/>'.encode() in atom
    tree = etree.fromstring(atom)
    assert tree.nsmap == {None: "http://www.w3.org/2005/Atom"}
    assert [link.get("rel") for link in tree.findall(f"{ATOM}entry/{ATOM}link")] == [None, "enclosure"]
    parsed = feedparser.parse(atom)
    assert not parsed.bozo and parsed.entries[0].enclosures[0]["href"] == cover
    assert _link(parsed.feed, "hub")["href"] == hub


def test_papers_in_feed_items_read_like_the_email(example_issues, ctx):
    """Original title, then the translation, 作者 and 来源, as in the email (and the seeds)."""
    from html import unescape

    from pipeline.render.email import render_issue as render_email

    issue = example_issues["2024-09-30"]
    html = item_content(issue, ctx)
    order = [
        "Proof Automation with Large Language Models",
        "使用大语言模型做自动化证明",
        "作者：M Lu, B Delaware, T Zhang",
        "来源：arXiv preprint arXiv:2409.14274 · 2024",
    ]
    positions = [html.index(item) for item in order]
    assert positions == sorted(positions)
    text = render_email(issue, ctx)["issues/2024-09-30/email.txt"].decode()
    for paper in issue.papers:  # the same 来源 line, word for word
        line = html.split(f'id="{paper.anchor}"', 1)[1].split('<p class="source">', 1)[1].split("</p>", 1)[0]
        assert line.startswith("来源：") and unescape(line) in text.splitlines()


def test_a_replaced_cover_updates_the_enclosure_length_on_the_next_build(newsletter):
    from pipeline.build.builder import build

    root = newsletter()
    folder = root / "issues" / "2024-10-01"
    issue_yaml(folder, cover="images/cover.png")
    (folder / "images").mkdir(parents=True)
    (folder / "images" / "cover.png").write_bytes(PNG)
    config = load_config(root / "config.yaml")

    def lengths() -> tuple[str, str]:
        rss = etree.fromstring((config.output_dir / "rss.xml").read_bytes()).find("channel/item/enclosure")
        atom = etree.fromstring((config.output_dir / "atom.xml").read_bytes()).find(
            f"{ATOM}entry/{ATOM}link[@rel='enclosure']"
        )
        return rss.get("length"), atom.get("length")

    build(config, now=NOW)
    assert lengths() == (str(len(PNG)), str(len(PNG)))
    (folder / "images" / "cover.png").write_bytes(PNG + b"\0" * 500)  # same name, new picture
    build(config, now=NOW)
    assert lengths() == (str(len(PNG) + 500), str(len(PNG) + 500))
    assert (config.output_dir / "issues" / "2024-10-01" / "images" / "cover.png").stat().st_size == len(PNG) + 500


# ---------------------------------------------------------------- summaries as HTML, authors, dates

HOSTILE_SUMMARIES = [
    "标题里有 </title> 也不能丢字",
    "<![CDATA[ x ]]> 之后的文字",
    "AT&amp;T 与 &lt; 原样保留",
    "<script>alert('摘要')</script> 仍是文字",
    "<b>粗体</b> 只是尖括号",
    "全角标点：“引号”，（括号）！？……——《书名》【注】",
]


@pytest.mark.parametrize("summary", HOSTILE_SUMMARIES)
def test_rss_description_is_html_that_reads_back_as_the_summary(newsletter, summary):
    root = newsletter()
    issue_yaml(root / "issues" / "2024-10-01", title="第一期", summary=summary)
    config, issues = load(root)
    feeds = render_feeds(issues, config)
    rss = feedparser.parse(feeds["rss.xml"])
    assert not rss.bozo, rss.get("bozo_exception")
    entry = rss.entries[0]
    assert entry.summary_detail.type == "text/html"
    assert unescape(entry.summary) == summary  # the HTML a reader shows is the editor's text
    assert entry.title == "第一期"
    atom = feedparser.parse(feeds["atom.xml"]).entries[0]
    if "<" in summary or "&" in summary:  # declared HTML, so that validators see no undeclared markup
        assert atom.summary_detail.type == "text/html" and unescape(atom.summary) == summary
    else:
        assert atom.summary_detail.type == "text/plain" and atom.summary == summary
    assert atom.title_detail.type == "text/plain" and atom.title == "第一期"
    assert json.loads(feeds["feed.json"])["items"][0]["summary"] == summary


def test_rss_channel_description_is_html_too(newsletter):
    description = "论文 <速递> & </description> 说明"
    root = newsletter(
        BASIC_CONFIG.replace("  author: 测试编辑部\n", f"  author: 测试编辑部\n  description: '{description}'\n")
    )
    issue_yaml(root / "issues" / "2024-10-01")
    config, issues = load(root)
    feeds = render_feeds(issues, config)
    assert unescape(feedparser.parse(feeds["rss.xml"]).feed.subtitle) == description
    subtitle = feedparser.parse(feeds["atom.xml"]).feed.subtitle_detail
    assert subtitle.type == "text/html" and unescape(subtitle.value) == description  # declared HTML in Atom


def test_rss_names_the_author_with_dublin_core(newsletter):
    root = newsletter()
    for day in ("2024-10-01", "2024-10-08"):
        issue_yaml(root / "issues" / day, title=f"第 {day} 期")
    config, issues = load(root)
    feeds = render_feeds(issues, config)
    rss = feedparser.parse(feeds["rss.xml"])
    assert not rss.bozo
    assert rss.feed.author == "测试编辑部"
    assert [e.author for e in rss.entries] == ["测试编辑部", "测试编辑部"]
    channel = etree.fromstring(feeds["rss.xml"]).find("channel")
    dc = "{http://purl.org/dc/elements/1.1/}creator"
    assert channel.findtext(dc) == "测试编辑部"
    assert [item.findtext(dc) for item in channel.findall("item")] == ["测试编辑部", "测试编辑部"]
    assert channel.find("item/author") is None  # RSS <author> must be an email address
    assert b"purl.org/dc" not in feeds["atom.xml"]  # Atom has its own <author>
    assert [e.author for e in feedparser.parse(feeds["atom.xml"]).entries] == ["测试编辑部", "测试编辑部"]


def test_items_on_one_day_get_distinct_updated_times(newsletter):
    root = newsletter()
    for folder in ("2024-10-01", "2024-10-01-second", "2024-10-08"):
        issue_yaml(root / "issues" / folder, title=f"期 {folder}")
    config, issues = load(root)
    feeds = render_feeds(issues, config)
    atom = feedparser.parse(feeds["atom.xml"])
    updated = [e.updated for e in atom.entries]
    assert len(set(updated)) == 3
    assert all(e.updated >= e.published for e in atom.entries)
    assert atom.feed.updated == max(updated)
    items = json.loads(feeds["feed.json"])["items"]
    assert [i["date_modified"] for i in items] == updated


def test_distinct_times_keeps_distinct_ones_and_moves_ties_by_seconds():
    from pipeline.render.feeds import distinct_times

    t = datetime(2024, 10, 1, 8, tzinfo=timezone.utc)
    later = datetime(2024, 10, 8, 8, tzinfo=timezone.utc)
    assert distinct_times([("b", t), ("a", t), ("c", later)]) == {
        "a": t,
        "b": t.replace(second=1),
        "c": later,
    }
    assert distinct_times([("a", t), ("b", t.replace(second=1)), ("c", t)])["b"] == t.replace(second=2)


def test_rss_hex_refs_rewrite_only_the_text_of_plain_text_elements():
    from pipeline.render.feeds import rss_hex_refs

    root = '<rss xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
    html = "<description>&lt;b&gt;x&lt;/b&gt; &amp;amp;</description>"  # HTML: its entities stay
    cdata = "<content:encoded><![CDATA[<title>&amp;</title> ]]]]><![CDATA[>]]></content:encoded>"  # left as it is
    document = (
        f"{root}<channel><title>A &amp; B &lt;i&gt;</title>{html}"
        f'<item><title>t</title><category domain="a&amp;b&lt;">c &lt; d</category>{cdata}'
        "<dc:creator>张三 &amp; 李四</dc:creator></item></channel></rss>"
    ).encode()
    rewritten = rss_hex_refs(document)
    assert (
        rewritten
        == (
            f"{root}<channel><title>A &#x26; B &#x3C;i&#x3E;</title>{html}"
            f'<item><title>t</title><category domain="a&amp;b&lt;">c &#x3C; d</category>{cdata}'
            "<dc:creator>张三 &#x26; 李四</dc:creator></item></channel></rss>"
        ).encode()
    )
    before, after = etree.fromstring(document), etree.fromstring(rewritten)
    assert [(e.tag, e.text, dict(e.attrib)) for e in before.iter()] == [
        (e.tag, e.text, dict(e.attrib)) for e in after.iter()
    ]
    assert rss_hex_refs(rewritten) == rewritten


def test_json_feed_bytes_are_what_json_dumps_gives(ctx):
    """The JSON Feeds are written with orjson, for speed: the same bytes as the standard library,
    hostile and Chinese text included."""
    import json

    from pipeline.render.feeds import json_feed_document

    items = [{"id": "1", "title": '标题 </script> \u2028 "引号" \\ 😀 \x01', "content_html": "<p>正文</p>", "n": 1.5}]
    data = json_feed_document(ctx, "测试 & <站点>", "feed.json", "说明", items)
    parsed = json.loads(data)
    assert data == (json.dumps(parsed, ensure_ascii=False, sort_keys=True, indent=2) + "\n").encode()
    assert parsed["items"] == items


def test_rss_dates_are_written_as_email_utils_writes_them():
    import random
    from datetime import datetime, timedelta, timezone
    from email.utils import format_datetime
    from zoneinfo import ZoneInfo

    from pipeline.render.feeds import rfc822_date

    rng = random.Random(3)
    zones = [
        timezone.utc,
        ZoneInfo("Asia/Shanghai"),
        ZoneInfo("America/St_Johns"),
        timezone(timedelta(hours=-9, minutes=-30)),
        None,
    ]
    for _ in range(5_000):
        moment = datetime(1970, 1, 1) + timedelta(seconds=rng.randrange(0, 4_000_000_000))
        zone = rng.choice(zones)
        moment = moment.replace(tzinfo=zone) if zone else moment
        assert rfc822_date(moment) == format_datetime(moment), moment
