"""`publish import` on the command line: what it prints, what it writes, and a mistake as one
`error: … — …` line with no traceback."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import FIXTURES

import pipeline.cli.importing  # noqa: F401  registers `import` on the group
from pipeline.cli import cli, main

DIGESTS = FIXTURES / "digests"


def invoke(root: Path, *args: str):
    return CliRunner().invoke(cli, ["--config", str(root / "config.yaml"), "import", *args])


def test_import_writes_the_issue_and_reports_warnings_on_stderr(newsletter):
    root = newsletter()
    digest = DIGESTS / "001_8526f1db2b6605ae.txt"
    result = invoke(root, str(digest))
    assert result.exit_code == 0, result.output
    folder = root / "issues" / "2024-04-28"
    assert f"{digest}: read as UTF-8, 5 papers" in result.stdout
    assert f"wrote {folder / 'issue.yaml'} (" in result.stdout
    assert "Next: edit the entries (the issue is a draft), then `publish check 2024-04-28`" in result.stdout
    assert ":1: warning: page navigation '所有文章 > 正文'" in result.stderr
    assert ":39: warning: line not understood" in result.stderr and ":40: warning: " in result.stderr
    assert len(list(folder.glob("*.md"))) == 5
    check = CliRunner().invoke(cli, ["--config", str(root / "config.yaml"), "check", "2024-04-28"])
    assert check.exit_code == 0 and "0 errors" in check.stdout


def test_a_gbk_digest_says_which_encoding_was_used(newsletter):
    root = newsletter()
    result = invoke(root, str(DIGESTS / "labelled-gbk-crlf.txt"), "--issue", "2024-10-08-formal")
    assert result.exit_code == 0, result.output
    assert "read as GBK, 2 papers" in result.stdout
    assert "labelled-gbk-crlf.txt:34: warning: paper 2 has no citation line" in result.stderr
    entry = root / "issues" / "2024-10-08-formal" / "01-lean-copilot-large-language-models-as.md"
    assert entry.read_text("utf-8").startswith("---\ntitle: 'Lean Copilot: Large Language Models as Copilots")


def test_dry_run_lists_the_files_with_sizes_and_writes_nothing(newsletter):
    root = newsletter()
    result = invoke(root, str(DIGESTS / "000_0e0d571ba94d2e04.txt"), "--dry-run")
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stdout.splitlines() if line.startswith("would write ")]
    assert len(lines) == 4 and all(line.endswith(" bytes)") for line in lines)
    assert "02-investigating-layer-importance-large.md" in lines[2]
    assert result.stdout.rstrip().endswith("nothing written (--dry-run)")
    assert list((root / "issues").iterdir()) == []


def run_main(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["publish", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code, capsys.readouterr().err


def test_mistakes_are_one_error_line(newsletter, monkeypatch, capsys):
    root = newsletter()
    config = str(root / "config.yaml")
    code, err = run_main(monkeypatch, capsys, "--config", config, "import", str(DIGESTS / "no-date.txt"))
    assert code == 2 and "Traceback" not in err
    assert err.strip().endswith("— pass --issue YYYY-MM-DD") and err.startswith("error: no date found in ")

    (root / "issues" / "2024-09-30").mkdir()
    code, err = run_main(monkeypatch, capsys, "--config", config, "import", str(DIGESTS / "000_0e0d571ba94d2e04.txt"))
    assert code == 1 and err.startswith("error: issue folder ") and "already exists; nothing was written — " in err

    code, err = run_main(monkeypatch, capsys, "--config", config, "import", str(root / "missing.txt"))
    assert code == 2 and "does not exist" in err and "Traceback" not in err
