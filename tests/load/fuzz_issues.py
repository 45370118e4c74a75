"""Mutated issue folders through `check` and `build`: only the user's errors may come out.

Each case copies a small newsletter, applies one to three mutations of 18 kinds (hostile YAML
values in issue.yaml and in an entry's front matter, hostile Markdown, files that are links,
loops, pipes, folders or too large, other encodings) and runs the load and the build in this
process. Every outcome must be a clean result or a PublishError (what the CLI prints as
``error: …``): any other exception is a bug, and so is an output that holds the text of a
file from outside the newsletter folder, or a case that takes longer than its time limit.

``tests/load/test_fuzz.py`` runs a fixed-seed sample in the normal suite; for thousands:

    .venv/bin/python tests/load/fuzz_issues.py --fuzz 2000 [--seed 7]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path

from pipeline.build.builder import build
from pipeline.build.check import check_issues
from pipeline.config import load_config
from pipeline.errors import PublishError

NOW = datetime(2026, 1, 1, tzinfo=timezone.utc)
SECRET = "SECRET-OUTSIDE-THE-NEWSLETTER"
ISSUE = "2024-09-30"
CONFIG = """\
site:
  title: 模糊测试速递
  url: https://digest.example.org/
  timezone: Asia/Shanghai
channels:
  feed: {type: feed}
"""
ISSUE_YAML = "title: 第 1 期\nsummary: 一句话摘要。\ntags: [大模型]\n"
ENTRY = """\
---
title: "Proof Automation with Large Language Models"
authors: [M Lu, B Delaware, T Zhang]
arxiv: "2409.14274"
rating: 8
tags: [形式化验证]
---
导语：这篇论文让模型先写证明，再修复。

## 研究背景

