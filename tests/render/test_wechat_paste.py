"""The paste page (issues/<id>/wechat-paste.html): the copied HTML is wechat.html as built, the
limits are counted in characters, everything from the issue is escaped, images are marked."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import pytest

from pipeline.build.builder import build
from pipeline.config import load_config
from pipeline.errors import RenderError
from pipeline.load.issues import load_issues
from pipeline.render.context import RenderContext
from pipeline.render.wechat import WECHAT_LIMITS, article
from pipeline.render.wechat_paste import is_public_site, render_paste_page
from tests.conftest import BASIC_CONFIG, FIXTURES, NOW, paper_md, write

WECHAT_CHANNEL = "  wechat: {type: wechat, mode: export, author: 论文速递编辑部}\n"
HOSTILE = "</script><script>alert(1)</script> \"双\" '单' <!-- & &amp; {{ x }}"
GOLDEN_ID = "2024-09-30"


class Page(HTMLParser):
    """The page's scripts, the attributes that load something, and the text by element id."""

    def __init__(self, markup: str) -> None:
        super().__init__(convert_charrefs=True)
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self.loads: list[str] = []  # src/href of elements that fetch (not <a>)
        self.classes: dict[str, str] = {}  # id → class
        self._script: dict[str, str | None] | None = None
        self.feed(markup)
        self.close()

    def handle_starttag(self, tag, attrs):
        values = dict(attrs)
        if tag == "script":
            self._script = values
            self.scripts.append((values, ""))
        if tag != "a":
            self.loads += [str(values[key]) for key in ("src", "href") if values.get(key)]
        if values.get("id"):
            self.classes[str(values["id"])] = str(values.get("class") or "")

    def handle_data(self, data):
        if self._script is not None:
            attrs, text = self.scripts[-1]
            self.scripts[-1] = (attrs, text + data)

    def handle_endtag(self, tag):
        if tag == "script":
            self._script = None

    def data(self) -> dict:
        (block,) = [text for attrs, text in self.scripts if attrs.get("type") == "application/json"]
        return json.loads(block)

    def script(self) -> str:
        (code,) = [text for attrs, text in self.scripts if not attrs.get("type")]
        return code


def golden_newsletter(tmp_path: Path, url: str | None = None, channel: str = WECHAT_CHANNEL) -> Path:
    """The golden fixture (an image that is also the cover) with a WeChat channel."""
    root = tmp_path / "golden"
    shutil.copytree(FIXTURES / "golden", root, ignore=shutil.ignore_patterns("expected"))
    config = (root / "config.yaml").read_text("utf-8") + channel
    if url:
        config = config.replace("https://golden.example.org/news/", url)
    (root / "config.yaml").write_text(config, "utf-8")
    return root


def built_page(root: Path, issue_id: str) -> tuple[str, str]:
    """(wechat-paste.html, wechat.html) of an issue after a real build."""
    build(load_config(root / "config.yaml"), now=NOW)
    folder = root / "public" / "issues" / issue_id
    return (folder / "wechat-paste.html").read_text("utf-8"), (folder / "wechat.html").read_text("utf-8")


def one_issue(root: Path):
    config = load_config(root / "config.yaml")
    (issue,) = load_issues(config).issues
    ctx = RenderContext(config, NOW)
    return issue, ctx, article(issue, ctx)


def test_bundled_example_pages_copy_wechat_html_byte_for_byte(example):
    build(load_config(example / "config.yaml"), now=NOW)
    for folder in sorted((example / "public" / "issues").iterdir()):
        page = (folder / "wechat-paste.html").read_text("utf-8")
        sent = (folder / "wechat.html").read_bytes()
        parsed = Page(page)
        assert parsed.data()["html"].encode("utf-8") == sent, folder.name
        # no images in the bundled issues: the phone preview is the same markup, verbatim
        assert sent.decode("utf-8") in page
        assert '<meta name="robots" content="noindex">' in page
        title = json.loads((folder / "wechat.json").read_text("utf-8"))["title"]
        assert f"标题 {len(title)}/{WECHAT_LIMITS['title']}" in page
        assert f"正文 HTML {len(sent.decode('utf-8')):,}/20,000 字符" in page
        assert "复制到公众号" in page and "新的创作 → 图文" in page


