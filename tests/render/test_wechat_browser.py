"""The WeChat article in Chromium at a phone's width: in the 引用链接 list only URLs break
inside a word; English titles wrap between words; nothing is wider than the screen.

Playwright drives Debian's chromium package, as in tests/web/test_browser.py.
"""

from __future__ import annotations

import re

import pytest
from chromium import playwright_or_skip

from pipeline.render.wechat import article

LONG_URL = "https://example.org/" + "a-very-long-path-segment/" * 8 + "end"

sync_api = playwright_or_skip()

# Where each line of an element starts, as offsets into its textContent (read character by
# character from the layout, so it is the browser's line breaking, not ours).
LINE_STARTS = """(element) => {
  const starts = [];
  let offset = 0, top = null;
  const walker = document.createTreeWalker(element, NodeFilter.SHOW_TEXT);
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    for (let i = 0; i < node.data.length; i++, offset++) {
      const range = document.createRange();
      range.setStart(node, i);
      range.setEnd(node, i + 1);
      const rects = range.getClientRects();
      if (!rects.length || /\\s/.test(node.data[i])) continue;
      const y = Math.round(rects[0].top);
      if (top !== null && y > top + 2) starts.push(offset);
      if (top === null || y > top + 2) top = y;
    }
  }
  return {text: element.textContent, starts};
}"""


@pytest.fixture(scope="module")
def page(browser):
    context = browser.new_context(viewport={"width": 375, "height": 800}, locale="zh-CN")
    yield context.new_page()
    context.close()


def test_only_urls_break_inside_a_word_at_375px(example_issues, ctx, page):
    html = article(example_issues["2024-04-28"], ctx).html
    # one more entry whose URL is longer than a line
    html = html.replace(
        "</p>\n</section>", f"<br>[99] A Long Title With Ordinary English Words: {LONG_URL}</p>\n</section>"
    )
    page.set_content(f'<!DOCTYPE html><meta charset="utf-8"><body style="margin:0;padding:0 16px">{html}</body>')
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), "wider than the screen"
    laid_out = page.locator("section > p").last.evaluate(LINE_STARTS)
    text, starts = laid_out["text"], laid_out["starts"]
    urls = [match.span() for match in re.finditer(r"https?://\S+", text)]
    assert len(urls) >= 17 and starts
    in_url = [start for start in starts if any(first < start < last for first, last in urls)]
    assert in_url, "no URL broke, not even the one longer than a line"
    for start in set(starts) - set(in_url):
        before, after = text[start - 1], text[start]
        split_word = before.isascii() and before.isalnum() and after.isascii() and after.isalnum()
        assert not split_word, f"a word broken at 375px: {text[max(0, start - 20) : start]}|{text[start : start + 20]}"
    title = "A Long Title With Ordinary English Words"
    first = text.index(title)
    assert not any(first < start < first + len(title) and text[start - 1] != " " for start in starts)
