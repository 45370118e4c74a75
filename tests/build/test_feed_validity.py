"""A hostile twelve-issue newsletter, built and read back as a validator and readers would.

Checks what the W3C feed validator reports (no two entries with one ``updated``, an author
for every entry, no text it takes for undeclared HTML) and what feedparser-based readers show
(no parse error, titles, summaries and descriptions that read back as the editor wrote them),
without reaching the internet: the validator's rule about markup in plain text is restated here
(:func:`markup_findings`).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from html import unescape
from html.entities import name2codepoint
from pathlib import Path

import feedparser
import yaml
from conftest import BASIC_CONFIG, NOW, write
from lxml import etree

from pipeline.build.builder import build
from pipeline.config import load_config

FEEDS = ("rss.xml", "atom.xml", "papers.xml")
ATOM = "{http://www.w3.org/2005/Atom}"
SUMMARIES = [
    "标题里有 </title> 也不能丢字",
    "<![CDATA[ x ]]> 之后还有字",
    "AT&amp;T 与 &lt; 原样保留",
    "<script>alert('摘要')</script> 仍是文字",
    "<b>粗体</b> 只是尖括号",
    "全角标点：“引号”，（括号）！？……——《书名》【注】",
    "]]> 结束符 & 和号 < 小于",
    "<description>嵌套</description> 与 <item>",
    "&#x3C;编码&#60; 也是字面",
    "换行\n之后 <br/> 与 <p>段落</p>",
    'emoji 😀 与 ‘单引号’ "双引号"',
    "普通的一句摘要。",
]
AUTHORS = ["Ann <b>Author</b>", "张三 & 李四", "</name> 王五"]
# The same hazards without an end tag in a title or a name: `<`, `&`, `]]>`, CDATA, a start tag.
AUTHORS_WITHOUT_END_TAGS = ["Ann <b>Author", "张三 & 李四", "<王五> R&D"]
EDITOR = "编辑部 <编> & 校对"
# End tags of these elements make the W3C validator's `nonhtml` rule flag a plain-text value
# (feedvalidator/validators.py, HTMLValidator.htmltags).
_HTML_TAG_NAMES = (
    "a abbr acronym address applet area article aside audio b base basefont bdi bdo big blockquote body "
    "br button canvas caption center cite code col colgroup command data datagrid datalist dd del "
    "details dfn dialog dir div dl dt em eventsource fieldset figcaption figure font footer form frame "
    "frameset h1 h2 h3 h4 h5 h6 head header hgroup hr html i iframe img input ins isindex kbd label "
    "legend li link m main mark map menu meta meter nav noframes noscript object ol optgroup option "
    "output p param picture pre progress q rp rt ruby s samp script section select slot small source "
    "span strike strong style sub summary sup table tbody td template textarea tfoot th thead time title "
    "tr track tt u ul var xmp plaintext embed comment listing video wbr"
)
HTML_TAGS = frozenset(_HTML_TAG_NAMES.split())


def issue_title(n: int, end_tags: bool = True) -> str:
    return f"第{n + 1}期 </title> & <i>" if end_tags else f"第{n + 1}期 <i> & ]]>"


def paper_title(n: int, p: int, end_tags: bool = True) -> str:
    return f"论文 {n}-{p} </title> <![CDATA[ x ]]>" if end_tags else f"论文 {n}-{p} <b> <![CDATA[ x ]]> & co"


def hostile_corpus(root: Path, end_tags: bool = True) -> None:
    """Twelve issues: hostile summaries, titles and authors; two pairs share a day and a time.
    Without ``end_tags``, no title or author name holds an end tag (the rest is as hostile)."""
    write(root / "config.yaml", BASIC_CONFIG.replace("author: 测试编辑部", f"author: {EDITOR}"))
    authors = [json.dumps(a, ensure_ascii=False) for a in (AUTHORS if end_tags else AUTHORS_WITHOUT_END_TAGS)]
    days = [f"2024-10-{day:02d}" for day in (1, 1, 8, 8, 15, 22, 29)] + [f"2024-11-{d:02d}" for d in (5, 12, 19, 26)]
    days.append("2024-12-03")
    for n, (day, summary) in enumerate(zip(days, SUMMARIES)):
        folder = root / "issues" / (day if n % 2 == 0 or days[n - 1] != day else f"{day}-extra")
        meta = {"title": issue_title(n, end_tags), "summary": summary, "tags": ["<标签>", "a&b"]}
        write(folder / "issue.yaml", yaml.safe_dump(meta, allow_unicode=True))
        for p in range(3):
            arxiv = f"arxiv: '2410.{n:02d}{p:03d}'" if p < 2 else ""
            title = json.dumps(paper_title(n, p, end_tags), ensure_ascii=False)
            front = f"title: {title}\nauthors: [{', '.join(authors[: p + 1])}]\n{arxiv}"
            body = f"导语 {summary.splitlines()[0]}。\n\n## 研究背景\n\n内容 & 细节。\n"
            write(folder / f"0{p}-paper.md", f"---\n{front}\n---\n{body}")


def built(newsletter, end_tags: bool = True) -> Path:
    root = newsletter()
    hostile_corpus(root, end_tags)
    config = load_config(root / "config.yaml")
    build(config, now=NOW)
    return config.output_dir


def as_written(value: str, detail: dict) -> str:
    """A text as the editor wrote it, from feedparser's value: HTML constructs are unescaped."""
    return unescape(value) if detail.get("type") == "text/html" else value


