"""The web archive: issue pages, the index and the stylesheet, read back with html.parser."""

from __future__ import annotations

import json
import posixpath
from dataclasses import dataclass
from datetime import datetime, timezone
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest

from pipeline.build.cards import make_card
from pipeline.config import load_config
from pipeline.errors import RenderError
from pipeline.load.issues import load_issues
from pipeline.model import Issue
from pipeline.render.context import RenderContext
from pipeline.render.web import render_issue, render_site
from tests.conftest import NOW, paper_md, write

VOID = {"meta", "link", "img", "br", "hr", "input", "source"}


@dataclass
class Element:
    tag: str
    attrs: dict[str, str]
    parents: tuple[str, ...]  # tags of the enclosing elements
    text: str = ""


class Page(HTMLParser):
    """Every element of a page in document order, each with its attributes and inner text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[Element] = []
        self._open: list[Element] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        element = Element(tag, {k: v or "" for k, v in attrs}, tuple(e.tag for e in self._open))
        self.elements.append(element)
        if tag not in VOID:
            self._open.append(element)

    def handle_endtag(self, tag: str) -> None:
        for index in range(len(self._open) - 1, -1, -1):
            if self._open[index].tag == tag:
                del self._open[index:]
                return

    def handle_data(self, data: str) -> None:
        for element in self._open:
            element.text += data

    def find(self, tag: str, **attrs: str) -> list[Element]:
        return [e for e in self.elements if e.tag == tag and all(e.attrs.get(k) == v for k, v in attrs.items())]

    def hrefs(self) -> list[str]:
        return [e.attrs["href"] for e in self.find("a") if "href" in e.attrs]


def parse(data: bytes) -> Page:
    page = Page()
    page.feed(data.decode("utf-8"))
    page.close()
    return page


def issue_page(issue: Issue, ctx: RenderContext) -> bytes:
    files = render_issue(issue, ctx)
    assert list(files) == [f"issues/{issue.id}/index.html"]
    return files[f"issues/{issue.id}/index.html"]


def load_one(root: Path) -> tuple[Issue, RenderContext]:
    config = load_config(root / "config.yaml")
    result = load_issues(config)
    assert not result.errors, [p.format() for p in result.errors]
    assert len(result.issues) == 1
    return result.issues[0], RenderContext(config, NOW)


def test_issue_page_structure(example_issues: dict[str, Issue], ctx: RenderContext) -> None:
    issue = example_issues["2024-04-28"]
    page = parse(issue_page(issue, ctx))

    assert page.find("html")[0].attrs["lang"] == "zh-CN"
    assert page.find("meta", name="viewport")[0].attrs["content"].startswith("width=device-width")
    assert not page.find("meta", name="robots")
    assert [h.text.strip() for h in page.find("h1")] == [issue.title]
    assert page.find("link", rel="canonical")[0].attrs["href"] == "https://digest.example.org/issues/2024-04-28/"
    assert page.find("meta", property="og:title")[0].attrs["content"] == issue.title
    assert page.find("meta", property="og:description")[0].attrs["content"] == issue.summary
    alternates = {e.attrs["href"]: e.attrs["type"] for e in page.find("link", rel="alternate")}
    assert alternates == {
        "https://digest.example.org/rss.xml": "application/rss+xml",
        "https://digest.example.org/atom.xml": "application/atom+xml",
        "https://digest.example.org/feed.json": "application/feed+json",
        "https://digest.example.org/papers.xml": "application/atom+xml",
        "https://digest.example.org/papers.json": "application/feed+json",
    }

    toc = [a.attrs["href"] for a in page.find("a") if "nav" in a.parents]
    articles = {e.attrs["id"]: e for e in page.find("article") if "id" in e.attrs}
    hrefs = page.hrefs()
    headings = [h.text.strip() for h in page.find("h3")]
    for paper in issue.papers:
        assert paper.anchor in articles
        assert f"#{paper.anchor}" in toc
        article = articles[paper.anchor].text
        assert paper.title in article and paper.title_translated in article
        assert paper.authors[0] in article and paper.arxiv in article  # as text, once (the venue may carry it)
        assert f"推荐阅读指数 {paper.rating}/10" in " ".join(article.split())
        assert f"https://arxiv.org/abs/{paper.arxiv}" in hrefs
        assert f"https://arxiv.org/pdf/{paper.arxiv}" in hrefs
        for section in paper.sections:
            assert section.title in headings
    assert "研究背景" in headings
    assert toc == [f"#{p.anchor}" for p in issue.papers]

    css = page.find("link", rel="stylesheet")[0].attrs["href"]
    assert posixpath.normpath(posixpath.join(f"issues/{issue.id}", css)) == "style.css"
    for target in ("rss.xml", "atom.xml", "feed.json"):
        assert f"../../{target}" in hrefs
    assert "email.html" in hrefs and "wechat.md" in hrefs
    # robots.txt keeps crawlers out of these: a followed link would still get them listed
    assert (
        page.find("a", href="email.html")[0].attrs["rel"]
        == page.find("a", href="wechat.md")[0].attrs["rel"]
        == "nofollow"
    )
    assert page.find("a", **{"class": "site-title"})[0].attrs["href"] == "../../"
    assert "<strong>值得花时间细读</strong>" in issue_page(issue, ctx).decode()  # intro Markdown rendered


def test_paper_authors_and_source_read_as_in_the_email(newsletter) -> None:
    from pipeline.render.email import render_issue as render_email

    root = newsletter()
    write(root / "issues/2024-05-01/issue.yaml", 'title: "来源写法"\n')
    write(
        root / "issues/2024-05-01/01-a.md",
        paper_md("Venue Has The Year", arxiv="2404.14469", venue='"COLM 2024"', year=2024),
    )
    write(
        root / "issues/2024-05-01/02-b.md",
        paper_md("Year Only", arxiv=None, year=2023, url="https://example.org/paper"),
    )
    write(
        root / "issues/2024-05-01/03-c.md",
        paper_md("Venue Has The Id", arxiv="2409.14274v2", venue='"arXiv preprint arXiv:2409.14274"'),
    )
    issue, ctx = load_one(root)
    page = parse(issue_page(issue, ctx))
    email_lines = render_email(issue, ctx)["issues/2024-05-01/email.txt"].decode().splitlines()

    shown: list[tuple[list[str], list[str]]] = []  # per paper, in document order: authors lines, meta spans
    for element in page.elements:
        if element.tag == "article" and element.attrs.get("class") == "paper":
            shown.append(([], []))
        elif shown and element.tag == "p" and element.attrs.get("class") == "authors":
            shown[-1][0].append(element.text)
        elif shown and element.tag == "span" and "article" in element.parents and not element.attrs.get("class"):
            shown[-1][1].append(element.text)  # the rating has its own class
    assert shown == [
        (["作者：Ann Author, 张三"], ["来源：COLM 2024 · arXiv:2404.14469"]),
        (["作者：Ann Author, 张三"], ["来源：2023"]),
        (["作者：Ann Author, 张三"], ["来源：arXiv preprint arXiv:2409.14274"]),
    ]
    for authors, spans in shown:  # word for word the email's lines
        assert authors[0] in email_lines and spans[0] in email_lines
    assert "COLM 2024, 2024" not in issue_page(issue, ctx).decode()


def test_issue_page_is_deterministic(example_issues: dict[str, Issue], example_config) -> None:
    issue = example_issues["2024-09-30"]
    later = RenderContext(example_config, datetime(2031, 5, 6, tzinfo=timezone.utc))
    assert issue_page(issue, RenderContext(example_config, NOW)) == issue_page(issue, later)


def test_index_lists_issues_newest_first(example_issues: dict[str, Issue], ctx: RenderContext) -> None:
    cards = sorted((make_card(i, ctx) for i in example_issues.values()), key=lambda c: c.publish_at, reverse=True)
    files = render_site(cards, ctx)
    assert set(files) == {
        "index.html",
        "subscribe/index.html",
        "style.css",
        "favicon.svg",
        "search.js",
        "og-image.png",
        "archive/2024/index.html",
    }
    page = parse(files["index.html"])

    titles = [h.text.strip() for h in page.find("h2") if "li" in h.parents]
    assert titles == [example_issues["2024-09-30"].title, example_issues["2024-04-28"].title]
    issue_links = [h for h in page.hrefs() if h.startswith("./issues/") and h.endswith("/")]
    assert issue_links == ["./issues/2024-09-30/", "./issues/2024-04-28/"]
    pages = {**render_issue(example_issues["2024-09-30"], ctx), **render_issue(example_issues["2024-04-28"], ctx)}
    assert all(f"{link[2:]}index.html" in pages for link in issue_links)
    text = page.find("main")[0].text
    assert "5 篇论文" in text and "3 篇论文" in text
    assert "SnapKV：大模型在生成之前就知道你要找什么" in text
    assert "./issues/2024-04-28/#paper-01-snapkv" in page.hrefs()
    assert page.find("link", rel="stylesheet")[0].attrs["href"] == "./style.css"
    assert page.find("link", rel="canonical")[0].attrs["href"] == "https://digest.example.org/"


def test_stylesheet_is_small_and_phone_ready(ctx: RenderContext) -> None:
    css = render_site([], ctx)["style.css"]
    assert len(css) < 8 * 1024  # with the search box, previous/next links and the year and tag lists
    text = css.decode()
    for needle in (
        '"PingFang SC"',
        '"Hiragino Sans GB"',
        '"Microsoft YaHei"',
        '"Noto Sans CJK SC"',
        "max-width: 42rem",
        "line-height: 1.75",
        "overflow-wrap: anywhere",
        "prefers-color-scheme: dark",
    ):
        assert needle in text


def test_empty_index(ctx: RenderContext) -> None:
    page = parse(render_site([], ctx)["index.html"])
    assert not page.find("h2")
    assert "还没有已发布的期刊" in page.find("main")[0].text


def test_folder_template_overrides_issue_page(newsletter) -> None:
    root = newsletter()
    write(root / "issues/2024-05-01/issue.yaml", 'title: "覆盖测试"\n')
    write(root / "issues/2024-05-01/01-a.md", paper_md("Override Paper"))
    write(
        root / "templates/issue.html",
        """\
        {% extends "base.html" %}
        {% block content %}<p id="custom">自定义：{{ issue.title }} / {{ papers|length }}</p>{% endblock %}
        """,
    )
    issue, ctx = load_one(root)
    page = parse(issue_page(issue, ctx))
    assert page.find("p", id="custom")[0].text == "自定义：覆盖测试 / 1"
    assert not page.find("article")
    assert page.find("html")[0].attrs["lang"] == "zh-CN"  # the packaged base.html still applies
    assert "site-title" in render_site([], ctx)["index.html"].decode()  # other files unaffected


def test_broken_override_is_a_render_error(newsletter) -> None:
    root = newsletter()
    write(root / "issues/2024-05-01/issue.yaml", 'title: "坏模板"\n')
    write(
        root / "templates/issue.html", "{% extends 'base.html' %}{% block content %}{{ no_such_value }}{% endblock %}\n"
    )
    issue, ctx = load_one(root)
    with pytest.raises(RenderError, match="issue.html"):
        render_issue(issue, ctx)


def test_draft_has_banner_and_noindex(newsletter) -> None:
    root = newsletter()
    write(root / "issues/2024-05-01/issue.yaml", 'title: "草稿期"\ndraft: true\n')
    write(root / "issues/2024-05-01/01-a.md", paper_md("Draft Paper"))
    issue, ctx = load_one(root)
    page = parse(issue_page(issue, ctx))
    assert page.find("meta", name="robots")[0].attrs["content"] == "noindex"
    banner = page.find("p", **{"class": "draft-banner"})
    assert banner and "草稿 / draft preview" in banner[0].text


HOSTILE = "<script>alert(1)</script> {{ 7*7 }} {% raw %} \"双引号\" 'single' ]]> 🚀🧪 עברית مرحبا"
HOSTILE_TAG = '<script>alert(1)</script> {{ 7*7 }} "双" ]]> עברית'  # a tag keeps 60 characters
LONG_WORD = "x" * 300


def test_hostile_content_is_escaped(newsletter) -> None:
    root = newsletter()
    write(
        root / "issues/2024-05-01/issue.yaml",
        f"title: {json.dumps(HOSTILE, ensure_ascii=False)}\n"
        f"summary: {json.dumps(HOSTILE, ensure_ascii=False)}\ntags: [{json.dumps(HOSTILE_TAG, ensure_ascii=False)}]\n",
    )
    body = f"导语 {HOSTILE}\n\n## {HOSTILE}\n\n正文 {HOSTILE} {LONG_WORD}\n\n<b>raw</b>\n"
    write(
        root / "issues/2024-05-01/01-evil.md",
        paper_md(HOSTILE, body=body, title_translated=json.dumps(HOSTILE, ensure_ascii=False)),
    )
    issue, ctx = load_one(root)
    html = issue_page(issue, ctx).decode()
    page = parse(html.encode())

    # The only scripts are the search box's own: nothing of the issue reaches a script.
    scripts = page.find("script")
    assert [s.attrs.get("src") for s in scripts] == [
        "../../search.js"
    ]  # it loads the index and the issues it reads as data (JSON), never as scripts
    assert all(not s.text.strip() for s in scripts) and html.count("<script") == 1
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "{{ 7*7 }}" in html and "49" not in html
    assert "{% raw %}" in html
    assert "<b>raw</b>" not in html and "&lt;b&gt;raw&lt;/b&gt;" in html
    assert page.find("h1")[0].text == HOSTILE  # the reader sees exactly what was written
    assert HOSTILE in [h.text for h in page.find("h3")]
    assert page.find("title")[0].text.startswith(HOSTILE)
    assert page.find("meta", property="og:title")[0].attrs["content"] == HOSTILE
    assert page.find("meta", name="description")[0].attrs["content"] == HOSTILE
    assert LONG_WORD in html and "🚀🧪" in html and "עברית" in html
    index = render_site([make_card(issue, ctx)], ctx)["index.html"].decode()
    assert index.count("<script") == 1 and "<script>alert" not in index and "{{ 7*7 }}" in index


def test_images_keep_relative_paths(newsletter) -> None:
    root = newsletter()
    folder = root / "issues/2024-05-01"
    write(
        folder / "issue.yaml", 'title: "带图的一期"\ncover: images/cover.png\nintro: "![封面说明](images/cover.png)"\n'
    )
    body = "导语。\n\n## 实验效果\n\n![图 1：结果](images/fig1.png)\n\n![远程](https://example.org/a.png)\n"
    write(folder / "01-a.md", paper_md("Images", body=body))
    (folder / "images").mkdir()
    for name in ("cover.png", "fig1.png"):
        (folder / "images" / name).write_bytes(b"\x89PNG\r\n\x1a\n")
    issue, ctx = load_one(root)
    page = parse(issue_page(issue, ctx))
    sources = [img.attrs["src"] for img in page.find("img")]
    assert sources == ["images/cover.png", "images/cover.png", "images/fig1.png", "https://example.org/a.png"]
    assert page.find("img", src="images/fig1.png")[0].attrs["alt"] == "图 1：结果"
    assert (
        page.find("meta", property="og:image")[0].attrs["content"]
        == "https://digest.example.org/issues/2024-05-01/images/cover.png"
    )


def test_signup_form_only_with_an_email_channel(newsletter):
    from conftest import BASIC_CONFIG, write

    from pipeline.config import load_config
    from pipeline.render.context import RenderContext

    plain = newsletter()
    files = render_site([], RenderContext(load_config(plain / "config.yaml"), NOW))
    assert "subscribe-form" not in files["index.html"].decode()  # the search box's form is another
    without = parse(files["subscribe/index.html"])  # still there: how to unsubscribe, and the feeds
    assert not without.find("form") and without.find("section", id="unsubscribe") and "../rss.xml" in without.hrefs()
    write(plain / "config.yaml", BASIC_CONFIG + "  email: {type: email, from: a@example.org}\n")
    files = render_site([], RenderContext(load_config(plain / "config.yaml"), NOW))
    page = files["index.html"].decode()
    assert '<form class="subscribe-form" method="post" action="./subscribe">' in page
    subscribe = parse(files["subscribe/index.html"])
    assert [f.attrs["action"] for f in subscribe.find("form")] == ["../subscribe"]  # subscribe/ → the endpoint
    unsubscribe = subscribe.find("section", id="unsubscribe")[0].text
    assert "每封邮件底部都有只属于你的退订链接" in unsubscribe
    assert subscribe.find("link", rel="stylesheet")[0].attrs["href"] == "../style.css"


def test_index_orders_by_the_date_it_shows(newsletter) -> None:
    """An issue published ahead of its folder's date is still listed where its date puts it."""
    root = newsletter()
    write(root / "issues/2024-05-20/issue.yaml", 'title: "五月二十日"\npublish_at: 2024-05-10T08:00:00+08:00\n')
    write(root / "issues/2024-05-15/issue.yaml", 'title: "五月十五日"\n')
    write(root / "issues/2024-05-01/issue.yaml", 'title: "五月一日"\n')
    config = load_config(root / "config.yaml")
    result = load_issues(config)
    assert not result.errors
    ctx = RenderContext(config, NOW)
    by_publish_time = sorted((make_card(i, ctx) for i in result.issues), key=lambda c: c.publish_at, reverse=True)
    page = parse(render_site(by_publish_time, ctx)["index.html"])
    assert [t.text for t in page.find("time")] == ["2024年5月20日", "2024年5月15日", "2024年5月1日"]
    assert [h.text.strip() for h in page.find("h2") if "li" in h.parents] == ["五月二十日", "五月十五日", "五月一日"]


