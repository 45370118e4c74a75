"""The archive's search box in a real headless Chromium at phone width.

`publish build` writes the index (pipeline/render/search.py: search/index.json, a year's shards,
each issue's search.json), public/ is served as a static host would, and a reader types into the
box (pipeline/templates/search.js) on the index and on an issue page: Chinese words, authors'
names, full-width letters, a query with no match, one that pages through many results. The
archive is the bundled example, an issue of 2023 (one paper with hostile markup in its title and
body), four issues of 2022 written here so that one query has more than a page of results, and
thirty of 2021 that hold both pairs of characters of a word but never the word itself.

Screenshots go to tests/artifacts/search-*.png. Needs Playwright and Debian's chromium.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from chromium import playwright_or_skip, static_host
from conftest import NOW, REPO

from pipeline.build.builder import build
from pipeline.config import load_config
from pipeline.render.search import normalize, shard_of, terms_of

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
summary: "本期两篇：用语言模型预测蛋白质折叠，并顺带检查 Coq 证明；以及一篇安全报告。"
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
HOSTILE_TITLE = '<img src=x onerror="window.__xss=1">漏洞'
HOSTILE_SCRIPT = "<script>window.__xss=2</script>"
PAPER_HOSTILE = f"""\
---
title: '{HOSTILE_TITLE}'
authors:
  - Mallory Example
---
正文里夹带了一段脚本：{HOSTILE_SCRIPT}，一个安全的页面只把它当作文字显示。
"""
# Two papers of that issue for a surname: Li, and what holds its letters (Liu, license, Xiancai).
PAPER_LI = """\
---
title: "Sparse Attention Revisited"
authors:
  - Wei Li
---
稀疏注意力的再审视，代码以宽松的许可证发布。
"""
PAPER_LIU = """\
---
title: "Release Notes for Compact Models"
authors:
  - Xiaoming Liu
  - Xiancai Zhou
