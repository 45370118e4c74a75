"""The site outputs on two CPUs: the tag pages and the sitemap rendered in a forked child give
the same bytes and memories as one process; a child that fails or dies costs nothing but time,
and a build that fails meanwhile leaves none of the child's files behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from conftest import NOW, REPO, paper_md, write

from pipeline.atomic import Staging
from pipeline.build import builder, site
from pipeline.build.builder import build
from pipeline.build.outputs import SITE_OUTPUTS
from pipeline.config import Config, load_config
from pipeline.errors import RenderError

TAGS = ("长上下文", "KV Cache", "检索增强", "Agent")


def tagged_archive(root: Path, count: int = 6) -> Config:
    for n in range(count):
        folder = root / "issues" / f"2024-10-{n + 1:02d}"
        write(folder / "issue.yaml", f"title: 第 {n} 期：缓存与检索\nsummary: 本期两篇。\ntags: [{TAGS[n % 4]}]\n")
        for p in range(2):
            tags = f"[{TAGS[(n + p) % 4]}, {TAGS[(n + p + 1) % 4]}]"
            write(
                folder / f"0{p + 1}-paper.md",
                paper_md(f"论文 {n}-{p}", arxiv=f"2409.{14000 + n * 2 + p:05d}", tags=tags),
            )
    return load_config(root / "config.yaml")


def tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def state(config: Config) -> dict[str, bytes]:
    """The build's memory, without what records the times of files (their stats differ per build)."""
    kept = tree(config.state_dir / "build")
    return {name: data for name, data in kept.items() if not name.startswith("templates-") and name != "stamp.json"}


def fresh(config: Config) -> None:
    shutil.rmtree(config.output_dir, ignore_errors=True)
    shutil.rmtree(config.state_dir, ignore_errors=True)


def staged(config: Config) -> list[str]:
    """Temp files left in the staging folders of the outputs and of the build state."""
    spools = [config.output_dir.parent / f".{config.output_dir.name}.staging", config.state_dir / ".build.staging"]
    return sorted(p.name for spool in spools if spool.is_dir() for p in spool.iterdir())


def record_pids(monkeypatch, folder: Path, name: str, fail_in_child: str | None = None) -> None:
    """Record the pid of each process that renders the output ``name``; ``fail_in_child``:
    "raise" or "die" there, not in the build's own process."""
    folder.mkdir(exist_ok=True)
    render, parent = SITE_OUTPUTS[name], os.getpid()

    def recorded(cards, ctx):
        (folder / str(os.getpid())).touch()
        if os.getpid() != parent and fail_in_child == "raise":
            raise RenderError("rendering failed in the child")
        if os.getpid() != parent and fail_in_child == "die":
            os._exit(9)  # as a kill would: no result written
        return render(cards, ctx)

    monkeypatch.setitem(SITE_OUTPUTS, name, recorded)


# These tests fork from the test process (see conftest.no_other_threads).
pytestmark = pytest.mark.usefixtures("no_other_threads")


def two() -> int:
    """``cpu_budget`` on any machine: two CPUs (the split is what is tested), never with threads."""
    assert threading.active_count() == 1, threading.enumerate()
    return 2


@pytest.fixture
def two_cpus(monkeypatch):
    monkeypatch.setenv("PUBLISH_BUILD_JOBS", "2")
    monkeypatch.setattr(builder, "cpu_budget", two)


def test_the_child_renders_the_tag_pages_and_gives_the_bytes_of_one_process(newsletter, monkeypatch, tmp_path):
    config = tagged_archive(newsletter())
    monkeypatch.setattr(builder, "cpu_budget", lambda: 1)
    build(config, now=NOW)
    one_process, one_memory = tree(config.output_dir), state(config)
    assert any(name.startswith("tags/") and name.endswith("/feed.xml") for name in one_process)

    fresh(config)
    monkeypatch.setattr(builder, "cpu_budget", two)
    record_pids(monkeypatch, tmp_path / "tags", "tags")
    record_pids(monkeypatch, tmp_path / "feeds", "feeds")
    build(config, now=NOW)
    assert tree(config.output_dir) == one_process
    assert state(config) == one_memory  # the child's part memories and manifest entries were adopted
    assert [p.name for p in (tmp_path / "tags").iterdir()] != [str(os.getpid())]  # rendered elsewhere
    assert [p.name for p in (tmp_path / "feeds").iterdir()] == [str(os.getpid())]  # and the rest here
    assert staged(config) == []

    # An edit: the child renders again the feed of the issue's tag, and keeps the others.
    path = config.issues_dir / "2024-10-06" / "01-paper.md"  # tags KV Cache, 检索增强; its issue's KV Cache
    path.write_text(path.read_text("utf-8") + "\n补充一句。\n", "utf-8")
    report = build(config, now=NOW)
    written = [p.relative_to(config.output_dir).as_posix() for p in report.written]
    assert report.built == ["2024-10-06"] and "tags/kv-cache/feed.xml" in written, " ".join(written)
    assert not [name for name in written if name.startswith("tags/长上下文/")]