def entry_names(path: Path) -> list[list[str]]:
    """Each Atom entry's author names, read with lxml (feedparser adds ``dc:creator`` to them)."""
    root = etree.parse(str(path)).getroot()
    return [[name.text for name in entry.iter(f"{ATOM}name")] for entry in root.iter(f"{ATOM}entry")]


def findings(public: Path) -> dict[str, Counter]:
    """W3C-style findings per feed: parse errors, duplicate updated, entries without author,
    summaries that do not read back."""
    result: dict[str, Counter] = {}
    for name in FEEDS:
        parsed = feedparser.parse((public / name).read_bytes())
        found: Counter = Counter()
        if parsed.bozo:
            found["NotWellFormed"] += 1
        if name != "rss.xml":  # RSS items have no updated (feedparser would hand back pubDate)
            updated = Counter(e.updated for e in parsed.entries)
            found["DuplicateUpdated"] += sum(count - 1 for count in updated.values())
        found["MissingAuthor"] += sum(1 for e in parsed.entries if not e.get("author"))
        found["MissingAuthor"] += 0 if parsed.feed.get("author") else 1
        for entry in parsed.entries:
            if name == "rss.xml" and entry.get("summary") is not None:
                found["DescriptionLost"] += unescape(entry.summary) not in SUMMARIES
            if name == "atom.xml" and entry.get("summary") is not None:
                found["SummaryLost"] += as_written(entry.summary, entry.summary_detail) not in SUMMARIES
        result[name] = +found
    return result


# ---------------------------------------------------------------- the validator's nonhtml rule


def plain_text_elements(root: etree._Element) -> list[etree._Element]:
    """The elements the validator reads as plain text: RSS titles; Atom names, and Atom text
    constructs not declared HTML. (RSS ``dc:creator`` and ``category`` it does not check.)"""
    if root.tag == "rss":
        return [*root.iter("title")]
    constructs = [f"{ATOM}{name}" for name in ("title", "subtitle", "summary", "rights")]
    texts = [e for e in root.iter(*constructs) if e.get("type", "text") == "text"]
    return [*texts, *root.iter(f"{ATOM}name")]


def markup_findings(public: Path) -> dict[str, Counter]:
    """The W3C validator's ``nonhtml`` rule, restated: a plain-text value holding an end tag of
    an HTML element is ContainsHTML whatever its escaping; else an HTML entity in the decoded value,
    or (RSS) ``<`` before a letter or ``/``, counts unless one of the element's source lines holds
    a hexadecimal character reference (the RSS Best Practices Profile's form)."""
    result: dict[str, Counter] = {}
    for name in FEEDS:
        data = (public / name).read_bytes()
        hex_lines = ["&#x" in line for line in data.decode("utf-8").split("\n")]
        root = etree.fromstring(data)
        found: Counter = Counter()
        for element in plain_text_elements(root):
            value = element.text or ""
            first = element.sourceline
            exempt = any(hex_lines[first - 1 : first + value.count("\n")])
            found.update(_markup_finding(value, exempt, root.tag == "rss"))
        result[name] = found
    return result


def _markup_finding(value: str, exempt: bool, rss: bool) -> list[str]:
    """What the rule logs for one value: one end tag, else each entity, else RSS character data."""
    if any(tag.lower() in HTML_TAGS for tag in re.findall(r"</(\w+)>", value)):
        return ["ContainsHTML"]
    entities = [e for e in re.findall(r"&(#?\w+)", value) if e in name2codepoint or e == "apos" or not e.isalpha()]
    if entities:
        return [] if exempt else ["ContainsHTML"] * len(entities)
    if rss and re.search(r"&#[x0-9]|<[/a-zA-Z]", value) and not exempt:
        return ["CharacterData"]
    return []


# ---------------------------------------------------------------- tests