---
Released under a permissive license, with a little demo.
"""
# Issues of 2022 where one word (分页样本) is in every paper and every summary: more than a page.
PAGED_WORD = "分页样本"
PAGED_ISSUES = ("2022-03-07", "2022-06-13", "2022-09-19", "2022-12-26")
PAPERS_PER_PAGED_ISSUE = 10

# Issues of 2021, each with one paper that has both pairs of 鹦鹉螺 (鹦鹉 and 鹉螺) but never the
# word: more candidates than the box reads for one page. Two of them have authors with initials.
NEAR_MISS_ISSUES = 30
NEAR_MISS_WORD = "鹦鹉螺"
INITIALS = {1: ["P Nguyen", "A Smith"], 2: ["K Nguyen", "P Chen"]}  # issue number → its authors

sync_api = playwright_or_skip()


@dataclass
class Site:
    base: str  # http://127.0.0.1:port, serving public/
    public: Path


def copy_example(root: Path) -> Path:
    """A copy of the bundled example (config.yaml, issues/) in ``root``; the path of its config."""
    root.mkdir(parents=True)
    shutil.copy(REPO / "config.yaml", root / "config.yaml")
    shutil.copytree(REPO / "issues", root / "issues")
    return root / "config.yaml"


def write_issue(folder: Path, issue_yaml: str, papers: dict[str, str]) -> None:
    folder.mkdir()
    (folder / "issue.yaml").write_text(issue_yaml, encoding="utf-8")
    for name, text in papers.items():
        (folder / name).write_text(text, encoding="utf-8")


def paged_issue(number: int) -> tuple[str, dict[str, str]]:
    """An issue of 2022 whose summary and every paper say PAGED_WORD."""
    issue = f'title: "分页测试 · 第{number}期"\nsummary: "本期每篇都提到{PAGED_WORD}。"\ntags:\n  - 论文速递\n'
    papers = {
        f"{n:02d}-paged.md": (
            f'---\ntitle: "Paged Result {number}-{n}"\nauthors:\n  - 作者{number}{n}\n---\n'
            f"第{number}期第{n}篇：这是一条{PAGED_WORD}，用来检查搜索结果的翻页。\n"
        )
        for n in range(1, PAPERS_PER_PAGED_ISSUE + 1)
    }
    return issue, papers


def near_miss_issue(number: int) -> tuple[str, dict[str, str]]:
    """An issue of 2021 with 鹦鹉 and 鹉螺 in its paper, never 鹦鹉螺."""
    authors = json.dumps(INITIALS.get(number, [f"Author {number}"]))
    paper = (
        f'---\ntitle: "Near Miss {number}"\nauthors: {authors}\n---\n'
        f"第{number}篇：鹦鹉的羽毛，鹉螺的外壳，两者并不相干。\n"
    )
    return f'title: "近似测试 · 第{number}期"\n', {"01-near.md": paper}


def near_miss_day(number: int) -> str:
    return (date(2021, 1, 4) + timedelta(weeks=number - 1)).isoformat()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[Site]:
    issues = copy_example(tmp_path_factory.mktemp("search") / "example").parent / "issues"
    papers_2023 = {"01-folding.md": PAPER_2023, "02-hostile.md": PAPER_HOSTILE, "03-li.md": PAPER_LI}
    write_issue(issues / "2023-06-12", ISSUE_2023, {**papers_2023, "04-liu.md": PAPER_LIU})
    for number, day in enumerate(PAGED_ISSUES, start=1):
        write_issue(issues / day, *paged_issue(number))
    for number in range(1, NEAR_MISS_ISSUES + 1):
        write_issue(issues / near_miss_day(number), *near_miss_issue(number))
    config = load_config(issues.parent / "config.yaml")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PUBLISH_BUILD_SEARCH", "1")
        build(config, now=NOW)  # a problem in an issue would stop it
    years = [entry["year"] for entry in read_json(config.output_dir / "search/index.json")["years"]]
    assert years == ["2024", "2023", "2022", "2021"]
    with static_host(config.output_dir) as base:
        yield Site(base, config.output_dir)


@pytest.fixture
def phone(browser):
    context = browser.new_context(**PHONE)
    page = context.new_page()
    yield page
    context.close()


def read_json(path: Path):
    return json.loads(path.read_text(encoding="utf-8"))


def status_of(page) -> str:
    return page.locator(".search-status").inner_text()


def search(page, query: str) -> list[str]:
    """Type ``query`` into the box as one input; once the search is over, the paths the results
    link to (resolved against the page, as a click would)."""
    box = page.locator(".search-input")
    box.wait_for()  # shown once search/index.json is read
    if box.input_value():  # a search before: wait for its status to clear, not to read it again
        box.fill("")
        page.wait_for_function("() => document.querySelector('.search-status').textContent === ''")
    box.fill(query)
    page.wait_for_function(
        "() => { const s = document.querySelector('.search-status').textContent; return s && s !== '正在搜索…'; }"
    )
    return links(page)


def links(page) -> list[str]:
    hrefs = page.eval_on_selector_all(".search-results li > a", "links => links.map(a => a.href)")
    return [urlsplit(href)._replace(scheme="", netloc="").geturl() for href in hrefs]


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"search-{name}.png"), full_page=False)


def fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def documents_with(public: Path, query: str) -> int:
    """How many documents of the built search.json files contain ``query`` (what the box counts)."""
    wanted = normalize(query)
    count = 0
    for path in public.glob("issues/*/search.json"):
        for doc in read_json(path)["docs"]:
            count += wanted in normalize(f"{doc['title']}\n{doc['meta']}\n{doc['text']}")
    return count


def test_a_chinese_word_finds_its_paper_from_the_index(site: Site, phone) -> None:
    phone.goto(f"{site.base}/")
    found = search(phone, "定理证明")
    palm = "/issues/2024-09-30/#paper-01-palm"
    assert palm in found
    assert not any(link.startswith("/issues/2024-04-28/") for link in found)
    assert re.fullmatch(r"共 \d+ 条结果", status_of(phone))
    excerpt = phone.locator(".search-results li").nth(found.index(palm)).locator(".excerpt").inner_text()
    first_word = re.match(r"…([0-9A-Za-z]*)", excerpt).group(1)  # the excerpt is cut before the word found
    [text] = [d["text"] for d in read_json(site.public / "issues/2024-09-30/search.json")["docs"] if "palm" in d["url"]]
    assert re.search(rf"(?<![0-9A-Za-z]){first_word}", text), f"the excerpt starts inside a word: {first_word!r}"
    shot(phone, "chinese-word")
    assert fits_the_screen(phone)


def test_a_word_inside_longer_chinese_runs_is_found(site: Site, phone) -> None:
    phone.goto(f"{site.base}/")
    found = search(phone, "缓存")  # only ever written inside longer runs (KV 缓存压缩 …)
    assert "/issues/2024-04-28/#paper-01-snapkv" in found


def test_an_authors_name_on_an_issue_page_leads_to_the_paper(site: Site, phone) -> None:
    phone.goto(f"{site.base}/issues/2024-09-30/")
    found = search(phone, "Lilian Weng")
    target = "/issues/2024-04-28/#paper-05-instruction-hierarchy"
    assert target in found
    result = phone.locator(".search-results li").nth(found.index(target))
    assert result.locator(".excerpt mark").all_inner_texts() == ["Lilian", "Weng"]  # the authors' line
    shot(phone, "author")
    assert fits_the_screen(phone)
    phone.locator(".search-results li > a").nth(found.index(target)).click()
    phone.wait_for_url(f"{site.base}{target}")
    assert phone.locator("#paper-05-instruction-hierarchy").count() == 1


def test_a_query_with_no_match_says_so_and_shows_nothing(site: Site, phone) -> None:
    phone.goto(f"{site.base}/")
    assert search(phone, "zzqxjv") == []
    assert "没有找到" in status_of(phone) and "zzqxjv" in status_of(phone)
    assert phone.locator(".search-more").is_hidden()


def test_the_older_year_is_searched_too(site: Site, phone) -> None:
    phone.goto(f"{site.base}/issues/2024-04-28/")
    found = search(phone, "蛋白质折叠")
    assert "/issues/2023-06-12/#paper-01-folding" in found
    # headed as its page heads it, in Chinese; the original title still found and shown below
    result = phone.locator(".search-results li").nth(found.index("/issues/2023-06-12/#paper-01-folding"))
    assert result.locator("a").first.inner_text() == "用语言模型预测蛋白质折叠"
    shot(phone, "older-year")
    assert "/issues/2023-06-12/#paper-01-folding" in search(phone, "Folding Proteins")
    assert "/issues/2023-06-12/#paper-01-folding" in search(phone, "Grace Hopper")
    both = search(phone, "Coq")
    assert any(link.startswith("/issues/2024-09-30/") for link in both)
    assert any(link.startswith("/issues/2023-06-12/") for link in both)


def test_full_width_letters_find_what_ascii_finds(site: Site, phone) -> None:
    phone.goto(f"{site.base}/")
    ascii_links = search(phone, "coq")
    assert ascii_links
    assert search(phone, "ＣＯＱ") == ascii_links
    assert search(phone, "ｃｏｑ") == ascii_links


def test_pinyin_being_composed_is_not_searched(site: Site, phone) -> None:
    """An input method shows pinyin in the box while the reader composes (as on iOS): the box
    waits for the characters picked, rather than searching for the letters on the way."""
    phone.goto(f"{site.base}/")
    box = phone.locator(".search-input")
    box.wait_for()
    asked: list[str] = []
    phone.on("request", lambda request: asked.append(urlsplit(request.url).path))
    box.focus()
    ime = phone.context.new_cdp_session(phone)
    for letters in ("d", "di", "din", "ding", "dingl", "dingli"):
        caret = len(letters)
        ime.send("Input.imeSetComposition", {"text": letters, "selectionStart": caret, "selectionEnd": caret})
    phone.wait_for_timeout(500)  # more than the box waits after a keystroke
    assert box.input_value() == "dingli" and status_of(phone) == ""
    assert not [path for path in asked if path.startswith("/search/")]
    ime.send("Input.insertText", {"text": "定理证明"})  # the characters picked end the composition
    phone.wait_for_function("() => /共 \\d+ 条结果/.test(document.querySelector('.search-status').textContent)")
    assert "/issues/2024-09-30/#paper-01-palm" in links(phone)


def test_one_chinese_character_asks_for_two(site: Site, phone) -> None:
    phone.goto(f"{site.base}/")
    assert search(phone, "缓") == []
    assert status_of(phone) == "请至少输入两个字"
    for query in ("，。！？", "!!! --"):  # no word at all: asking for two more characters would mislead
        assert search(phone, query) == []
        assert status_of(phone) == "请输入文字、字母或数字（标点和符号不参与搜索）"


def test_the_query_is_marked_in_the_excerpt(site: Site, phone) -> None:
    phone.goto(f"{site.base}/")
    search(phone, "缓存")
    marks = phone.eval_on_selector_all(".search-results .excerpt mark", "marks => marks.map(m => m.textContent)")
    assert marks and set(marks) == {"缓存"}


def test_a_query_in_the_page_address_is_searched(site: Site, phone) -> None:
    phone.goto(f"{site.base}/?q=蛋白质折叠")
    phone.wait_for_function("() => /共 \\d+ 条结果/.test(document.querySelector('.search-status').textContent)")
    assert phone.locator(".search-input").input_value() == "蛋白质折叠"
    assert "/issues/2023-06-12/#paper-01-folding" in links(phone)


def test_markup_in_an_issue_stays_text(site: Site, phone) -> None:
    phone.goto(f"{site.base}/")
    found = search(phone, "漏洞")
    assert "/issues/2023-06-12/#paper-02-hostile" in found
    result = phone.locator(".search-results li").nth(found.index("/issues/2023-06-12/#paper-02-hostile"))
    assert result.locator("a").inner_text() == HOSTILE_TITLE
    assert HOSTILE_SCRIPT in result.locator(".excerpt").inner_text()
    assert phone.locator(".search-results img, .search-results script").count() == 0
    shot(phone, "hostile")
    assert phone.evaluate("typeof window.__xss") == "undefined"


def test_many_results_come_a_page_at_a_time(site: Site, phone) -> None:
    errors: list[str] = []
    phone.on("pageerror", lambda error: errors.append(str(error)))
    total = documents_with(site.public, PAGED_WORD)
    assert total == len(PAGED_ISSUES) * (PAPERS_PER_PAGED_ISSUE + 1) > 40  # three pages
    phone.goto(f"{site.base}/")
    assert len(search(phone, PAGED_WORD)) == 20
    assert status_of(phone) == "前 20 条结果"
    more = phone.locator(".search-more")
    assert more.is_visible() and more.inner_text() == "更多结果"
    assert fits_the_screen(phone)
    more.scroll_into_view_if_needed()
    shot(phone, "more")
    assert more.bounding_box()["height"] >= 44  # a thumb's target
    more.click()
    phone.wait_for_function("() => document.querySelector('.search-status').textContent === '前 40 条结果'")
    assert len(links(phone)) == 40 and more.is_visible()
    more.click()
    phone.wait_for_function("() => document.querySelector('.search-status').textContent.startsWith('共 ')")
    assert status_of(phone) == f"共 {total} 条结果"
    shown = links(phone)
    assert len(shown) == len(set(shown)) == total and more.is_hidden()
    dates = [d.split(" · ")[0] for d in phone.locator(".search-results .where").all_inner_texts()]
    assert dates == sorted(dates, reverse=True) and dates[0] == PAGED_ISSUES[-1]  # newest first
    assert errors == []  # a page filled from results already read threw on each click


def test_a_search_loads_only_the_shards_and_issues_it_needs(site: Site, phone) -> None:
    answered: list[tuple[str, int]] = []
    phone.on("response", lambda response: answered.append((urlsplit(response.url).path, response.status)))
    phone.goto(f"{site.base}/")
    search(phone, "Coq 定理证明")  # the CJK word last: every term is looked up, the Latin word too
    assert all(code == 200 for _, code in answered), answered
    terms = terms_of("Coq") | terms_of("定理证明")
    shards, candidates = set(), set()
    for year in read_json(site.public / "search/index.json")["years"]:
        names = {f"/search/{year['year']}/{shard_of(term, year['shards'])}.json" for term in terms}
        shards |= names
        postings = {}
        for name in names:
            postings.update(read_json(site.public / name.lstrip("/")))
        having_all = set.intersection(*(set(postings.get(term, [])) for term in terms))
        candidates |= {f"/issues/{year['issues'][p]}/search.json" for p in having_all}
    asked = [path for path, _ in answered]
    assert {path for path in asked if path.startswith("/search/")} == shards | {"/search/index.json"}
    assert {path for path in asked if path.endswith("/search.json")} == candidates
    assert candidates == {"/issues/2024-09-30/search.json"}
    # each file of the index once (the browser asks for the favicon again when ?q= enters the address)
    data = [path for path in asked if path.startswith("/search/") or path.endswith("/search.json")]
    assert len(data) == len(set(data)), [a for a in data if data.count(a) > 1]


def test_typing_key_by_key_loads_only_files_the_index_names(site: Site, phone) -> None:
    """Each pause while typing may start a search for what is typed so far: every file it loads
    is one search/index.json names, and the last search (Enter) finds the paper."""
    answered: list[tuple[str, int]] = []
    phone.on("response", lambda response: answered.append((urlsplit(response.url).path, response.status)))
    phone.goto(f"{site.base}/")
    box = phone.locator(".search-input")
    box.wait_for()
    box.press_sequentially("Lilian Weng 指令", delay=60)
    box.press("Enter")
    phone.wait_for_function("() => document.querySelector('.search-status').textContent !== '正在搜索…'")
    assert links(phone) == ["/issues/2024-04-28/#paper-05-instruction-hierarchy"]
    years = read_json(site.public / "search/index.json")["years"]
    named = {f"/search/{year['year']}/{n}.json" for year in years for n in range(year["shards"])}
    issues = {f"/issues/{issue}/search.json" for year in years for issue in year["issues"]}
    assert {path for path, _ in answered if path.startswith("/search/")} <= named | {"/search/index.json"}
    assert {path for path, _ in answered if path.endswith("/search.json")} <= issues
    assert all(code == 200 for _, code in answered), answered


def test_an_archive_built_without_search_keeps_the_box_hidden(tmp_path, monkeypatch, phone) -> None:
    """A build with search off has no search/index.json: the page asks for it, is told 404, loads
    nothing else of the search and shows no box."""
    config = load_config(copy_example(tmp_path / "example"))
    monkeypatch.setenv("PUBLISH_BUILD_SEARCH", "0")
    build(config, now=NOW)
    assert not (config.output_dir / "search/index.json").exists()
    asked: list[str] = []
    phone.on("request", lambda request: asked.append(urlsplit(request.url).path))
    with static_host(config.output_dir) as base:
        phone.goto(f"{base}/", wait_until="networkidle")
        assert phone.locator("#search").is_hidden()
    assert [path for path in asked if "search" in path and path != "/search.js"] == ["/search/index.json"]


def test_the_query_is_kept_in_the_address_for_the_way_back(site: Site, phone) -> None:
    phone.goto(f"{site.base}/")
    links_found = search(phone, "蛋白质折叠")
    assert parse_qs(urlsplit(phone.url).query) == {"q": ["蛋白质折叠"]}
    phone.locator(".search-results a").first.click()
    phone.wait_for_url("**/issues/2023-06-12/**")
    phone.go_back()
    phone.wait_for_function("() => document.querySelectorAll('.search-results li').length > 0")
    assert phone.locator(".search-input").input_value() == "蛋白质折叠"
    assert links(phone) == links_found


def test_the_way_back_after_more_results_returns_to_the_same_result(site: Site, phone) -> None:
    """Back from a result of the second page (the browser not keeping the page whole, as on a
    phone short of memory): both pages again, scrolled to where the reader was, not past the
    first page's end."""
    phone.goto(f"{site.base}/")
    assert len(search(phone, PAGED_WORD)) == 20
    phone.locator(".search-more").click()
    phone.wait_for_function("() => document.querySelectorAll('.search-results li').length === 40")
    shown = links(phone)
    target = phone.locator(".search-results li > a").nth(34)
    target.scroll_into_view_if_needed()
    phone.wait_for_timeout(400)  # the scroll is kept once it stops
    before = phone.evaluate("window.scrollY")
    assert before > 2000
    target.click()
    phone.wait_for_url(f"**{shown[34]}")
    phone.go_back()
    phone.wait_for_function("() => document.querySelectorAll('.search-results li').length === 40")
    phone.wait_for_function(f"() => Math.abs(window.scrollY - {before}) <= 2")
    assert links(phone) == shown
    box = phone.locator(".search-results li > a").nth(34).bounding_box()
    assert 0 <= box["y"] < PHONE["viewport"]["height"]  # the result the reader left from is on screen


