"""The email edition: email.html (Jinja2 → MJML → HTML) and email.txt (tokens → plain text)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from email import message_from_bytes, policy
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path

import pytest
from conftest import NOW, REPO, paper_md, write

from pipeline.config import load_config
from pipeline.errors import RenderError
from pipeline.load.issues import load_issues
from pipeline.mail.placeholder import unsubscribe_placeholder
from pipeline.markdown import parse, to_html
from pipeline.render.context import RenderContext
from pipeline.render.email import CONTENT_WIDTH, GMAIL_CLIP_BYTES, image_width, measure, render_issue
from pipeline.render.plaintext import to_text, width, wrap

ISSUE = "2024-10-07"
HOSTILE = '<script>alert("x")</script> {{ 7*7 }} ]]> \'单引号\' "双引号" 😀 שלום עולם'
LONG_WORD = "supercalifragilistic" * 15  # one 300-character word


class Page(HTMLParser):
    """What the tests look at in an HTML email: elements with attributes, and the text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self._stack: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    def all(self, tag: str) -> list[dict[str, str]]:
        return [attrs for name, attrs in self.elements if name == tag]

    @property
    def plain(self) -> str:
        return "".join(self.text)


def issue_folder(root: Path, issue_yaml: str, papers: dict[str, str]) -> Path:
    folder = root / "issues" / ISSUE
    write(folder / "issue.yaml", issue_yaml)
    for name, text in papers.items():
        write(folder / name, text)
    return folder


def load(root: Path):
    config = load_config(root / "config.yaml")
    result = load_issues(config)
    assert not result.errors, [p.format() for p in result.errors]
    return result.issues[0], RenderContext(config, NOW)


def rendered(issue, ctx) -> tuple[str, str]:
    out = render_issue(issue, ctx)
    assert set(out) == {f"issues/{issue.id}/email.html", f"issues/{issue.id}/email.txt"}
    return out[f"issues/{issue.id}/email.html"].decode(), out[f"issues/{issue.id}/email.txt"].decode()


@pytest.fixture
def rich(newsletter):
    """An issue with a relative cover, a relative image, lists, a link, code and two papers."""
    root = newsletter()
    body = (
        "导语：这篇论文让**长上下文**推理更省显存。\n\n"
        "## 研究背景\n\n"
        "缓存随输入线性增长：\n\n- 显存吃紧；\n- 解码变慢。\n\n"
        "1. 第一步\n2. 第二步\n\n"
        "![结构图](images/fig.png)\n\n"
        "详见 [官方仓库](https://github.com/FasterDecoding/SnapKV)。\n\n"
        "## 实验效果\n\n"
        "```\nfor i in range(3):\n    print(i)\n```\n"
    )
    folder = issue_folder(
        root,
        """\
        title: 测试期刊 · 第1期
        summary: 本期两篇论文：KV 缓存压缩与代码执行推理。
        cover: images/cover.png
        intro: |
          欢迎阅读**本期**内容。
        outro: 下期再见。
        """,
        {
            "01-snapkv.md": paper_md(
                "SnapKV: LLM Knows What You are Looking for",
                "2404.14469",
                body,
                title_translated='"SnapKV：生成之前就知道你要找什么"',
                rating=9,
                venue='"arXiv preprint arXiv:2404.14469"',
                year=2024,
            ),
            "02-next.md": paper_md(
                "NExT: Teaching LLMs to Reason about Code Execution",
                "2404.14662v2",
                "导语二。\n\n## 创新点\n\n内容二。\n",
                rating=8,
            ),
        },
    )
    (folder / "images").mkdir()
    png(folder / "images" / "cover.png", 1200, 400)  # wider than the email: shown at 600
    png(folder / "images" / "fig.png", 320, 200)  # narrower than the text: its own width
    return load(root)


def png(path: Path, width: int, height: int) -> Path:
    from PIL import Image

    Image.new("RGB", (width, height), (26, 86, 219)).save(path)
    return path