@pytest.mark.parametrize("failure", ["raise", "die"])
def test_a_child_that_fails_or_dies_leaves_its_outputs_to_the_build(
    newsletter, monkeypatch, tmp_path, two_cpus, failure
):
    config = tagged_archive(newsletter())
    monkeypatch.setattr(builder, "cpu_budget", lambda: 1)
    build(config, now=NOW)
    expected = tree(config.output_dir)

    fresh(config)
    monkeypatch.setattr(builder, "cpu_budget", two)
    record_pids(monkeypatch, tmp_path / "tags", "tags", fail_in_child=failure)
    build(config, now=NOW)
    rendered_by = sorted(p.name for p in (tmp_path / "tags").iterdir())
    assert len(rendered_by) == 2 and str(os.getpid()) in rendered_by  # tried in the child, then here
    assert tree(config.output_dir) == expected
    assert staged(config) == [] or failure == "die"  # a killed child's temp files: swept by the next build
    build(config, now=NOW, force=True)
    assert staged(config) == []


def test_an_output_that_fails_everywhere_is_reported_and_nothing_is_written(newsletter, monkeypatch, two_cpus):
    config = tagged_archive(newsletter())
    build(config, now=NOW)
    before = tree(config.output_dir)

    def broken(cards, ctx):
        raise RenderError("tag.html: the template is broken")

    monkeypatch.setitem(SITE_OUTPUTS, "tags", broken)
    path = config.issues_dir / "2024-10-03" / "02-paper.md"
    path.write_text(path.read_text("utf-8") + "\n改了一句。\n", "utf-8")
    with pytest.raises(RenderError, match="template is broken"):
        build(config, now=NOW)
    assert tree(config.output_dir) == before
    assert staged(config) == []


def test_a_build_failing_meanwhile_discards_what_the_child_staged(newsletter, monkeypatch, tmp_path, two_cpus):
    config = tagged_archive(newsletter())
    build(config, now=NOW)
    before = tree(config.output_dir)
    record_pids(monkeypatch, tmp_path / "tags", "tags")

    def broken_links(*args):
        raise RenderError("issue.html: the links cannot be written")

    monkeypatch.setattr(builder.neighbours, "link_pages", broken_links)
    path = config.issues_dir / "2024-10-02" / "01-paper.md"
    path.write_text(path.read_text("utf-8") + "\n又改了一句。\n", "utf-8")
    with pytest.raises(RenderError, match="links cannot be written"):
        build(config, now=NOW + timedelta(days=1))  # a new date: the child stages a sitemap and tag feeds
    [child] = [int(p.name) for p in (tmp_path / "tags").iterdir() if p.name != str(os.getpid())]
    with contextlib.suppress(ChildProcessError):  # reaped by the build, as it should be
        os.waitpid(child, 0)
    assert tree(config.output_dir) == before
    assert staged(config) == []


def test_one_process_renders_everything_when_the_split_is_not_worth_it(newsletter, monkeypatch, tmp_path, two_cpus):
    config = tagged_archive(newsletter())
    build(config, now=NOW)
    record_pids(monkeypatch, tmp_path / "tags", "tags")
    # Only the tag pages are due (a template of theirs changed): nothing would run beside the child.
    due = site.due
    monkeypatch.setattr(site, "due", lambda outputs, force: [name for name in due(outputs, True) if name == "tags"])
    build(config, now=NOW, force=True)
    assert [p.name for p in (tmp_path / "tags").iterdir()] == [str(os.getpid())]


def test_another_build_sweeping_meanwhile_never_takes_the_files_of_workers_or_child(newsletter, monkeypatch, two_cpus):
    """Files a worker or the child staged wait, after it exited, for the build to commit them:
    they are named for the build, so that a sweep by another build (the scheduler's, beside a
    `publish build`) leaves them."""
    config = tagged_archive(newsletter(), count=6)
    monkeypatch.setattr(builder, "cpu_budget", lambda: 1)
    build(config, now=NOW)
    expected = tree(config.output_dir)

    fresh(config)
    monkeypatch.setattr(builder, "cpu_budget", two)
    monkeypatch.setattr(builder, "PARALLEL_MIN", 2)  # six issues: rendered by forked workers
    render, swept = site.render, []

    def render_then_sweep(*args, **kwargs):
        render(*args, **kwargs)
        swept.append(Staging(config.output_dir).sweep() + Staging(config.state_dir / "build").sweep())

    monkeypatch.setattr(site, "render", render_then_sweep)
    build(config, now=NOW)
    assert swept == [0]
    assert tree(config.output_dir) == expected
    assert staged(config) == []