def test_a_surname_is_found_as_a_whole_word(site: Site, phone) -> None:
    phone.goto(f"{site.base}/?q=Li")  # as a link or a search engine would open it
    phone.wait_for_function("() => document.querySelectorAll('.search-results li').length > 0")
    found = links(phone)
    assert "/issues/2023-06-12/#paper-03-li" in found
    assert "/issues/2023-06-12/#paper-04-liu" not in found  # Liu, license, little, Xiancai
    docs = {
        f"/{doc['url']}": doc for path in site.public.glob("issues/*/search.json") for doc in read_json(path)["docs"]
    }
    for link in found:
        doc = docs[link]
        assert re.search(r"(?<![0-9a-z])li(?![0-9a-z])", normalize(f"{doc['title']} {doc['meta']} {doc['text']}"))
    marks = phone.locator(".search-results mark").all_inner_texts()
    assert marks and {mark.lower() for mark in marks} == {"li"}
    assert search(phone, "Xiaoming Li ") == []  # a space after it: complete, and Li is not Liu
    assert search(phone, "Xiaoming Li") == ["/issues/2023-06-12/#paper-04-liu"]  # still typing: Li… may be Liu
    assert "/issues/2023-06-12/#paper-04-liu" in search(phone, "Xiaoming Liu")
    assert search(phone, "Wei L") == ["/issues/2023-06-12/#paper-03-li"]  # a one-letter word being typed