def test_html_language_title_and_hidden_preheader(rich):
    issue, ctx = rich
    html, _ = rendered(issue, ctx)
    page = Page(html)
    assert page.all("html")[0]["lang"] == "zh-CN"
    hidden = [d for d in page.all("div") if "display:none" in d.get("style", "")]
    assert len(hidden) == 1
    style = hidden[0]["style"]
    for rule in ("max-height:0", "opacity:0", "mso-hide:all"):
        assert rule in style
    # Hidden by layout, not by colour: low-contrast text is a spam signal.
    assert "color" not in style
    assert "本期两篇论文：KV 缓存压缩与代码执行推理。" in html.split("display:none", 1)[1].split("</div>", 1)[0]


def test_header_cover_and_absolute_images(rich):
    issue, ctx = rich
    html, _ = rendered(issue, ctx)
    page = Page(html)
    sources = [img["src"] for img in page.all("img")]
    assert f"https://digest.example.org/issues/{ISSUE}/images/cover.png" in sources
    assert f"https://digest.example.org/issues/{ISSUE}/images/fig.png" in sources
    assert all(src.startswith("https://") for src in sources)
    # Outlook's Word engine ignores max-width: each image says its width, at most the space it has.
    widths = {img["src"].rsplit("/", 1)[1]: img.get("width") for img in page.all("img")}
    assert widths == {"cover.png": "600", "fig.png": "320"}
    assert list(re.findall(r"<h1[^>]*>(.*?)</h1>", html)) == ["测试期刊 · 第1期"]
    assert "测试论文速递 · 2024年10月7日" in page.plain


