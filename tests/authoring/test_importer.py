"""`publish import` as functions: the two real digest forms read field by field, the variations
editors produce (GBK, full-width colons, CRLF, no blank lines, missing lines), and an imported
issue that `publish check` accepts."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
import yaml
from conftest import FIXTURES

from pipeline.authoring.importer import (
    dump_yaml,
    entry_text,
    import_digests,
    parse_digest,
    parse_text,
    plan_import,
)
from pipeline.build.check import check_issues
from pipeline.config import load_config
from pipeline.errors import PublishError, UsageError
from pipeline.load.entries import split_front_matter

DIGESTS = FIXTURES / "digests"
LABELLED = DIGESTS / "000_0e0d571ba94d2e04.txt"
AMINER = DIGESTS / "001_8526f1db2b6605ae.txt"
GBK = DIGESTS / "labelled-gbk-crlf.txt"
AMINER_CRLF = DIGESTS / "aminer-bom-crlf.txt"
NO_DATE = DIGESTS / "no-date.txt"


def line_of(path: Path, text: str, encoding: str = "utf-8-sig") -> int:
    """The number of the first line of ``path`` that starts with ``text``."""
    lines = path.read_bytes().decode(encoding).splitlines()
    return next(n for n, line in enumerate(lines, 1) if line.startswith(text))


def front_and_body(text: str) -> tuple[dict, str]:
    front, body, _ = split_front_matter(text)
    return yaml.safe_load(front), body


def section_names(body: str) -> list[str]:
    return [line[3:] for line in body.splitlines() if line.startswith("## ")]


def test_the_labelled_seed_gives_each_paper_as_its_text_says():
    digest = parse_digest(LABELLED)
    assert (digest.form, digest.encoding, len(digest.papers)) == ("labelled", "UTF-8", 3)
    first, second, third = digest.papers
    assert first.title == "Proof Automation with Large Language Models"
    assert first.authors == ["M Lu", "B Delaware", "T Zhang"]
    assert (first.venue, first.year, first.arxiv) == ("arXiv preprint arXiv:2409.14274", 2024, "2409.14274")
    assert first.title_translated == "使用大语言模型做自动化证明"
    assert (first.pdf, first.rating) == (None, None)
    assert [p.label for p in first.parts] == ["概览", "论文研究背景", "技术挑战", "如何破局", "技术应用"]

    assert second.title == "Investigating Layer Importance in Large Language Models"
    assert second.authors == ["Y Zhang", "Y Dong", "K Kawaguchi"]
    assert (second.arxiv, second.year, second.rating) == ("2409.14381", 2024, 8)
    assert second.pdf == "https://arxiv.org/pdf/2409.14381"
    assert second.title_translated == "探究大型语言模型中各层的重要性"
    assert [p.label for p in second.parts] == [
        "摘要",
        "研究背景",
        "问题与挑战",
        "如何解决",
        "创新点",
        "算法模型",
        "实验效果",
        "推荐理由",
    ]

    assert third.title == "The Impact of Large Language Models in Academia: from Writing to Speaking"
    assert third.authors == ["M Geng", "C Chen", "Y Wu", "D Chen", "Y Wan", "P Zhou"]
    assert (third.arxiv, third.pdf) == ("2409.13686", "https://arxiv.org/pdf/2409.13686")
    assert third.title_translated == "大型语言模型在学术界的影响:从写作到演讲"  # from its 文章标题翻译: label
    assert [p.label for p in third.parts] == [
        "摘要",
        "研究背景",
        "问题与挑战",
        "如何解决",
        "创新点",
        "算法模型",
        "实验效果",
    ]
    assert digest.warnings == []


def test_the_labelled_seed_keeps_lists_and_takes_its_last_line_as_the_source():
    digest = parse_digest(LABELLED)
    assert digest.day == date(2024, 9, 30)
    assert digest.title == "计算机前沿技术-人工智能算法-大语言模型-最新研究进展-2024-09-30(下)"
    assert digest.source == "https://developer.aliyun.com/article/1628922"
    _, body = front_and_body(entry_text(digest.papers[1]))
    assert "## 创新点\n\n- 提出了一种基于LLM层的接近度的高效抽样方法来估计层的Shapley值。\n- 通过层" in body
    last = digest.papers[2].parts[-1]
    assert "aliyun" not in str(last.blocks) and len(last.blocks) == 4  # the page's footer is not paper text


def test_the_aminer_seed_gives_titles_date_intro_and_the_lines_left_out():
    digest = parse_digest(AMINER)
    assert (digest.form, len(digest.papers)) == ("aminer", 5)
    assert digest.title == "AI的自我进化框架:大型语言模型如何不断提升智能水平?"
    assert digest.day == date(2024, 4, 28)
    assert [p.title for p in digest.papers] == [
        "SnapKV: LLM Knows What You are Looking for Before Generation",
        "NExT: Teaching Large Language Models to Reason about Code Execution",
        "Rethinking LLM Memorization through the Lens of Adversarial Compression",
        "A Survey on Self-Evolution of Large Language Models",
        "The Instruction Hierarchy: Training LLMs to Prioritize Privileged Instructions",
    ]
    assert all(p.authors == [] and p.parts == [] and len(p.lead.blocks) == 1 for p in digest.papers)
    assert digest.papers[0].lead.blocks[0][1].startswith("论文介绍了大型语言模型(LLM)在处理大量上下文时")
    assert len(digest.intro) == 4 and digest.intro[-1].startswith("本周精选了5篇LLM领域的优秀论文")
    assert [(w.line, w.severity) for w in digest.warnings] == [(1, "warning"), (39, "warning"), (40, "warning")]
    assert "所有文章 > 正文" in digest.warnings[0].message and "二维码" in digest.warnings[1].message


def test_a_gbk_file_with_crlf_and_full_width_colons(tmp_path):
    digest = parse_digest(GBK)
    assert (digest.encoding, digest.title, digest.day) == ("GBK", "论文速递 · 形式化方法专题", date(2024, 10, 8))
    assert digest.intro == ["本期两篇论文都与证明有关。"]
    first, second = digest.papers
    assert first.title == "Lean Copilot: Large Language Models as Copilots for Theorem Proving in Lean"
    assert first.title_translated == "Lean Copilot：在 Lean 中让大语言模型当定理证明副驾驶"
    assert (first.authors, first.arxiv, first.year) == (["P Song", "K Yang", "A Anandkumar"], "2404.12534", 2024)
    assert (first.pdf, first.rating, first.tags) == ("https://arxiv.org/pdf/2404.12534v2", 7, ["形式化验证", "大模型"])
    assert [p.label for p in first.parts] == ["论文研究背景", "创新点", "推荐理由"]
    assert first.lead.blocks == [("p", "这篇论文把大模型接进了 Lean 的交互环境。")]
    assert (second.authors, second.rating, second.title_translated) == ([], 9, "面向 SMT 辅助的面向证明编程的神经合成")
    [warning] = digest.warnings
    assert warning.line == line_of(GBK, "2. Towards", "gbk") == 34
    assert "paper 2 has no citation line" in warning.message
    assert warning.format().startswith(f"{GBK}:34: warning: ")


def test_a_title_with_a_colon_is_quoted_and_reads_back_as_written():
    first = parse_digest(GBK).papers[0]
    text = entry_text(first)
    assert "title: 'Lean Copilot: Large Language Models as Copilots for Theorem Proving in Lean'" in text
    front, body = front_and_body(text)
    assert front["title"] == first.title and front["arxiv"] == "2404.12534" and front["year"] == 2024
    assert front["rating"] == 7 and isinstance(front["rating"], int)
    assert section_names(body) == ["论文研究背景", "创新点", "推荐理由"]
    assert "- 在 Lean 内部直接调用模型，给出下一步策略建议；\n- 支持本地运行" in body


@pytest.mark.parametrize(
    "value",
    ["a: b", "- x", "#1 tip", "'quoted'", '"double"', "yes", "2409.14274", "null", "{x}", "[x]", "a # b", "@at", "% p"],
)
def test_any_value_round_trips_through_the_yaml_emitter(value):
    data = {"title": value, "authors": [value], "intro": f"{value}\n\n{value}\n"}
    assert yaml.safe_load(dump_yaml(data)) == data


def test_an_aminer_file_with_bom_crlf_and_no_blank_lines():
    digest = parse_digest(AMINER_CRLF)
    assert (digest.form, digest.encoding, digest.title, digest.day) == (
        "aminer",
        "UTF-8",
        "大模型推理加速论文精选",
        date(2024, 5, 6),
    )
    first, second, third = digest.papers
    assert first.title == "Fast Inference from Transformers via Speculative Decoding"  # half-width `链接:`
    assert second.title == "这篇论文研究了长上下文的检索。"  # a stand-in, with a warning
    assert len(second.lead.blocks) == 2
    assert third.title == "KIVI: A Tuning-Free Asymmetric 2bit Quantization for KV Cache"
    assert (third.arxiv, third.url) == ("2402.02750", "https://arxiv.org/abs/2402.02750")
    lines = [(w.line, w.message.split(";")[0]) for w in digest.warnings]
    assert lines == [
        (1, "page navigation '首页 > 论文速递' is not part of the digest"),
        (8, "paper 2 has no `链接：<title>` line: its title is unknown"),
        (13, "line not understood (after paper 3)"),
    ]


def test_a_numbered_list_in_a_section_is_not_a_new_paper():
    text = (
        "1. First Paper Title\nA Author, B Author - arXiv preprint arXiv:2401.00001, 2024\n"
        "创新点：\n1. 第一点\n2. 第二点\n3. 第三点\n"
        "2. Second Paper Title\nC Author - arXiv preprint arXiv:2401.00002, 2024\n概览：\n内容。\n"
    )
    digest = parse_text(text, Path("d.txt"))
    assert [p.title for p in digest.papers] == ["First Paper Title", "Second Paper Title"]
    assert [b for _, b in digest.papers[0].parts[0].blocks] == ["1. 第一点", "2. 第二点", "3. 第三点"]


def test_a_label_with_nothing_under_it_makes_no_empty_section():
    text = "1. A Title\nA Author - Some Venue, 2023\n概览：\n技术挑战：\n挑战在此。\n推荐阅读指数：很高\n"
    digest = parse_text(text, Path("d.txt"))
    paper = digest.papers[0]
    assert [p.label for p in paper.parts] == ["技术挑战"]
    assert (paper.venue, paper.year, paper.rating) == ("Some Venue", 2023, None)
    assert [(w.line, w.message.split(" ")[0]) for w in digest.warnings] == [(6, "'很高'"), (3, "label")]


def test_both_seeds_import_into_a_fresh_newsletter_and_pass_check(newsletter):
    root = newsletter()
    config = load_config(root / "config.yaml")
    first = import_digests(config, [LABELLED])
    second = import_digests(config, [AMINER])
    third = import_digests(config, [GBK, AMINER_CRLF], "2024-10-08")
    assert (first.issue_id, second.issue_id, third.issue_id) == ("2024-09-30", "2024-04-28", "2024-10-08")
    assert sorted(p.name for p in (root / "issues" / "2024-09-30").iterdir()) == [
        "01-proof-automation-large-language-models.md",
        "02-investigating-layer-importance-large.md",
        "03-impact-large-language-models-academia.md",
        "issue.yaml",
    ]
    assert len(list((root / "issues" / "2024-10-08").glob("*.md"))) == 5
    report = check_issues(config)
    assert [p.format() for p in report.errors] == []
    assert {i.id: len(i.papers) for i in report.issues} == {"2024-04-28": 5, "2024-09-30": 3, "2024-10-08": 5}
    issue = next(i for i in report.issues if i.id == "2024-09-30")
    assert issue.source == "https://developer.aliyun.com/article/1628922" and issue.draft
    paper = issue.papers[1]
    assert (paper.arxiv, paper.rating, paper.year, paper.authors) == (
        "2409.14381",
        8,
        2024,
        ("Y Zhang", "Y Dong", "K Kawaguchi"),
    )
    assert [s.title for s in issue.papers[0].sections] == ["概览", "论文研究背景", "技术挑战", "如何破局", "技术应用"]
    aminer = next(i for i in report.issues if i.id == "2024-04-28")
    assert aminer.title == "AI的自我进化框架:大型语言模型如何不断提升智能水平?" and aminer.intro is not None


def test_an_existing_issue_folder_is_refused_and_nothing_is_written(newsletter):
    root = newsletter()
    config = load_config(root / "config.yaml")
    folder = root / "issues" / "2024-09-30"
    folder.mkdir()
    with pytest.raises(PublishError, match="2024-09-30 already exists") as caught:
        import_digests(config, [LABELLED])
    assert "--issue 2024-09-30-SLUG" in caught.value.hint
    assert list(folder.iterdir()) == []
    assert sorted(p.name for p in (root / "issues").iterdir()) == ["2024-09-30"]  # no staging folder left


def test_a_dry_run_plans_every_file_and_writes_none(newsletter):
    root = newsletter()
    config = load_config(root / "config.yaml")
    plan = import_digests(config, [AMINER], dry_run=True)
    assert [p.name for p in plan.files][:2] == ["issue.yaml", "01-snapkv-llm-knows-what-you-looking-before.md"]
    assert len(plan.files) == 6
    assert list((root / "issues").iterdir()) == []


def test_without_a_date_the_issue_must_be_given(newsletter):
    config = load_config(newsletter() / "config.yaml")
    with pytest.raises(UsageError, match="no date found") as caught:
        plan_import(config, [NO_DATE])
    assert caught.value.hint == "pass --issue YYYY-MM-DD"
    plan = plan_import(config, [NO_DATE], "2024-11-11")
    issue_yaml = yaml.safe_load(plan.files[plan.folder / "issue.yaml"])
    assert issue_yaml == {"title": "测试论文速递 · 2024-11-11", "draft": True}
    with pytest.raises(UsageError, match="not an issue id"):
        plan_import(config, [NO_DATE], "2024/11/11")


def test_a_file_that_is_neither_utf8_nor_gbk_is_refused_with_its_line(newsletter, tmp_path):
    config = load_config(newsletter() / "config.yaml")
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"1. Title\n\xff\xff\xff\n")
    with pytest.raises(PublishError, match=r"bad.txt:2: neither UTF-8 nor GBK") as caught:
        plan_import(config, [bad])
    assert "save the file as UTF-8" in caught.value.hint


def test_a_file_without_papers_is_refused(newsletter, tmp_path):
    config = load_config(newsletter() / "config.yaml")
    empty = tmp_path / "empty.txt"
    empty.write_text("只是一段话。\n", encoding="utf-8")
    with pytest.raises(PublishError, match="no papers found"):
        plan_import(config, [empty], "2024-11-11")


def test_the_same_arxiv_paper_twice_is_imported_once(newsletter):
    config = load_config(newsletter() / "config.yaml")
    plan = plan_import(config, [LABELLED, LABELLED])
    assert len(plan.entries) == 3
    starts = [line_of(LABELLED, f"{n}. ") for n in (1, 2, 3)]
    assert [w.line for w in plan.warnings] == starts == [1, 14, 41]
    assert all(w.path == LABELLED and "again" in w.message for w in plan.warnings)
