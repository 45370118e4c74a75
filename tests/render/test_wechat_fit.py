"""The WeChat article against the draft API's real limit: 20,000 characters of HTML as sent.

The bundled 5-paper issue fits whole; a long issue is cut after the last paper that fits, its
引用链接 list holding exactly the links of what remains. Links to WeChat articles stay links,
reference URLs in wechat.md read back through markdown-it as themselves, and every colour of
the article is at WCAG AA contrast on its background.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser

import pytest
from markdown_it import MarkdownIt

from pipeline.render import wechat_style
from pipeline.render.mdout import MarkdownWriter, url_text
from pipeline.render.wechat import CUT_NOTE, WechatArticle, article, render_issue
from pipeline.render.wechat_limits import IMAGE_URL_ALLOWANCE, WECHAT_LIMITS, cut_summary, sent_size, size_limits
from tests.conftest import paper_md, write
from tests.render.test_wechat_render import load_one, notes, read_html

LIMIT = WECHAT_LIMITS["content_chars"]
MD = MarkdownIt("commonmark")  # as marked, markdown-it and doocs/md read wechat.md
SUP = re.compile(r"<sup>\[(\d+)\]</sup>")
MD_MARKER = re.compile(r"\\\[(\d+)\\\]")
PARAGRAPH = "大模型推理时的键值缓存随上下文线性增长，显存与延迟都因此受限，本文提出一种无需训练的压缩方法。" * 12


def long_issue(newsletter, papers: int = 10, config: str | None = None, **issue_extra):
    """An issue of ``papers`` long Chinese entries, each with its own links and one shared link;
    the last paper holds an image, the outro a closing line."""
    root = newsletter(config) if config else newsletter()
    folder = root / "issues" / "2024-10-01"
    meta = {"title": "长篇一期", "summary": "十篇论文。", "outro": "感谢阅读，下期见。", **issue_extra}
    write(folder / "issue.yaml", "".join(f"{k}: {json.dumps(v, ensure_ascii=False)}\n" for k, v in meta.items()))
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "images" / "late.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    for n in range(1, papers + 1):
        body = (
            f"{PARAGRAPH}见 [工具{n}](https://example.org/tool/{n}) 与 [共享页](https://example.org/shared)。\n\n"
            f"## 研究背景\n\n{PARAGRAPH}\n\n- **要点一**：{PARAGRAPH[:40]}\n- 要点二：[数据{n}](https://example.org/data/{n})\n\n"
            f"## 实验效果\n\n{PARAGRAPH}\n"
        )
        if n == papers:
            body += "\n![晚到的图](images/late.png)\n"
        write(folder / f"{n:02d}-paper.md", paper_md(f"Paper number {n}", arxiv=f"2409.{10000 + n}", body=body))
    return load_one(root)


def markers_and_entries(result: WechatArticle) -> tuple[set[int], set[int], set[int], list[int]]:
    """Numbers used in the HTML body and the Markdown body, and listed (HTML, and in order)."""
    html_body, html_list = result.html.split("引用链接</h3>", 1)
    md_body = result.markdown.split("### 引用链接", 1)[0]
    listed_html = {int(n) for n in re.findall(r"(?:^|<br>|>)\[(\d+)\] ", html_list)}
    listed = [n for n, _, _ in notes(result.markdown)]
    return {int(n) for n in SUP.findall(html_body)}, {int(n) for n in MD_MARKER.findall(md_body)}, listed_html, listed


# Fitting ---------------------------------------------------------------------------------------


def test_the_bundled_five_paper_issue_fits_whole(example_issues, ctx):
    issue = example_issues["2024-04-28"]
    result = article(issue, ctx)
    assert (result.papers_kept, result.papers_total, result.was_cut) == (5, 5, False)
    chars, size = result.sent_size()
    # counted on the HTML string as sent, tags and styles included; no image to allow for here
    assert (chars, size) == (len(result.html), len(result.html.encode("utf-8")))
    assert chars < LIMIT and size < WECHAT_LIMITS["content_bytes"]
    most_chars, most_bytes = size_limits()  # within the room the channel keeps free too
    assert result.fits() and chars <= most_chars and size <= most_bytes
    assert CUT_NOTE not in result.html and "感谢阅读" not in result.html or issue.outro is not None
    meta = json.loads(render_issue(issue, ctx)[f"issues/{issue.id}/wechat.json"])
    assert (meta["papers_kept"], meta["papers_total"]) == (5, 5)
    assert meta["sent_size"] == meta["whole_size"] == [chars, size]


def test_styles_the_editor_inherits_are_set_once_on_the_root(example_issues, ctx):
    html = article(example_issues["2024-04-28"], ctx).html
    root, rest = html.split(">", 1)
    assert "font-family:-apple-system,BlinkMacSystemFont,'PingFang SC'" in root and "sans-serif" in root
    assert "line-height" in root and "color:#333" in root
    for inherited in ("font-family", "line-height:1.75", "color:#333", "letter-spacing"):
        assert inherited not in rest, f"{inherited} repeated below the root"
    assert not re.search(r'style="[^"]*;"', html), "a style ends in a needless semicolon"
    assert "&quot;" not in root, "the font names are quoted with single quotes inside the attribute"


def test_each_image_counts_as_long_as_an_uploaded_url(newsletter):
    from tests.render.test_wechat_render import make_issue

    body = "导语 ![一](images/fig1.png) 再次 ![again](images/fig1.png)\n\n![远](https://mmbiz.qpic.cn/mmbiz_png/x/0?wx_fmt=png)\n"
    issue, ctx = make_issue(newsletter, body=body)
    result = article(issue, ctx)
    local = "https://digest.example.org/issues/2024-10-01/images/fig1.png"
    assert result.html.count(f'src="{local}"') == 2
    expected = len(result.html) + 2 * (IMAGE_URL_ALLOWANCE - len(local))  # the qpic.cn one is sent as it is
    assert result.sent_size()[0] == expected
    uploaded = result.html_with_images(
        {"images/fig1.png": "http://mmbiz.qpic.cn/mmbiz_png/" + "a" * 60 + "/0?wx_fmt=png"}
    )
    assert len(uploaded) <= expected
    assert sent_size(uploaded, []) == (len(uploaded), len(uploaded.encode()))


# Cutting at a paper boundary -------------------------------------------------------------------


def test_a_long_issue_is_cut_after_the_last_paper_that_fits(newsletter):
    issue, ctx = long_issue(newsletter)
    result = article(issue, ctx)
    kept = result.papers_kept
    assert result.was_cut and 1 <= kept < 10 and result.papers_total == 10
    assert result.whole_size[0] >= LIMIT > result.sent_size()[0]
    # whole papers from the top, in both texts
    for n in range(1, 11):
        in_html, in_md = f">{n}. Paper number {n}</h2>" in result.html, f"## {n}. Paper number {n}\n" in result.markdown
        assert in_html == in_md == (n <= kept), n
    for text in (result.html, result.markdown):
        assert text.count(CUT_NOTE) == 1 and "下期见" not in text  # the outro is after the papers left out
    assert "late.png" not in result.html and result.images == []  # its paper was left out
    # one more paper would not have fitted
    longer = long_issue(newsletter, papers=kept + 1)[0]
    assert article(longer, ctx).papers_kept == kept


def test_a_cut_article_lists_exactly_the_links_of_what_remains(newsletter):
    issue, ctx = long_issue(newsletter)
    result = article(issue, ctx)
    in_html, in_md, listed_html, listed = markers_and_entries(result)
    assert listed == list(range(1, len(listed) + 1))
    assert in_html == in_md == listed_html == set(listed), "a marker without its entry, or an entry without a marker"
    urls = [url for _, _, url in result.links]
    kept = result.papers_kept
    assert f"https://example.org/tool/{kept}" in urls and f"https://example.org/tool/{kept + 1}" not in urls
    assert f"https://arxiv.org/abs/2409.{10000 + kept + 1}" not in urls
    assert urls.count("https://example.org/shared") == 1
    assert [n for n, _, _ in result.links] == listed


def test_the_cut_is_recorded_in_wechat_json_and_read_back(newsletter, tmp_path):
    issue, ctx = long_issue(newsletter)
    result = article(issue, ctx)
    for relative, data in render_issue(issue, ctx).items():
        (tmp_path / relative.rsplit("/", 1)[1]).write_bytes(data)
    meta = json.loads((tmp_path / "wechat.json").read_text("utf-8"))
    assert (meta["papers_kept"], meta["papers_total"]) == (result.papers_kept, 10)
    assert meta["whole_size"][0] >= LIMIT > meta["sent_size"][0]
    built = WechatArticle.from_built(tmp_path)
    assert built.html == result.html and built.was_cut and built.whole_size == result.whole_size
    assert cut_summary(built) == cut_summary(result)
    assert re.fullmatch(
        rf"[\d,]+ characters of HTML; only papers 1–{result.papers_kept} of 10 fit under 20,000; the rest is behind 阅读原文",
        cut_summary(result),
    )


def test_wechat_json_of_an_older_build_reads_as_whole(example_issues, ctx, tmp_path):
    issue = example_issues["2024-09-30"]
    for relative, data in render_issue(issue, ctx).items():
        (tmp_path / relative.rsplit("/", 1)[1]).write_bytes(data)
    meta = json.loads((tmp_path / "wechat.json").read_text("utf-8"))
    for key in ("papers_kept", "papers_total", "sent_size", "whole_size"):
        del meta[key]
    (tmp_path / "wechat.json").write_text(json.dumps(meta, ensure_ascii=False), "utf-8")
    built = WechatArticle.from_built(tmp_path)
    assert not built.was_cut and cut_summary(built) == ""


def test_an_issue_whose_first_paper_does_not_fit_keeps_the_introduction(newsletter):
    issue, ctx = long_issue(newsletter, papers=1)
    huge = long_issue(newsletter, papers=2)[0]
    assert article(issue, ctx).papers_kept == 1
    # a single paper over the limit: the introduction, the note and no paper
    giant_body = "导语。\n\n## 研究背景\n\n" + "很长的正文。" * 3500 + "\n"
    write(huge.folder / "01-paper.md", paper_md("Giant", body=giant_body))
    issue, ctx = load_one(huge.folder.parent.parent)
    result = article(issue, ctx)
    assert result.papers_kept == 0 and CUT_NOTE in result.html and result.fits()
    assert cut_summary(result).endswith("none of its 2 papers fits under 20,000; the rest is behind 阅读原文")
    assert "Giant" not in result.html and result.links == []


# Links -----------------------------------------------------------------------------------------

MP = "https://mp.weixin.qq.com/s/Ab_cd-EF?__biz=MzA&mid=22&idx=1"


def test_links_to_wechat_articles_stay_links(newsletter):
    from tests.render.test_wechat_render import make_issue

    body = (
        f"见 [上一期]({MP}) 与 <https://mp.weixin.qq.com/s/xyz>，"
        "以及 [伪装](https://mp.weixin.qq.com.evil.example/s/1) 和 [外链](https://example.org/x)。\n"
    )
    issue, ctx = make_issue(newsletter, body=body, source="https://mp.weixin.qq.com/s/first")
    result = article(issue, ctx)
    escaped = MP.replace("&", "&amp;")
    assert f'<a href="{escaped}" style="{wechat_style.LINK}">上一期</a>' in result.html
    assert (
        f'<a href="https://mp.weixin.qq.com/s/xyz" style="{wechat_style.LINK}">https://mp.weixin.qq.com/s/xyz</a>'
        in (result.html)
    )
    assert '本期首发于<a href="https://mp.weixin.qq.com/s/first"' in result.html
    urls = [url for _, _, url in result.links]
    assert not any(url.startswith("https://mp.weixin.qq.com/") for url in urls)
    assert "https://mp.weixin.qq.com.evil.example/s/1" in urls and "https://example.org/x" in urls
    # the Markdown keeps them links too, to the same URLs
    hrefs = [c.attrGet("href") for t in MD.parse(result.markdown) for c in t.children or [] if c.type == "link_open"]
    assert MP in hrefs and "https://mp.weixin.qq.com/s/xyz" in hrefs and "https://mp.weixin.qq.com/s/first" in hrefs
    assert f"[上一期](<{MP}>)" in result.markdown


URLS = [
    "https://en.wikipedia.org/wiki/Shapley_value",
    "https://en.wikipedia.org/wiki/Foo_(bar)",
    "https://example.org/a*b*c?x=1&y=2#frag_ment",
    "https://example.org/~user/$x|y`z",
    "https://example.org/%E6%B2%99%20file.pdf",
    "https://example.org/[v1]/{x}^",
]


@pytest.mark.parametrize("url", URLS)
def test_reference_urls_read_back_as_themselves(newsletter, url):
    from tests.render.test_wechat_render import make_issue

    issue, ctx = make_issue(newsletter, body=f"见 [这个链接]({url})。\n")
    result = article(issue, ctx)
    [(n, target)] = [(n, u) for n, _, u in result.links if "example.org" in u or "wikipedia" in u]
    line = next(line for line in result.markdown.splitlines() if line.startswith(f"\\[{n}\\] "))
    written = line.rsplit(": ", 1)[1]
    assert "\\" not in written, f"a backslash inside the URL: {written}"
    [link] = [c for t in MD.parse(line) for c in t.children or [] if c.type == "link_open"]
    assert link.attrGet("href") == target == MD.normalizeLink(url)


def test_url_text_encodes_what_an_autolink_cannot_hold():
    for url, href in [
        ("https://example.org/a b<c>\\d", "https://example.org/a%20b%3Cc%3E%5Cd"),
        ("https://example.org/\t\n", "https://example.org/%09%0A"),
    ]:
        [link] = [c for t in MD.parse(url_text(url)) for c in t.children or [] if c.type == "link_open"]
        assert link.attrGet("href") == href
    assert url_text("not a url") == "`not a url`"  # shown as it is, no escapes


def test_autolinks_in_the_body_keep_their_target():
    fragment_source = "见 <https://example.org/a%20b_c> 与 <https://example.org/\\_x>。"
    tokens = MD.parse(fragment_source)
    written = MarkdownWriter(lambda *_: None).render(tokens)
    before = [c.attrGet("href") for t in tokens for c in t.children or [] if c.type == "link_open"]
    after = [c.attrGet("href") for t in MD.parse(written) for c in t.children or [] if c.type == "link_open"]
    assert after == before and len(after) == 2


# Contrast --------------------------------------------------------------------------------------

COLOUR = re.compile(r"(?<![-\w])(color|background(?:-color)?):\s*(#[0-9a-fA-F]{3,6})\b")


def luminance(colour: str) -> float:
    digits = colour.lstrip("#")
    if len(digits) == 3:
        digits = "".join(c * 2 for c in digits)
    channels = [int(digits[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


class Shown(HTMLParser):
    """(text colour, background) of every piece of visible text, styles inherited as a browser does."""

    VOID = {"br", "img", "hr"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack = [("#000", "#fff")]  # the browser's defaults: black text, white page
        self.seen: dict[tuple[str, str], str] = {}

    def handle_starttag(self, tag, attrs):
        colour, background = self.stack[-1]
        for name, value in COLOUR.findall(dict(attrs).get("style") or ""):
            if name == "color":
                colour = value
            else:
                background = value
        if tag not in self.VOID:
            self.stack.append((colour, background))

    def handle_endtag(self, tag):
        self.stack.pop()

    def handle_data(self, data):
        if data.strip():
            self.seen.setdefault(self.stack[-1], data.strip()[:20])


def rich_issue(newsletter):
    from tests.render.test_wechat_render import make_issue

    body = (
        f"导语 `code` 与 [链接](https://example.org/x)、[往期]({MP})。\n\n> 引用 **粗**\n\n"
        "## 研究背景\n\n```\npre block\n```\n\n#### 四级\n\n##### 五级\n\n###### 六级\n\n- 列表\n"
    )
    return make_issue(newsletter, body=body)


def test_every_colour_of_the_article_is_at_aa_contrast(newsletter):
    issue, ctx = rich_issue(newsletter)
    cut, _ = long_issue(newsletter)
    shown = Shown()
    for result in (article(issue, ctx), article(cut, ctx)):
        read_html(result.html)
        shown.feed(result.html)
    pairs = shown.seen
    assert len(pairs) >= 8, pairs  # text, accent, muted, stars, code, quote, pre, translated title …
    assert ("#b45309", "#fff") in pairs, "the rating stars"
    for (colour, background), text in pairs.items():
        assert contrast(colour, background) >= 4.5, (
            f"{text!r}: {colour} on {background} is {contrast(colour, background):.2f}:1"
        )


def test_every_colour_declared_for_the_article_is_at_aa_contrast():
    declared = [wechat_style.ROOT, wechat_style.MARKED, wechat_style.LINK, wechat_style.TRANSLATED, wechat_style.META]
    declared += [wechat_style.STARS, wechat_style.NOTE, wechat_style.REFERENCES, *wechat_style.STYLES.values()]
    checked = 0
    for style in declared:
        found = dict(COLOUR.findall(style))
        background = found.get("background") or found.get("background-color") or "#fff"
        if "color" in found:
            checked += 1
            assert contrast(found["color"], background) >= 4.5, (style, contrast(found["color"], background))
    assert checked >= 10
    assert contrast("#f5a623", "#fff") < 3 < contrast("#b45309", "#fff")  # the old stars failed; these pass


@pytest.mark.parametrize("source", [None, "https://example.org/first-posted"])
def test_papers_written_once_give_each_shorter_article_as_written_from_the_start(newsletter, source):
    """The article is written once and rewound to fewer papers: each is what writing only
    those papers gives, the cut one as the bisection over fresh writes chose it."""
    from dataclasses import replace

    from pipeline.render.wechat import _compose, _most_that_fit

    extra = {"source": source} if source else {}
    issue, ctx = long_issue(newsletter, **extra)
    fresh = [_compose(issue, ctx, kept) for kept in range(len(issue.papers) + 1)]
    assert len({article.html for article in fresh}) == len(fresh)  # every count gives its own article
    whole = fresh[-1]
    expected = replace(_most_that_fit(fresh.__getitem__, len(issue.papers) - 1), whole_size=whole.sent_size())
    assert article(issue, ctx) == expected and expected.was_cut
    # the writer rewound to each paper count: the same article as written from the start
    from pipeline.render.wechat import _finish, _Writer

    out = _Writer(issue, ctx)
    out.fragment(issue.intro, heading_min=3)
    marks = [out.mark()]
    for number, paper in enumerate(issue.papers, 1):
        out.paper(number, paper)
        marks.append(out.mark())
    for kept, mark in enumerate(marks):
        assert _finish(out.rewound(mark), kept) == fresh[kept], kept
