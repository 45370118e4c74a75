"""The feed channel: the feeds are the build's job; this channel checks them and tells a WebSub hub.

`publish build` (run by the publisher before every delivery) writes ``rss.xml``, ``atom.xml``
and ``feed.json`` atomically, with the ``websub_hub`` link in each. Delivering an issue here
means: the feeds exist, their hash is recorded with the run, and when a hub is configured and
the feeds changed since the hub was last told, each feed URL is pinged with
``hub.mode=publish&hub.url=<feed url>``. The hash of the last ping is kept once per hub, so
publishing several issues from one build pings once.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from urllib.parse import urlencode

from pipeline.channels.base import Channel, Job, Result
from pipeline.channels.http import Stopped, host_of, post_with_retries
from pipeline.errors import ChannelError, ConfigError

FEEDS = ("rss.xml", "atom.xml", "feed.json")
HUB_TIMEOUT = 15.0


def feeds_hash(output_dir: Path) -> str | None:
    """sha256 over the three feed files, or None when one is missing."""
    digest = hashlib.sha256()
    for name in FEEDS:
        path = output_dir / name
        if not path.is_file():
            return None
        digest.update(name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


class FeedChannel(Channel):
    """Check the built feeds; ping the WebSub hub after a change."""

    type = "feed"
    mirrors_archive = True

    def plan(self, job: Job) -> list[str]:
        urls = [job.config.site.absolute(name) for name in FEEDS]
        lines = [f"feeds: {', '.join(urls)}"]
        hub = self._hub(job)
        if hub:
            digest = feeds_hash(job.config.output_dir)
            told = digest is not None and job.ledger.token(self._key(hub)) == digest
            lines.append(
                f"WebSub hub {hub}: "
                + ("already told about these feeds" if told else f"POST hub.mode=publish for {len(urls)} feed(s)")
            )
        return lines

    def is_done(self, job: Job) -> bool:
        """Done when the run is done and the feeds are still the ones it recorded."""
        run = job.ledger.run(job.issue.id, job.channel)
        if run is None or run.state != "done":
            return False
        digest = feeds_hash(job.config.output_dir)
        return digest is not None and run.remote.get("feeds_hash") == digest

    def deliver(self, job: Job) -> Result:
        out = job.config.output_dir
        digest = feeds_hash(out)
        if digest is None:
            missing = ", ".join(name for name in FEEDS if not (out / name).is_file())
            raise ChannelError(f"{out}: {missing} missing; run `publish build`")
        notes = [f"feeds up to date ({digest[:12]})"]
        if not self._in_feed(out, job):
            notes.append("this issue is not among the feed's newest items")
        hub = self._hub(job)
        if hub:
            try:
                notes.append(self._ping(job, hub, digest))
            except Stopped as exc:
                return Result(job.channel, "stopped", f"{exc}; the hub is pinged next time")
        job.ledger.set_remote(job.issue.id, job.channel, feeds_hash=digest, websub_hub=hub)
        return Result(job.channel, "done", "; ".join(notes))

    def _ping(self, job: Job, hub: str, digest: str) -> str:
        """Tell the hub each feed changed, unless it was already told about these exact feeds."""
        key = self._key(hub)
        if job.ledger.token(key) == digest:
            return f"hub {host_of(hub)} already notified"
        urls = [job.config.site.absolute(name) for name in FEEDS]
        job.ledger.add_pending(job.issue.id, job.channel, urls, digest)
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        for url in urls:
            data = urlencode({"hub.mode": "publish", "hub.url": url}).encode()
            try:
                response = post_with_retries(hub, data, headers, timeout=HUB_TIMEOUT, stop=job.stop, log=job.log)
                if not 200 <= response.status_code < 300:
                    raise ChannelError(
                        f"WebSub hub {host_of(hub)} refused {url}: HTTP {response.status_code} {response.text[:200]}".rstrip()
                    )
            except ChannelError as exc:
                job.ledger.record(job.issue.id, job.channel, url, "failed", error=str(exc))
                raise
            job.ledger.record(job.issue.id, job.channel, url, "sent", response=f"HTTP {response.status_code}")
        job.ledger.remember(key, digest)
        return f"pinged hub {host_of(hub)} for {len(urls)} feeds"

    @staticmethod
    def _in_feed(out: Path, job: Job) -> bool:
        try:
            items = json.loads((out / "feed.json").read_text("utf-8")).get("items", [])
        except (OSError, ValueError, AttributeError):
            return False
        link = job.config.site.absolute(job.issue.url_path)
        return any(item.get("url") == link for item in items)

    @staticmethod
    def _hub(job: Job) -> str | None:
        try:
            return job.options.get("websub_hub") or None
        except ConfigError as exc:
            raise ChannelError(str(exc)) from None

    @staticmethod
    def _key(hub: str) -> str:
        return f"websub:{hub}"
