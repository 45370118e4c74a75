"""The YAML mistakes editors make most are answered with the line to write."""

from __future__ import annotations

import pytest
from conftest import write

from pipeline.build.check import check_issues
from pipeline.config import load_config

ISSUE = "2024-09-30"
HEAD = "---\ntitle: x\nauthors: [M Lu]\n"


@pytest.mark.parametrize(
    ("front", "line", "expected"),
    [
        (
            "---\ntitle: Large Language Models in Academia: from Writing to Speaking\nauthors: [M Lu]\n",
            2,
            'put it in quotes, title: "Large Language Models in Academia: from Writing to Speaking"',
        ),
        (HEAD + "tags:\n\t- 大模型\n", 5, "this line is indented with a tab: YAML indents with spaces"),
        (HEAD + 'venue: "arXiv preprint\nyear: 2024\nrating: 8\n', 4, "a quote opened on this line is never closed"),
        (
            HEAD + "title_translated：学术写作中的大模型\n",
            4,
            "full-width colon ：; YAML needs an ASCII colon and a space: title_translated: 学术写作中的大模型",
        ),
        (
            HEAD + "venue: “arXiv: 2409.14274”\n",
            4,
            'venue uses full-width quotes, which YAML reads as text: use straight ones, venue: "arXiv: 2409.14274"',
        ),
    ],
)
def test_a_common_yaml_mistake_says_what_to_write(newsletter, front, line, expected):
    root = newsletter()
    write(root / "issues" / ISSUE / "issue.yaml", "title: 第 1 期\n")
    write(root / "issues" / ISSUE / "01-paper.md", front + "---\n导语。\n")
    report = check_issues(load_config(root / "config.yaml"))
    [error] = [p.format(root) for p in report.problems if p.is_error]
    assert error.startswith(f"issues/{ISSUE}/01-paper.md:{line}: error: invalid YAML: ") and expected in error, error