def test_an_authors_initial_is_matched_with_the_name_after_it(site: Site, phone) -> None:
    phone.goto(f"{site.base}/")
    found = search(phone, "P Nguyen")  # not K Nguyen, nor P Chen: "p" alone is in every text
    assert found == [f"/issues/{near_miss_day(1)}/#paper-01-near"]
    assert phone.locator(".search-results .excerpt mark").all_inner_texts() == ["P Nguyen"]
    assert len(search(phone, "Nguyen")) == 2


def test_a_word_no_issue_holds_reads_a_bounded_number_of_issues_then_asks(site: Site, phone) -> None:
    asked: list[str] = []
    phone.on("request", lambda request: asked.append(urlsplit(request.url).path))
    phone.goto(f"{site.base}/")
    assert search(phone, NEAR_MISS_WORD) == []
    read = [path for path in asked if path.endswith("/search.json")]
    assert len(read) == 24 < NEAR_MISS_ISSUES  # every one a candidate: it has both pairs
    assert status_of(phone) == f"最新的 24 期里没有「{NEAR_MISS_WORD}」"
    more = phone.locator(".search-more")
    assert more.is_visible() and more.inner_text() == "继续搜索更早的期刊"
    shot(phone, "read-on")
    more.click()
    phone.wait_for_function("() => document.querySelector('.search-status').textContent.startsWith('没有找到')")
    assert len([path for path in asked if path.endswith("/search.json")]) == NEAR_MISS_ISSUES
    assert more.is_hidden() and links(phone) == []


