"""mode: broadcast: the draft goes to every follower once, whatever happens between the calls.

Against the fake API, which keeps each clientmsgid for 24 hours (a repeat answers 45065 with
the first send's msg_id) and counts what actually went out in ``mass_sends``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, timedelta, timezone

import pytest
import test_wechat_channel
from conftest import REPO
from test_wechat_channel import ISSUE, publish, remote

from pipeline.errors import LedgerError
from pipeline.ledger import Ledger

fake, site = test_wechat_channel.fake, test_wechat_channel.site  # the fixtures, shared
SENDALL = "/cgi-bin/message/mass/sendall"
MASS_GET = "/cgi-bin/message/mass/get"


def set_remote(config, **values) -> None:
    with Ledger(config.state_path) as ledger:
        ledger.set_remote(ISSUE, "wechat", **values)


def refuse_to_record_the_msg_id(monkeypatch) -> None:
    """The process dies after WeChat accepted the broadcast and before the ledger has its msg_id."""
    real = Ledger.set_remote

    def dying(self, issue_id, channel, **values):
        if "msg_id" in values:
            raise LedgerError("simulated kill: the msg_id was never recorded")
        return real(self, issue_id, channel, **values)

    monkeypatch.setattr(Ledger, "set_remote", dying)


def test_broadcast_sends_the_draft_to_all_followers_once(site, fake):
    config = site(mode="broadcast")
    result = publish(config)
    assert result.status == "done", result.detail
    assert [c.path for c in fake.calls][-3:] == ["/cgi-bin/draft/add", SENDALL, MASS_GET]
    assert fake.count("/cgi-bin/freepublish/submit") == 0  # 群发 needs no 发布
    saved = remote(config)
    body = json.loads(fake.calls[-2].body)
    assert body == {
        "filter": {"is_to_all": True},
        "mpnews": {"media_id": saved["media_id"]},
        "msgtype": "mpnews",
        "send_ignore_reprint": 0,
        "clientmsgid": f"{ISSUE}-wechat",
    }
    [sent] = fake.mass_sends
    assert (
        saved["msg_id"] == sent.msg_id and saved["broadcast_state"] == "sent" and saved["msg_status"] == "SEND_SUCCESS"
    )
    assert str(sent.msg_id) in result.detail
    assert publish(config).status == "already done"
    assert len(fake.mass_sends) == 1 and fake.count(SENDALL) == 1


def test_resend_within_a_day_is_recognised_by_wechat_not_sent_again(site, fake):
    config = site(mode="broadcast")
    assert publish(config).status == "done"
    result = publish(config, resend=True)  # the ledger is forgotten; the clientmsgid is not
    assert result.status == "done", result.detail
    assert fake.count(SENDALL) == 2 and len(fake.mass_sends) == 1
    assert remote(config)["msg_id"] == fake.mass_sends[0].msg_id


def test_killed_after_wechat_accepted_the_rerun_records_the_send_instead_of_repeating_it(
    site,
    fake,
    monkeypatch,
):
    config = site(mode="broadcast")
    with monkeypatch.context() as patch:
        refuse_to_record_the_msg_id(patch)
        assert publish(config).status == "failed"
    saved = remote(config)
    assert len(fake.mass_sends) == 1 and "msg_id" not in saved and saved["broadcast_state"] == "sending"
    result = publish(config)
    assert result.status == "done", result.detail
    assert fake.count(SENDALL) == 2 and len(fake.mass_sends) == 1  # asked twice, sent once
    assert remote(config)["msg_id"] == fake.mass_sends[0].msg_id and str(fake.mass_sends[0].msg_id) in result.detail


def test_a_publisher_killed_while_wechat_answers_is_not_broadcast_twice(site, fake):
    config = site(mode="broadcast")
    fake.delay[SENDALL] = 30.0  # the send is done; the answer waits, and the process is killed meanwhile
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "pipeline", "--config", str(config.path), "issue", ISSUE, "--channel", "wechat"]
    process = subprocess.Popen(command, cwd=config.root, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not fake.mass_sends and time.monotonic() < deadline and process.poll() is None:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=30)
    assert len(fake.mass_sends) == 1, "the broadcast never reached the fake API"
    assert "msg_id" not in remote(config) and remote(config)["broadcast_state"] == "sending"
    fake.delay.clear()
    result = publish(config)
    assert result.status == "done", result.detail
    assert len(fake.mass_sends) == 1 and fake.count("/cgi-bin/draft/add") == 1


def test_after_a_day_wechat_cannot_tell_so_the_operator_is_asked(site, fake, monkeypatch):
    config = site(mode="broadcast")
    with monkeypatch.context() as patch:
        refuse_to_record_the_msg_id(patch)
        assert publish(config).status == "failed"
    long_ago = datetime.now(timezone.utc) - timedelta(hours=25)
    set_remote(config, broadcast_at=long_ago.isoformat(timespec="seconds"))
    fake.mass_sends[0].at -= 25 * 3600  # WeChat has forgotten the clientmsgid too
    result = publish(config)
    assert result.status == "failed"
    assert "群发记录" in result.detail and "--resend" in result.detail and "24 hours" in result.detail
    assert fake.count(SENDALL) == 1 and len(fake.mass_sends) == 1  # nothing was asked, nothing sent


def test_an_uncertain_attempt_then_a_refusal_stops_and_asks(site, fake, monkeypatch):
    config = site(mode="broadcast")
    with monkeypatch.context() as patch:
        refuse_to_record_the_msg_id(patch)
        assert publish(config).status == "failed"
    fake.errors[SENDALL] = 45028  # the earlier attempt may have spent the quota
    result = publish(config)
    assert result.status == "failed"
    assert "群发记录" in result.detail and "45028" in result.detail
    assert remote(config)["broadcast_state"] == "sending"  # still unknown: the next run asks again, never assumes
    assert len(fake.mass_sends) == 1


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (45028, ("no mass-send left", "try again tomorrow", "admin")),
        (45009, ("quota", "tomorrow")),
        (48001, ("mode: export", "paste", "mp.weixin.qq.com")),
    ],
)
def test_a_refused_first_broadcast_says_what_to_do_and_may_be_tried_again(site, fake, code, words):
    config = site(mode="broadcast")
    fake.errors[SENDALL] = code
    result = publish(config)
    assert result.status == "failed" and str(code) in result.detail
    for word in words:
        assert word in result.detail
    assert fake.count(SENDALL) == 1 and fake.mass_sends == []
    assert remote(config)["broadcast_state"] == "refused"
    del fake.errors[SENDALL]
    assert publish(config).status == "done"  # a certain refusal leaves nothing to check
    assert len(fake.mass_sends) == 1 and fake.count("/cgi-bin/draft/add") == 1


def test_no_quota_left_is_the_fake_accounts_own_answer_for_a_second_issue(site, fake):
    config = site(mode="broadcast")
    assert publish(config).status == "done"
    from test_wechat_channel import make_issue

    make_issue(config.root, "2025-03-02", title="第42期")
    result = publish(config, "2025-03-02")
    assert result.status == "failed" and "45028" in result.detail and "try again tomorrow" in result.detail
    assert len(fake.mass_sends) == 1


def test_a_failed_broadcast_is_reported_and_never_repeated_by_itself(site, fake):
    fake.mass_status = "SEND_FAIL"
    config = site(mode="broadcast")
    result = publish(config)
    assert result.status == "failed" and "SEND_FAIL" in result.detail and "群发记录" in result.detail
    assert publish(config).status == "failed"
    assert fake.count(SENDALL) == 1 and fake.count(MASS_GET) == 2


def test_dry_run_says_it_would_broadcast(site, fake):
    from conftest import NOW

    from pipeline.publish.publisher import publish_issue

    [result] = publish_issue(site(mode="broadcast"), ISSUE, ["wechat"], now=NOW, dry_run=True)
    assert result.status == "would send" and any("mass/sendall" in line for line in result.plan)
    assert fake.calls == []
