"""`publish build` writes the archive's search index (pipeline/render/search.py): each issue's
documents, and per year the shards of terms, only for public issues; a year is rendered again
only when its issues' terms change; the switch leaves the index as it is; an old Pagefind index
is removed. The browser side is tests/web/test_search_browser.py."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import pytest
from conftest import NOW, write

from pipeline.build import search
from pipeline.build.builder import build
from pipeline.config import load_config
from pipeline.render.search import normalize, plain_text, terms_of


@pytest.fixture(autouse=True)
def with_search(monkeypatch):
    monkeypatch.setenv("PUBLISH_BUILD_SEARCH", "1")


def index(public: Path) -> dict:
    return json.loads((public / "search/index.json").read_text("utf-8"))


def postings(public: Path, year: dict, term: str) -> list[str]:
    """The issues of ``year`` (an entry of index.json) that have ``term``, looked up as search.js does."""
    shard = zlib.crc32(term.encode()) % year["shards"]
    found = json.loads((public / f"search/{year['year']}/{shard}.json").read_text("utf-8"))
    return [year["issues"][position] for position in found.get(term, [])]


def lookup_terms(public: Path, issue_id: str) -> set[str]:
    """Every term the index lists for ``issue_id``."""
    year = next(y for y in index(public)["years"] if issue_id in y["issues"])
    position = year["issues"].index(issue_id)
    found: set[str] = set()
    for shard in range(year["shards"]):
        postings = json.loads((public / f"search/{year['year']}/{shard}.json").read_text("utf-8"))
        found.update(term for term, issues in postings.items() if position in issues)
    return found


def lookup(public: Path, term: str) -> list[str]:
    return [issue for year in index(public)["years"] for issue in postings(public, year, term)]


def test_terms_are_chinese_pairs_and_latin_words_in_any_width_and_case():
    assert terms_of("KV 缓存压缩") == {"kv", "缓存", "存压", "压缩"}
    assert terms_of("ＧＰＴ４与Ｃｏｑ，和 Schölkopf。") == {"gpt4", "coq", "schölkopf"}
    assert terms_of("单") == set()  # one character: no pair; the box asks for two
    assert terms_of("a b c") == set()  # one letter: not a word worth a posting
    assert normalize("ＡＢＣ１２３ Lilian") == "abc123 lilian"


def test_plain_text_is_what_a_reader_sees(example_issues):
    paper = example_issues["2024-04-28"].papers[0]
    text = plain_text(paper.lead)
    assert text and "](" not in text and "**" not in text and "http" not in text


def test_the_bundled_example_is_indexed_by_year_with_every_paper_findable(example: Path) -> None:
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    public = config.output_dir
    years = index(public)["years"]
    assert [(y["year"], y["issues"]) for y in years] == [("2024", ["2024-09-30", "2024-04-28"])]
    assert sorted(p.name for p in (public / "search/2024").iterdir()) == [
        f"{n}.json" for n in range(years[0]["shards"])
    ]
    assert lookup(public, "定理") == ["2024-09-30"]
    assert lookup(public, "weng") == ["2024-04-28"]  # an author of the instruction-hierarchy paper
    assert set(lookup(public, "模型")) == {"2024-09-30", "2024-04-28"}
    assert lookup(public, "不存在的词") == []
    documents = json.loads((public / "issues/2024-04-28/search.json").read_text("utf-8"))["docs"]
    assert documents[0]["url"] == "issues/2024-04-28/"
    assert [d["url"] for d in documents[1:]] == [
        f"issues/2024-04-28/#paper-{p.name[:-3]}" for p in sorted((example / "issues/2024-04-28").glob("*.md"))
    ]
    page = (public / "issues/2024-04-28/index.html").read_text("utf-8")
    assert all(f'id="{d["url"].split("#")[1]}"' in page for d in documents[1:])  # each link lands on its paper


def test_every_term_of_every_paper_is_in_its_years_shards(example: Path) -> None:
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    public = config.output_dir
    for issue_id in ("2024-09-30", "2024-04-28"):
        docs = json.loads((public / f"issues/{issue_id}/search.json").read_text("utf-8"))["docs"]
        for doc in docs:
            for term in terms_of(f"{doc['title']}\n{doc['meta']}\n{doc['text']}"):
                assert issue_id in lookup(public, term), (issue_id, term)


def test_only_public_issues_are_indexed(example: Path) -> None:
    write(example / "issues/2024-10-07/issue.yaml", 'title: "草稿里的鲲鹏"\ndraft: true\n')
    write(example / "issues/2099-01-05/issue.yaml", 'title: "未来才公开的麒麟"\n')
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    public = config.output_dir
    assert index(public)["years"][0]["issues"] == ["2024-09-30", "2024-04-28"]
    assert lookup(public, "鲲鹏") == [] and lookup(public, "麒麟") == []


def test_one_shard_set_per_year_newest_first(example: Path) -> None:
    write(example / "issues/2023-05-08/issue.yaml", 'title: "二〇二三年的一期：蛋白质"\n')
    write(example / "issues/2022-12-26/issue.yaml", 'title: "二〇二二年的最后一期：琥珀"\n')
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    public = config.output_dir
    assert [y["year"] for y in index(public)["years"]] == ["2024", "2023", "2022"]
    assert lookup(public, "蛋白") == ["2023-05-08"]
    assert lookup(public, "琥珀") == ["2022-12-26"]


def test_an_edit_renders_only_its_year_and_a_build_twice_is_byte_identical(example: Path) -> None:
    write(example / "issues/2023-05-08/issue.yaml", 'title: "二〇二三年的一期"\n')
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    public = config.output_dir
    before = {p: p.read_bytes() for p in (public / "search").rglob("*.json")}
    report = build(config, now=NOW, force=True)
    assert {p: p.read_bytes() for p in (public / "search").rglob("*.json")} == before
    assert not [p for p in report.written if "search" in p.parts]
    write(example / "issues/2023-05-08/issue.yaml", 'title: "二〇二三年的一期：新增的量子纠缠"\n')
    report = build(config, now=NOW)
    changed = {p.relative_to(public).as_posix() for p in report.written if p.parts[-2:-1] != ("issues",)}
    assert any(path.startswith("search/2023/") for path in changed)
    assert not any(path.startswith("search/2024/") for path in changed)  # that year was not rendered again
    assert lookup(public, "纠缠") == ["2023-05-08"]


def test_a_year_without_public_issues_disappears(example: Path) -> None:
    write(example / "issues/2023-05-08/issue.yaml", 'title: "二〇二三年的一期"\n')
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    assert (config.output_dir / "search/2023/0.json").is_file()
    write(example / "issues/2023-05-08/issue.yaml", 'title: "二〇二三年的一期"\ndraft: true\n')
    build(config, now=NOW)
    assert [y["year"] for y in index(config.output_dir)["years"]] == ["2024"]
    assert not (config.output_dir / "search/2023").exists()


def test_the_switch_leaves_the_index_as_it_is(example: Path, monkeypatch) -> None:
    config = load_config(example / "config.yaml")
    monkeypatch.setenv("PUBLISH_BUILD_SEARCH", "0")
    build(config, now=NOW)
    assert not (config.output_dir / "search").exists()
    assert (config.output_dir / "issues/2024-09-30/search.json").is_file()  # ready for the next build
    monkeypatch.setenv("PUBLISH_BUILD_SEARCH", "1")
    build(config, now=NOW)
    kept = index(config.output_dir)
    write(example / "issues/2023-05-08/issue.yaml", 'title: "二〇二三年的一期"\n')
    with search.skipped():
        build(config, now=NOW)
    assert index(config.output_dir) == kept  # neither updated nor removed
    build(config, now=NOW)
    assert [y["year"] for y in index(config.output_dir)["years"]] == ["2024", "2023"]


def test_a_cold_build_replaces_an_old_pagefind_index(example: Path) -> None:
    config = load_config(example / "config.yaml")
    old = config.output_dir / "pagefind"
    write(old / "shards.json", '{"years": ["2024"]}\n')
    write(old / "2024/pagefind.js", "")
    write(config.state_dir / "build/search-shards.json", "{}")
    build(config, now=NOW)
    assert not old.exists() and not (config.state_dir / "build/search-shards.json").exists()
    assert (config.output_dir / "search/index.json").is_file()


def test_a_card_from_before_the_index_renders_its_issue_again(example: Path) -> None:
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    manifest = config.state_dir / "build/manifest.json"
    data = json.loads(manifest.read_text("utf-8"))
    for entry in data["issues"].values():
        del entry["card"]["search_key"]
    manifest.write_text(json.dumps(data), "utf-8")
    report = build(config, now=NOW)
    assert sorted(report.built) == ["2024-04-28", "2024-09-30"]
    assert lookup(config.output_dir, "定理") == ["2024-09-30"]


def test_terms_are_kept_beside_the_manifest_and_read_again_from_the_issue_when_gone(example: Path) -> None:
    write(example / "issues/2023-05-08/issue.yaml", 'title: "二〇二三年的一期：琥珀"\n')
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    terms = config.state_dir / "build/terms"
    assert sorted(p.name for p in terms.iterdir()) == ["2023-05-08.txt", "2024-04-28.txt", "2024-09-30.txt"]
    manifest = (config.state_dir / "build/manifest.json").read_text("utf-8")
    assert "search_terms" not in manifest and manifest.count('"search_key"') == 3  # a digest on each card
    assert (terms / "2024-04-28.txt").read_text("utf-8").split() == sorted(
        lookup_terms(config.output_dir, "2024-04-28")
    )
    (terms / "2023-05-08.txt").unlink()
    write(example / "issues/2024-09-30/issue.yaml", (example / "issues/2024-09-30/issue.yaml").read_text() + "\n")
    (config.output_dir / "search/2023/0.json").unlink()  # the year must be rendered again
    build(config, now=NOW)
    assert lookup(config.output_dir, "琥珀") == ["2023-05-08"]
    assert (terms / "2023-05-08.txt").is_file()
    import shutil

    shutil.rmtree(example / "issues/2023-05-08")
    build(config, now=NOW)
    assert not (terms / "2023-05-08.txt").exists()


def test_a_year_of_common_terms_is_cut_into_shards_by_size() -> None:
    """Every issue of the year has every term (a long list of issues per term): the shards are
    cut by bytes, not by a number of terms, so that a query still loads small files."""
    from types import SimpleNamespace

    from pipeline.render.search import SHARD_BYTES, _year_shards

    terms = " ".join(f"术语{n}" for n in range(2000))
    cards = [SimpleNamespace(id=f"2024-{week:02d}") for week in range(1, 53)]
    ctx = SimpleNamespace(search_terms=lambda issue_id: terms)
    shards = _year_shards("2024", cards, ctx)
    sizes = [len(data) for data in shards.values()]
    assert len(shards) >= 10
    assert max(sizes) < 1.5 * SHARD_BYTES, sizes
    merged = {}
    for data in shards.values():
        merged.update(json.loads(data))
    assert len(merged) == 2000 and all(positions == list(range(52)) for positions in merged.values())