def test_page_loads_nothing_from_elsewhere_and_allows_only_its_script(example):
    page, _ = built_page(example, "2024-04-28")
    parsed = Page(page)
    assert parsed.loads == ["data:,"], parsed.loads  # the empty favicon, so that none is fetched
    csp = html.unescape(re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page).group(1))
    digest = base64.b64encode(hashlib.sha256(parsed.script().encode("utf-8")).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp
    assert "default-src 'none'" in csp


def test_limits_count_chinese_characters_and_show_what_is_over(newsletter):
    title = "大模型论文速递：" + "长上下文" * 10  # 48 characters, 144 bytes in UTF-8
    root = newsletter(BASIC_CONFIG + WECHAT_CHANNEL)
    write(root / "issues/2024-05-01/issue.yaml", f'title: "{title}"\nsummary: "本期三篇：压缩、推理与安全。"\n')
    write(root / "issues/2024-05-01/01-a.md", paper_md("A Paper"))
    issue, ctx, art = one_issue(root)
    page = render_paste_page(art, ctx, author="论文速递编辑部", limits=WECHAT_LIMITS).decode("utf-8")
    assert "标题 48/32" in page and "超出 16 字：公众号最多 32 字" in page
    assert "作者 7/16" in page
    assert "摘要 14/128" in page
    assert re.search(r'<div class="field over">\s*<div class="field-head">\s*<span class="count">标题 48/32', page)
    assert not re.search(r'<div class="field over">\s*<div class="field-head">\s*<span class="count">作者', page)


def test_html_over_the_limit_is_shown_in_red_with_the_figures(newsletter):
    root = newsletter(BASIC_CONFIG + WECHAT_CHANNEL)
    write(root / "issues/2024-05-01/issue.yaml", 'title: "长文"\n')
    write(root / "issues/2024-05-01/01-a.md", paper_md("A Paper"))
    _, ctx, art = one_issue(root)
    long_html = "<section>" + "<p>段落</p>" * 2500 + "</section>"
    page = render_paste_page(art, ctx, author="编辑", limits=WECHAT_LIMITS, html=long_html).decode("utf-8")
    assert f"正文 HTML {len(long_html):,}/20,000 字符" in page
    assert "超出公众号 20,000 字符的上限" in page
    assert Page(page).data()["html"] == long_html


def test_hostile_title_author_and_digest_are_escaped(newsletter):
    root = newsletter(BASIC_CONFIG + WECHAT_CHANNEL)
    write(
        root / "issues/2024-05-01/issue.yaml",
        f"title: {json.dumps(HOSTILE, ensure_ascii=False)}\nsummary: {json.dumps(HOSTILE, ensure_ascii=False)}\n",
    )
    write(root / "issues/2024-05-01/01-a.md", paper_md(HOSTILE))
    _, ctx, art = one_issue(root)
    author = '</script>"<b>'
    page = render_paste_page(art, ctx, author=author, limits=WECHAT_LIMITS).decode("utf-8")
    parsed = Page(page)
    assert len(parsed.scripts) == 2  # the JSON block and the page's own script, nothing injected
    assert page.lower().count("<script") == 2 and page.lower().count("</script") == 2
    assert "<!--" not in page.split("</style>")[1]  # no comment opened by the issue's text
    assert parsed.data()["fields"] == {
        "title": HOSTILE,
        "author": author,
        "digest": HOSTILE,
        "source_url": art.source_url,
    }
    assert parsed.data()["html"] == art.html
    assert "&lt;/script&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in page  # shown as text
    assert "alert(1)</script>" not in page


def test_local_images_without_a_public_site_are_marked_for_upload_by_hand(tmp_path):
    page, sent = built_page(golden_newsletter(tmp_path), GOLDEN_ID)  # golden.example.org: not fetchable
    copied = Page(page).data()["html"]
    assert "<img" not in copied
    assert "【在此处上传图片 1：images/cover.png，然后删除这一行】" in copied
    assert copied == re.sub(r'<img [^>]*src="https://golden[^"]*"[^>]*>', lambda m: _placeholder(copied), sent)
    assert 'src="images/cover.png"' in page  # the preview and the list show the local file
    assert "https://golden.example.org/news/issues/2024-09-30/images/cover.png" not in page.split("paste-data")[0]
    assert "需手动上传" in page and "是本机、内网或示例地址" in page


def _placeholder(copied: str) -> str:
    return re.search(r'<span style="display:block[^>]*>【在此处上传图片 1[^<]*</span>', copied).group(0)


def test_a_public_site_keeps_absolute_image_urls_for_the_editor_to_fetch(tmp_path):
    root = golden_newsletter(tmp_path, url="https://papers.digest.cn/news/")
    page, sent = built_page(root, GOLDEN_ID)
    assert Page(page).data()["html"] == sent
    assert 'src="https://papers.digest.cn/news/issues/2024-09-30/images/cover.png"' in sent
    preview = page.split('<div id="article">')[1].split("\n</div>\n</section>")[0]
    assert 'src="images/cover.png"' in preview and "https://papers.digest.cn" not in preview
    assert "粘贴时自动转存" in page and "需手动上传" not in page


def test_export_passes_its_own_image_paths(tmp_path):
    issue, ctx, art = one_issue(golden_newsletter(tmp_path))
    page = render_paste_page(
        art,
        ctx,
        author="编辑",
        limits=WECHAT_LIMITS,
        local_srcs={"images/cover.png": "images/01-cover.png"},
        cover_src="images/cover.png",
    ).decode("utf-8")
    assert 'src="images/01-cover.png"' in page
    assert "【在此处上传图片 1：images/01-cover.png，然后删除这一行】" in Page(page).data()["html"]
    assert '<img id="cover" src="images/cover.png"' in page


def test_only_issues_a_wechat_channel_takes_get_a_page(tmp_path):
    root = golden_newsletter(tmp_path, channel="")
    build(load_config(root / "config.yaml"), now=NOW)
    assert not (root / "public/issues" / GOLDEN_ID / "wechat-paste.html").exists()
    assert (root / "public/issues" / GOLDEN_ID / "wechat.html").exists()

    other = golden_newsletter(tmp_path / "other")
    yaml = other / "issues" / GOLDEN_ID / "issue.yaml"
    yaml.write_text(yaml.read_text("utf-8") + "channels: [feed]\n", "utf-8")
    build(load_config(other / "config.yaml"), now=NOW)
    assert not (other / "public/issues" / GOLDEN_ID / "wechat-paste.html").exists()


def test_a_default_cover_is_named_when_the_issue_has_none(newsletter):
    root = newsletter(BASIC_CONFIG + WECHAT_CHANNEL)
    write(root / "issues/2024-05-01/issue.yaml", 'title: "无封面"\n')
    write(root / "issues/2024-05-01/01-a.md", paper_md("A Paper"))
    _, ctx, art = one_issue(root)
    page = render_paste_page(art, ctx, author="编辑", limits=WECHAT_LIMITS, default_cover="assets/wechat-cover.png")
    assert "用默认封面 <code>assets/wechat-cover.png</code>" in page.decode("utf-8")
    bare = render_paste_page(art, ctx, author="编辑", limits=WECHAT_LIMITS).decode("utf-8")
    assert "本期没有封面，而公众号文章必须有封面" in bare and 'id="cover"' not in bare


def test_a_replaced_script_may_not_close_its_element(newsletter):
    root = newsletter(BASIC_CONFIG + WECHAT_CHANNEL)
    write(root / "templates/wechat_paste.js", "console.log('</script>')\n")
    write(root / "issues/2024-05-01/issue.yaml", 'title: "脚本"\n')
    write(root / "issues/2024-05-01/01-a.md", paper_md("A Paper"))
    _, ctx, art = one_issue(root)
    with pytest.raises(RenderError, match="wechat_paste.js"):
        render_paste_page(art, ctx, author="编辑", limits=WECHAT_LIMITS)


@pytest.mark.parametrize(
    ("url", "public"),
    [
        ("https://papers.digest.cn/", True),
        ("http://news.example.edu.cn/digest/", True),
        ("https://203.0.113.9/", False),  # documentation addresses are not global
        ("https://8.8.8.8/", True),
        ("https://digest.example.org/", False),
        ("https://example.com/", False),
        ("http://localhost:8000/", False),
        ("http://127.0.0.1:8000/", False),
        ("http://192.168.1.20/", False),
        ("http://[::1]:8000/", False),
        ("http://intranet/", False),
        ("https://site.test/", False),
        ("http://preview.localhost/", False),
        ("file:///srv/public/", False),
        ("", False),
    ],
)
def test_which_site_urls_the_editor_can_fetch_images_from(url, public):
    assert is_public_site(url) is public
