"""A hostile twelve-issue newsletter, built and read back as a validator and readers would.

Checks what the W3C feed validator reports (no two entries with one ``updated``, an author
for every entry) and what feedparser-based readers show (no parse error, summaries and
descriptions that read back as the editor wrote them), without reaching the internet.
"""

from __future__ import annotations

import json
from collections import Counter
from html import unescape
from pathlib import Path

import feedparser
import yaml
from conftest import BASIC_CONFIG, NOW, write

from pipeline.build.builder import build
from pipeline.config import load_config

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
AUTHORS = ['"Ann <b>Author</b>"', '"张三 & 李四"', '"</name> 王五"']


def hostile_corpus(root: Path) -> None:
    """Twelve issues: hostile summaries, titles and authors; two pairs share a day and a time."""
    write(root / "config.yaml", BASIC_CONFIG.replace("author: 测试编辑部", "author: 编辑部 <编> & 校对"))
    days = [f"2024-10-{day:02d}" for day in (1, 1, 8, 8, 15, 22, 29)] + [f"2024-11-{d:02d}" for d in (5, 12, 19, 26)]
    days.append("2024-12-03")
    for n, (day, summary) in enumerate(zip(days, SUMMARIES)):
        folder = root / "issues" / (day if n % 2 == 0 or days[n - 1] != day else f"{day}-extra")
        meta = {"title": f"第{n + 1}期 </title> & <i>", "summary": summary, "tags": ["<标签>", "a&b"]}
        write(folder / "issue.yaml", yaml.safe_dump(meta, allow_unicode=True))
        for p in range(3):
            arxiv = f"arxiv: '2410.{n:02d}{p:03d}'" if p < 2 else ""
            front = f'title: "论文 {n}-{p} </title> <![CDATA[ x ]]>"\nauthors: [{", ".join(AUTHORS[: p + 1])}]\n{arxiv}'
            body = f"导语 {summary.splitlines()[0]}。\n\n## 研究背景\n\n内容 & 细节。\n"
            write(folder / f"0{p}-paper.md", f"---\n{front}\n---\n{body}")


def findings(public: Path) -> dict[str, Counter]:
    """W3C-style findings per feed: parse errors, duplicate updated, entries without author,
    summaries that do not read back."""
    result: dict[str, Counter] = {}
    for name in ("rss.xml", "atom.xml", "papers.xml"):
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
                found["SummaryLost"] += entry.summary not in SUMMARIES
        result[name] = +found
    return result


def test_hostile_corpus_gives_clean_feeds(newsletter):
    root = newsletter()
    hostile_corpus(root)
    config = load_config(root / "config.yaml")
    build(config, now=NOW)
    public = config.output_dir
    assert findings(public) == {"rss.xml": Counter(), "atom.xml": Counter(), "papers.xml": Counter()}
    rss = feedparser.parse((public / "rss.xml").read_bytes())
    assert len(rss.entries) == 12
    assert sorted(unescape(e.summary) for e in rss.entries) == sorted(SUMMARIES)
    assert {e.author for e in rss.entries} == {"编辑部 <编> & 校对"}
    papers = feedparser.parse((public / "papers.xml").read_bytes())
    assert len(papers.entries) == 36
    assert papers.entries[2].author == "Ann <b>Author</b>, 张三 & 李四, </name> 王五"
    items = json.loads((public / "feed.json").read_text("utf-8"))["items"]
    assert all(i["date_modified"] >= i["date_published"] for i in items)
    assert len({i["date_modified"] for i in items}) == 12
    again = {p.name: p.read_bytes() for p in public.glob("*.*")}
    build(config, now=NOW, force=True)
    assert {p.name: p.read_bytes() for p in public.glob("*.*")} == again