证明助手很难用。![图](images/fig.png)
"""
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6300010000050001a5f645400000000049454e44ae426082"
)

HOSTILE_VALUES = [
    "!!int x",
    "!!bool maybe",
    "!!timestamp foo",
    "!!python/object/apply:os.system ['true']",
    "!foo bar",
    "&a [x]",
    "*a",
    "{<<: {a: 1}}",
    "2024-02-30",
    "2024-13-01",
    "0000-00-00",
    "2024-09-30T25:00:00",
    "2024-09-30T08:00:00+25:00",
    ".inf",
    "-.inf",
    ".nan",
    "1e999",
    "9" * 5000,
    "-1",
    "0x10",
    "0o7",
    "1_000",
    '"http://[::1"',
    '"http://[::1]:99999/"',
    '"\\0"',
    '"%00"',
    '"images/%00.png"',
    "a" * 5000,
    '"images/' + "a" * 5000 + '.png"',
    '"../../etc/passwd"',
    '"/etc/passwd"',
    '"{{ 7*7 }}"',
    '"<script>x</script>"',
    "{a: 1}",
    "[1, [2, [3, [4]]]]",
    "[]",
    "null",
    "~",
    '""',
    '"  "',
    "yes",
    "no",
    "'unclosed",
    '"unclosed',
    "[" * 900 + "]" * 900,
    "[" + ", ".join(f"标签{i}" for i in range(3000)) + "]",
    "\t- tab",
    "：全角冒号",
    '"\\u202e反向"',
    '"\\ud800"',
    "|\n  块\n  文本",
    ">\n  折叠",
    "- a\n" + "\n".join(" " * (2 * i) + "- x" for i in range(1, 31)),
]
ISSUE_KEYS = [
    "title",
    "date",
    "publish_at",
    "summary",
    "intro",
    "outro",
    "cover",
    "tags",
    "channels",
    "draft",
    "source",
    "未知",
]
ENTRY_KEYS = ["title", "title_translated", "authors", "venue", "year", "arxiv", "url", "pdf", "rating", "tags"]
HOSTILE_MARKDOWN = [
    lambda r: "*" * r.randint(1, 30000) + "x" + "*" * r.randint(1, 30000),
    lambda r: "_" * r.randint(1, 20000) + "x" + "_" * r.randint(1, 20000),
    lambda r: "~~" * r.randint(1, 5000) + "x",
    lambda r: "![x](%00)",
    lambda r: "![x](images/" + "a" * r.randint(200, 6000) + ".png)",
    lambda r: "[x](http://[::1)",
    lambda r: "![x](http://[::1)",
    lambda r: "![x](../../../etc/passwd)",
    lambda r: ">" * r.randint(1, 3000) + " 引用",
    lambda r: "- " * r.randint(1, 3000) + "列表",
    lambda r: "[" * r.randint(1, 5000) + "x" + "]" * r.randint(1, 5000),
    lambda r: "`" * r.randint(1, 5000),
    lambda r: "<script>alert(1)</script>{{ config }}{% raw %}",
    lambda r: "\x00\x01\x1b[31m\u202e",
    lambda r: "长" * r.randint(1, 200000),
    lambda r: "| a | b |\n|---|---|\n" + "| x | y |\n" * r.randint(1, 2000),
    lambda r: "\n".join(f"## 小节 {i}" for i in range(r.randint(1, 2000))),
    lambda r: "[^1]\n\n[^1]: 脚注 " + "&#" * r.randint(1, 1000),
]


def _entry_path(root: Path) -> Path:
    return root / "issues" / ISSUE / "01-palm.md"


def _set_yaml(path: Path, key: str, value: str, front_matter: bool) -> None:
    if path.is_symlink() or not path.is_file():  # an earlier mutation made it a link or a pipe
        return
    text = path.read_text("utf-8", errors="replace")
    head, sep, body = text.partition("\n---\n") if front_matter else (text, "", "")
    lines = [line for line in head.split("\n") if not line.startswith(f"{key}:")]
    lines.insert(1 if front_matter else 0, f"{key}: {value}")
    path.write_text("\n".join(lines) + sep + body, encoding="utf-8")


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.exists() or link.is_symlink():
        link.unlink()
    os.symlink(target, link)


def _copy_folder(source: Path, target: Path) -> None:
    """A copy with links kept as links and pipes left out (copying either would read it)."""

    def special(folder: str, names: list[str]) -> list[str]:
        kept = (os.path.islink, os.path.isdir, os.path.isfile)
        return [name for name in names if not any(test(f"{folder}/{name}") for test in kept)]

    shutil.copytree(source, target, symlinks=True, ignore=special)


def _outside(root: Path, name: str, text: str) -> Path:
    path = root.parent / name
    path.write_text(text, encoding="utf-8")
    return path


def _filesystem_mutations() -> list[Callable[[Path, random.Random], None]]:
    def folder(root: Path) -> Path:
        return root / "issues" / ISSUE

    return [
        lambda root, r: (folder(root) / "09-dir.md").mkdir(),
        lambda root, r: _link(Path("/nonexistent/x.md"), folder(root) / "09-x.md"),
        lambda root, r: _link(Path("09-x.md"), folder(root) / "09-x.md"),
        lambda root, r: os.mkfifo(folder(root) / "09-pipe.md"),
        lambda root, r: os.mkfifo(folder(root) / "images" / "pipe.png"),
        lambda root, r: _link(Path("/dev/zero"), folder(root) / "issue.yaml"),
        lambda root, r: _link(Path("/dev/zero"), folder(root) / "images" / "fig.png"),
        lambda root, r: _link(
            _outside(root, "secret.md", f"---\ntitle: {SECRET}\nauthors: [x]\n---\n{SECRET}\n"),
            folder(root) / "09-secret.md",
        ),
        lambda root, r: _link(_outside(root, "secret.txt", SECRET), folder(root) / "notes.txt"),
        lambda root, r: _link(_outside(root, "secret.png", SECRET), folder(root) / "images" / "fig.png"),
        lambda root, r: _link(Path("."), folder(root) / "images" / "loop"),
        lambda root, r: _link(folder(root), root / "issues" / "2024-10-01"),
        lambda root, r: (
            _copy_folder(folder(root), root.parent / "elsewhere"),
            _link(root.parent / "elsewhere", root / "issues" / "2024-10-02"),
        ),
        lambda root, r: _entry_path(root).write_bytes(ENTRY.encode("gbk", errors="replace")),
        lambda root, r: _entry_path(root).write_bytes(b"\xef\xbb\xbf" + ENTRY.encode()),
        lambda root, r: _entry_path(root).write_bytes(b""),
        lambda root, r: (folder(root) / "09-big.md").open("wb").truncate(3 * 1024 * 1024),
        lambda root, r: (folder(root) / "images" / "big.png").open("wb").truncate(21 * 1024 * 1024),
        lambda root, r: _entry_path(root).write_bytes(bytes(r.randrange(256) for _ in range(r.randint(1, 4000)))),
        lambda root, r: (folder(root) / ("0" * 240 + ".md")).write_text(ENTRY, encoding="utf-8"),
    ]


MUTATIONS: list[tuple[str, Callable[[Path, random.Random], None]]] = [
    (
        "issue.yaml value",
        lambda root, r: _set_yaml(
            root / "issues" / ISSUE / "issue.yaml", r.choice(ISSUE_KEYS), r.choice(HOSTILE_VALUES), False
        ),
    ),
    ("entry value", lambda root, r: _set_yaml(_entry_path(root), r.choice(ENTRY_KEYS), r.choice(HOSTILE_VALUES), True)),
    (
        "entry body",
        lambda root, r: (
            _entry_path(root).open("a", encoding="utf-8").write("\n" + r.choice(HOSTILE_MARKDOWN)(r) + "\n")
        ),
    ),
    (
        "issue.yaml intro",
        lambda root, r: _set_yaml(
            root / "issues" / ISSUE / "issue.yaml",
            "intro",
            '"' + r.choice(HOSTILE_MARKDOWN)(r).replace("\\", "\\\\").replace('"', '\\"')[:200000] + '"',
            False,
        ),
    ),
    *[(f"file system {n}", mutation) for n, mutation in enumerate(_filesystem_mutations())],
]


def make_newsletter(root: Path) -> Path:
    """A one-issue newsletter with an entry, an image and a cover."""
    issue = root / "issues" / ISSUE
    (issue / "images").mkdir(parents=True)
    (root / "config.yaml").write_text(CONFIG, encoding="utf-8")
    (issue / "issue.yaml").write_text(ISSUE_YAML, encoding="utf-8")
    (issue / "01-palm.md").write_text(ENTRY, encoding="utf-8")
    (issue / "images" / "fig.png").write_bytes(PNG)
    return root


class Hang(Exception):
    pass


@contextmanager
def time_limit(seconds: int):
    """Raise Hang after ``seconds`` (main thread, POSIX): a case must never block."""

    def expire(_signum, _frame):
        raise Hang(f"no result after {seconds}s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def run_case(seed: int, workdir: Path, seconds: int = 30) -> str | None:
    """Mutate a fresh newsletter by ``seed`` and run check and build; None when every outcome
    is clean, else what went wrong (with the mutations, to reproduce)."""
    rng = random.Random(seed)
    case = workdir / f"case-{seed}"
    root = make_newsletter(case / "news")
    chosen = rng.sample(MUTATIONS, rng.randint(1, 3))
    names = [name for name, _ in chosen]
    try:
        for _, mutate in chosen:
            mutate(root, rng)
    except OSError as exc:  # the machine cannot make this file (e.g. no FIFOs): not a finding
        shutil.rmtree(case, ignore_errors=True)
        return None if exc.errno else f"seed {seed} {names}: {exc}"
    try:
        with time_limit(seconds):
            config = load_config(root / "config.yaml")
            check_issues(config)
            build(config, now=NOW)
    except PublishError:
        pass
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        where = traceback.extract_tb(exc.__traceback__)[-1]
        return f"seed {seed} {names}: {type(exc).__name__}: {str(exc)[:200]} at {where.filename}:{where.lineno}"
    finally:
        leaked = _leaked(root)
        shutil.rmtree(case, ignore_errors=True)
    if leaked:
        return f"seed {seed} {names}: text from outside the newsletter folder published in {leaked}"
    return None


def _leaked(root: Path) -> list[str]:
    public = root / "public"
    if not public.is_dir():
        return []
    return [str(p.relative_to(public)) for p in public.rglob("*") if p.is_file() and SECRET.encode() in p.read_bytes()]


def run(count: int, seed: int = 0, workdir: Path | None = None) -> tuple[int, list[str]]:
    """``(cases run, findings)`` of ``count`` cases from ``seed`` on."""
    own = workdir is None
    workdir = workdir or Path(tempfile.mkdtemp(prefix="fuzz-issues-"))
    try:
        findings = [f for f in (run_case(seed + n, workdir) for n in range(count)) if f]
    finally:
        if own:
            shutil.rmtree(workdir, ignore_errors=True)
    return count, findings


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fuzz", type=int, default=300, metavar="N", help="how many cases (default 300)")
    parser.add_argument("--seed", type=int, default=0, help="the first case's seed")
    args = parser.parse_args()
    count, findings = run(args.fuzz, args.seed)
    for finding in findings:
        print(finding)
    print(f"{count} cases, {len(findings)} findings")
    return 1 if findings else 0


if __name__ == "__main__":
    sys.exit(main())