def test_hostile_corpus_gives_clean_feeds(newsletter):
    public = built(newsletter)
    assert findings(public) == {"rss.xml": Counter(), "atom.xml": Counter(), "papers.xml": Counter()}
    rss = feedparser.parse((public / "rss.xml").read_bytes())
    assert len(rss.entries) == 12
    assert sorted(unescape(e.summary) for e in rss.entries) == sorted(SUMMARIES)
    assert {e.author for e in rss.entries} == {EDITOR}
    papers = feedparser.parse((public / "papers.xml").read_bytes())
    assert len(papers.entries) == 36
    assert papers.entries[2].author == "Ann <b>Author</b>, 张三 & 李四, </name> 王五"
    items = json.loads((public / "feed.json").read_text("utf-8"))["items"]
    assert all(i["date_modified"] >= i["date_published"] for i in items)
    assert len({i["date_modified"] for i in items}) == 12
    again = {p.name: p.read_bytes() for p in public.glob("*.*")}
    build(load_config(public.parent / "config.yaml"), now=NOW, force=True)
    assert {p.name: p.read_bytes() for p in public.glob("*.*")} == again


def test_rss_plain_text_carries_hexadecimal_references(newsletter):
    data = (built(newsletter) / "rss.xml").read_text("utf-8")
    plain = re.findall(r"<(title|dc:creator|category)>([^<]*)</\1>", data)
    assert len(plain) == 1 + 12 + 1 + 12 + 24  # channel and item titles, creators, two tags an item
    for _, text in plain:
        assert not re.search(r"&(amp|lt|gt);", text), text
    assert "<title>第12期 &#x3C;/title&#x3E; &#x26; &#x3C;i&#x3E;</title>" in data
    assert "<dc:creator>编辑部 &#x3C;编&#x3E; &#x26; 校对</dc:creator>" in data
    assert "<category>a&#x26;b</category>" in data
    # descriptions and content are HTML: their entities are left as lxml wrote them
    assert "<description>AT&amp;amp;amp;T 与 &amp;amp;lt; 原样保留</description>" in data
    assert "&#x" not in "".join(re.findall(r"<content:encoded>.*?</content:encoded>", data, re.DOTALL))
    rss = feedparser.parse(data.encode("utf-8"))
    assert [e.title for e in rss.entries] == [issue_title(n) for n in reversed(range(12))]
    assert rss.entries[0].tags[0].term == "<标签>" and rss.entries[0].tags[1].term == "a&b"


def test_atom_text_with_markup_characters_is_declared_html(newsletter):
    public = built(newsletter)
    for name in ("atom.xml", "papers.xml"):
        root = etree.parse(str(public / name)).getroot()
        for element in root.iter(f"{ATOM}title", f"{ATOM}subtitle", f"{ATOM}summary"):
            declared = element.get("type") == "html"
            text = unescape(element.text) if declared else element.text
            assert declared == ("<" in text or "&" in text), text
        assert root.find(f"{ATOM}title").get("type") is None  # plain text keeps the default
    atom = feedparser.parse((public / "atom.xml").read_bytes())
    assert [as_written(e.title, e.title_detail) for e in atom.entries] == [issue_title(n) for n in reversed(range(12))]
    assert sorted(as_written(e.summary, e.summary_detail) for e in atom.entries) == sorted(SUMMARIES)
    plain = next(e for e in atom.entries if e.summary == "普通的一句摘要。")
    assert plain.summary_detail.type == "text/plain"
    papers = feedparser.parse((public / "papers.xml").read_bytes())
    titles = [as_written(e.title, e.title_detail) for e in papers.entries]
    assert titles[:3] == [paper_title(11, p) for p in range(3)]
    summary = as_written(papers.entries[0].summary, papers.entries[0].summary_detail)
    assert summary == f"收录于《{issue_title(11)}》\n\n导语 普通的一句摘要。。"
    assert entry_names(public / "papers.xml")[2] == AUTHORS


def test_only_end_tags_in_titles_and_names_remain_for_the_validator(newsletter):
    """12 RSS item titles hold `</title>`, 36 paper entries name `Ann <b>Author</b>`; `</name>` is
    not an HTML element, and every title and summary with markup characters is declared HTML."""
    public = built(newsletter)
    assert markup_findings(public) == {
        "rss.xml": Counter(ContainsHTML=12),
        "atom.xml": Counter(),
        "papers.xml": Counter(ContainsHTML=36),
    }


def test_corpus_without_end_tags_in_titles_and_names_is_clean(newsletter):
    public = built(newsletter, end_tags=False)
    assert markup_findings(public) == {"rss.xml": Counter(), "atom.xml": Counter(), "papers.xml": Counter()}
    assert findings(public) == {"rss.xml": Counter(), "atom.xml": Counter(), "papers.xml": Counter()}
    rss = feedparser.parse((public / "rss.xml").read_bytes())
    assert [e.title for e in rss.entries] == [issue_title(n, False) for n in reversed(range(12))]
    papers = feedparser.parse((public / "papers.xml").read_bytes())
    assert as_written(papers.entries[0].title, papers.entries[0].title_detail) == paper_title(11, 0, False)
    assert entry_names(public / "papers.xml")[2] == AUTHORS_WITHOUT_END_TAGS