def test_the_child_never_returns_into_the_build_whatever_interrupts_it(newsletter):
    """A Ctrl-C in the child while it renders, and another while it cleans up: it exits, and
    the build (one process returns from it) renders the tag pages itself."""
    config = tagged_archive(newsletter())
    script = f"""
import os, sys
sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r})
from conftest import NOW
from pipeline.atomic import Staging
from pipeline.build import builder
from pipeline.build.builder import build
from pipeline.build.outputs import SITE_OUTPUTS
from pipeline.config import load_config

parent = os.getpid()
render = SITE_OUTPUTS["tags"]

def interrupted(cards, ctx):
    if os.getpid() != parent:
        raise KeyboardInterrupt
    return render(cards, ctx)

discard = Staging.discard

def interrupted_discard(self):
    if os.getpid() != parent:
        raise KeyboardInterrupt
    discard(self)

SITE_OUTPUTS["tags"] = interrupted
Staging.discard = interrupted_discard
builder.cpu_budget = lambda: 2
try:
    build(load_config({str(config.root / "config.yaml")!r}), now=NOW)
    print("returned", os.getpid() == parent)
except BaseException as exc:
    print("raised", type(exc).__name__, os.getpid() == parent)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.splitlines() == ["returned True"], done.stdout + done.stderr
    assert (config.output_dir / "tags" / "index.html").is_file()
    assert staged(config) == []


def test_outputs_that_read_issues_keep_their_reads_when_the_child_renders_them(newsletter, monkeypatch, two_cpus):
    config = tagged_archive(newsletter())
    monkeypatch.setattr(builder, "cpu_budget", lambda: 1)
    build(config, now=NOW)
    one_process, one_memory = tree(config.output_dir), state(config)
    assert orjson.loads(one_memory["manifest.json"])["site"]["feeds"]["reads"]  # the feeds read issues

    fresh(config)
    monkeypatch.setattr(builder, "cpu_budget", two)
    monkeypatch.setattr(site, "FORKED", ("tags", "feeds", "search"))
    build(config, now=NOW)
    assert tree(config.output_dir) == one_process
    assert state(config) == one_memory


def test_a_build_on_two_cpus_from_the_command_line_gives_the_files_of_one(newsletter, tmp_path):
    """End to end: `publish build` with workers and the child, against one process."""
    config = tagged_archive(newsletter(), count=20)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    outputs = {}
    for jobs in ("1", "2"):
        fresh(config)
        done = subprocess.run(
            [sys.executable, "-m", "pipeline", "--config", str(config.root / "config.yaml"), "build"],
            env={**env, "PUBLISH_BUILD_JOBS": jobs},
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stderr
        assert "built 20 issues" in done.stdout
        outputs[jobs] = tree(config.output_dir)
        assert staged(config) == []
    assert outputs["2"] == outputs["1"]


def test_workers_and_the_child_die_on_sigterm_whatever_handler_the_build_process_set(newsletter, monkeypatch, tmp_path):
    """`publish issue` and the scheduler stop on SIGTERM by setting a flag: a forked worker or
    child that inherited that handler would take the pool's SIGTERM at the end of a build as a
    request, go on waiting for work, and the build would wait for it for ever."""
    import signal

    from pipeline.publish.scheduler import stop_on_signals

    stop_on_signals(threading.Event())  # put back after the test (conftest)
    pid = os.fork()
    if pid == 0:  # a worker, as the pool starts one
        try:
            builder._start_worker()
            os.kill(os.getpid(), signal.SIGTERM)
        finally:
            os._exit(0)  # only reached when SIGTERM did not end it
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGTERM

    config = tagged_archive(newsletter())
    monkeypatch.setattr(builder, "cpu_budget", two)
    render, parent, survived = SITE_OUTPUTS["tags"], os.getpid(), tmp_path / "survived"

    def terminated(cards, ctx):
        if os.getpid() != parent:
            os.kill(os.getpid(), signal.SIGTERM)
            survived.touch()
        return render(cards, ctx)

    monkeypatch.setitem(SITE_OUTPUTS, "tags", terminated)
    build(config, now=NOW)
    assert not survived.exists()  # the child ended, and the build rendered its outputs itself
    assert (config.output_dir / "tags" / "index.html").is_file()
    assert staged(config) == []
