"""The loader accepts FORMAT.md's shape and reports every other input with file, line and message."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from conftest import paper_md, write

from pipeline.config import load_config
from pipeline.errors import UsageError
from pipeline.load.folders import validate_issue_id
from pipeline.load.issues import load_issues


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
    body = (
        "导语 **加粗**。\n\n## 研究背景\n\n背景。\n\n- 一\n- 二\n\n## Method\n\n`code` 与 [链接](https://example.org)\n"
    )
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
        (
            {"issue.yaml": "title: 好\ndate: 2024-10-01\n"},
            "issue.yaml:2: error: date 2024-10-01 does not match the folder's date 2024-09-30",
        ),
        (
            {"issue.yaml": "title: 好\ndraft: maybe\n"},
            "issue.yaml:2: error: draft: maybe is not true or false: write draft: true or draft: false",
        ),
        ({"issue.yaml": "title: 好\nchannels: [nowhere]\n"}, "'nowhere' is not a channel in config.yaml"),
        (
            {"issue.yaml": "title: 好\ncover: images/missing.png\n"},
            "issue.yaml:2: error: cover: file 'images/missing.png' does not exist",
        ),
        (
            {"issue.yaml": "title: 好\nsource: not a url\n"},
            "issue.yaml:2: error: source: 'not a url' is not an http(s) URL",
        ),
        ({"01-a.md": "no front matter\n"}, "01-a.md:1: error: no front matter"),
        (
            {"01-a.md": "---\ntitle: A\n"},
            "01-a.md:1: error: the front matter opened here is never closed: add a `---` line after the last key",
        ),
        (
            {"01-a.md": "---\ntitle: A\nauthors: []\nrating: 11\n---\n正文\n"},
            "01-a.md:4: error: rating: 11 is outside 0..10",
        ),
        (
            {"01-a.md": "---\ntitle: A\nauthors: []\nrating: 八\n---\n正文\n"},
            "01-a.md:4: error: rating: 八 is not written in digits: write rating: 8",
        ),
        (
            {"01-a.md": "---\ntitle: A\nauthors: []\narxiv: '2409.1'\n---\n正文\n"},
            "01-a.md:4: error: arxiv: '2409.1' is not an arXiv id",
        ),
        (
            {"01-a.md": "---\ntitle: A\nauthors: []\nurl: ftp//x\n---\n正文\n"},
            "01-a.md:4: error: url: 'ftp//x' is not an http(s) URL",
        ),
        (
            {"01-a.md": "---\ntitle: A\n---\n正文\n"},
            "01-a.md: error: required key 'authors' is missing: add a line `authors: [张三, 李四]` (or `authors: []` when the paper names none)",
        ),
        (
            {"01-a.md": "---\ntitle: A\nauthors: []\nabstract: x\n---\n正文\n"},
            "01-a.md:4: error: unknown key 'abstract'",
        ),
        ({"01-a.md": "---\ntitle: A\nauthors: []\n  bad: [\n---\n正文\n"}, "01-a.md:4: error: invalid YAML"),
        (
            {"01-a.md": "---\ntitle: A\nauthors: []\n---\n正文\n\n![图](images/nope.png)\n"},
            "01-a.md:7: error: image: file 'images/nope.png' does not exist",
        ),
        (
            {"01-a.md": "---\ntitle: A\nauthors: []\n---\n![x](../../config.yaml)\n"},
            "01-a.md:5: error: image: '../../config.yaml' points outside the issue folder",
        ),
        ({"notes.md": "随手记\n"}, "notes.md: error: paper entries are named NN-slug.md"),
        (
            {"01-a.md": paper_md("A", "2409.00001"), "02-b.md": paper_md("B", "2409.00001v2")},
            "02-b.md:4: error: arXiv 2409.00001 is already in this issue as 01-a.md",
        ),
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


@pytest.mark.parametrize(
    "bad", ["../../etc", "2024-09-30/..", "2024-9-30", "2024-02-30", "2024-09-30-Special", "2024-09-30 x", ""]
)
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


# one run shows every problem -------------------------------------------------------------------

KNOWN_PAPER_KEYS = "title, title_translated, authors, venue, year, arxiv, url, pdf, rating, tags"
KNOWN_ISSUE_KEYS = "title, date, publish_at, summary, intro, outro, cover, tags, channels, draft, source"


def lines_of(root, ids=None, severity=None):
    """Every problem as and in the order `publish check` prints it (errors first, by file and
    line), optionally only errors or warnings."""
    result = load_issues(load_config(root / "config.yaml"), ids)
    problems = sorted(result.problems, key=lambda p: (p.is_error is False, str(p.path), p.line or 0))
    return [p.format(root) for p in problems if severity is None or p.severity == severity]


def test_a_type_error_does_not_hide_the_other_problems_of_an_entry(newsletter):
    root = newsletter()
    write(root / "issues/2024-09-30/issue.yaml", "title: 第一期\nsummary: 三篇论文。\n")
    write(
        root / "issues/2024-09-30/01-a.md",
        "---\ntitle: 证明自动化\nauthors: [张三]\nyear: 二〇二四\n评分: 9\nrating: 11\n---\n导语。\n\n![示意图](images/图1.png)\n",
    )
    assert lines_of(root) == [
        "issues/2024-09-30/01-a.md:4: error: year: 二〇二四 is not written in digits: write year: 2024",
        f"issues/2024-09-30/01-a.md:5: error: unknown key '评分': did you mean 'rating'? (known keys: {KNOWN_PAPER_KEYS})",
        "issues/2024-09-30/01-a.md:6: error: rating: 11 is outside 0..10: give a score from 0 to 10",
        "issues/2024-09-30/01-a.md:10: error: image: file 'images/图1.png' does not exist in 2024-09-30/",
    ]


def test_an_unknown_key_does_not_hide_the_date_mismatch(newsletter):
    root = newsletter()
    write(root / "issues/2024-09-30/issue.yaml", "title: 第一期\ncolour: 红\ndate: 2024-10-01\nsummary: 三篇论文。\n")
    write(root / "issues/2024-09-30/01-a.md", paper_md("A", "2409.00001"))
    result, messages = problems_of(root)
    assert messages == [
        f"issues/2024-09-30/issue.yaml:2: error: unknown key 'colour': delete it or rename it to one of the known keys: {KNOWN_ISSUE_KEYS}",
        "issues/2024-09-30/issue.yaml:3: error: date 2024-10-01 does not match the folder's date 2024-09-30: rename the folder or fix the date",
    ]
    assert result.issues == []


def test_the_same_paper_twice_is_found_while_the_entries_have_other_errors(newsletter):
    root = newsletter()
    write(root / "issues/2024-09-30/issue.yaml", "title: 第一期\nsummary: 两篇论文。\n")
    write(root / "issues/2024-09-30/01-a.md", paper_md("A", "2409.00001", rating="十"))
    write(root / "issues/2024-09-30/02-b.md", paper_md("B", "2409.00001v2", year="明年"))
    write(root / "issues/2024-09-30/03-c.md", paper_md("C", "24.1"))  # a broken id is not compared
    assert lines_of(root) == [
        "issues/2024-09-30/01-a.md:5: error: rating: 十 is not written in digits: write rating: 10",
        "issues/2024-09-30/02-b.md:4: error: arXiv 2409.00001 is already in this issue as 01-a.md",
        "issues/2024-09-30/02-b.md:5: error: year: 明年 is not a number: write it in digits, e.g. year: 2024",
        "issues/2024-09-30/03-c.md:4: error: arxiv: '24.1' is not an arXiv id like 2409.14274 or 2409.14274v2: copy the id from the paper's arxiv.org address",
    ]


def test_a_broken_front_matter_does_not_hide_the_body(newsletter):
    root = newsletter()
    write(root / "issues/2024-09-30/issue.yaml", "title: 第一期\nsummary: 一篇论文。\n")
    write(root / "issues/2024-09-30/01-a.md", "---\ntitle: [未闭合\n---\n## 方法\n\n![图](images/无.png)\n")
    assert lines_of(root) == [
        "issues/2024-09-30/01-a.md:2: error: invalid YAML: did not find expected ',' or ']' (while parsing a flow sequence)",
        "issues/2024-09-30/01-a.md:6: error: image: file 'images/无.png' does not exist in 2024-09-30/",
    ]


def test_image_lines_in_later_sections_are_the_file_lines(newsletter):
    root = newsletter()
    write(root / "issues/2024-09-30/issue.yaml", "title: 第一期\nsummary: 一篇论文。\n")
    body = "导语。\n\n## 背景\n\n一段。\n\n![甲](images/a.png)\n\n## 方法\n\n二段。\n\n![乙](images/b.png)\n"
    write(root / "issues/2024-09-30/01-a.md", paper_md("A", "2409.00001", body))
    assert lines_of(root) == [
        "issues/2024-09-30/01-a.md:12: error: image: file 'images/a.png' does not exist in 2024-09-30/",
        "issues/2024-09-30/01-a.md:18: error: image: file 'images/b.png' does not exist in 2024-09-30/",
    ]


# titles and one-line fields ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        (
            'title: ""\n',
            "issues/2024-09-30/issue.yaml:1: error: 'title' must not be empty: write the issue's title (the page title and the email subject), e.g. `title: 论文速递 · 第 12 期`",
        ),
        (
            "title: '   '\n",
            "issues/2024-09-30/issue.yaml:1: error: 'title' must not be empty: write the issue's title (the page title and the email subject), e.g. `title: 论文速递 · 第 12 期`",
        ),
        (
            "title:\n",
            "issues/2024-09-30/issue.yaml:1: error: 'title' must not be empty: write the issue's title (the page title and the email subject), e.g. `title: 论文速递 · 第 12 期`",
        ),
        (
            'title: "换行标题\\r\\nBcc: evil@example.org"\n',
            "issues/2024-09-30/issue.yaml:1: error: title: '换行标题\\r\\nBcc: evil@example.org' has a line break (U+000D); this must be one line: join the lines",
        ),
        (
            'title: "第一期\\u2028第二行"\n',
            "issues/2024-09-30/issue.yaml:1: error: title: '第一期\\u2028第二行' has a line break (U+2028); this must be one line: join the lines",
        ),
        (
            'title: "第一期\\a"\n',
            "issues/2024-09-30/issue.yaml:1: error: title: '第一期\\x07' has an invisible control character (U+0007); delete it",
        ),
        (
            'title: 第一期\ntags: ["大模型\\t对齐"]\n',
            "issues/2024-09-30/issue.yaml:2: error: tags: '大模型\\t对齐' has a tab (U+0009); use a space instead",
        ),
        (
            'title: 第一期\nsummary: "摘要\\e[31m"\n',
            "issues/2024-09-30/issue.yaml:2: error: summary: '摘要\\x1b[31m' has an invisible control character (U+001B); delete it",
        ),
        (
            'title: "第42期 \\u202e反转标题"\n',
            "issues/2024-09-30/issue.yaml:1: error: title: '第42期 \\u202e反转标题' has an invisible character that turns the text after it around (U+202E) and does not turn it back; delete it",
        ),
        (
            'title: 第一期\ntags: ["\\u2067gnp.exe"]\n',
            "issues/2024-09-30/issue.yaml:2: error: tags: '\\u2067gnp.exe' has an invisible character that turns the text after it around (U+2067) and does not turn it back; delete it",
        ),
        (
            "title: 第一期\ntags: [" + "长" * 61 + "]\n",
            "issues/2024-09-30/issue.yaml:2: error: tags: '"
            + "长" * 20
            + "…' is 61 characters long, and a tag is a label of at most 60: shorten it (a sentence belongs in the summary)",
        ),
    ],
)
def test_issue_titles_must_be_one_non_empty_line(newsletter, yaml_text, expected):
    root = newsletter()
    write(root / "issues/2024-09-30/issue.yaml", yaml_text)
    write(root / "issues/2024-09-30/01-a.md", paper_md("A", "2409.00001"))
    result, messages = problems_of(root)
    assert [m for m in messages if ": error: " in m] == [expected]
    assert result.issues == []


@pytest.mark.parametrize(
    ("key_line_text", "expected"),
    [
        (
            'title: ""',
            "01-a.md:2: error: 'title' must not be empty: write the paper's title as published, e.g. `title: \"Attention Is All You Need\"`",
        ),
        (
            'title: "Proof\\nAutomation"',
            "01-a.md:2: error: title: 'Proof\\nAutomation' has a line break (U+000A); this must be one line: join the lines",
        ),
        (
            'title: A\ntitle_translated: "证明\\r自动化"',
            "01-a.md:3: error: title_translated: '证明\\r自动化' has a line break (U+000D); this must be one line: join the lines",
        ),
        (
            'title: A\nvenue: "arXiv\\x00"',
            "01-a.md:3: error: venue: 'arXiv\\x00' has an invisible control character (U+0000); delete it",
        ),
        (
            'title: A\nauthors: ["张三", "李四\\nBcc: x@example.org"]',
            "01-a.md:3: error: authors: '李四\\nBcc: x@example.org' has a line break (U+000A); this must be one line: join the lines",
        ),
        (
            'title: A\ntags: ["形式化\\u0085验证"]',
            "01-a.md:3: error: tags: '形式化\\x85验证' has a line break (U+0085); this must be one line: join the lines",
        ),
    ],
)
def test_paper_one_line_fields(newsletter, key_line_text, expected):
    root = newsletter()
    write(root / "issues/2024-09-30/issue.yaml", "title: 第一期\nsummary: 一篇论文。\n")
    authors = "" if "authors:" in key_line_text else "\nauthors: [张三]"
    write(root / "issues/2024-09-30/01-a.md", f"---\n{key_line_text}{authors}\n---\n正文。\n")
    assert lines_of(root, severity="error") == [f"issues/2024-09-30/{expected}"]


def test_block_scalars_and_multi_line_texts_are_fine(newsletter):
    root = newsletter()
    summary = "summary: |\n  第一句。\n  第二句。\nintro: |\n  导语\tA\n\n  第二段。\n"
    write(root / "issues/2024-09-30/issue.yaml", "title: |\n  第一期\n" + summary)
    write(root / "issues/2024-09-30/01-a.md", "---\ntitle: >\n  Proof\nauthors:\n---\n正文。\n")
    result, messages = problems_of(root)
    assert messages == []
    assert result.issues[0].title == "第一期" and result.issues[0].summary == "第一句。\n第二句。"
    assert result.issues[0].papers[0].title == "Proof" and result.issues[0].papers[0].authors == ()


# messages that said the wrong thing ------------------------------------------------------------


def test_no_entries_warning_only_when_there_are_none(newsletter):
    root = newsletter()
    write(root / "issues/2024-09-30/issue.yaml", "title: 第一期\nsummary: 两篇论文。\n")
    write(root / "issues/2024-09-30/01-a.md", "---\ntitle: A\n")
    write(root / "issues/2024-09-30/02-b.md", "---\ntitle: B\nauthors: [张三]\nrating: 20\n---\n正文。\n")
    write(root / "issues/2024-10-07/issue.yaml", "title: 第二期\nsummary: 还没有论文。\n")
    assert lines_of(root) == [
        "issues/2024-09-30/01-a.md:1: error: the front matter opened here is never closed: add a `---` line after the last key (title, authors, …)",
        "issues/2024-09-30/02-b.md:4: error: rating: 20 is outside 0..10: give a score from 0 to 10",
        "issues/2024-10-07: warning: issue has no paper entries (NN-slug.md files)",
    ]


def test_duplicate_keys_are_errors_at_the_second_key(newsletter):
    root = newsletter()
    write(
        root / "issues/2024-09-30/issue.yaml", "title: 第一期\nsummary: 一篇论文。\ntitle: 第一期（修订）\ncolour: 红\n"
    )
    write(root / "issues/2024-09-30/01-a.md", "---\ntitle: A\nauthors: [张三]\nrating: 8\nrating: 11\n---\n正文。\n")
    assert (
        lines_of(root)
        == [
            "issues/2024-09-30/01-a.md:5: error: key 'rating' is given twice (first at line 4); YAML would silently keep only this later value: delete one of them",
            "issues/2024-09-30/01-a.md:5: error: rating: 11 is outside 0..10: give a score from 0 to 10",  # the value YAML keeps, at its line
            "issues/2024-09-30/issue.yaml:3: error: key 'title' is given twice (first at line 1); YAML would silently keep only this later value: delete one of them",
            f"issues/2024-09-30/issue.yaml:4: error: unknown key 'colour': delete it or rename it to one of the known keys: {KNOWN_ISSUE_KEYS}",
        ]
    )


def test_duplicate_keys_in_config_yaml_are_a_config_error(newsletter):
    from pipeline.errors import ConfigError

    root = newsletter()
    (root / "config.yaml").write_text(
        "site:\n  title: 测试\n  url: https://a.example.org/\n  title: 又一个\n", encoding="utf-8"
    )
    with pytest.raises(ConfigError, match=r"config\.yaml:4: key 'title' is given twice \(first at line 2\)"):
        load_config(root / "config.yaml")


def test_yaml_merge_keys_and_flow_mappings(newsletter):
    from pipeline.yamlio import DuplicateKey, YamlSyntaxError, parse_yaml

    shared = "a: &base {x: 1, y: 2}\nb:\n  <<: *base\n  x: 3\n"
    assert parse_yaml(shared, shared=True) == {  # config.yaml may share a block
        "a": {"x": 1, "y": 2},
        "b": {"x": 3, "y": 2},
    }
    with pytest.raises(YamlSyntaxError) as refused:  # an issue file may not: aliases are how YAML bombs work
        parse_yaml(shared)
    assert "not supported" in refused.value.message
    repeats: list[DuplicateKey] = []
    assert parse_yaml("标签: {甲: 1, 甲: 2}\n", 5, repeats) == {"标签": {"甲": 2}}
    assert repeats == [DuplicateKey("甲", 5, 5)]


# what `publish init` / `new` / `add` leave for the editor ----------------------------------------


def test_scaffold_example_text_is_read_from_the_scaffold():
    from pipeline.authoring import scaffold
    from pipeline.load.text import scaffold_text

    examples = scaffold_text()
    assert (
        examples.issue["summary"].startswith("用一两句话概括本期内容")
        and examples.issue["summary"] in scaffold.ISSUE_TEMPLATE
    )
    assert examples.issue["intro"] == "本期导语：为什么选了这几篇论文。"
    assert {"方法要点一", "方法要点二", "为什么值得读。"} <= examples.entry
    assert "研究背景" not in examples.entry  # headings are the real section names


def test_a_fresh_scaffold_is_not_a_repeat_and_shows_its_example_text(tmp_path):
    from datetime import date

    from pipeline.authoring.scaffold import init_newsletter, new_issue

    root = tmp_path / "nly"
    init_newsletter(root, today=date(2024, 9, 30))
    new_issue(load_config(root / "config.yaml"), "2024-10-07")
    example = "example text from `publish new` is still here: '一两句话的导语：这篇论文做了什么。' and 6 more; write the digest in its place"
    expected = [
        f"issues/2024-09-30/01-example.md:11: warning: {example}",
        "issues/2024-09-30/issue.yaml:2: warning: summary is still the example text from `publish new`: write one or two sentences about this issue",
        "issues/2024-09-30/issue.yaml:3: warning: intro is still the example text from `publish new`: say why these papers, or delete the intro",
        f"issues/2024-10-07/01-example.md:11: warning: {example}",
        "issues/2024-10-07/issue.yaml:2: warning: summary is still the example text from `publish new`: write one or two sentences about this issue",
        "issues/2024-10-07/issue.yaml:3: warning: intro is still the example text from `publish new`: say why these papers, or delete the intro",
    ]
    assert lines_of(root) == expected  # both are drafts: neither features 1706.03762 yet
    first = root / "issues/2024-09-30/issue.yaml"
    first.write_text(first.read_text("utf-8").replace("draft: true", "draft: false"), encoding="utf-8")
    assert lines_of(root) == expected[:3] + [
        "issues/2024-10-07/01-example.md:7: warning: arXiv 1706.03762 was already featured in issue 2024-09-30",
        *expected[3:],
    ]


def test_sections_left_empty_as_publish_add_writes_them(newsletter):
    from pipeline.authoring.add import entry_text
    from pipeline.authoring.arxiv import ArxivPaper

    root = newsletter()
    write(root / "issues/2024-09-30/issue.yaml", "title: 第一期\nsummary: 一篇论文。\n")
    paper = ArxivPaper(
        id="2409.14274v1",
        title="Proof Automation with Large Language Models",
        authors=("Minghai Lu", "Tianyi Zhang"),
        summary="Interactive theorem provers such as Coq are powerful.",
        published="2024-09-22T00:00:00Z",
        primary_category="cs.SE",
    )
    (root / "issues/2024-09-30/01-proof.md").write_text(entry_text(paper, "2409.14274"), encoding="utf-8")
    # rating: null and title_translated: '' are fine (both optional in FORMAT.md)
    assert lines_of(root) == [
        "issues/2024-09-30/01-proof.md:22: warning: empty sections ## 研究背景 (line 22), ## 问题与挑战 (line 24), ## 如何解决 (line 26), "
        "## 实验效果 (line 28), ## 推荐理由 (line 30): write them or delete the headings",
    ]


def test_one_empty_section_and_an_edited_example_line(newsletter):
    root = newsletter()
    write(
        root / "issues/2024-09-30/issue.yaml",
        "title: 第一期\nsummary: 用一两句话概括本期内容。\nintro: 本期导语：为什么选了这几篇论文？\n",
    )
    body = "导语。\n\n## 研究背景\n\n## 如何解决\n\n- 方法要点一：用大模型写证明\n- 方法要点二\n"
    write(root / "issues/2024-09-30/01-a.md", paper_md("A", "2409.00001", body))
    assert lines_of(root) == [  # edited text (and an edited summary or intro) is no longer the example
        "issues/2024-09-30/01-a.md:8: warning: empty section ## 研究背景 (line 8): write it or delete the heading",
        "issues/2024-09-30/01-a.md:13: warning: example text from `publish new` is still here: '方法要点二'; write the digest in its place",
    ]


def test_featured_papers_leave_drafts_out(newsletter):
    from pipeline.load.folders import featured_papers, folder_papers

    root = newsletter()
    write(root / "issues/2024-09-30/issue.yaml", "title: 第一期\nsummary: 一篇。\ndraft: true   # 还在写\n")
    write(root / "issues/2024-09-30/01-a.md", paper_md("A", "2409.00001"))
    write(root / "issues/2024-10-07/issue.yaml", "title: 第二期\nsummary: 两篇。\ndraft: false\n")
    write(root / "issues/2024-10-07/01-a.md", paper_md("A", "2409.00001v2"))
    write(root / "issues/2024-10-07/02-b.md", paper_md("B", "2409.00002"))
    write(root / "issues/2024-10-14/issue.yaml", "title: 第三期\r\nsummary: 一篇。\r\ndraft: yes\r\n")
    write(root / "issues/2024-10-14/01-b.md", paper_md("B", "2409.00002"))
    config = load_config(root / "config.yaml")
    assert featured_papers(config) == {"2409.00001": ["2024-10-07"], "2409.00002": ["2024-10-07"]}
    assert folder_papers(root / "issues/2024-09-30") == {"2409.00001": "01-a.md"}
    assert lines_of(root) == [  # the draft of 10-14 repeats a paper of 10-07
        "issues/2024-10-14/01-b.md:4: warning: arXiv 2409.00002 was already featured in issue 2024-10-07",
    ]


# a type error says what to write instead, with the key's own value ---------------------------


@pytest.mark.parametrize(
    ("key_lines", "expected"),
    [
        (
            "arxiv: 2409.14270",
            '4: error: arxiv: 2409.14270 is a number to YAML (read as 2409.1427: it drops trailing zeros): write it in quotes, arxiv: "2409.14270"',
        ),
        (
            "arxiv: 2409.14274   # 第一篇",
            '4: error: arxiv: 2409.14274 is a number to YAML: write it in quotes, arxiv: "2409.14274"',
        ),
        (
            "title_translated: 2024",
            '4: error: title_translated: 2024 is a number to YAML: write it in quotes, title_translated: "2024"',
        ),
        ("venue: yes", '4: error: venue: yes is true/false to YAML: write it in quotes, venue: "yes"'),
        ("tags: 大模型", "4: error: tags: 大模型 is one text, not a list: write it in brackets, tags: [大模型]"),
        (
            "tags: 大模型，对齐、RLHF",
            "4: error: tags: 大模型，对齐、RLHF is one text, not a list: write it in brackets (one item per comma), tags: [大模型, 对齐, RLHF]",
        ),
        (
            "tags: [大模型, 2024]",
            '4: error: tags: the 2nd tag, 2024, is a number to YAML, not text: put it in quotes, tags: [大模型, "2024"]',
        ),
        (
            'year: "2024"',
            '4: error: year: "2024" is text because of the quotes: write the number without them, year: 2024',
        ),
        ("year: 二〇二四", "4: error: year: 二〇二四 is not written in digits: write year: 2024"),
        ("rating: 8/10", "4: error: rating: 8/10 is text, not a number: write only the number, rating: 8"),
        ("rating: 8.5", "4: error: rating: 8.5 is not a whole number: write a whole number, e.g. rating: 9"),
        ("rating: 很高", "4: error: rating: 很高 is not a number: write it in digits, e.g. rating: 8"),
    ],
)
def test_paper_type_errors_give_the_line_to_write(newsletter, key_lines, expected):
    root = newsletter()
    write(root / "issues/2024-09-30/issue.yaml", "title: 第一期\nsummary: 一篇论文。\n")
    write(root / "issues/2024-09-30/01-a.md", f"---\ntitle: A\nauthors: [张三]\n{key_lines}\n---\n正文。\n")
    assert lines_of(root) == [f"issues/2024-09-30/01-a.md:{expected}"]


@pytest.mark.parametrize(
    ("authors", "expected"),
    [
        ('authors: [张三, ""]', "3: error: authors: the 2nd author is empty: delete it, authors: [张三]"),
        (
            "authors:\n  - 张三\n  -\n  - 李四",
            "3: error: authors: the 2nd author is empty: delete it, authors: [张三, 李四]",
        ),
        (
            "authors: 张三, 李四",
            "3: error: authors: 张三, 李四 is one text, not a list: write it in brackets (one item per comma), authors: [张三, 李四]",
        ),
        (
            'authors: ""',
            '3: error: authors: "" is empty text, not a list: write authors: [] for none, or a list, e.g. authors: [张三, 李四]',
        ),
        (
            "authors:\n  - name: 张三",
            "3: error: authors: the 1st author is a mapping (name: value pairs), not text: write each author as plain text, e.g. authors: [张三, 李四]",
        ),
    ],
)
def test_authors_name_the_bad_item(newsletter, authors, expected):
    root = newsletter()
    write(root / "issues/2024-09-30/issue.yaml", "title: 第一期\nsummary: 一篇论文。\n")
    write(root / "issues/2024-09-30/01-a.md", f"---\ntitle: A\n{authors}\n---\n正文。\n")
    assert lines_of(root) == [f"issues/2024-09-30/01-a.md:{expected}"]


@pytest.mark.parametrize(
    ("key_line_text", "expected"),
    [
        ('draft: "true"', '2: error: draft: "true" is text because of the quotes: write it without them, draft: true'),
        ("draft: 是", "2: error: draft: 是 is not true or false: write draft: true or draft: false"),
        ("tags: 大模型", "2: error: tags: 大模型 is one text, not a list: write it in brackets, tags: [大模型]"),
        ("channels: feed", "2: error: channels: feed is one text, not a list: write it in brackets, channels: [feed]"),
        (
            "publish_at: 8:00",
            "2: error: publish_at: 8:00 is a number to YAML, not a date and time: write it like publish_at: 2024-09-30T08:00:00+08:00",
        ),
        ("date: 20240930", "2: error: date: 20240930 is a number to YAML, not a date: write it like date: 2024-09-30"),
        (
            "date: 2024/09/30",
            "2: error: date: '2024/09/30' is not a date: write it as YYYY-MM-DD, e.g. date: 2024-09-30, or delete the line (the folder's date is the default)",
        ),
        ("summary: 2024", '2: error: summary: 2024 is a number to YAML: write it in quotes, summary: "2024"'),
        (
            "标题: 第一期",
            "2: error: unknown key '标题': did you mean 'title'? (known keys: "
            + "title, date, publish_at, summary, intro, outro, cover, tags, channels, draft, source)",
        ),
        (
            "titel: 第一期",
            "2: error: unknown key 'titel': did you mean 'title'? (known keys: "
            + "title, date, publish_at, summary, intro, outro, cover, tags, channels, draft, source)",
        ),
    ],
)
def test_issue_type_errors_give_the_line_to_write(newsletter, key_line_text, expected):
    root = newsletter()
    write(
        root / "issues/2024-09-30/issue.yaml",
        f"title: 第一期\n{key_line_text}\n" + ("" if key_line_text.startswith("summary") else "summary: 一篇论文。\n"),
    )
    write(root / "issues/2024-09-30/01-a.md", paper_md("A", "2409.00001"))
    assert lines_of(root, severity="error") == [f"issues/2024-09-30/issue.yaml:{expected}"]


# a key given twice: each value is still checked, at its own line ------------------------------


def test_a_repeated_key_does_not_hide_the_first_value(newsletter):
    root = newsletter()
    write(root / "issues/2024-09-30/issue.yaml", "title: 第一期\nsummary: 一篇论文。\n")
    write(root / "issues/2024-09-30/01-a.md", "---\ntitle: A\nauthors: [张三]\nrating: 11\nrating: 5\n---\n正文。\n")
    write(
        root / "issues/2024-09-30/02-b.md",
        "---\ntitle: B\nauthors: [张三]\nrating: 12\nrating: 八\nrating: 7\n---\n正文。\n",
    )
    assert lines_of(root) == [
        "issues/2024-09-30/01-a.md:4: error: rating: 11 is outside 0..10: give a score from 0 to 10",
        "issues/2024-09-30/01-a.md:5: error: key 'rating' is given twice (first at line 4); YAML would silently keep only this later value: delete one of them",
        "issues/2024-09-30/02-b.md:4: error: rating: 12 is outside 0..10: give a score from 0 to 10",
        "issues/2024-09-30/02-b.md:5: error: key 'rating' is given twice (first at line 4); YAML would silently keep only this later value: delete one of them",
        "issues/2024-09-30/02-b.md:5: error: rating: 八 is not written in digits: write rating: 8",
        "issues/2024-09-30/02-b.md:6: error: key 'rating' is given twice (first at line 4); YAML would silently keep only this later value: delete one of them",
    ]


def test_a_repeated_issue_key_checks_each_value(newsletter):
    root = newsletter()
    issue_yaml = (
        "title: |\n  第一期\n  第二行\ntitle: 第一期\nsummary: 一篇论文。\n"  # 1-5
        "date: 2024-10-01\ndate: 2024-09-30\ncover: images/甲.png\ncover: images/乙.png\n"  # 6-9
        "intro: |\n  导语。\n\n  ![图](images/丙.png)\nintro: 导语。\n"  # 10-14
    )
    write(root / "issues/2024-09-30/issue.yaml", issue_yaml)
    write(root / "issues/2024-09-30/01-a.md", paper_md("A", "2409.00001"))
    twice = "YAML would silently keep only this later value: delete one of them"
    assert lines_of(root) == [
        "issues/2024-09-30/issue.yaml:1: error: title: '第一期\\n第二行' has a line break (U+000A); this must be one line: join the lines",
        f"issues/2024-09-30/issue.yaml:4: error: key 'title' is given twice (first at line 1); {twice}",
        "issues/2024-09-30/issue.yaml:6: error: date 2024-10-01 does not match the folder's date 2024-09-30: rename the folder or fix the date",
        f"issues/2024-09-30/issue.yaml:7: error: key 'date' is given twice (first at line 6); {twice}",
        "issues/2024-09-30/issue.yaml:8: error: cover: file 'images/甲.png' does not exist in 2024-09-30/",
        f"issues/2024-09-30/issue.yaml:9: error: key 'cover' is given twice (first at line 8); {twice}",
        "issues/2024-09-30/issue.yaml:9: error: cover: file 'images/乙.png' does not exist in 2024-09-30/",
        "issues/2024-09-30/issue.yaml:13: error: intro image: file 'images/丙.png' does not exist in 2024-09-30/",
        f"issues/2024-09-30/issue.yaml:14: error: key 'intro' is given twice (first at line 10); {twice}",
    ]


def test_an_entry_with_only_front_matter_is_warned_at_its_closing_line(newsletter):
    root = newsletter()
    write(root / "issues/2024-09-30/issue.yaml", "title: 第一期\nsummary: 两篇论文。\n")
    write(root / "issues/2024-09-30/01-a.md", paper_md("A", "2409.00001", ""))  # 5 lines, no body
    write(root / "issues/2024-09-30/02-b.md", paper_md("B", "2409.00002", "\n\n"))
    message = (
        "warning: entry has no text after its front matter: add a lead paragraph and `## ` sections below this line"
    )
    assert (root / "issues/2024-09-30/01-a.md").read_text("utf-8").count("\n") == 5
    assert lines_of(root) == [f"issues/2024-09-30/01-a.md:5: {message}", f"issues/2024-09-30/02-b.md:5: {message}"]


# what CommonMark without raw HTML shows as source text ---------------------------------------


def test_pipe_tables_and_raw_html_are_warned_at_their_lines(newsletter):
    root = newsletter()
    write(root / "issues/2024-09-30/issue.yaml", "title: 第一期\nsummary: 一篇论文。\n")
    body = (
        "导语。\n\n## 实验效果\n\n"  # lines 6-9
        "结果如下：\n| 方法 | 准确率 | 速度 |\n|:---|---:|---|\n| PALM | 90% | 2x |\n\n"  # 10-14
        '<b>强烈推荐</b>，详见 <a href="https://arxiv.org/abs/2409.00001">原文</a>。\n\n'  # 15-16
        "- 第一点\n- 第二点<br>换行\n\n"  # 17-19
        "<!-- 待补充 -->\n\n"  # 20-21
        "方法 | 结果\n--- | ---\n甲 | 乙\n\n"  # 22-25
        "<script>alert(1)</script> 之后的正文。\n"  # 26
    )
    write(root / "issues/2024-09-30/01-a.md", paper_md("A", "2409.00001", body))
    table = "tables are not supported: the rows show as | text in every output (run together in the plain-text email): write it as a list, one item per row, e.g."
    assert lines_of(root) == [
        f"issues/2024-09-30/01-a.md:11: warning: {table} - PALM: 准确率 90%, 速度 2x",
        "issues/2024-09-30/01-a.md:15: warning: raw HTML is shown as text, tags and all: write **强烈推荐** instead of <b>强烈推荐</b>",
        "issues/2024-09-30/01-a.md:18: warning: raw HTML <br> is shown as text: delete it and leave an empty line where a new paragraph starts",
        "issues/2024-09-30/01-a.md:20: warning: an HTML comment <!-- … --> is shown to readers as text: delete it",
        f"issues/2024-09-30/01-a.md:22: warning: {table} - 甲: 结果 乙",
        "issues/2024-09-30/01-a.md:26: warning: raw HTML <script> is shown as text, tags and all: use Markdown (**bold**, *italic*, [link](url)) or delete the tags",
    ]


def test_links_to_raw_html_get_the_markdown_link(newsletter):
    root = newsletter()
    write(root / "issues/2024-09-30/issue.yaml", "title: 第一期\nsummary: 一篇论文。\n")
    write(
        root / "issues/2024-09-30/01-a.md",
        paper_md("A", "2409.00001", '详见 <a href="https://example.org/论文">原文</a> 与 <span>注</span>。\n'),
    )
    assert lines_of(root) == [
        'issues/2024-09-30/01-a.md:6: warning: raw HTML is shown as text, tags and all: write [原文](https://example.org/论文) instead of <a href="https://example.org/论文">原文</a>',
    ]


def test_text_that_only_looks_like_tables_or_html_is_not_warned(newsletter):
    root = newsletter()
    write(root / "issues/2024-09-30/issue.yaml", "title: 第一期\nsummary: 一篇论文。\n")
    body = (
        "用 `<b>` 加粗，或写 \\<b\\> 本身；序列以 <s> 开始、以 </s> 结束，类型是 List<T>，链接 <https://arxiv.org>。\n\n"
        "准确率 a | b 两种设置，a<b 时更快。\n\n"
        "```\n| 代码 | 里 |\n|---|---|\n<b>代码</b>\n```\n\n"
        "    | 缩进 | 代码 |\n    |---|---|\n\n"
        "![图](<https://example.org/a b.png>)\n"
    )
    write(root / "issues/2024-09-30/01-a.md", paper_md("A", "2409.00001", body))
    assert lines_of(root) == []


def test_intro_and_outro_tables_and_html_are_warned(newsletter):
    root = newsletter()
    issue_yaml = "title: 第一期\nsummary: 一篇论文。\nintro: |\n  导语。\n\n  | 甲 | 乙 |\n  |---|---|\n  | 1 | 2 |\noutro: 欢迎 <i>转发</i>。\n"
    write(root / "issues/2024-09-30/issue.yaml", issue_yaml)
    write(root / "issues/2024-09-30/01-a.md", paper_md("A", "2409.00001"))
    result, _ = problems_of(root)
    assert not result.errors and result.issues[0].intro.line == 4  # the block's first line
    assert lines_of(root) == [
        "issues/2024-09-30/issue.yaml:6: warning: intro: tables are not supported: the rows show as | text in every output (run together in the plain-text email): write it as a list, one item per row, e.g. - 1: 乙 2",
        "issues/2024-09-30/issue.yaml:9: warning: outro: raw HTML is shown as text, tags and all: write *转发* instead of <i>转发</i>",
    ]


def test_markup_checks_leave_the_shared_tokens_as_parsed(newsletter):
    from pipeline import markdown

    root = newsletter()
    write(root / "issues/2024-09-30/issue.yaml", "title: 第一期\nsummary: 一篇论文。\n")
    body = "<b>强烈推荐</b>\n\n| 方法 | 准确率 |\n|---|---|\n| PALM | 90% |\n"
    write(root / "issues/2024-09-30/01-a.md", paper_md("A", "2409.00001", body))
    result, messages = problems_of(root)
    lead = result.issues[0].papers[0].lead
    assert len(messages) == 2 and lead.tokens == markdown.parse(body).tokens
    html = markdown.to_html(lead)
    assert "&lt;b&gt;强烈推荐&lt;/b&gt;" in html and "<table" not in html  # still shown as text: raw HTML stays off


def test_init_keeps_the_state_folder_out_of_git(tmp_path):
    """The state folder holds subscribers and the unsubscribe key: `git add .` must not take it."""
    import subprocess
    from datetime import date

    from pipeline.authoring.scaffold import init_newsletter
    from pipeline.build.builder import build

    root = tmp_path / "nly"
    assert root / ".gitignore" in init_newsletter(root, today=date(2024, 9, 30))
    build(load_config(root / "config.yaml"))
    (root / ".publish" / "unsubscribe.key").write_text("secret")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "--others", "--exclude-standard"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert "config.yaml" in listed and "subscribers.csv" in listed
    assert not [name for name in listed if name.startswith((".publish/", "public/", "outbox/", ".public."))]

    own = tmp_path / "own"
    own.mkdir()
    (own / ".gitignore").write_text("notes/\n")
    init_newsletter(own, today=date(2024, 9, 30))  # a folder with its own .gitignore keeps it
    assert (own / ".gitignore").read_text() == "notes/\n"


def test_a_link_the_engine_refuses_is_warned_at_its_line(newsletter):
    root = newsletter()
    write(
        root / "issues/2024-09-30/issue.yaml",
        "title: 第一期\nsummary: 一篇论文。\nintro: 见[这里](javascript:alert(1))。\n",
    )
    body = "导语，[原文](https://arxiv.org/abs/2409.00001)。\n\n## 实验效果\n\n详见[附录](JavaScript:void(0))。\n"
    write(root / "issues/2024-09-30/01-a.md", paper_md("A", "2409.00001", body))
    refused = "is not allowed and is shown as text, brackets and all: link to an https:// address, or delete it"
    assert lines_of(root) == [
        f"issues/2024-09-30/01-a.md:10: warning: a link to javascript: {refused}",
        f"issues/2024-09-30/issue.yaml:3: warning: intro: a link to javascript: {refused}",
    ]
