"""A rebuild on two CPUs reads the manifest while a forked child signs the issue folders: the
same outputs and build memory as one process, and the folders signed by the build itself when
the child fails."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from types import SimpleNamespace

import pytest
from conftest import NOW

from pipeline.build import builder
from pipeline.build.builder import build
from tests.build.test_site_split import fresh, staged, state, tagged_archive, tree, two

# These tests fork from the test process (see conftest.no_other_threads).
pytestmark = pytest.mark.usefixtures("no_other_threads")


def record_signers(monkeypatch, folder: Path, fail: str | None = None) -> None:
    """Note the pid of each process that signs a folder. ``fail``: the child exits at once
    ("die"), or is killed halfway through writing its signatures back ("cut")."""
    folder.mkdir(exist_ok=True)
    sign, parent = builder.folder_signature, os.getpid()

    def recorded(path, settled):
        (folder / str(os.getpid())).touch()
        if fail == "die" and os.getpid() != parent:
            os._exit(9)  # as a kill would: nothing written back
        return sign(path, settled)

    monkeypatch.setattr(builder, "folder_signature", recorded)
    if fail == "cut":  # what the build reads: the first half of the pickle
        monkeypatch.setattr(builder, "pickle", SimpleNamespace(dumps=lambda v: pickle.dumps(v)[:50], **_loads))


_loads = {"loads": pickle.loads, "UnpicklingError": pickle.UnpicklingError}


def edit(config) -> None:
    entry = config.issues_dir / "2024-10-03/01-paper.md"
    entry.write_text(entry.read_text("utf-8") + "\n补充一句。\n", encoding="utf-8")


@pytest.fixture
def archive(newsletter, monkeypatch):
    monkeypatch.setattr(builder, "PARALLEL_MIN", 2)  # six issues are enough to fork for
    return tagged_archive(newsletter())


def one_process_after_an_edit(config, monkeypatch) -> tuple[dict, dict]:
    monkeypatch.setattr(builder, "cpu_budget", lambda: 1)
    build(config, now=NOW)
    edit(config)
    build(config, now=NOW)
    result = tree(config.output_dir), state(config)
    fresh(config)
    return result


@pytest.mark.parametrize("fail", [None, "die", "cut"])
def test_a_rebuild_signs_folders_in_a_child_with_the_result_of_one_process(archive, monkeypatch, tmp_path, fail):
    text = (archive.issues_dir / "2024-10-03/01-paper.md").read_text("utf-8")
    expected_tree, expected_state = one_process_after_an_edit(archive, monkeypatch)
    (archive.issues_dir / "2024-10-03/01-paper.md").write_text(text, encoding="utf-8")
    monkeypatch.setattr(builder, "cpu_budget", two)
    build(archive, now=NOW)
    edit(archive)
    signers = tmp_path / "signers"
    record_signers(monkeypatch, signers, fail)
    report = build(archive, now=NOW)
    assert report.built == ["2024-10-03"]
    assert tree(archive.output_dir) == expected_tree and state(archive) == expected_state
    pids = {int(p.name) for p in signers.iterdir()}
    assert len(pids - {os.getpid()}) == 1  # a child signed (or began to)
    assert (os.getpid() in pids) == bool(fail)  # and the build signed again only when the child failed
    assert staged(archive) == []
