"""The WeChat article: wechat.md read back with markdown-it, wechat.html with html.parser."""

from __future__ import annotations

import html
import json
import re
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest
from markdown_it import MarkdownIt

from pipeline.config import load_config
from pipeline.load.issues import load_issues
from pipeline.markdown import parse, to_html
from pipeline.model import Issue
from pipeline.render.context import RenderContext
from pipeline.render.mdout import MarkdownWriter, escape
from pipeline.render.wechat import WechatArticle, article, render_issue
from pipeline.render.wechat_limits import WECHAT_LIMITS, check_limits
from tests.conftest import NOW, paper_md, write

NOTE_LINE = re.compile(r"^\\\[(\d+)\\\] (?:(.*): )?(\S+)$")
MARKER = re.compile(r"\\\[(\d+)\\\]")
VOID = {"br", "img", "hr"}
UNSTYLED = {"br", "b", "i", "li", "sup"}  # inherit the wrapper's look; everything else carries style=""
# Reads wechat.md the way doocs/md-style editors do: raw HTML allowed.
EDITOR = MarkdownIt("commonmark", {"html": True})

HOSTILE_TITLE = (
    "<script>alert(1)</script> *星* _x_ [x](y) {{ x }} \"双\" '单' 😀 \u202eمرحبا\u202c | $x$ & &amp; ~~s~~ `c`"
)
LONG_WORD = "W" * 300


