"""The archive's search in a real headless Chromium at phone width: `publish build` writes the
Pagefind index (one bundle per year, merged by the box), public/ is served as a static host
would, and a reader types a Chinese word and an author's name into the box on the index and on
an issue page, finding papers of both years.

Screenshots go to tests/artifacts/search-*.png. Needs `pagefind[extended]` (Chinese words are
split only by the extended binary), Playwright and Debian's chromium.
"""

from __future__ import annotations

from collections.abc import Iterator
from importlib.util import find_spec

import pytest
from chromium import playwright_or_skip, static_host
from conftest import NOW, REPO

from pipeline.build.builder import build
from pipeline.build.search import BUNDLE
from pipeline.config import load_config

ARTIFACTS = REPO / "tests" / "artifacts"
PHONE = {
    "viewport": {"width": 375, "height": 812},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
    "timezone_id": "Asia/Shanghai",
}
# An issue of another year: the bundled example's are all of 2024.
ISSUE_2023 = """\
title: "大模型前沿论文速递 · 第3期：蛋白质与编译器"
summary: "本期一篇：用语言模型预测蛋白质折叠，并顺带检查 Coq 证明。"
tags:
  - 论文速递
"""
PAPER_2023 = """\
---
title: "Folding Proteins with Language Models"
title_translated: "用语言模型预测蛋白质折叠"
authors:
  - Grace Hopper
  - Alan Turing
arxiv: "2306.01234"
rating: 7
tags:
  - 蛋白质折叠
---
这篇论文把蛋白质折叠当作一种语言来学习，并用 Coq 检查其中一个关键引理。

## 方法

先预训练，再微调：模型在数亿条氨基酸序列上学习，然后预测三维结构。
"""

sync_api = playwright_or_skip()
if find_spec("pagefind") is None:
    pytest.skip("Pagefind is not installed (pip install 'pagefind[extended]')", allow_module_level=True)


@pytest.fixture(scope="module")
def site(tmp_path_factory, request) -> Iterator[str]:
    import shutil

    root = tmp_path_factory.mktemp("search") / "example"
    root.mkdir()
    shutil.copy(REPO / "config.yaml", root / "config.yaml")
    shutil.copytree(REPO / "issues", root / "issues")
    (root / "issues/2023-06-12").mkdir()
    (root / "issues/2023-06-12/issue.yaml").write_text(ISSUE_2023, encoding="utf-8")
    (root / "issues/2023-06-12/01-folding.md").write_text(PAPER_2023, encoding="utf-8")
    config = load_config(root / "config.yaml")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PUBLISH_BUILD_SEARCH", "1")
        report = build(config, now=NOW)
    assert not [p for p in report.problems if "search" in p.message or "Pagefind" in p.message]
    assert (config.output_dir / BUNDLE / "pagefind-ui.js").is_file()
    assert (config.output_dir / BUNDLE / "2023/pagefind.js").is_file()  # two bundles, merged by the box
    assert (config.output_dir / BUNDLE / "2024/pagefind.js").is_file()
    with static_host(config.output_dir) as base:
        yield base


@pytest.fixture
def phone(browser):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    yield page
    context.close()


def search(page, words: str) -> list[str]:
    """Type into the search box; the links of the results (pages and the papers in them)."""
    box = page.locator(".pagefind-ui__search-input")
    box.wait_for()
    box.fill("")
    box.press_sequentially(words, delay=20)
    page.locator(".pagefind-ui__result").first.wait_for(timeout=15000)
    page.wait_for_function("() => !document.querySelector('.pagefind-ui__result .pagefind-ui__loading')")
    return page.eval_on_selector_all(".pagefind-ui__result-link", "links => links.map(a => a.getAttribute('href'))")


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"search-{name}.png"), full_page=False)


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_a_chinese_word_finds_its_paper_from_the_index(site: str, phone) -> None:
    phone.goto(f"{site}/")
    links = search(phone, "定理证明")
    assert links[0] == "/issues/2024-09-30/"  # the issue with PALM comes first
    assert "/issues/2024-09-30/#paper-01-palm-title" in links  # and the paper itself, as a sub-result
    assert not any(link.startswith("/issues/2024-04-28/#paper-0") for link in links)
    shot(phone, "chinese-word")
    assert fits_the_screen(phone)
    phone.locator('a.pagefind-ui__result-link[href="/issues/2024-09-30/#paper-01-palm-title"]').click()
    phone.wait_for_url(f"{site}/issues/2024-09-30/#paper-01-palm-title")


def test_a_word_inside_a_chinese_phrase_is_found(site: str, phone) -> None:
    phone.goto(f"{site}/")
    links = search(phone, "缓存")  # only ever written inside longer runs of Chinese (KV 缓存压缩 …)
    assert links and links[0] == "/issues/2024-04-28/"
    assert "/issues/2024-04-28/#paper-01-snapkv-title" in links


def test_an_authors_name_finds_their_paper_from_an_issue_page(site: str, phone) -> None:
    phone.goto(f"{site}/issues/2024-09-30/")
    links = search(phone, "Lilian Weng")
    assert links[0] == "/issues/2024-04-28/"
    assert "/issues/2024-04-28/#paper-05-instruction-hierarchy-title" in links
    shot(phone, "author")
    assert fits_the_screen(phone)


def test_no_result_is_said_in_chinese(site: str, phone) -> None:
    phone.goto(f"{site}/")
    box = phone.locator(".pagefind-ui__search-input")
    box.fill("zzqxjv")
    message = phone.locator(".pagefind-ui__message")
    message.wait_for()
    phone.wait_for_function("() => document.querySelector('.pagefind-ui__message').textContent.includes('没有找到')")
    assert "zzqxjv" in message.inner_text() and not phone.locator(".pagefind-ui__result").count()


def test_a_chinese_word_finds_a_paper_of_the_older_year(site: str, phone) -> None:
    phone.goto(f"{site}/issues/2024-04-28/")
    links = search(phone, "蛋白质折叠")
    assert links[0] == "/issues/2023-06-12/"
    assert "/issues/2023-06-12/#paper-01-folding-title" in links
    shot(phone, "older-year")


def test_an_authors_name_finds_a_paper_of_the_older_year(site: str, phone) -> None:
    phone.goto(f"{site}/")
    links = search(phone, "Grace Hopper")
    assert links[0] == "/issues/2023-06-12/"


def test_one_search_finds_papers_of_both_years(site: str, phone) -> None:
    phone.goto(f"{site}/")
    links = search(phone, "Coq")
    assert "/issues/2024-09-30/" in links and "/issues/2023-06-12/" in links


def test_an_archive_built_without_search_asks_only_for_the_shard_list(tmp_path, phone) -> None:
    """A build with search off has no pagefind/: the page asks for shards.json once, loads none
    of Pagefind's files, and keeps the box hidden."""
    import shutil

    root = tmp_path / "example"
    root.mkdir()
    shutil.copy(REPO / "config.yaml", root / "config.yaml")
    shutil.copytree(REPO / "issues", root / "issues")
    config = load_config(root / "config.yaml")
    build(config, now=NOW)  # PUBLISH_BUILD_SEARCH=0 from conftest
    assert not (config.output_dir / BUNDLE).exists()
    asked: list[str] = []
    phone.on("request", lambda request: asked.append(request.url))
    with static_host(config.output_dir) as base:
        phone.goto(f"{base}/", wait_until="networkidle")
        assert phone.locator("#search").is_hidden()
    pagefind = [url.removeprefix(base) for url in asked if "/pagefind/" in url]
    assert pagefind == ["/pagefind/shards.json"]