def test_image_width_is_the_files_own_within_the_text(rich):
    issue, _ = rich
    png(issue.folder / "images" / "huge.png", 2400, 100)
    (issue.folder / "images" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (issue.folder.parent / "outside.png").write_bytes((issue.folder / "images" / "fig.png").read_bytes())
    assert image_width(issue, "images/fig.png", CONTENT_WIDTH) == 320
    assert image_width(issue, "images/fig%2Epng", CONTENT_WIDTH) == 320  # the path as a URL writes it
    assert image_width(issue, "images/huge.png", CONTENT_WIDTH) == CONTENT_WIDTH == 552
    for src in ("images/broken.png", "images/missing.png", "../outside.png", "https://example.org/a.png"):
        assert image_width(issue, src, CONTENT_WIDTH) is None, src  # no width: max-width alone applies


def test_paper_cards(rich):
    issue, ctx = rich
    html, _ = rendered(issue, ctx)
    page = Page(html)
    text = page.plain
    for expected in (
        "SnapKV: LLM Knows What You are Looking for",
        "SnapKV：生成之前就知道你要找什么",
        "Ann Author, 张三",
        "arXiv preprint arXiv:2404.14469 · 2024",
        "推荐阅读指数 9/10",
        "NExT: Teaching LLMs to Reason about Code Execution",
        "arXiv:2404.14662v2",
        "推荐阅读指数 8/10",
        "欢迎阅读本期内容。",
        "下期再见。",
    ):
        assert expected in text, expected
    assert re.findall(r"<h3[^>]*>(.*?)</h3>", html) == ["研究背景", "实验效果", "创新点"]
    links = {a["href"]: a.get("class") for a in page.all("a")}
    for arxiv in ("2404.14469", "2404.14662v2"):
        assert links[f"https://arxiv.org/abs/{arxiv}"] == "b"
        assert links[f"https://arxiv.org/pdf/{arxiv}"] == "b"
    # Markdown arrives as HTML, not as escaped HTML.
    assert "<strong>长上下文</strong>" in html and "&lt;strong" not in html
    assert "<li>显存吃紧；</li>" in html
    assert re.search(r"<pre[^>]*><code[^>]*>for i in range\(3\):\n    print\(i\)\n</code></pre>", html)


def test_paper_facts_in_the_order_and_words_of_the_feeds(rich):
    """Original title, translation, 作者, 来源: the same in the HTML and the text part."""
    issue, ctx = rich
    html, text = rendered(issue, ctx)
    shown = Page(html).plain
    order = [
        "SnapKV: LLM Knows What You are Looking for",
        "SnapKV：生成之前就知道你要找什么",
        "作者：Ann Author, 张三",
        "来源：arXiv preprint arXiv:2404.14469 · 2024",
    ]
    for part in (shown, text):
        positions = [part.index(item) for item in order]
        assert positions == sorted(positions), positions
        assert "来源：arXiv:2404.14662v2" in part and "出处" not in part


def test_a_template_that_alters_unsubscribe_url_is_refused(example, example_config, example_issues):
    """The value is a random marker until the URL replaces it: changed, it would leak into the output."""
    write(example / "templates" / "email.txt", "{{ unsubscribe_url|upper }}\n")
    with pytest.raises(RenderError, match="unsubscribe_url"):
        render_issue(example_issues["2024-09-30"], RenderContext(example_config, NOW))


def test_footer_links(rich):
    issue, ctx = rich
    html, _ = rendered(issue, ctx)
    hrefs = [a["href"] for a in Page(html).all("a")]
    placeholder = unsubscribe_placeholder(ctx.config)
    assert placeholder == "https://digest.example.org/subscribe#unsubscribe"  # the page that says how to unsubscribe
    assert hrefs.count(placeholder) == 1
    assert ctx.issue_url(ISSUE) in hrefs
    assert hrefs.index(placeholder) > hrefs.index("https://arxiv.org/pdf/2404.14662v2")


def test_plain_text_part(rich):
    issue, ctx = rich
    _, text = rendered(issue, ctx)
    lines = text.splitlines()
    assert "<" not in text.replace("<https", "")  # no HTML tags at all
    assert lines[2:4] == ["测试期刊 · 第1期", "=" * width("测试期刊 · 第1期")]
    title = "1. SnapKV: LLM Knows What You are Looking for"
    assert lines[lines.index(title) + 1] == "-" * len(title)
    for expected in (
        "【研究背景】",
        "- 显存吃紧；",
        "- 解码变慢。",
        "1. 第一步",
        "2. 第二步",
        "欢迎阅读本期内容。",
        "推荐阅读指数 9/10",
        "作者：Ann Author, 张三",
        "arXiv: https://arxiv.org/abs/2404.14469",
        "PDF: https://arxiv.org/pdf/2404.14662v2",
        f"[图: 结构图] https://digest.example.org/issues/{ISSUE}/images/fig.png",
        "    for i in range(3):",
        "        print(i)",
        ctx.issue_url(ISSUE),
        unsubscribe_placeholder(ctx.config),
    ):
        assert expected in lines or expected in text, expected
    assert "详见 官方仓库 (https://github.com/FasterDecoding/SnapKV)。" in text
    assert "**" not in text and "长上下文推理" in text
    assert lines[-1] == unsubscribe_placeholder(ctx.config) and text.endswith("\n")
    assert all(width(line) <= 78 for line in lines if "://" not in line)


def test_hostile_content_is_escaped_and_literal(newsletter):
    root = newsletter()
    body = (
        f"导语 {HOSTILE}\n\n## {HOSTILE}\n\n"
        f"<img src=x onerror=alert(1)> [点我](javascript:alert(1)) {LONG_WORD} مرحبا بالعالم\n"
    )
    issue_folder(
        root,
        f"title: {json.dumps(HOSTILE, ensure_ascii=False)}\nsummary: {json.dumps(HOSTILE, ensure_ascii=False)}\n",
        {"01-evil.md": paper_md(HOSTILE, "2404.14469", body, title_translated=json.dumps(HOSTILE, ensure_ascii=False))},
    )
    issue, ctx = load(root)
    html, text = rendered(issue, ctx)
    page = Page(html)
    assert "<script" not in html.lower() and not page.all("script")
    attributes = [(k, v) for _, attrs in page.elements for k, v in attrs.items()]
    assert not any(k.startswith("on") or v.lower().startswith("javascript:") for k, v in attributes)
    assert "[点我](javascript:alert(1))" in page.plain  # a refused link stays visible as text
    assert not any(a.get("src") == "x" for a in page.all("img"))
    assert page.plain.count(HOSTILE) >= 5  # title, preheader, paper title, translation, section, lead
    assert "49" not in page.plain.replace("2404.14469", "")
    assert LONG_WORD in page.plain and "مرحبا بالعالم" in page.plain
    assert page.all("html")[0]["lang"] == "zh-CN"
    assert HOSTILE in text and "{{ 7*7 }}" in text and "<script>" in text  # plain text is literal
    assert LONG_WORD in text.split("\n")  # never split, on a line of its own
    assert "[点我](javascript:alert(1))" in text


def test_ten_paper_issue_fits_gmail_as_sent(newsletter):
    """A full issue of short digests stays under the clip, and the template adds little."""
    root = newsletter()
    papers = {
        f"{n:02d}-p{n}.md": paper_md(
            f"Paper number {n} on efficient inference",
            f"2410.{10000 + n}",
            digest_body(n),
            rating=n % 10,
            title_translated=f'"第 {n} 篇：高效推理"',
            venue='"arXiv preprint"',
            year=2024,
        )
        for n in range(1, 11)
    }
    issue_folder(root, "title: 十篇论文特刊\nsummary: 十篇论文。\nintro: 本期共十篇。\noutro: 下期见。\n", papers)
    issue, ctx = load(root)
    html, _ = rendered(issue, ctx)
    raw, sent = measure(html.encode())
    assert sent < GMAIL_CLIP_BYTES * 0.9, (raw, sent)
    # Markup beyond the Markdown's own HTML: head (with the dark-mode CSS), layout, one MJML section
    # per paper (about 1.7 KB each), buttons, footer, and the inline styles that keep headings,
    # rating, separators and buttons without <style>.
    markdown_html = sum(len(to_html(f).encode()) for p in issue.papers for f in (p.lead, *(s.body for s in p.sections)))
    print(f"10 short papers: raw {raw}, as sent {sent}, template markup {raw - markdown_html}")
    assert raw - markdown_html < 8000 + 3500 * len(issue.papers), raw - markdown_html


def digest_body(n: int) -> str:
    """About 700 Chinese characters with the usual Markdown: sections, lists, emphasis, a link."""
    sentence = f"第{n}篇论文研究长上下文推理中的缓存压缩问题，作者提出了一种**无需微调**的方法。"
    return (
        sentence * 3
        + "\n\n## 研究背景\n\n"
        + sentence * 4
        + "\n\n- "
        + sentence
        + "\n- "
        + sentence
        + "\n\n## 如何解决\n\n"
        + sentence * 4
        + f" 代码见 [仓库](https://github.com/example/p{n})。\n\n"
        + "## 实验效果\n\n"
        + sentence * 3
        + "\n\n## 推荐理由\n\n"
        + sentence * 3
        + "\n"
    )


def test_measure_is_the_html_part_as_the_channel_sends_it(ctx, example_issues):
    from datetime import datetime, timezone

    from pipeline.mail.message import Envelope, issue_message

    html, text = rendered(example_issues["2024-04-28"], ctx)
    placeholder = unsubscribe_placeholder(ctx.config)
    raw, sent = measure(html.encode(), placeholder=placeholder)
    assert raw == len(html.encode())
    assert sent - 80 < measure(html.encode())[1] < sent  # without the placeholder: the URL's length short
    url = "https://digest.example.org/unsubscribe?u=" + "x" * 48
    message = issue_message(
        subject="测试",
        envelope=Envelope("a@example.org", "a@example.org"),
        text=text,
        html=html,
        date=datetime(2024, 4, 28, tzinfo=timezone.utc),
        list_id="<l.example.org>",
        placeholder=placeholder,
        unsubscribe_url=lambda _: url,
        unsubscribe_mailto="mailto:a@example.org",
        id_prefix="t",
        eight_bit=True,
    )
    wire = message.personalise("reader@example.org", "读者")
    boundary = re.search(rb'boundary="([^"]+)"', wire).group(1)
    html_part = wire.rsplit(b"Content-Type: text/html", 1)[1].split(b"\r\n\r\n", 1)[1].split(b"\r\n--" + boundary, 1)[0]
    assert abs(sent - len(html_part)) <= 2  # the same encoder; only the line end before the boundary differs
    assert sent < raw * 1.02 < GMAIL_CLIP_BYTES  # 8bit: Chinese is not tripled by quoted-printable
    _, as_base64 = measure(html.encode(), eight_bit=False, placeholder=placeholder)
    assert raw * 1.3 < as_base64 < raw * 1.4  # what a server without 8BITMIME gets


def test_placeholder_survives_quoted_printable(ctx, example_issues):
    """The placeholder stays whole even where the email package encodes the parts."""
    placeholder = unsubscribe_placeholder(ctx.config).encode()
    for issue in example_issues.values():
        html, text = rendered(issue, ctx)
        message = EmailMessage(policy=policy.SMTP)
        message.set_content(text, cte="quoted-printable")
        message.add_alternative(html, subtype="html", cte="quoted-printable")
        wire = message.as_bytes()
        assert wire.count(placeholder) == 2
        delivered = message_from_bytes(wire.replace(placeholder, b"https://u.example/x?t=1"), policy=policy.SMTP)
        parts = {p.get_content_type(): p.get_content() for p in delivered.walk() if not p.is_multipart()}
        assert 'href="https://u.example/x?t=1"' in parts["text/html"]
        assert parts["text/plain"].rstrip().endswith("https://u.example/x?t=1")


def test_bundled_issue_and_determinism(example_config, example_issues):
    issue = example_issues["2024-04-28"]
    first = render_issue(issue, RenderContext(example_config, NOW))
    second = render_issue(issue, RenderContext(example_config, NOW))
    assert first == second
    html = first["issues/2024-04-28/email.html"].decode()
    text = first["issues/2024-04-28/email.txt"].decode()
    assert len(re.findall(r'<td class="c"', html)) == 5 + 1  # five papers and the outro
    assert "SnapKV：大模型在生成之前就知道你要找什么" in html and "推荐阅读指数 9/10" in html
    assert "- 效率：长上下文推理时 KV 缓存越滚越大" in text
    assert "官方实现已开源在 FasterDecoding/SnapKV" in text and "(https://github.com/FasterDecoding/SnapKV)" in text


def test_folder_template_override_and_bad_mjml(example, example_config, example_issues):
    write(example / "templates" / "email.txt", "覆盖模板：{{ issue.title }}\n{{ unsubscribe_url }}\n")
    html, text = rendered(example_issues["2024-09-30"], RenderContext(example_config, NOW))
    assert text == f"覆盖模板：{example_issues['2024-09-30'].title}\nhttps://digest.example.org/subscribe#unsubscribe\n"
    write(example / "templates" / "email.mjml", "<mjml><mj-body><mj-section>")
    with pytest.raises(RenderError, match="2024-09-30"):
        render_issue(example_issues["2024-09-30"], RenderContext(example_config, NOW))


def test_mjml_is_imported_lazily():
    code = "import sys, pipeline.render.email; print('mjml' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


def test_rendering_the_email_parts_does_not_import_the_email_package_sending_needs():
    # ~20 ms of every rebuild that renders an issue's email parts
    code = "import sys, pipeline.render.email; print(sorted(m for m in sys.modules if m.startswith(('email.', 'pipeline.mail.'))))"
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    assert "email.policy" not in result.stdout and "pipeline.mail.message" not in result.stdout
    assert "pipeline.mail.placeholder" in result.stdout


# ---- plaintext: wrapping and the token walker -------------------------------------------


def test_wrap_breaks_between_chinese_characters_but_not_inside_words():
    text = "当输入从 4K 涨到 100K 时，缓存也跟着涨二十多倍，" * 6 + " https://example.org/" + "x" * 90 + " 结束。"
    lines = wrap(text, 40)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")
    assert all(width(line) <= 40 for line in lines if "://" not in line)
    assert "https://example.org/" + "x" * 90 in lines
    assert not any(line.startswith(("，", "。")) for line in lines)
    for word in re.findall(r"[\x21-\x7e]+", text):  # every Latin word and the URL stay whole
        assert any(word in line for line in lines), word


def test_wrap_keeps_a_word_longer_than_the_line_whole():
    assert wrap("开头 " + "a" * 120 + " 结尾", 78) == ["开头", "a" * 120, "结尾"]


def test_text_renderer_blocks():
    fragment = parse("一行\n两行 English\nwords\n\n- 外层\n  - 内层\n\n3. 三\n4. 四\n\n> 引用\n\n<b>原样</b> `a<b>`\n")
    assert to_text(fragment).split("\n") == [
        "一行两行 English words",
        "",
        "- 外层",
        "  - 内层",
        "",
        "3. 三",
        "4. 四",
        "",
        "> 引用",
        "",
        "<b>原样</b> `a<b>`",
    ]
