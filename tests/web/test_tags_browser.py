"""The tag list in a real headless Chromium: a tag written right to left (Arabic, Hebrew, or
text an author turned around and back) keeps its count after it, where a reader looks for it.

Needs Playwright and Debian's chromium.
"""

from __future__ import annotations

import pytest
from chromium import playwright_or_skip, static_host
from conftest import NOW

from pipeline.build.builder import build
from pipeline.config import load_config

sync_api = playwright_or_skip()

RIGHT_TO_LEFT = ("مراجعة", "סקירה", "\u202egnp\u202c")  # Arabic, Hebrew, an override closed


@pytest.fixture
def tag_list(example, monkeypatch):
    monkeypatch.setenv("PUBLISH_BUILD_SEARCH", "0")
    entry = next((example / "issues" / "2024-09-30").glob("01-*.md"))
    tags = "".join(f"  - {tag}\n" for tag in RIGHT_TO_LEFT)
    entry.write_text(entry.read_text("utf-8").replace("tags:\n", f"tags:\n{tags}", 1), "utf-8")
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    with static_host(config.output_dir) as base:
        yield f"{base}/tags/"


def test_a_right_to_left_tag_keeps_its_count_after_it(tag_list, browser):
    page = browser.new_page(viewport={"width": 390, "height": 844}, locale="zh-CN")
    page.goto(tag_list)
    for tag in RIGHT_TO_LEFT:
        item = page.locator(".tag-index li", has=page.get_by_role("link", name=tag, exact=True))
        # where the count's first character ("1" of "1 篇") is drawn, against the tag's link
        left_of_count, link_right = item.evaluate(
            """li => {
                const count = li.querySelector(".count").firstChild;
                const range = document.createRange();
                range.setStart(count, 0);
                range.setEnd(count, 1);
                return [range.getBoundingClientRect().left, li.querySelector("a").getBoundingClientRect().right];
            }"""
        )
        assert left_of_count >= link_right, tag
    page.close()