def test_a_latin_word_typed_in_part_finds_nothing_and_says_to_finish_it(site: Site, phone) -> None:
    phone.goto(f"{site.base}/")
    assert search(phone, "Hoppe") == []  # whole words only: the index holds "hopper"
    assert status_of(phone) == "没有找到与「Hoppe」相关的内容（英文单词请输入完整）"
    assert "/issues/2023-06-12/#paper-01-folding" in search(phone, "Hopper")
    assert search(phone, "Hoppe ") == []  # a space after it: the word is complete, no hint
    assert status_of(phone) == "没有找到与「Hoppe」相关的内容"


def _luminance(rgb: str) -> float:
    """WCAG relative luminance of a computed ``rgb(r, g, b)``."""
    channels = [int(part) / 255 for part in re.findall(r"\d+", rgb)[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_box_and_the_marks_can_be_seen(site: Site, browser, scheme: str) -> None:
    """The box's outline at 3:1 against the page (WCAG 1.4.11), and a mark that keeps its text
    readable where color-mix() is not known (older WebViews drop the rule that uses it)."""
    context = browser.new_context(**PHONE, color_scheme=scheme)
    page = context.new_page()
    try:
        page.goto(f"{site.base}/")
        search(page, "缓存")
        colours = page.evaluate(
            """() => {
                const style = (selector) => getComputedStyle(document.querySelector(selector));
                return [style('.search-input').borderTopColor, style('body').backgroundColor];
            }"""
        )
        darker, lighter = sorted(map(_luminance, colours))
        assert (lighter + 0.05) / (darker + 0.05) >= 3, colours
    finally:
        context.close()
    css = (site.public / "style.css").read_text("utf-8")
    mark = re.search(r"\.search-results mark \{([^}]*)\}", css).group(1)
    assert mark.index("background: var(--soft)") < mark.index("color-mix(")  # the fallback first
