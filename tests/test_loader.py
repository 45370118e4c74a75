"""The loader accepts FORMAT.md's shape and reports every other input with file, line and message."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from conftest import paper_md, write
from pipeline.config import load_config
from pipeline.errors import UsageError
from pipeline.folders import validate_issue_id
from pipeline.loader import load_issues


def problems_of(root, ids=None):
    result = load_issues(load_config(root / "config.yaml"), ids)
    return result, [p.format(root) for p in result.problems]


def test_bundled_example_loads_cleanly(example_issues):
    assert set(example_issues) == {"2024-04-28", "2024-09-30"}
    palm = example_issues["2024-09-30"].papers[0]
    assert palm.arxiv == "2409.14274"
    assert palm.url == "https://arxiv.org/abs/2409.14274"
    assert palm.pdf == "https://arxiv.org/pdf/2409.14274"
    assert palm.rating == 8
    assert [s.title for s in palm.sections][:2] == ["研究背景", "技术挑战"]
    assert len(example_issues["2024-04-28"].papers) == 5


def test_sections_lead_and_order(newsletter):
    root = newsletter()
    body = "导语 **加粗**。\n\n## 研究背景\n\n背景。\n\n- 一\n- 二\n\n## Method\n\n`code` 与 [链接](https://example.org)\n"
    write(root / "issues/2024-09-30/issue.yaml", "title: 第一期\nsummary: 摘要\n")
    write(root / "issues/2024-09-30/02-b.md", paper_md("B", "2409.00002", body))
    write(root / "issues/2024-09-30/01-a.md", paper_md("A", "2409.00001"))
    result, messages = problems_of(root)
    assert not result.errors, messages
    issue = result.issues[0]
    assert [p.title for p in issue.papers] == ["A", "B"]  # file name order
    b = issue.papers[1]
    assert "导语" in b.lead.source
    assert [s.title for s in b.sections] == ["研究背景", "Method"]
    assert "- 二" in b.sections[0].body.source
    assert b.sections[1].body.line == 17  # file line of the section's first block
    assert issue.publish_at == datetime(2024, 9, 30, 8, 0, tzinfo=timezone(timedelta(hours=8)))


@pytest.mark.parametrize(
    ("files", "expected"),
    [
        ({"issue.yaml": "title: 好\nsummary: [unclosed\n"}, "issue.yaml:2: error: invalid YAML"),
        ({"issue.yaml": "summary: 没有标题\n"}, "issue.yaml: error: required key 'title' is missing"),
        ({"issue.yaml": "title: 好\ncolour: red\n"}, "issue.yaml:2: error: unknown key 'colour'"),
        ({"issue.yaml": "title: 好\ndate: 2024-10-01\n"}, "issue.yaml:2: error: date 2024-10-01 does not match the folder's date 2024-09-30"),
        ({"issue.yaml": "title: 好\ndraft: maybe\n"}, "issue.yaml:2: error: 'draft' must be true or false"),
        ({"issue.yaml": "title: 好\nchannels: [nowhere]\n"}, "'nowhere' is not a channel in config.yaml"),
        ({"issue.yaml": "title: 好\ncover: images/missing.png\n"}, "issue.yaml:2: error: cover: file 'images/missing.png' does not exist"),
        ({"issue.yaml": "title: 好\nsource: not a url\n"}, "issue.yaml:2: error: source: 'not a url' is not an http(s) URL"),
        ({"01-a.md": "no front matter\n"}, "01-a.md:1: error: no front matter"),
        ({"01-a.md": "---\ntitle: A\n"}, "01-a.md:1: error: no front matter"),
        ({"01-a.md": "---\ntitle: A\nauthors: []\nrating: 11\n---\n正文\n"}, "01-a.md:4: error: rating: 11 is outside 0..10"),
        ({"01-a.md": "---\ntitle: A\nauthors: []\nrating: 八\n---\n正文\n"}, "01-a.md:4: error: 'rating' must be a whole number"),
        ({"01-a.md": "---\ntitle: A\nauthors: []\narxiv: '2409.1'\n---\n正文\n"}, "01-a.md:4: error: arxiv: '2409.1' is not an arXiv id"),
        ({"01-a.md": "---\ntitle: A\nauthors: []\nurl: ftp//x\n---\n正文\n"}, "01-a.md:4: error: url: 'ftp//x' is not an http(s) URL"),
        ({"01-a.md": "---\ntitle: A\n---\n正文\n"}, "01-a.md: error: required key 'authors' is missing"),
        ({"01-a.md": "---\ntitle: A\nauthors: []\nabstract: x\n---\n正文\n"}, "01-a.md:4: error: unknown key 'abstract'"),
        ({"01-a.md": "---\ntitle: A\nauthors: []\n  bad: [\n---\n正文\n"}, "01-a.md:4: error: invalid YAML"),
        ({"01-a.md": "---\ntitle: A\nauthors: []\n---\n正文\n\n![图](images/nope.png)\n"}, "01-a.md:7: error: image: file 'images/nope.png' does not exist"),
        ({"01-a.md": "---\ntitle: A\nauthors: []\n---\n![x](../../config.yaml)\n"}, "01-a.md:5: error: image: '../../config.yaml' points outside the issue folder"),
        ({"notes.md": "随手记\n"}, "notes.md: error: paper entries are named NN-slug.md"),
        ({"01-a.md": paper_md("A", "2409.00001"), "02-b.md": paper_md("B", "2409.00001v2")}, "02-b.md:4: error: arXiv 2409.00001 is already in this issue as 01-a.md"),
    ],
)
def test_each_kind_of_bad_input_is_reported_with_file_and_line(newsletter, files, expected):
    root = newsletter()
    files = {"issue.yaml": "title: 好\nsummary: 摘要\n", **files}
    for name, text in files.items():
        write(root / "issues/2024-09-30" / name, text)
    result, messages = problems_of(root)
    assert any(expected in m for m in messages), messages
    assert result.issues == []  # an issue with an error is never half-loaded


def test_all_problems_are_collected_not_only_the_first(newsletter):
    root = newsletter()
    write(root / "issues/2024-09-30/issue.yaml", "title: 好\nbogus: 1\n")
    write(root / "issues/2024-09-30/01-a.md", "---\ntitle: A\nauthors: []\nrating: 12\n---\n")
    write(root / "issues/2024-13-01/issue.yaml", "title: 坏日期\n")
    result, messages = problems_of(root)
    assert len(result.errors) == 3, messages
    assert any("folder name is not an issue id" in m for m in messages)


def test_warnings_do_not_block(newsletter):
    root = newsletter()
    write(root / "issues/2024-09-30/issue.yaml", f"title: {'长' * 40}\n")
    write(root / "issues/2024-09-30/01-a.md", paper_md("A", "2409.00001"))
    write(root / "issues/2024-10-07/issue.yaml", "title: 下一期\nsummary: 有\n")
    write(root / "issues/2024-10-07/01-a.md", paper_md("A again", "2409.00001v3"))
    result, messages = problems_of(root)
    assert not result.errors
    assert len(result.issues) == 2
    text = "\n".join(messages)
    assert "title has 40 characters; WeChat allows 32" in text
    assert "no `summary:`" in text
    assert "arXiv 2409.00001 was already featured in issue 2024-09-30" in text


def test_publish_at_forms(newsletter):
    root = newsletter()
    write(root / "issues/2024-09-30/issue.yaml", "title: 好\npublish_at: 2024-09-30T20:30:00+02:00\n")
    write(root / "issues/2024-10-01/issue.yaml", "title: 好\npublish_at: '2024-10-01 09:15'\n")
    result, messages = problems_of(root)
    assert not result.errors, messages
    first, second = result.issues
    assert first.publish_at.utcoffset() == timedelta(hours=2)
    assert second.publish_at.utcoffset() == timedelta(hours=8)  # site.timezone Asia/Shanghai
    assert (second.publish_at.hour, second.publish_at.minute) == (9, 15)


@pytest.mark.parametrize("bad", ["../../etc", "2024-09-30/..", "2024-9-30", "2024-02-30", "2024-09-30-Special", "2024-09-30 x", ""])
def test_command_line_ids_are_validated(bad):
    with pytest.raises(UsageError):
        validate_issue_id(bad)


def test_valid_ids():
    assert validate_issue_id("2024-09-30") == "2024-09-30"
    assert validate_issue_id("2024-09-30-special-2") == "2024-09-30-special-2"


def test_unknown_id_is_a_usage_error(example_config):
    with pytest.raises(UsageError, match="no issue '2030-01-01'"):
        load_issues(example_config, ["2030-01-01"])


def test_raw_html_and_template_syntax_survive_as_text(newsletter):
    root = newsletter()
    body = "<script>alert(1)</script> {{ 7*7 }} {% if x %}\n"
    write(root / "issues/2024-09-30/issue.yaml", "title: 好\nsummary: s\n")
    write(root / "issues/2024-09-30/01-a.md", paper_md("A <b>", "2409.00001", body))
    result, _ = problems_of(root)
    paper = result.issues[0].papers[0]
    assert paper.title == "A <b>"
    assert "{{ 7*7 }}" in paper.lead.source


def test_images_with_spaces_and_chinese_names_are_found(newsletter):
    root = newsletter()
    write(root / "issues/2024-09-30/issue.yaml", "title: 好\nsummary: s\n")
    (root / "issues/2024-09-30/images").mkdir()
    (root / "issues/2024-09-30/images/图 1.png").write_bytes(b"\x89PNG")
    write(root / "issues/2024-09-30/01-a.md", paper_md("A", "2409.00001", "![图](<images/图 1.png>)\n"))
    result, messages = problems_of(root)
    assert not result.errors, messages
