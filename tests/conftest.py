"""Shared fixtures: newsletter folders in a temp dir, built from the bundled example or by hand."""

from __future__ import annotations

import json
import shutil
import signal
import textwrap
import threading
from datetime import datetime, timezone
from pathlib import Path

import pytest
from chromium import browser  # noqa: F401  (the browser tests' fixture: Debian's chromium)

from pipeline.config import Config, load_config
from pipeline.load.issues import load_issues
from pipeline.model import Issue
from pipeline.render.context import RenderContext

REPO = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).resolve().parent / "fixtures"
# A fixed "now" after every bundled issue, so tests do not depend on the clock.
NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)


@pytest.fixture(autouse=True)
def signal_handlers():
    """A command run in-process (`publish issue` through click's runner) installs its SIGTERM and
    SIGINT handlers: put back afterwards, so that no later test runs, or forks, with them."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}
    yield
    for sig, handler in saved.items():
        signal.signal(sig, handler)


@pytest.fixture(autouse=True)
def one_build_process(monkeypatch):
    """Builds run in one process unless a test asks for more (PUBLISH_BUILD_JOBS): whether one
    forks must not depend on whether an earlier test left a thread running, which forbids it."""
    monkeypatch.setenv("PUBLISH_BUILD_JOBS", "1")


@pytest.fixture
def no_other_threads():
    """For a test that forks from the test process, as a build does only when it runs no other
    thread (a child would inherit locks held by threads that do not exist in it, and hang):
    threads an earlier test left finishing are waited for; any still running skips the test."""
    for thread in threading.enumerate():
        if thread is not threading.main_thread():
            thread.join(timeout=10)
    running = [thread.name for thread in threading.enumerate() if thread is not threading.main_thread()]
    if running:
        pytest.skip(f"threads of earlier tests still running, so no fork: {running}")


BASIC_CONFIG = """\
site:
  title: 测试论文速递
  url: https://digest.example.org/
  language: zh-CN
  author: 测试编辑部
  timezone: Asia/Shanghai
  publish_time: "08:00"
channels:
  feed: {type: feed, items: 20}
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def paper_md(
    title: str = "A Paper", arxiv: str | None = "2409.14274", body: str = "导语。\n\n## 研究背景\n\n内容。\n", **extra
) -> str:
    """The text of one paper entry with front matter."""
    lines = ["---", f"title: {json.dumps(title, ensure_ascii=False)}", "authors: [Ann Author, 张三]"]
    if arxiv:
        lines.append(f"arxiv: '{arxiv}'")
    for key, value in extra.items():
        lines.append(f"{key}: {value}")
    lines.append("---")
    return "\n".join(lines) + "\n" + body


@pytest.fixture
def newsletter(tmp_path: Path):
    """A factory: newsletter(config_text=None) → Path of a fresh folder with config.yaml and issues/."""

    def make(config_text: str = BASIC_CONFIG) -> Path:
        root = tmp_path / "news"
        root.mkdir(exist_ok=True)
        write(root / "config.yaml", config_text)
        (root / "issues").mkdir(exist_ok=True)
        return root

    return make


@pytest.fixture
def example(tmp_path: Path) -> Path:
    """A copy of the repository's bundled example newsletter (config.yaml, issues/, subscribers)."""
    root = tmp_path / "example"
    root.mkdir()
    shutil.copy(REPO / "config.yaml", root / "config.yaml")
    shutil.copytree(REPO / "issues", root / "issues")
    shutil.copytree(REPO / "assets", root / "assets")
    if (REPO / "subscribers.csv").exists():
        shutil.copy(REPO / "subscribers.csv", root / "subscribers.csv")
    return root


@pytest.fixture
def example_config(example: Path) -> Config:
    return load_config(example / "config.yaml")


@pytest.fixture
def example_issues(example_config: Config) -> dict[str, Issue]:
    result = load_issues(example_config)
    assert not result.errors, [p.format() for p in result.errors]
    return {issue.id: issue for issue in result.issues}


@pytest.fixture
def ctx(example_config: Config) -> RenderContext:
    return RenderContext(example_config, NOW)


@pytest.fixture
def smtp_server():
    """A real SMTP server (aiosmtpd) on 127.0.0.1; ``.messages`` holds what it accepted."""
    from servers import SMTPServer

    with SMTPServer() as server:
        yield server
