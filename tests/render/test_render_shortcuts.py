"""The render shortcuts give what the straightforward code gave.

Each shortcut here (a search before a substitution, HTML shared between outputs, a card
copied without dataclasses.asdict, a printable line left as it is) exists for speed only;
these tests pin it to the result of the plain version.
"""

from __future__ import annotations

import re
from dataclasses import asdict

import pytest

from pipeline.build.cards import make_card
from pipeline.markdown import parse, to_html
from pipeline.render.email import HTML_STYLES
from pipeline.render.mdout import ALWAYS, ENTITY, escape, one_line
from pipeline.render.plaintext import _SPACES, _single_spaces, wrap


def test_card_json_is_what_asdict_gives(example_issues, ctx):
    for issue in example_issues.values():
        card = make_card(issue, ctx)
        data = card.to_json()
        assert data == asdict(card)
        assert data["papers"] is not card.papers  # a copy: the JSON never shares the card's lists
        assert data["tags"] is not card.tags


@pytest.mark.parametrize(
    "text",
    [
        "纯中文文本，没有任何需要转义的字符。",
        "含 *星号* 与 `代码` 的 [链接] 文本",
        "实体 &amp; 与 &#35; 以及 & 单独",
        "$公式$ | 表格 <标签> ~删除~ _下划线_ \\ 反斜杠",
        "",
    ],
)
def test_escape_matches_two_plain_substitutions(text):
    plain = ENTITY.sub(r"\\&", ALWAYS.sub(r"\\\1", text))
    assert escape(text) == plain


@pytest.mark.parametrize("text", ["标题  两个空格", "标题\u202e反向", "标题\u2066隔离\u2069已闭合", "\t前后 空白\n"])
def test_one_line_closes_only_open_overrides(text):
    out = one_line(text)
    assert out.startswith(re.sub(r"\s+", " ", text).strip())
    opened = sum(out.count(c) for c in "\u202a\u202b\u202d\u202e") - out.count("\u202c")
    isolated = sum(out.count(c) for c in "\u2066\u2067\u2068") - out.count("\u2069")
    assert opened <= 0 and isolated <= 0


@pytest.mark.parametrize(
    "line",
    [
        "普通的一行 只有单个空格",
        "两个  空格",
        "制表\t符",
        "全角\u3000空格",
        "不换行\xa0空格",
        "行\u2028分隔",
        "  前后空格  ",
    ],
)
def test_single_spaces_matches_the_whitespace_regex(line):
    assert _single_spaces(line) == _SPACES.sub(" ", line)


def test_wrapped_lines_fit_and_keep_every_character():
    text = "大模型在长上下文推理中的表现，" * 12 + " see https://example.org/a-very-long-path-that-stays-whole"
    lines = wrap(text, 40)
    assert len(lines) > 3
    assert "".join(line.replace(" ", "") for line in lines) == text.replace(" ", "")
    assert any(line.endswith("a-very-long-path-that-stays-whole") for line in lines)


def test_email_html_of_an_image_free_fragment_is_the_feed_html():
    fragment = parse("导语，含**加粗**与[链接](https://example.org/)。\n\n- 要点一\n- 要点二\n")
    feed = to_html(fragment, rewrite_src=lambda src: "https://cdn.example.org/" + src)
    email = to_html(fragment, rewrite_src=lambda src: "https://cdn.example.org/" + src, styles=HTML_STYLES)
    assert email == feed
    assert email is to_html(fragment)  # rendered once, shared with the web page


def test_email_html_of_a_fragment_with_an_image_keeps_its_style_and_url():
    fragment = parse("图示：\n\n![架构图](images/arch.png)\n")
    email = to_html(fragment, rewrite_src=lambda src: "https://cdn.example.org/" + src, styles=HTML_STYLES)
    web = to_html(fragment)
    assert 'src="https://cdn.example.org/images/arch.png"' in email and 'style="max-width:100%;height:auto"' in email
    assert 'src="images/arch.png"' in web and "style=" not in web


def test_rendering_an_issue_leaves_no_reference_cycles(example_issues, ctx):
    # Renderers holding bound methods of themselves kept each issue's tokens alive until a
    # full garbage collection; build workers rely on reference counting freeing them.
    import gc

    from pipeline.render import bibtex, email, feeds, web, wechat

    def render_all() -> None:
        for issue in example_issues.values():
            for module in (web, email, wechat, bibtex):
                module.render_issue(issue, ctx)
            feeds.item_content(issue, ctx)

    render_all()  # templates compiled, caches filled
    gc.collect()
    gc.disable()
    try:
        render_all()
        assert gc.collect() == 0
    finally:
        gc.enable()
