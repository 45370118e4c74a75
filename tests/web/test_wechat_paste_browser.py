"""The paste page in a real headless Chromium: 「复制到公众号」 puts the inline-styled article on
the clipboard as text/html and text/plain, the field buttons copy their text, the cover copies
as an image, and the older copy path works where the asynchronous clipboard is missing.

The built pages are served over http://127.0.0.1 as a static host would; one test opens the
page from file://. Screenshots at 375 px and at desktop width go to tests/artifacts/.
CI installs: apt `chromium fonts-noto-cjk`, pip `playwright`.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from chromium import playwright_or_skip, static_host
from conftest import FIXTURES, NOW, REPO

from pipeline.build.builder import build
from pipeline.config import load_config

ARTIFACTS = REPO / "tests" / "artifacts"
CLIPBOARD = ["clipboard-read", "clipboard-write"]
DESKTOP = {"viewport": {"width": 1280, "height": 1200}, "locale": "zh-CN", "timezone_id": "Asia/Shanghai"}
PHONE = {**DESKTOP, "viewport": {"width": 375, "height": 812}, "device_scale_factor": 2}
WECHAT_CHANNEL = "  wechat: {type: wechat, mode: export, author: 论文速递编辑部}\n"
READ_CLIPBOARD = """async () => {
  const [item] = await navigator.clipboard.read();
  const out = {types: item.types};
  for (const type of item.types) {
    if (type.startsWith("text/")) out[type] = await (await item.getType(type)).text();
  }
  return out;
}"""

sync_api = playwright_or_skip()


def open_page(browser, url: str, origin: str | None, init_script: str = "", **options):
    """A page with clipboard access, and the console messages it logs."""
    context = browser.new_context(**(options or DESKTOP))
    context.grant_permissions(CLIPBOARD, **({"origin": origin} if origin else {}))
    page = context.new_page()
    if init_script:
        page.add_init_script(init_script)
    messages: list[str] = []
    page.on("console", lambda message: messages.append(message.text))
    page.on("pageerror", lambda error: messages.append(str(error)))
    page.goto(url)
    return page, messages


def page_data(page) -> dict:
    return json.loads(page.locator("#paste-data").text_content())


def shot(page, name: str, full_page: bool = True) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"wechat-paste-{name}.png"), full_page=full_page)


def golden_with_cover(tmp_path: Path) -> Path:
    """The golden fixture with a WeChat channel and a real 900×383 cover (also its one image)."""
    from PIL import Image, ImageDraw

    root = tmp_path / "golden"
    shutil.copytree(FIXTURES / "golden", root, ignore=shutil.ignore_patterns("expected"))
    (root / "config.yaml").write_text((root / "config.yaml").read_text("utf-8") + WECHAT_CHANNEL, "utf-8")
    cover = Image.new("RGB", (900, 383), "#1f4e79")
    ImageDraw.Draw(cover).rectangle((40, 40, 860, 343), outline="white", width=6)
    cover.save(root / "issues/2024-09-30/images/cover.png")
    build(load_config(root / "config.yaml"), now=NOW)
    return root


def test_copy_puts_the_styled_article_on_the_clipboard(example, browser):
    build(load_config(example / "config.yaml"), now=NOW)
    sent = (example / "public/issues/2024-04-28/wechat.html").read_text("utf-8")
    meta = json.loads((example / "public/issues/2024-04-28/wechat.json").read_text("utf-8"))
    with static_host(example / "public") as base:
        page, messages = open_page(browser, f"{base}/issues/2024-04-28/wechat-paste.html", base)
        page.get_by_role("button", name="复制到公众号").click()
        page.get_by_text("已复制，请到公众号编辑器中粘贴").wait_for()
        clipboard = page.evaluate(READ_CLIPBOARD)
        assert {"text/html", "text/plain"} <= set(clipboard["types"])
        copied = clipboard["text/html"]
        assert copied.count('style="') == sent.count('style="') > 20
        assert sent.split("\n", 1)[0] in copied  # the root <section> with its font stack
        assert "1. SnapKV: LLM Knows What You are Looking for Before Generation" in copied
        assert "SnapKV" in clipboard["text/plain"] and "引用链接" in clipboard["text/plain"]
        assert "<" not in clipboard["text/plain"]

        page.get_by_role("button", name="复制标题").click()
        page.locator("#status-title").get_by_text("已复制标题").wait_for()
        assert page.evaluate("navigator.clipboard.readText()") == meta["title"]
        page.get_by_role("button", name="复制摘要").click()
        page.locator("#status-digest").get_by_text("已复制摘要").wait_for()
        assert page.evaluate("navigator.clipboard.readText()") == meta["digest"]
        assert page.locator(".phone").bounding_box()["width"] == 375
        shot(page, "desktop", full_page=False)  # the whole panel; the 5 papers go on below
        assert not [m for m in messages if "Content Security Policy" in m or "Refused" in m], messages


def test_page_at_phone_width_and_the_cover_and_images(tmp_path, browser):
    root = golden_with_cover(tmp_path)
    with static_host(root / "public") as base:
        page, messages = open_page(browser, f"{base}/issues/2024-09-30/wechat-paste.html", base, **PHONE)
        assert page.evaluate("document.documentElement.scrollWidth") <= 375  # no sideways scrolling
        assert page.locator(".phone").bounding_box()["width"] == 375
        assert page.evaluate("[...document.images].every(img => img.naturalWidth === 900)")
        assert page.locator("#cover-size").text_content() == "900×383 像素，2.35:1"
        page.get_by_role("button", name="复制封面图片").click()
        page.locator("#status-cover").get_by_text("已复制封面图片").wait_for()
        assert "image/png" in page.evaluate("navigator.clipboard.read().then(items => items[0].types)")

        page.get_by_role("button", name="复制到公众号").click()
        page.get_by_text("已复制，请到公众号编辑器中粘贴").wait_for()
        copied = page.evaluate(READ_CLIPBOARD)["text/html"]
        assert "<img" not in copied and "【在此处上传图片 1：images/cover.png，然后删除这一行】" in copied
        assert "Proof Automation with Large Language Models" in copied
        shot(page, "phone")
        assert not [m for m in messages if "Content Security Policy" in m or "Refused" in m], messages


def test_from_a_file_without_the_asynchronous_clipboard_the_copy_event_carries_the_html(tmp_path, browser):
    root = golden_with_cover(tmp_path)
    url = (root / "public/issues/2024-09-30/wechat-paste.html").as_uri()
    page, _ = open_page(browser, url, None, init_script="delete window.ClipboardItem;")
    assert page.evaluate("typeof ClipboardItem") == "undefined"
    page.get_by_role("button", name="复制到公众号").click()
    page.get_by_text("已复制，请到公众号编辑器中粘贴").wait_for()
    clipboard = page.evaluate(READ_CLIPBOARD)
    assert clipboard["text/html"] == page_data(page)["html"]
    assert "使用大语言模型做自动化证明" in clipboard["text/plain"]
    page.get_by_role("button", name="复制作者").click()
    page.locator("#status-author").get_by_text("已复制作者").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == "论文速递编辑部"
