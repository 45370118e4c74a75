"""`publish check` and WeChat, before anything is sent: the article's size as the draft API
counts it, a warning when it had to be cut, and the cover the API cannot do without."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.build.check import check_issues, wechat_mode
from pipeline.config import load_config
from tests.conftest import BASIC_CONFIG, write
from tests.render.test_wechat_fit import long_issue

FIGURES = re.compile(r"^(\S+): WeChat HTML ([\d,]+) characters, ([\d,]+) bytes as sent \(limits 20,000 and 1,000,000\)")


def png(path: Path) -> None:
    """A real image (the cover must be one the channel can convert)."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (235, 100), "#1f4e79").save(path, "PNG")


def wechat_config(channel: str) -> str:
    return BASIC_CONFIG + f"  wx: {{type: wechat, {channel}}}\n"


def messages(report, severity: str) -> list[str]:
    return [p.message for p in report.problems if p.severity == severity]


def test_every_issue_gets_its_wechat_figures(example_config):
    report = check_issues(example_config)
    figures = {m.group(1): (m.group(2), m.group(3)) for m in map(FIGURES.match, report.notes) if m}
    assert set(figures) == {"2024-04-28", "2024-09-30"}
    chars = int(figures["2024-04-28"][0].replace(",", ""))
    assert 15_000 < chars < 20_000  # the 5-paper issue, whole, as sent
    assert not any("阅读原文" in m for m in messages(report, "warning"))


def test_a_cut_article_is_a_warning_with_the_real_figures(newsletter):
    issue, _ = long_issue(newsletter, config=wechat_config("mode: export, default_cover: cover.png"))
    png(issue.folder.parent.parent / "cover.png")
    report = check_issues(load_config(issue.folder.parent.parent / "config.yaml"))
    [cut] = [m for m in messages(report, "warning") if "阅读原文" in m]
    assert re.fullmatch(
        r"WeChat: 2024-10-01 is [\d,]+ characters of HTML; only papers 1–\d of 10 fit under 20,000; the rest is behind 阅读原文",
        cut,
    ), cut
    [note] = [n for n in report.notes if "WeChat HTML" in n]
    assert "only papers 1–" in note and int(FIGURES.match(note).group(2).replace(",", "")) < 20_000


@pytest.mark.parametrize(
    ("channel", "mode", "severity"),
    [
        ("mode: draft", "draft", "error"),
        ("mode: publish", "publish", "error"),
        ("mode: broadcast", "broadcast", "error"),
        ("app_id: wx123, app_secret: '${WX_TEST_SECRET}'", "draft", "error"),  # the default with credentials
        ("mode: export", "export", "warning"),
        ("author: 编辑部", "export", "warning"),  # the default without
    ],
)
def test_a_missing_cover_is_an_error_where_the_api_would_send_it(newsletter, channel, mode, severity):
    root = newsletter(wechat_config(channel))
    write(root / "issues/2024-10-01/issue.yaml", "title: 无封面\nsummary: 一篇。\n")
    write(root / "issues/2024-10-01/01-a.md", "---\ntitle: A\nauthors: [张三]\n---\n正文。\n")
    config = load_config(root / "config.yaml")
    assert wechat_mode(config.channels["wx"]) == mode
    report = check_issues(config)
    [problem] = [p for p in report.problems if "cover" in p.message]
    assert problem.severity == severity and problem.path.name == "issue.yaml" and problem.line == 1  # title:
    assert f"channel wx (mode {mode})" in problem.message or mode == "export"
    assert "`cover:` in issue.yaml" in problem.message and "channels.wx.default_cover" in problem.message


def test_a_cover_an_image_or_a_default_cover_is_enough(newsletter):
    root = newsletter(wechat_config("mode: draft, default_cover: assets/cover.png"))
    png(root / "assets/cover.png")
    write(root / "issues/2024-10-01/issue.yaml", "title: 默认封面\n")
    write(root / "issues/2024-10-01/01-a.md", "---\ntitle: A\nauthors: [张三]\n---\n正文。\n")
    report = check_issues(load_config(root / "config.yaml"))
    assert not [p for p in report.problems if "cover" in p.message], [p.message for p in report.problems]


def test_an_image_in_the_article_serves_as_the_cover(newsletter):
    root = newsletter(wechat_config("mode: draft"))
    write(root / "issues/2024-10-01/issue.yaml", "title: 有图\n")
    write(root / "issues/2024-10-01/01-a.md", "---\ntitle: A\nauthors: [张三]\n---\n正文 ![图](fig.png)\n")
    png(root / "issues/2024-10-01/fig.png")
    report = check_issues(load_config(root / "config.yaml"))
    assert not [p for p in report.problems if "cover" in p.message]


def test_a_default_cover_that_is_not_there_is_an_error_with_its_line(newsletter):
    root = newsletter(wechat_config("mode: draft, default_cover: assets/missing.png"))
    write(root / "issues/2024-10-01/issue.yaml", "title: 默认封面\n")
    write(root / "issues/2024-10-01/01-a.md", "---\ntitle: A\nauthors: [张三]\n---\n正文。\n")
    report = check_issues(load_config(root / "config.yaml"))
    [problem] = [p for p in report.problems if "default_cover" in p.message and p.path.name == "config.yaml"]
    assert problem.severity == "error" and problem.line == BASIC_CONFIG.count("\n") + 1
    assert "assets/missing.png does not exist" in problem.message


def test_publish_check_fails_on_a_draft_without_cover(newsletter):
    root = newsletter(wechat_config("mode: draft"))
    write(root / "issues/2024-10-01/issue.yaml", "title: 无封面\nsummary: 一篇。\n")
    write(root / "issues/2024-10-01/01-a.md", "---\ntitle: A\nauthors: [张三]\n---\n正文。\n")
    done = subprocess.run(
        [sys.executable, "-m", "pipeline", "check"], cwd=root, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 1, done.stderr
    assert "issues/2024-10-01/issue.yaml:1: error: WeChat: 2024-10-01 has no cover image" in done.stderr
    assert FIGURES.match(next(line for line in done.stdout.splitlines() if "WeChat HTML" in line))
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("mode", ["draft", "publish", "broadcast"])
def test_an_api_mode_without_credentials_is_an_error(newsletter, mode):
    root = newsletter(BASIC_CONFIG + f"  wx:\n    type: wechat\n    mode: {mode}\n    app_id: wx123\n")
    write(root / "issues/2024-10-01/issue.yaml", "title: 无密钥\n")
    write(root / "issues/2024-10-01/01-a.md", "---\ntitle: A\nauthors: [张三]\n---\n正文 ![图](fig.png)\n")
    png(root / "issues/2024-10-01/fig.png")
    report = check_issues(load_config(root / "config.yaml"))
    [problem] = [p for p in report.problems if "app_secret" in p.message]
    assert problem.severity == "error" and problem.path.name == "config.yaml"
    assert problem.line == BASIC_CONFIG.count("\n") + 3  # the mode: line
    assert f"mode {mode} calls the WeChat API, but app_secret is not set" in problem.message
    assert "mode: export" in problem.message


def test_export_needs_no_credentials(newsletter):
    root = newsletter(wechat_config("mode: export"))
    write(root / "issues/2024-10-01/issue.yaml", "title: 导出\n")
    write(root / "issues/2024-10-01/01-a.md", "---\ntitle: A\nauthors: [张三]\n---\n正文。\n")
    report = check_issues(load_config(root / "config.yaml"))
    assert not [p for p in report.problems if "app_id" in p.message or "app_secret" in p.message]
