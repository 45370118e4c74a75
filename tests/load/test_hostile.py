"""Hostile-but-valid entries through a whole build: every output stays well-formed and inert."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import feedparser
import pytest
from conftest import NOW, write

from pipeline.build.builder import build
from pipeline.config import load_config

EVIL_TITLE = 'Evil <script>alert("t")</script> ]]> & "quotes" \'single\' {{ 7*7 }} {% raw %} 🚀 שלום مرحبا'
LONG_WORD = "超" * 10 + "x" * 300
BODY = f"""<script>alert('body')</script> <img src=x onerror=alert(1)> {{{{ config }}}}

## 研究背景 <b>粗</b>

]]> &amp; &lt;tag&gt; 🚀 emoji, RTL: שלום עולם مرحبا بالعالم, {LONG_WORD}

[click](javascript:alert(1)) [ok](https://example.org/?a=1&b="2") ![alt "quoted"](https://example.org/i.png?x=<y>)

- `<code>` in a list
- **bold <i>not html</i>**
"""


# The only script a page may carry: the search box's own file, by src, with no inline code.
OWN_SCRIPTS = {"../../search.js", "./search.js"}


class TagCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.scripts: list[str | None] = []  # each <script>'s src (None: inline)
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)
        if tag == "script":
            self.scripts.append(dict(attrs).get("src"))
            self._in_script = True

    def handle_endtag(self, tag):
        self._in_script = self._in_script and tag != "script"

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.scripts.append(None)  # code between the tags


@pytest.fixture
def hostile_build(newsletter) -> Path:
    root = newsletter()
    issue = root / "issues" / "2024-09-30"
    write(
        issue / "issue.yaml",
        "title: '恶意 <script>alert(1)</script> ]]> {{ x }}'\nsummary: '摘要 <b>粗</b> & \"引号\" ]]>'\ntags: ['<tag>', '标签']\n",
    )
    write(
        issue / "01-evil.md",
        "---\n"
        + f"title: {json.dumps(EVIL_TITLE, ensure_ascii=False)}\n"
        + "authors: ['<b>Mallory</b>', '李 \"雷\"']\narxiv: '2409.14274'\nrating: 9\nvenue: '<i>Venue</i> & co'\n---\n"
        + BODY,
    )
    build(load_config(root / "config.yaml"), now=NOW)
    return root / "public"


def assert_inert_html(data: bytes, name: str) -> None:
    parser = TagCollector()
    parser.feed(data.decode("utf-8"))
    scripts = parser.scripts
    assert all(src in OWN_SCRIPTS for src in scripts), f"{name}: a <script> element came through: {scripts}"
    assert not any(k.startswith("on") for k, _ in parser.attrs), f"{name}: an event-handler attribute came through"
    assert not any((v or "").strip().lower().startswith("javascript:") for _, v in parser.attrs), (
        f"{name}: a javascript: URL came through"
    )


@pytest.mark.parametrize(
    "name",
    ["issues/2024-09-30/index.html", "issues/2024-09-30/email.html", "issues/2024-09-30/wechat.html", "index.html"],
)
def test_html_outputs_are_inert(hostile_build, name):
    data = (hostile_build / name).read_bytes()
    assert_inert_html(data, name)
    assert "7*7" in data.decode() or name == "index.html"  # the expression was not evaluated away


def test_template_syntax_stays_literal_on_the_page(hostile_build):
    text = (hostile_build / "issues/2024-09-30/index.html").read_text()
    assert "{{ 7*7 }}" in text
    assert "{{ config }}" in text
    assert "&lt;script&gt;" in text


@pytest.mark.parametrize("name", ["rss.xml", "atom.xml"])
def test_feeds_parse_and_keep_the_text(hostile_build, name):
    data = (hostile_build / name).read_bytes()
    ET.fromstring(data)  # well-formed XML despite ]]> and & in the content
    feed = feedparser.parse(data)
    assert not feed.bozo, feed.bozo_exception
    entry = feed.entries[0]
    assert "恶意" in entry.title
    content = entry.content[0].value if "content" in entry else entry.description
    assert "שלום" in content and "🚀" in content


def test_json_feed_parses(hostile_build):
    feed = json.loads((hostile_build / "feed.json").read_text())
    item = feed["items"][0]
    assert "<script>alert(1)</script>" in item["title"]  # JSON carries text; readers escape it
    assert "<script>alert(" not in item["content_html"].replace("&lt;script&gt;", "")


def test_text_outputs_keep_the_words(hostile_build):
    text = (hostile_build / "issues/2024-09-30/email.txt").read_text()
    assert "<script>alert('body')</script>" in text  # plain text shows it as it was written
    assert "مرحبا" in text
    markdown = (hostile_build / "issues/2024-09-30/wechat.md").read_text()
    outside_code = re.sub(r"`[^`]*`|<https?://[^<>\s]*>", "", markdown)  # autolinks are not HTML
    assert not re.search(r"(?<!\\)<", outside_code), "an unescaped < would become live HTML in a Markdown editor"
    assert "javascript:" not in markdown.split("引用链接")[1]  # the unsafe link is not listed as a reference
