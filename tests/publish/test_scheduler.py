"""The scheduler with a controlled clock: due, future, outside catch-up, retries, and SIGTERM mid-send."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import pytest
from conftest import REPO, paper_md, write
from fake_http import Answer, FakeHTTP

from pipeline.channels import http
from pipeline.config import load_config
from pipeline.ledger import Ledger
from pipeline.publish.scheduler import run_forever, run_pass

# publish_at defaults to the issue's date at 08:00 Asia/Shanghai.
OLD, DUE, FUTURE = "2025-03-01", "2025-03-10", "2025-03-20"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.fixture(autouse=True)
def fast(monkeypatch):
    monkeypatch.setattr(http, "BACKOFF", 0.01)


def make_site(root: Path, issues: tuple[str, ...] = (OLD, DUE, FUTURE)) -> Path:
    write(
        root / "config.yaml",
        """\
site:
  title: 测试论文速递
  url: https://digest.example.org/
  timezone: Asia/Shanghai
  publish_time: "08:00"
channels:
  feed: {type: feed}
  hook:
    type: webhook
    url: ${HOOK_URL}
schedule:
  poll: 1
  catch_up: 2d
""",
    )
    for issue_id in issues:
        write(
            root / "issues" / issue_id / "issue.yaml", f"title: 论文速递 {issue_id}\nsummary: {issue_id} 的三篇论文。\n"
        )
        write(root / "issues" / issue_id / "01-paper.md", paper_md("A Paper"))
    return root / "config.yaml"


@pytest.fixture
def site(tmp_path, monkeypatch):
    def make(server: FakeHTTP, issues: tuple[str, ...] = (OLD, DUE, FUTURE)):
        monkeypatch.setenv("HOOK_URL", server.url + "/hook")
        return load_config(make_site(tmp_path / "news", issues))

    return make


def states(config) -> dict[tuple[str, str], str]:
    with Ledger(config.state_path) as ledger:
        return {(run.issue_id, run.channel): run.state for run in ledger.runs()}


def announced(server: FakeHTTP) -> list[str]:
    return [request.json["id"] for request in server.requests]


def test_due_future_and_outside_catch_up(site):
    with FakeHTTP() as server:
        config = site(server)
        entries = run_pass(config, now=at("2025-03-10T09:00:00+08:00"))
        assert {(e.issue_id, e.channel, e.status) for e in entries} == {
            (OLD, "feed", "done"),
            (OLD, "hook", "skipped"),
            (DUE, "feed", "done"),
            (DUE, "hook", "done"),
        }
        assert announced(server) == [DUE]  # the old issue is not announced nine days late; the future one not yet
        skipped = next(e for e in entries if e.status == "skipped")
        assert f"publish issue {OLD} --channel hook" in skipped.detail
        assert states(config) == {
            (OLD, "feed"): "done",
            (OLD, "hook"): "skipped",
            (DUE, "feed"): "done",
            (DUE, "hook"): "done",
        }
        # The feeds carry both past issues, not the future one.
        items = json.loads((config.output_dir / "feed.json").read_text("utf-8"))["items"]
        assert [item["id"].rstrip("/").rsplit("/", 1)[1] for item in items] == [DUE, OLD]

        # The same moment again: everything is done or skipped, nothing is sent twice.
        assert run_pass(config, now=at("2025-03-10T09:05:00+08:00")) == []
        assert announced(server) == [DUE]

        # One minute before the future issue is due: still nothing; at its time: announced.
        assert run_pass(config, now=at("2025-03-20T07:59:00+08:00")) == []
        entries = run_pass(config, now=at("2025-03-20T08:00:00+08:00"))
        assert {(e.issue_id, e.channel, e.status) for e in entries} == {
            (FUTURE, "feed", "done"),
            (FUTURE, "hook", "done"),
        }
        assert announced(server) == [DUE, FUTURE]
        assert states(config)[(OLD, "hook")] == "skipped"


def test_catch_up_boundary(site):
    with FakeHTTP() as server:
        config = site(server, issues=(OLD,))
        # Due 2025-03-01 08:00 +08:00; catch_up 2d: still sent just inside the window.
        entries = run_pass(config, now=at("2025-03-03T07:59:00+08:00"))
        assert (OLD, "hook", "done") in {(e.issue_id, e.channel, e.status) for e in entries}
        assert announced(server) == [OLD]


def test_a_failed_send_is_tried_again_on_the_next_pass(site):
    with FakeHTTP(script=[Answer(400, "temporarily misconfigured")]) as server:
        config = site(server, issues=(DUE,))
        entries = run_pass(config, now=at("2025-03-10T09:00:00+08:00"))
        assert (DUE, "hook", "failed") in {(e.issue_id, e.channel, e.status) for e in entries}
        assert states(config)[(DUE, "hook")] == "failed"
        entries = run_pass(config, now=at("2025-03-10T09:01:00+08:00"))
        assert [(e.issue_id, e.channel, e.status) for e in entries] == [(DUE, "hook", "done")]
        assert len(server.requests) == 2


def test_run_forever_once_uses_the_given_clock(site):
    with FakeHTTP() as server:
        config = site(server)
        assert run_forever(config, once=True, now=lambda: at("2025-03-20T09:00:00+08:00")) == 0
        assert announced(server) == [FUTURE]  # the two older ones are outside catch-up by then
        assert states(config)[(DUE, "hook")] == "skipped"


def test_sigterm_mid_send_finishes_the_message_in_flight_and_exits_0(tmp_path):
    with FakeHTTP(delay=2.0) as server:
        # Two issues due within catch-up, so the second one would follow if the process went on.
        path = make_site(tmp_path / "news", issues=("2025-03-09", DUE))
        env = {**os.environ, "PYTHONPATH": str(REPO), "HOOK_URL": server.url + "/hook"}
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pipeline",
                "--config",
                str(path),
                "scheduler",
                "--now",
                "2025-03-10T12:00:00+08:00",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.arrived.wait(60), "the scheduler never sent anything"
            proc.send_signal(signal.SIGTERM)  # while the server holds its answer back
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert proc.returncode == 0, err
        assert "received SIGTERM" in err and "scheduler stopped" in err
        assert announced(server) == ["2025-03-09"]  # the second issue was not started
        config = load_config(path)
        with Ledger(config.state_path) as ledger:
            row = ledger.delivery("2025-03-09", "hook")
            assert row["state"] == "sent" and row["response"].startswith("HTTP 200")
            assert ledger.run("2025-03-09", "hook").state == "done"
            assert ledger.run(DUE, "hook") is None and ledger.run(DUE, "feed") is None


def test_a_broken_issue_folder_does_not_hold_back_the_others(site):
    with FakeHTTP() as server:
        config = site(server, issues=(DUE,))
        # Next issue, half written: its folder has an error the whole time the scheduler runs.
        write(config.issues_dir / FUTURE / "issue.yaml", "summary: 还没有标题\n")
        entries = run_pass(config, now=at("2025-03-10T09:00:00+08:00"))
        assert (DUE, "hook", "done") in {(e.issue_id, e.channel, e.status) for e in entries}
        assert announced(server) == [DUE]


def test_a_paused_send_waits_for_a_person(site):
    with FakeHTTP() as server:
        config = site(server, issues=(DUE,))
        with Ledger(config.state_path) as ledger:  # as the email channel leaves it past max_errors
            ledger.start_run(DUE, "hook", "hash")
            ledger.finish_run(DUE, "hook", "paused", "paused: 50 failures passed max_errors")
        entries = run_pass(config, now=at("2025-03-10T09:00:00+08:00"))
        assert (DUE, "hook", "paused") in {(e.issue_id, e.channel, e.status) for e in entries}
        assert announced(server) == []
        assert states(config)[(DUE, "hook")] == "paused"


def test_a_failed_send_of_an_old_issue_waits_for_a_person(site):
    """A `--resend` of an old issue that failed is not finished later by the timer."""
    with FakeHTTP() as server:
        config = site(server, issues=(OLD,))
        with Ledger(config.state_path) as ledger:  # as `publish issue OLD --resend` leaves it when it fails
            ledger.start_run(OLD, "hook", "hash")
            ledger.finish_run(OLD, "hook", "failed", "subscribers.csv:2: not UTF-8 text")
        entries = run_pass(config, now=at("2025-03-10T09:00:00+08:00"))
        failed = [e for e in entries if (e.issue_id, e.channel) == (OLD, "hook")]
        assert [e.status for e in failed] == ["failed"]
        assert "publish issue 2025-03-01 --channel hook" in failed[0].detail
        assert announced(server) == []
        assert states(config)[(OLD, "hook")] == "failed"


# ---------------------------------------------------------------- example text, failures, status


def scaffold_issue(config, day: str, slug: str = "scaffold") -> str:
    """An issue as `publish new` writes it, made ready (draft line removed) and nothing else."""
    from pipeline.authoring.scaffold import new_issue

    folder = new_issue(config, day, slug, "测试")
    path = folder / "issue.yaml"
    path.write_text(
        "".join(line for line in path.read_text("utf-8").splitlines(True) if not line.startswith("draft:")), "utf-8"
    )
    return folder.name


def test_example_text_is_found_on_the_loaded_issue_with_its_lines(site):
    from pipeline.errors import SCAFFOLD_TEXT
    from pipeline.publish.publisher import example_text_left, load_one

    with FakeHTTP() as server:
        config = site(server, issues=(DUE,))
        issue_id = scaffold_issue(config, DUE)
        found = example_text_left(load_one(config, issue_id))
        folder = config.issues_dir / issue_id
        assert [(Path(p.path), p.line, p.code, p.is_error) for p in found] == [
            (folder / "issue.yaml", 2, SCAFFOLD_TEXT, True),  # summary
            (folder / "issue.yaml", 3, SCAFFOLD_TEXT, True),  # intro
            (folder / "01-example.md", 11, SCAFFOLD_TEXT, True),  # the entry's lead, first of 7 paragraphs and items
        ]
        assert "7 paragraphs or list items" in found[2].message
        # Written issues hold none; the outro's example line may stay (an editor may keep it).
        assert example_text_left(load_one(config, DUE)) == []
        (folder / "issue.yaml").write_text(
            "title: 测试\nsummary: 本期一篇论文。\nintro: 为什么选它。\noutro: |\n  欢迎转发给需要的朋友。\n", "utf-8"
        )
        assert [(Path(p.path).name, p.line) for p in example_text_left(load_one(config, issue_id))] == [
            ("01-example.md", 11)
        ]


def test_an_issue_with_example_text_is_refused_and_the_others_go_on(site, caplog):
    with FakeHTTP() as server:
        config = site(server, issues=(DUE,))
        issue_id = scaffold_issue(config, DUE)
        with caplog.at_level("INFO", logger="pipeline.scheduler"):
            assert run_forever(config, once=True, now=lambda: at("2025-03-10T09:00:00+08:00")) == 1  # cron sees it
        assert announced(server) == [DUE]  # the written issue went out, the scaffold did not
        [refused] = [r for r in caplog.records if "refused" in r.getMessage()]
        assert refused.levelname == "WARNING"
        message = refused.getMessage()
        assert message.startswith(f"{issue_id} feed, hook: refused: still holds example text from `publish new` at ")
        for place in (
            f"issues/{issue_id}/issue.yaml:2",
            f"issues/{issue_id}/issue.yaml:3",
            f"issues/{issue_id}/01-example.md:11",
        ):
            assert place in message
        assert (issue_id, "hook") not in states(config) and (issue_id, "feed") not in states(config)  # nothing recorded
        # Refused on every pass until written; then the next pass sends it.
        again = run_pass(config, now=at("2025-03-10T09:01:00+08:00"))
        assert [(e.issue_id, e.status) for e in again] == [(issue_id, "refused")]
        folder = config.issues_dir / issue_id
        write(folder / "issue.yaml", "title: 测试\nsummary: 本期一篇关于证明的论文。\n")
        write(folder / "01-example.md", paper_md("Proof Automation"))
        entries = run_pass(config, now=at("2025-03-10T09:02:00+08:00"))
        assert {(e.issue_id, e.channel, e.status) for e in entries} == {
            (issue_id, "feed", "done"),
            (issue_id, "hook", "done"),
        }
        assert announced(server) == [DUE, issue_id]


def test_publish_issue_refuses_example_text_but_previews_are_no_sends(site):
    from pipeline.errors import IssueError
    from pipeline.publish.publisher import publish_issue

    with FakeHTTP() as server:
        config = site(server, issues=(DUE,))
        issue_id = scaffold_issue(config, DUE)
        now = at("2025-03-10T09:00:00+08:00")
        for dry_run in (False, True):  # a dry run says what the real run would do
            with pytest.raises(IssueError) as caught:
                publish_issue(config, issue_id, now=now, dry_run=dry_run)
            assert str(caught.value) == (
                f"{issue_id} still holds example text from `publish new` "
                "(issue.yaml:2, issue.yaml:3, 01-example.md:11); nothing was published"
            )
            assert f"`publish check {issue_id}`" in caught.value.hint and "--test-to" in caught.value.hint
        assert announced(server) == [] and states(config) == {}


def test_once_exits_1_when_a_channel_failed_and_logs_it_as_a_warning(site, caplog):
    with FakeHTTP(script=[Answer(400, "暂时配置错误")]) as server:
        config = site(server, issues=(DUE,))
        with caplog.at_level("INFO", logger="pipeline.scheduler"):
            assert run_forever(config, once=True, now=lambda: at("2025-03-10T09:00:00+08:00")) == 1
        levels = {r.getMessage().split(":")[0]: r.levelname for r in caplog.records if r.getMessage().startswith(DUE)}
        assert levels == {f"{DUE} feed": "INFO", f"{DUE} hook": "WARNING"}
        # The next pass retries and succeeds: exit 0.
        assert run_forever(config, once=True, now=lambda: at("2025-03-10T09:01:00+08:00")) == 0
        assert states(config)[(DUE, "hook")] == "done"


def test_a_paused_send_makes_once_exit_1(site, caplog):
    with FakeHTTP() as server:
        config = site(server, issues=(DUE,))
        with Ledger(config.state_path) as ledger:
            ledger.start_run(DUE, "hook", "hash")
            ledger.finish_run(DUE, "hook", "paused", "paused: 50 failures passed max_errors")
        with caplog.at_level("INFO", logger="pipeline.scheduler"):
            assert run_forever(config, once=True, now=lambda: at("2025-03-10T09:00:00+08:00")) == 1
        assert [r.levelname for r in caplog.records if "hook: paused" in r.getMessage()] == ["WARNING"]


def test_the_long_running_scheduler_goes_on_after_a_failed_pass(site):
    import threading

    with FakeHTTP(script=[Answer(400, "暂时配置错误")]) as server:
        config = site(server, issues=(DUE,))
        stop = threading.Event()

        def stop_when_sent() -> None:
            for _ in range(200):
                if len(server.requests) >= 2:
                    break
                threading.Event().wait(0.05)
            stop.set()

        watcher = threading.Thread(target=stop_when_sent)
        handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}  # run_forever sets its own
        watcher.start()
        try:  # poll: 1 second; the first pass fails, the second retries
            assert run_forever(config, now=lambda: at("2025-03-10T09:00:00+08:00"), stop=stop) == 0
        finally:
            stop.set()
            watcher.join()
            for sig, handler in handlers.items():
                signal.signal(sig, handler)
        assert len(server.requests) == 2 and states(config)[(DUE, "hook")] == "done"


def test_skip_reason_gives_the_due_time_in_the_site_zone(site):
    with FakeHTTP() as server:
        config = site(server, issues=(OLD,))
        [skipped] = [e for e in run_pass(config, now=at("2025-03-10T09:00:00+08:00")) if e.status == "skipped"]
        assert skipped.detail.startswith(f"due {OLD} 08:00:00 +08:00, more than 2 days ago; ")
        with Ledger(config.state_path) as ledger:
            assert ledger.run(OLD, "hook").last_error == skipped.detail  # what `publish status` shows as why:


def test_upcoming_lists_unsent_issues_with_their_due_time(site):
    from pipeline.publish.scheduler import upcoming

    with FakeHTTP() as server:
        config = site(server, issues=(DUE, FUTURE))
        draft = config.issues_dir / "2025-03-21" / "issue.yaml"
        write(draft, "title: 草稿\ndraft: true\n")
        write(draft.parent / "01-paper.md", paper_md("Draft"))
        write(config.issues_dir / "2025-03-22" / "issue.yaml", "summary: 还没有标题\n")  # half written
        now = at("2025-03-10T07:00:00+08:00")  # DUE is due at 08:00
        with Ledger(config.state_path) as ledger:
            rows = [(u.issue_id, u.channels, u.state, u.due) for u in upcoming(config, ledger, now)]
            assert rows == [
                (DUE, "(all channels)", "scheduled", f"{DUE} 08:00:00 +08:00"),
                (FUTURE, "(all channels)", "scheduled", f"{FUTURE} 08:00:00 +08:00"),
                ("2025-03-22", "(all channels)", "invalid", "-"),
            ]
            [one] = upcoming(config, ledger, now, "2025-03-21")  # named: shown whatever its state
            assert (one.state, one.due) == ("draft", "2025-03-21 08:00:00 +08:00") and "draft: true" in one.note
        run_pass(config, now=at("2025-03-10T09:00:00+08:00"))
        with Ledger(config.state_path) as ledger:  # DUE is in the ledger now: only FUTURE and the broken one are left
            assert [u.issue_id for u in upcoming(config, ledger, at("2025-03-10T09:00:00+08:00"))] == [
                FUTURE,
                "2025-03-22",
            ]
