"""The fast HTML renderer writes what markdown-it-py's own renderer writes.

StyledRenderer looks up precomputed tag strings, writes text escaping into its loop and
quiets markdown-it's debug logging, all for speed. These tests pin it to the stock
renderer on Markdown chosen to reach every path: unstyled output must equal
``MarkdownIt('commonmark', {'html': False}).render`` except for the two differences the
project's renderer has always had (listed in ``KEPT_DIFFERENCES``).
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from pipeline.markdown import StyledRenderer, parse, parser, to_html
from pipeline.render.wechat import STYLES, Citations, WechatRenderer

STOCK = MarkdownIt("commonmark", {"html": False})

CORPUS = {
    "tight nested list": "- 要点一\n- 要点二\n  - 子项 A\n  - 子项 B\n    1. 更深\n    2. 再深\n- 要点三\n",
    "loose nested list": "1. 第一段\n\n   接着写。\n\n2. 第二项\n   - 紧凑子项\n   - 另一项\n\n3) 不同的分隔符\n",
    "empty and odd items": "- \n- 有内容\n-\n  换行后的内容\n\n10. 从十开始\n11. 十一\n",
    "list then blockquote": "- 列表项\n  > 项里的引用\n- 下一项\n",
    "indented code": '正文：\n\n    def f(x):\n        return x < 1 && "q"\n\t制表符缩进\n',
    "fences": "```\n<div> & \"引号\" 'single'\n```\n\n~~~\n波浪线围栏\n~~~\n\n````\n```\n嵌套\n```\n````\n",
    "unclosed fence": "```\n没有结尾的代码块 <b>\n",
    "links": '[官方博客](https://blog.example.org/?a=1&b="2" "标题 & \'引\'")，[相对](images/x.png)，<https://auto.example/?q=1&r>，<邮件@example.com>\n',
    "reference links": '见 [论文][ref] 与 [另一个]。\n\n[ref]: https://arxiv.org/abs/2409.14274 "arXiv & co"\n[另一个]: <https://example.org/a b>\n',
    "unsafe links": "[脚本](javascript:alert(1)) [数据](data:text/html;base64,xx) [vb](vbscript:x)\n",
    "raw html": '<script>alert(1)</script>\n\n行内 <b onclick="x">标签</b> 与 <!-- 注释 -->。\n\n<div>\n块级\n</div>\n',
    "headings": "# 一级 *强调*\n## 二级 `代码`\n### 三级\n#### 四级\n##### 五级\n###### 六级\n####### 不是标题\n\n设置文本标题\n===\n\n二级设置文本\n---\n\n#\n",
    "breaks": "硬换行（两个空格）  \n反斜杠换行\\\n软换行\n下一行\n",
    "chinese text": "大模型在长上下文推理中的表现，含**加粗**与*斜体*，以及全角标点：“引号”、《书名》。😀\n",
    "emphasis edge cases": "***粗斜*** __粗__ _斜_ *a **b** c* **未闭合 *嵌套_ 混合* snake_case_name 2*3*4 ** 空 **\n",
    "blockquotes": "> 第一层\n> > 第二层\n> > - 列表\n>\n> 回到第一层\n\n>\n",
    "thematic breaks": "上文\n\n---\n\n***\n\n___\n\n- - -\n",
    "entities": "&amp; &copy; &#35; &#x22; &nope; &lt;script&gt; 裸 & < > \" ' 字符\n",
    # each character that needs escaping, alone in its text run
    "lone specials": "只有 \"双引号\"\n\n只有 < 小于\n\n只有 大于 >\n\n只有 & 和号\n\n只有 '单引号'\n",
    "code spans": '`` a ` b `` 与 `<tag> & "q"` 与 ` 前后空格 `\n',
    "escapes": "\\*不是强调\\* \\[不是链接\\] \\# \\\\ \\` \\_\n",
    "empty": "",
    "only spaces": "   \n\n  \n",
    "tabs and control": "列\t表\t格\n\u202e反向\u202c 与 \u200b 零宽\n",
    "lists around paragraphs": "段落\n- 紧跟的列表\n\n段落二\n\n1. 有序\n\n- 无序\n",
    "images with titles": '![架构 *图*](images/arch.png "标题 & \'引\' \\"双\\"")\n\n![](x.png) ![嵌套 ![内层](a.png)](b.png)\n',
    "fence with info string": "```python\nprint('hi') < 1\n```\n\n~~~ js extra words\nx\n~~~\n",
}

# What to_html has always written differently from the stock renderer (before and after the
# speed work): images without the XHTML " /", fences without a language class from their info string.
KEPT_DIFFERENCES = (
    (re.compile(r"(<img [^>]*?) />"), r"\1>"),
    (re.compile(r'<pre><code class="language-[^"]*">'), "<pre><code>"),
)


def stock_html(source: str) -> str:
    html = STOCK.render(source)
    for pattern, replacement in KEPT_DIFFERENCES:
        html = pattern.sub(replacement, html)
    return html


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_unstyled_html_is_markdown_it_html(name):
    source = CORPUS[name]
    assert to_html(parse(source)) == stock_html(source)


def test_the_kept_differences_are_all_there_is():
    plain = {
        name: source
        for name, source in CORPUS.items()
        if "![" not in source and "```python" not in source and "~~~ js" not in source
    }
    assert len(plain) >= len(CORPUS) - 2
    for name, source in plain.items():
        assert to_html(parse(source)) == STOCK.render(source), name
    # and the two that differ do differ only as KEPT_DIFFERENCES says
    assert to_html(parse(CORPUS["images with titles"])) != STOCK.render(CORPUS["images with titles"])
    assert to_html(parse(CORPUS["fence with info string"])) != STOCK.render(CORPUS["fence with info string"])


def test_whole_corpus_as_one_document():
    source = "\n\n".join(CORPUS.values())
    assert to_html(parse(source)) == stock_html(source)


def test_render_inline_is_the_inline_part_of_render():
    fragment = parse(CORPUS["emphasis edge cases"] + CORPUS["links"])
    renderer = StyledRenderer()
    inline = "".join(renderer.renderInline(t.children, parser().options, {}) for t in fragment.tokens if t.children)
    whole = StyledRenderer().render(fragment.tokens, parser().options, {})
    assert whole == f"<p>{inline}</p>\n"


def test_renderer_with_other_options_matches_stock():
    """xhtmlOut off and breaks on: the precomputed tags follow the options they were made for."""
    options = MarkdownIt("commonmark", {"html": False, "xhtmlOut": False, "breaks": True})
    source = CORPUS["breaks"] + "\n---\n\n" + CORPUS["tight nested list"]
    fragment = parse(source)
    expected = options.renderer.render(list(fragment.tokens), options.options, {})
    renderer = StyledRenderer()
    assert renderer.render(fragment.tokens, options.options, {}) == expected
    # the same renderer, back to the project's options
    assert renderer.render(fragment.tokens, parser().options, {}) == stock_html(source)


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.starts: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag, attrs):
        self.starts.append((tag, dict(attrs)))

    def handle_startendtag(self, tag, attrs):
        self.starts.append((tag, dict(attrs)))


def start_tags(markup: str) -> list[tuple[str, dict[str, str | None]]]:
    tags = Tags()
    tags.feed(markup)
    tags.close()
    return tags.starts


STYLED = {
    tag: f'color:#{i:03d};margin:0 "{tag}" &'
    for i, tag in enumerate(
        [
            "p",
            "h1",
            "h2",
            "h3",
            "ul",
            "ol",
            "li",
            "blockquote",
            "code",
            "pre",
            "code_block",
            "img",
            "hr",
            "a",
            "strong",
            "em",
        ]
    )
}


def test_styled_render_puts_the_style_on_each_tag():
    source = "\n\n".join(
        CORPUS[name]
        for name in (
            "tight nested list",
            "loose nested list",
            "headings",
            "links",
            "images with titles",
            "fences",
            "blockquotes",
            "thematic breaks",
            "code spans",
            "emphasis edge cases",
            "breaks",
        )
    )
    html = to_html(
        parse(source),
        rewrite_src=lambda src: "https://cdn.example.org/" + src,
        styles=STYLED,
        link_attrs={"target": "_blank"},
    )
    tags = start_tags(html)
    seen = set()
    for tag, attrs in tags:
        if tag == "br":
            assert attrs == {}
            continue
        if tag == "code":  # inline code, or the code inside <pre>
            assert attrs["style"] in (STYLED["code"], STYLED["code_block"])
        elif tag in STYLED:
            assert attrs["style"] == STYLED[tag], (tag, attrs)
        else:
            assert "style" not in attrs, (tag, attrs)  # h4..h6 have no style in this set
        if tag == "a":
            assert attrs["target"] == "_blank" and attrs["href"]
        if tag == "img":
            assert attrs["src"].startswith("https://cdn.example.org/")
        seen.add(tag)
    assert {
        "p",
        "h1",
        "h2",
        "h3",
        "ul",
        "ol",
        "li",
        "blockquote",
        "code",
        "pre",
        "img",
        "hr",
        "a",
        "strong",
        "em",
    } <= seen
    # a style is an attribute of the opening tag only, escaped once
    assert "</p style" not in html and 'style="color:#000;margin:0 &quot;p&quot; &amp;"' in html
    # and without styles, the same tags carry none
    assert all("style" not in attrs for _, attrs in start_tags(to_html(parse(source))))


def test_outputs_with_different_styles_do_not_share_tags():
    fragment = parse(CORPUS["tight nested list"] + "\n" + CORPUS["blockquotes"])
    red, blue = {"li": "color:red", "p": "margin:0"}, {"li": "color:blue"}
    first_red = to_html(fragment, styles=red)
    first_blue = to_html(fragment, styles=blue)
    assert 'style="color:red"' in first_red and "color:blue" not in first_red
    assert 'style="color:blue"' in first_blue and "color:red" not in first_blue and "margin:0" not in first_blue
    # fresh renderers (not to_html's per-fragment cache) give the same again
    assert StyledRenderer(styles=red).render(fragment.tokens, parser().options, {}) == first_red
    assert StyledRenderer(styles=blue).render(fragment.tokens, parser().options, {}) == first_blue


def test_wechat_renderers_with_other_heading_rules_keep_their_own_headings():
    fragment = parse("# 一\n\n## 二\n\n###### 六\n")
    html = {}
    for rule in ((1, 0), (3, 0), (4, 1), (1, 0)):
        renderer = WechatRenderer(Citations(lambda url: url), lambda src: src, *rule)
        html[rule] = start_tags(renderer.render(fragment.tokens, parser().options, {}))
    assert [tag for tag, _ in html[(1, 0)]] == ["h1", "h2", "h6"]
    assert [tag for tag, _ in html[(3, 0)]] == ["h3", "h3", "h6"]
    assert [tag for tag, _ in html[(4, 1)]] == ["h4", "h4", "h6"]
    assert all(attrs["style"] == STYLES[tag] for rule in html for tag, attrs in html[rule])


# Parses in an interpreter that has not imported the pipeline: markdown-it as shipped.
STOCK_TOKENS = """
import json, sys
from markdown_it import MarkdownIt
md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
print(json.dumps([[t.as_dict() for t in md.parse(s)] for s in json.load(sys.stdin)], ensure_ascii=False))
"""


def test_quieted_debug_logging_leaves_the_tokens_as_they_were():
    sources = list(CORPUS.values()) + ["\n\n".join(CORPUS.values())]
    done = subprocess.run(
        [sys.executable, "-c", STOCK_TOKENS], input=json.dumps(sources), capture_output=True, text=True, check=True
    )
    ours = [[t.as_dict() for t in parse(source).tokens] for source in sources]
    assert json.loads(json.dumps(ours, ensure_ascii=False)) == json.loads(done.stdout)
    quiet = sys.modules["markdown_it.rules_block.paragraph"].LOGGER
    assert not isinstance(quiet, __import__("logging").Logger)  # the quieting did happen here


DEBUG_ASKED = """
import logging, sys
records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append(record.getMessage())
logging.getLogger("markdown_it").addHandler(Keep())
logging.getLogger("markdown_it").setLevel(logging.DEBUG)
from pipeline.markdown import parse
parse("段落\\n")
print(sum("entering paragraph" in m for m in records))
"""


def test_debug_logging_asked_for_before_the_first_parse_is_kept():
    done = subprocess.run([sys.executable, "-c", DEBUG_ASKED], capture_output=True, text=True, check=True)
    assert int(done.stdout) >= 1


def random_markdown(rng, length: int) -> str:
    """Text dense in what starts or ends inline markup, and in what only might (`-`, `:`, `%`)."""
    pieces = [
        *"*_`[]()!<>&\\-:%#=+~$@^{}|\"'\n ",
        "  \n",
        "\n\n",
        "http://a.example/x",
        "&amp;",
        "&#35;",
        "论文",
        "模型",
    ]
    pieces += ["a", "B", "1", "。", "，", "*强调*", "[链接](u)", "![图](i.png)", "<https://x.example>", "`代码`"]
    return "".join(rng.choice(pieces) for _ in range(length))


def test_text_runs_stop_only_where_this_parser_has_a_rule_and_the_tokens_are_stock():
    import random
    from pathlib import Path

    md = parser()
    if hasattr(md.inline, "terminator_re"):  # markdown-it-py 4: the narrower stops are in use
        assert md.inline.terminator_re.pattern == r"[\n\\`*_\[\]!<&]"
    rng = random.Random(20241203)
    seeds = [path.read_text("utf-8") for path in sorted((Path(__file__).parents[2] / "issues").rglob("*.md"))]
    sources = [*CORPUS.values(), *seeds, *(random_markdown(rng, rng.randint(1, 80)) for _ in range(3000))]
    for source in sources:
        assert [t.as_dict() for t in md.parse(source)] == [t.as_dict() for t in STOCK.parse(source)], source
