"""`publish check` warns about HTML markup in titles and author names, which the feeds keep as the
editor wrote it but readers and the W3C validator take for markup; ``&`` and ``<编>`` are text."""

from __future__ import annotations

import subprocess
import sys

from pipeline.build.check import check_issues, plain_text_markup_problems
from pipeline.config import load_config
from pipeline.load.issues import load_issues
from tests.build.test_feed_validity import hostile_corpus
from tests.conftest import write

ENTRY = """\
---
title: "大模型 <i>推理</i> 综述"
title_translated: 推理 & 规划：<T> 类型的综述
authors:
  - 张三 & 李四
  - <编> 王五
  - "Ann <b>Author</b>"
  - 赵六 </name>
---
导语。
"""


def markup_warnings(root):
    issues = load_issues(load_config(root / "config.yaml")).issues
    return [(p.path.relative_to(root).as_posix(), p.line, p.message) for p in plain_text_markup_problems(issues)]


def test_markup_in_a_title_or_name_is_a_warning_at_its_line(newsletter):
    root = newsletter()
    write(root / "issues/2024-10-01/issue.yaml", "summary: 摘要 <b>粗体</b> 不算\ntitle: 第一期 <br/> 特刊\n")
    write(root / "issues/2024-10-01/01-a.md", ENTRY)
    found = markup_warnings(root)
    assert [(path, line) for path, line, _ in found] == [
        ("issues/2024-10-01/issue.yaml", 2),
        ("issues/2024-10-01/01-a.md", 2),
        ("issues/2024-10-01/01-a.md", 7),
        ("issues/2024-10-01/01-a.md", 8),
    ]
    assert found[0][2] == (
        "issue title contains HTML markup `<br/>`: feed readers and the W3C validator take it as markup; "
        "write the title as plain text"
    )
    assert found[1][2].startswith("paper title contains HTML markup `<i>`:")
    assert found[2][2] == (
        "author name “Ann <b>Author</b>” contains HTML markup `<b>`: feed readers and the W3C validator "
        "take it as markup; write the name as plain text"
    )
    assert found[3][2].startswith("author name “赵六 </name>” contains HTML markup `</name>`:")


def test_ampersands_chinese_brackets_and_type_parameters_are_text(newsletter):
    root = newsletter()
    write(root / "issues/2024-10-01/issue.yaml", "title: 第一期 & 特刊 <增刊>\n")
    entry = "---\ntitle: 'Learning <T> with a < b & c > d'\nauthors: [张三 & 李四, <编> 王五, AT&T Labs]\n---\n导语。\n"
    write(root / "issues/2024-10-01/01-a.md", entry)
    assert markup_warnings(root) == []


def test_a_flow_list_puts_the_warning_at_the_authors_line(newsletter):
    root = newsletter()
    write(root / "issues/2024-10-01/issue.yaml", "title: 第一期\n")
    entry = '---\ntitle: 论文\narxiv: "2409.14274"\nauthors: [张三, "</b> 李四"]\n---\n导语 </b>。\n'
    write(root / "issues/2024-10-01/01-a.md", entry)
    [(path, line, message)] = markup_warnings(root)  # the body's </b> is the Markdown check's, not this one's
    assert (path, line) == ("issues/2024-10-01/01-a.md", 4)
    assert message.startswith("author name “</b> 李四” contains HTML markup `</b>`")


def test_check_reports_the_hostile_corpus_names_and_titles(newsletter):
    root = newsletter()
    hostile_corpus(root)
    report = check_issues(load_config(root / "config.yaml"))
    messages = [p.message for p in report.problems if "contains HTML markup" in p.message]
    assert all(p.severity == "warning" for p in report.problems if "contains HTML markup" in p.message)
    # 12 issue titles and 36 paper titles with </title>; 36 Ann <b>Author</b>; 12 </name> 王五
    assert sum(m.startswith("issue title") for m in messages) == 12
    assert sum(m.startswith("paper title") for m in messages) == 36
    assert sum("“Ann <b>Author</b>”" in m for m in messages) == 36
    assert sum("“</name> 王五”" in m for m in messages) == 12
    assert not any("张三 & 李四" in m for m in messages)


def test_publish_check_prints_the_warning_with_file_and_line(newsletter):
    root = newsletter()
    write(root / "issues/2024-10-01/issue.yaml", "title: 第一期\n")
    write(
        root / "issues/2024-10-01/01-a.md", "---\ntitle: 论文\nauthors:\n  - 张三\n  - Ann <b>Author</b>\n---\n导语。\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "check"], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert (
        "issues/2024-10-01/01-a.md:5: warning: author name “Ann <b>Author</b>” contains HTML markup `<b>`"
        in done.stderr
    )
    assert "Traceback" not in done.stderr
