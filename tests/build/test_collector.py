"""The garbage collector during a build: paused in the build's process, as it was afterwards
(also after a failure), and running in the forked workers, which render many issues each."""

from __future__ import annotations

import gc
import os

import pytest
from conftest import NOW

from pipeline.build import builder
from pipeline.build.builder import build
from pipeline.build.outputs import ISSUE_OUTPUTS
from pipeline.build.processes import collector_paused
from pipeline.errors import RenderError
from tests.build.test_send_outputs import CONFIG, make_archive
from tests.build.test_site_split import two


@pytest.fixture
def archive(newsletter):
    return make_archive(newsletter(CONFIG))


def record_collector(monkeypatch, seen: list[bool], fail: bool = False) -> None:
    """Note whether the collector runs each time an issue page is rendered (in this process)."""
    render = ISSUE_OUTPUTS["web"]

    def recorded(issue, ctx):
        seen.append(gc.isenabled())
        if fail:
            raise RenderError(f"issue {issue.id}: the page template is broken")
        return render(issue, ctx)

    monkeypatch.setitem(ISSUE_OUTPUTS, "web", recorded)


def test_the_collector_is_paused_while_the_build_runs_and_runs_again_after(archive, monkeypatch):
    seen: list[bool] = []
    record_collector(monkeypatch, seen)
    assert gc.isenabled()
    build(archive, now=NOW)
    assert seen and not any(seen)
    assert gc.isenabled()


def test_a_failing_build_turns_the_collector_back_on(archive, monkeypatch):
    seen: list[bool] = []
    record_collector(monkeypatch, seen, fail=True)
    with pytest.raises(RenderError):
        build(archive, now=NOW)
    assert seen == [False]
    assert gc.isenabled()


def test_a_collector_turned_off_by_the_caller_stays_off(archive):
    gc.disable()
    try:
        with collector_paused():
            pass
        build(archive, now=NOW)
        assert not gc.isenabled()
    finally:
        gc.enable()


@pytest.mark.usefixtures("no_other_threads")
def test_the_forked_workers_collect(archive, monkeypatch, tmp_path):
    monkeypatch.setattr(builder, "cpu_budget", two)
    monkeypatch.setattr(builder, "PARALLEL_MIN", 2)  # a few issues: forked workers render them
    marks = tmp_path / "marks"
    marks.mkdir()
    render = ISSUE_OUTPUTS["web"]

    def recorded(issue, ctx):
        (marks / f"{os.getpid()}-{'on' if gc.isenabled() else 'off'}").touch()
        return render(issue, ctx)

    monkeypatch.setitem(ISSUE_OUTPUTS, "web", recorded)
    build(archive, now=NOW)
    names = {path.name for path in marks.iterdir()}
    assert names and all(name.endswith("-on") for name in names), names
    assert not any(name.startswith(f"{os.getpid()}-") for name in names)  # all rendered in workers