class Tree(HTMLParser):
    """Every start tag with its attributes and open ancestors; fails on unbalanced markup."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None], tuple[str, ...]]] = []
        self.stack: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs), tuple(self.stack)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def read_html(markup: str) -> Tree:
    tree = Tree()
    tree.feed(markup)
    tree.close()
    assert tree.stack == [], f"unclosed: {tree.stack}"
    return tree


def notes(md: str) -> list[tuple[int, str | None, str]]:
    """The 引用链接 list of a wechat.md: (number, title, url)."""
    tail = md.split("### 引用链接", 1)[1]
    found = []
    for line in filter(None, tail.splitlines()):
        match = NOTE_LINE.match(line)
        assert match, f"not a reference line: {line!r}"
        url = match.group(3)
        assert url.startswith("<") and url.endswith(">") and "\\" not in url, f"not an autolink: {url!r}"
        found.append((int(match.group(1)), match.group(2), url[1:-1]))
    return found


def load_one(root: Path) -> tuple[Issue, RenderContext]:
    config = load_config(root / "config.yaml")
    result = load_issues(config)
    assert not result.errors, [p.format() for p in result.errors]
    return result.issues[0], RenderContext(config, NOW)


def make_issue(
    newsletter,
    title: str = "第1期",
    body: str = "导语。\n\n## 研究背景\n\n内容。\n",
    paper_title: str = "A Paper",
    **issue_extra,
) -> tuple[Issue, RenderContext]:
    root = newsletter()
    folder = root / "issues" / "2024-10-01"
    meta = {"title": title, **issue_extra}
    write(folder / "issue.yaml", "".join(f"{k}: {json.dumps(v, ensure_ascii=False)}\n" for k, v in meta.items()))
    write(
        folder / "01-paper.md",
        paper_md(paper_title, body=body, rating="7", title_translated=json.dumps("译名 *强调*", ensure_ascii=False)),
    )
    (folder / "images").mkdir(exist_ok=True)
    (folder / "images" / "fig1.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    return load_one(root)


# The bundled example ----------------------------------------------------------------------


def test_outputs_are_the_three_files_and_deterministic(example_issues, ctx):
    issue = example_issues["2024-09-30"]
    files = render_issue(issue, ctx)
    assert {
        "issues/2024-09-30/wechat.html",
        "issues/2024-09-30/wechat.json",
        "issues/2024-09-30/wechat.md",
    } <= set(files)
    assert files == render_issue(issue, ctx)
    for data in files.values():
        assert data.decode("utf-8").endswith("\n")


@pytest.mark.parametrize("issue_id", ["2024-04-28", "2024-09-30"])
def test_references_numbered_by_first_use_one_per_url(example_issues, ctx, issue_id):
    result = article(example_issues[issue_id], ctx)
    listed = notes(result.markdown)
    assert [n for n, _, _ in listed] == list(range(1, len(listed) + 1))
    urls = [url for _, _, url in listed]
    assert len(set(urls)) == len(urls) >= 5
    assert [(n, url) for n, _, url in listed] == [(n, url) for n, _, url in result.links]
    body = result.markdown.split("### 引用链接", 1)[0]
    first_use = list(dict.fromkeys(int(n) for n in MARKER.findall(body)))
    assert first_use == list(range(1, len(listed) + 1))
    # the HTML carries the same numbers in the same order
    sups = [int(n) for n in re.findall(r"<sup[^>]*>\[(\d+)\]</sup>", result.html)]
    assert list(dict.fromkeys(sups)) == first_use


def test_example_markdown_has_papers_scores_and_links_as_text(example_issues, ctx):
    md = article(example_issues["2024-09-30"], ctx).markdown
    assert "## 1. Proof Automation with Large Language Models" in md
    assert "**使用大语言模型做自动化证明**" in md
    assert "arXiv:2409.14274" in md
    assert "推荐阅读指数 8/10 ★★★★☆" in md
    assert "### 研究背景" in md and "### 推荐理由" in md
    assert "以 Coq\\[3\\]、Isabelle" in md
    assert "\\[3\\] Coq: <https://coq.inria.fr/>" in md
    assert "](http" not in md, "an external link survived as a Markdown link"
    body, references = md.split("### 引用链接", 1)
    tokens = EDITOR.parse(body)
    kinds = {t.type for t in tokens} | {c.type for t in tokens for c in t.children or []}
    assert "link_open" not in kinds and "html_inline" not in kinds and "html_block" not in kinds
    # in the list, each URL is an autolink: the one kind of link there
    listed = [c for t in EDITOR.parse(references) for c in t.children or [] if c.type == "link_open"]
    assert len(listed) == len(notes(md)) and all(c.markup == "autolink" for c in listed)
    assert {"bullet_list_open", "ordered_list_open", "strong_open", "code_inline"} <= kinds


def test_example_order_intro_papers_outro_references(example_issues, ctx):
    issue = example_issues["2024-09-30"]
    md = article(issue, ctx).markdown
    positions = [
        md.index("本期我们从三个截然不同的角度看大模型"),
        md.index("## 1. "),
        md.index("## 2. "),
        md.index("## 3. "),
        md.index("感谢阅读"),
        md.index("### 引用链接"),
    ]
    assert positions == sorted(positions)
    assert md.rstrip().splitlines()[-1].startswith(f"\\[{len(notes(md))}\\]")


@pytest.mark.parametrize("issue_id", ["2024-04-28", "2024-09-30"])
def test_example_html_is_inline_styled_only(example_issues, ctx, issue_id):
    html = article(example_issues[issue_id], ctx).html
    assert "<style" not in html and "class=" not in html and " id=" not in html
    assert "<script" not in html.lower() and "<a " not in html and "href=" not in html
    tree = read_html(html)
    assert tree.tags[0][0] == "section" and tree.tags[0][2] == ()
    assert all(parents for _, _, parents in tree.tags[1:]), "everything sits inside the one wrapper"
    for tag, attrs, _ in tree.tags:
        assert set(attrs) <= {"style", "src", "alt", "title", "start"}, (tag, attrs)
        if tag not in UNSTYLED:
            assert attrs.get("style"), f"<{tag}> has no style"
    found = {tag for tag, _, _ in tree.tags}
    assert {"h2", "h3", "p", "ul", "ol", "sup", "span", "code"} <= found
    text = "".join(tree.text)
    assert "推荐阅读指数 8/10" in text or "推荐阅读指数 7/10" in text
    assert "引用链接" in text


def test_example_sizes_fit_wechat(example_issues, ctx):
    for issue in example_issues.values():
        result = article(issue, ctx)
        assert check_limits(result) == []
        assert len(result.html) < WECHAT_LIMITS["content_chars"]  # the HTML as sent, not its text
        assert (result.papers_kept, result.papers_total) == (len(issue.papers), len(issue.papers))
        assert result.digest == issue.summary
        assert result.source_url == f"https://digest.example.org/issues/{issue.id}/"


# Built by hand -------------------------------------------------------------------------------


def test_same_url_twice_reuses_its_number_and_autolinks_are_not_numbered(newsletter):
    body = (
        "先看 [PALM](https://example.org/palm) 与 [另一个名字](https://example.org/palm)，"
        "再看 [论文页](https://arxiv.org/abs/2409.14274) 和 <https://example.org/raw_url>。\n\n"
        '## 研究背景\n\n见 [其他](https://example.org/other "其他标题") 与 [锚点](#top)、[文件](images/fig%201.png)。\n'
    )
    issue, ctx = make_issue(newsletter, body=body)
    result = article(issue, ctx)
    listed = notes(result.markdown)
    assert [(n, url) for n, _, url in listed] == [
        (1, "https://arxiv.org/abs/2409.14274"),  # the paper's own link comes first, in its header
        (2, "https://arxiv.org/pdf/2409.14274"),
        (3, "https://example.org/palm"),
        (4, "https://example.org/other"),
        (5, "https://digest.example.org/issues/2024-10-01/#top"),
        (6, "https://digest.example.org/issues/2024-10-01/images/fig%201.png"),
    ]
    assert listed[2][1] == "PALM" and listed[3][1] == "其他标题"
    assert "PALM\\[3\\] 与 另一个名字\\[3\\]" in result.markdown
    assert "论文页\\[1\\]" in result.markdown
    assert "<https://example.org/raw_url>" in result.markdown  # shown, not numbered
    assert "https://example.org/raw_url" in result.html and "raw_url" not in " ".join(u for _, _, u in result.links)
    assert "<a " not in result.html


def test_hostile_metadata_is_text_in_both_outputs(newsletter):
    body = f"导语 {HOSTILE_TITLE}\n\n## 研究背景 <b>x</b>\n\n{LONG_WORD} 之后。\n\n1986\\. 不是列表\n\\# 不是标题\n"
    issue, ctx = make_issue(newsletter, title=HOSTILE_TITLE, paper_title=HOSTILE_TITLE, summary="摘要 <b>x</b>")
    issue2, _ = make_issue(newsletter, body=body)
    for current in (issue, issue2):
        result = article(current, ctx)
        assert "<script" not in result.html
        tree = read_html(result.html)
        assert all(
            tag in {"section", "p", "h2", "h3", "br", "span", "sup", "ol", "ul", "li", "b", "i", "code"}
            for tag, _, _ in tree.tags
        )
        assert not any(tag == "b" for tag, _, _ in tree.tags), "a <b> from the text became markup"
        # Markdown: an editor that allows raw HTML still shows every character as text
        rendered = EDITOR.render(result.markdown)
        assert "<script" not in rendered and "<b>" not in rendered
        # the only links are the 引用链接 list's autolinks
        assert re.findall(r'<a href="([^"]*)"', rendered) == [html.escape(url) for _, _, url in result.links]
    assert "研究背景 &lt;b&gt;x&lt;/b&gt;" in article(issue2, ctx).html
    md_tokens = EDITOR.parse(article(issue, ctx).markdown)
    headings = [md_tokens[i + 1].content for i, t in enumerate(md_tokens) if t.type == "heading_open" and t.tag == "h2"]
    assert len(headings) == 1
    heading_text = "".join(c.content for c in md_tokens[[t.type for t in md_tokens].index("heading_open") + 1].children)
    assert heading_text == f"1. {HOSTILE_TITLE}"
    html_text = "".join(read_html(article(issue, ctx).html).text)
    assert f"1. {HOSTILE_TITLE}" in html_text
    assert "译名 *强调*" in html_text
    body_result = article(issue2, ctx)
    assert LONG_WORD in body_result.markdown and LONG_WORD in body_result.html
    assert "overflow-wrap:anywhere" in body_result.html.split(">", 1)[0]
    assert "1986\\. 不是列表" in body_result.markdown and "\\# 不是标题" in body_result.markdown
    assert "### 研究背景 \\<b\\>x\\</b\\>" in body_result.markdown
    assert "😀" in body_result.markdown and "\u202eمرحبا\u202c" in body_result.html


def test_images_absolute_and_listed_for_upload(newsletter):
    body = '导语 ![图一](images/fig1.png "标题")\n\n## 实验效果\n\n![外链](https://cdn.example.com/a_b.png) 再次 ![again](images/fig1.png)\n'
    issue, ctx = make_issue(newsletter, body=body, cover="images/fig1.png")
    result = article(issue, ctx)
    absolute = "https://digest.example.org/issues/2024-10-01/images/fig1.png"
    assert f'src="{absolute}"' in result.html
    assert 'src="https://cdn.example.com/a_b.png"' in result.html
    assert f'![图一]({absolute} "标题")' in result.markdown
    assert "![外链](https://cdn.example.com/a_b.png)" in result.markdown
    assert [src for src, _ in result.images] == ["images/fig1.png", "https://cdn.example.com/a_b.png"]
    assert result.images[0][1] == str(issue.folder / "images" / "fig1.png")
    assert result.images[1][1] == "https://cdn.example.com/a_b.png"
    assert result.cover == ("images/fig1.png", str(issue.folder / "images/fig1.png"))
    uploaded = result.html_with_images({"images/fig1.png": "https://mmbiz.qpic.cn/x?a=1&b=2"})
    assert absolute not in uploaded and uploaded.count('src="https://mmbiz.qpic.cn/x?a=1&amp;b=2"') == 2
    assert "cdn.example.com" in uploaded


def test_limits_warn_on_title_digest_author_and_length(newsletter):
    long_intro = "很长的导语。" * 3500  # over the limit before any paper
    issue, ctx = make_issue(newsletter, title="标" * 33, intro=long_intro, summary="摘" * 129)
    warnings = check_limits(article(issue, ctx), author="作" * 17)
    joined = "\n".join(warnings)
    assert "title is 33 characters" in joined
    assert "digest is 129 characters" in joined
    assert "author is 17 characters" in joined
    assert "characters of HTML as sent, with no paper in it" in joined and "shorten the introduction" in joined
    small, _ = make_issue(newsletter, title="标" * 32, summary="摘" * 128)
    assert check_limits(article(small, ctx), author="作" * 16) == []


def test_digest_falls_back_to_intro_text(newsletter):
    issue, ctx = make_issue(newsletter, intro="**本期**导语：" + "字" * 200)
    digest = article(issue, ctx).digest
    assert digest.startswith("本期导语：字") and digest.endswith("…")
    assert len(digest) <= WECHAT_LIMITS["digest"]


def test_code_blocks_keep_lines_in_html(newsletter):
    body = "导语。\n\n## 算法模型\n\n```python\ndef f(x):\n    return x < 1\n```\n"
    issue, ctx = make_issue(newsletter, body=body)
    result = article(issue, ctx)
    assert "def&nbsp;f(x):<br>&nbsp;&nbsp;&nbsp;&nbsp;return&nbsp;x&nbsp;&lt;&nbsp;1" in result.html
    assert "```python\ndef f(x):\n    return x < 1\n```" in result.markdown


# Markdown written back from tokens ------------------------------------------------------------

ROUND_TRIP = [
    "普通段落，带 **粗体**、*斜体* 与 `code`。",
    "- 一\n- 二\n  - 嵌套\n- 三",
    "3. 从三开始\n4. 四\n\n   第二段\n5. 五",
    "> 引用 **强调**\n>\n> - 列表",
    "行一\n行二  \n硬换行",
    "```\nfence ``` inside\n```",
    "    indented code\n    more",
    "含 `` a`b `` 反引号与 ` `` ` 双反引号",
    "1. 列表\n\n- 另一种\n\n***\n\n# 一级\n\n###### 六级 #",
    "转义 \\* \\_ \\[ \\] \\< \\> \\` \\| \\$ \\~ \\\\ &amp; &copy; 与 *a*b*c*",
    "+ plus\n+ list\n\n* star\n* list",
    '![alt *x*](img.png "t \\"q\\"") 与 [链接 **粗**](http://e.org/a_(b) "题")',
    "段落\n\\- 不是列表\n\\= 也不是\n2\\) 不是",
    "**中文“引号”**紧跟文字",
]


@pytest.mark.parametrize("source", ROUND_TRIP)
def test_markdown_writer_round_trips(source):
    fragment = parse(source)
    written = MarkdownWriter(lambda *_: None).render(fragment.tokens)
    strip_links = lambda html: re.sub(r"</?a\b[^>]*>", "", html)  # noqa: E731
    assert to_html(parse(written)) == strip_links(to_html(fragment)), written


def test_escape_keeps_text_literal():
    for text in ["*a* _b_ [c](d) <e> `f` ~g~ |h| $i$ &amp; \\", "# 标题", "12. 列表", "- x", "+ y", "= z"]:
        html = to_html(parse(escape(text, line_start=True)))
        assert html.startswith("<p>") and "<em>" not in html and "<a" not in html, (text, html)


def test_unclosed_direction_override_in_metadata_is_closed(newsletter):
    # the loader refuses it (a one-line value that turns the text around for good): the article
    # still closes what it is given
    issue, ctx = make_issue(newsletter)
    issue = replace(issue, papers=(replace(issue.papers[0], title="\u202eevil \u2067isolate"),))
    result = article(issue, ctx)
    assert "## 1. \u202eevil \u2067isolate\u202c\u2069\n" in result.markdown
    h2 = re.search(r"<h2[^>]*>(.*?)</h2>", result.html).group(1)
    assert h2 == "1. \u202eevil \u2067isolate\u202c\u2069"
    # the reference list line for the paper's link is closed before its URL
    assert "\u202eevil \u2067isolate\u202c\u2069: <https://arxiv.org/abs/2409.14274>" in result.markdown


def test_source_line_reads_the_same_as_in_the_email(example_issues, ctx):
    from pipeline.render.email import render_issue as render_email

    for issue in example_issues.values():
        md = render_issue(issue, ctx)[f"issues/{issue.id}/wechat.md"].decode()
        text = render_email(issue, ctx)[f"issues/{issue.id}/email.txt"].decode()
        wechat_sources = re.findall(r"^来源：(.+?)\s*$", md, re.M)
        email_sources = re.findall(r"^来源：(.+?)\s*$", text, re.M)
        assert len(wechat_sources) == len(issue.papers) and wechat_sources == email_sources


def test_the_built_article_reads_back_as_rendered(example_issues, ctx, tmp_path):
    """What the WeChat channel delivers is the built article: wechat.json with wechat.md and
    wechat.html give back the article the renderer made, its local images read from the
    build's copy of the issue folder rather than the issue folder itself."""
    issue = example_issues["2024-04-28"]
    rendered = article(issue, ctx)
    for relative, data in render_issue(issue, ctx).items():
        (tmp_path / relative.rsplit("/", 1)[1]).write_bytes(data)
    built = WechatArticle.from_built(tmp_path)
    assert (built.title, built.digest, built.markdown, built.html) == (
        rendered.title,
        rendered.digest,
        rendered.markdown,
        rendered.html,
    )
    assert built.links == rendered.links and built.source_url == rendered.source_url
    assert built.images == rendered.images == []  # this issue has none; the channel tests upload built copies
    assert built.cover == rendered.cover
    metadata = (tmp_path / "wechat.json").read_text("utf-8")
    assert rendered.title in metadata  # Chinese as it is, not \\u escapes
