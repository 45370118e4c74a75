"""Broadcast (群发): the draft sent to every follower with ``message/mass/sendall``, exactly once.

发布 (``freepublish/submit``) puts an article on the account's page; only 群发 pushes it into
the followers' chats, and the account has a small quota of those (one a day for a subscription
account, four a month for a service account). So a broadcast must never go out twice:

1. Before the call, the ledger records ``broadcast_state: sending`` with the time and the
   ``clientmsgid`` (``<issue id>-<channel>``, the same on every run).
2. After WeChat accepts, the ledger records its ``msg_id``: from then on the issue is broadcast.
3. A rerun that finds ``sending`` without a msg_id (the process died between WeChat's answer
   and step 2, or the answer never came) sends again *with the same clientmsgid*: WeChat keeps
   clientmsgids for 24 hours and answers a repeat with 45065 and the first send's msg_id,
   which is recorded as the send, not made a second time.
4. When WeChat can no longer tell (the mark is older than 23 hours), or it refuses the repeat
   for another reason (no quota left: perhaps spent by the earlier attempt), the run stops and
   says what to check in the admin. Nothing is sent until the operator decides.

A refusal of a first attempt (quota, permissions) is certain: the mark is cleared, and the
next run tries again.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta, timezone

from pipeline.channels.base import Job, Result
from pipeline.channels.wechat_api import WechatAPI, WechatError
from pipeline.errors import ChannelError, PublishError
from pipeline.ledger import utcnow

DEDUPE_WINDOW = timedelta(hours=23)  # WeChat remembers a clientmsgid for 24 hours; an hour to spare
ALREADY_SENT = 45065
MAX_CLIENT_MSG_ID = 64  # bytes
FAILED_STATES = {"SEND_FAIL": "WeChat reports the broadcast failed", "DELETE": "the broadcast was deleted"}


def client_msg_id(job: Job) -> str:
    """The same id on every run for this issue and channel; at most 64 bytes."""
    text = f"{job.issue.id}-{job.channel}"
    if len(text.encode()) <= MAX_CLIENT_MSG_ID:
        return text
    return f"{job.issue.id[:40]}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def broadcast(job: Job, api: WechatAPI, media_id: str) -> Result:
    """Send the draft ``media_id`` to all followers once; a rerun never sends it again."""
    remote = job.ledger.remote(job.issue.id, job.channel)
    if remote.get("msg_id"):
        return _outcome(job, api, remote["msg_id"], "broadcast earlier")
    cid = remote.get("clientmsgid") or client_msg_id(job)
    earlier = remote.get("broadcast_at") if remote.get("broadcast_state") == "sending" else None
    if earlier and _age(earlier) > DEDUPE_WINDOW:
        raise ChannelError(_unknown(job, earlier, "WeChat recognises a repeated broadcast only within 24 hours"))
    if not earlier:
        job.ledger.set_remote(
            job.issue.id, job.channel, clientmsgid=cid, broadcast_state="sending", broadcast_at=utcnow()
        )
    try:
        answer = api.send_to_all(media_id, cid)
    except WechatError as exc:
        if exc.errcode == ALREADY_SENT and exc.answer.get("msg_id"):
            answer = exc.answer  # the earlier attempt went out: this is its record, not a new send
            job.log.warning("%s: wechat: WeChat already had this broadcast (clientmsgid %s)", job.issue.id, cid)
        elif earlier:
            raise ChannelError(_unknown(job, earlier, f"WeChat now answers: {exc}")) from None
        else:  # a first attempt refused: nothing went out, the next run may try again
            job.ledger.set_remote(job.issue.id, job.channel, broadcast_state="refused", broadcast_error=str(exc))
            raise
    except PublishError as exc:
        raise ChannelError(
            f"{exc}; the broadcast may or may not have gone out: a rerun within 23 hours repeats it with "
            f"clientmsgid {cid}, which WeChat never sends twice"
        ) from None
    msg_id = answer["msg_id"]
    job.ledger.set_remote(
        job.issue.id, job.channel, msg_id=msg_id, msg_data_id=answer.get("msg_data_id"), broadcast_state="sent"
    )
    job.log.info("%s: wechat broadcast accepted: msg_id %s", job.issue.id, msg_id)
    return _outcome(job, api, msg_id, "broadcast to all followers")


def _outcome(job: Job, api: WechatAPI, msg_id: int | str, what: str) -> Result:
    """The broadcast's state from ``mass/get``: sending or sent is done; failed or deleted is not."""
    try:
        status = api.mass_status(msg_id)
    except ChannelError as exc:  # the send is recorded; its state is only information
        job.log.warning("%s: wechat: cannot read the broadcast's state: %s", job.issue.id, exc)
        status = "unknown"
    job.ledger.set_remote(job.issue.id, job.channel, msg_status=status)
    if status in FAILED_STATES:
        raise ChannelError(
            f"{FAILED_STATES[status]} (msg_id {msg_id}, {status}); see 群发记录 in the Official Account admin "
            f"for the reason; it is not sent again by itself: `publish issue {job.issue.id} --channel {job.channel} "
            "--resend` makes a new draft and broadcast"
        )
    return Result(job.channel, "done", f"{what} (msg_id {msg_id}, {status})")


def _age(stamp: str) -> timedelta:
    return datetime.now(timezone.utc) - datetime.fromisoformat(stamp)


def _unknown(job: Job, since: str, why: str) -> str:
    """The operator's instructions when it cannot be known whether the followers got the issue."""
    return (
        f"an earlier broadcast attempt of {job.issue.id} at {since} (UTC) got no recorded answer, and {why}. "
        "Check 群发记录 in the Official Account admin (mp.weixin.qq.com): if the issue went out, there is nothing "
        "more to do (this channel stays failed and is never broadcast again by itself); if it did not, run "
        f"`publish issue {job.issue.id} --channel {job.channel} --resend` to broadcast it"
    )