def test_a_cover_named_with_a_space_and_a_hash_is_linked_by_its_name(newsletter) -> None:
    """``cover:`` names a file: its href and ``og:image`` encode it (``#`` would start a fragment,
    and readers would fetch ``封面 1``); the paste page shows the name as written."""
    root = newsletter()
    folder = root / "issues/2024-05-01"
    write(folder / "issue.yaml", 'title: "封面的名字"\ncover: "images/封面 1#2.png"\n')
    write(folder / "01-a.md", paper_md("Cover"))
    (folder / "images").mkdir()
    (folder / "images" / "封面 1#2.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    issue, ctx = load_one(root)
    page = parse(issue_page(issue, ctx))
    href = "images/%E5%B0%81%E9%9D%A2%201%232.png"
    assert page.find("img", **{"class": "cover"})[0].attrs["src"] == href
    assert (
        page.find("meta", property="og:image")[0].attrs["content"]
        == f"https://digest.example.org/issues/2024-05-01/{href}"
    )
    assert unquote(href) == "images/封面 1#2.png"  # what a server finds on disk

    from pipeline.render.wechat import article
    from pipeline.render.wechat_limits import WECHAT_LIMITS
    from pipeline.render.wechat_paste import render_paste_page

    paste = render_paste_page(article(issue, ctx), ctx, author="编辑", limits=WECHAT_LIMITS).decode()
    assert f'<img id="cover" src="{href}"' in paste and f'href="{href}" download' in paste
    assert "<code>images/封面 1#2.png</code>" in paste
