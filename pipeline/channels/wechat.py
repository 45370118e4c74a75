"""The WeChat channel: the issue as an Official Account article: a draft, published, broadcast, or exported.

``mode`` says how far it goes:

- ``draft`` (the default when app_id and app_secret are configured) uploads the images and the
  cover and adds a draft that a person publishes or broadcasts from the admin;
- ``publish`` also submits the draft (发布): the article is on the account, followers are not told;
- ``broadcast`` sends the draft to every follower (群发, ``message/mass/sendall``), exactly
  once (:mod:`pipeline.channels.wechat_broadcast`);
- ``export`` (the default without credentials, and the only way for accounts without the
  API) writes the paste page, the article, the draft/add payload and the images to
  ``<outbox>/<id>/``, offline, for an editor who pastes into the mp.weixin.qq.com editor.

Images are checked and, where WeChat would refuse them, converted before anything is sent
(:mod:`pipeline.channels.wechat_media`). Every step is recorded in the ledger as it completes
(uploaded images, the cover's media_id, the draft's media_id, the publish_id, the broadcast's
msg_id), so a rerun after a crash or a failure picks up where it stopped and never makes a
second draft or a second broadcast.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pipeline.atomic import write_atomic
from pipeline.channels.base import Channel, Job, Result
from pipeline.channels.wechat_content import fit_content, preview_page
from pipeline.channels.wechat_media import Cover, Prepared, choose_cover, is_url, on_wechat, prepare
from pipeline.errors import ChannelError, ConfigError
from pipeline.render.images import COVER, INLINE
from pipeline.render.wechat import WECHAT_LIMITS, WechatArticle

DEFAULT_API = "https://api.weixin.qq.com"
POLL_FIRST, POLL_MAX, POLL_BUDGET = 2.0, 30.0, 600.0  # seconds between freepublish/get polls, and in all
PUBLISH_STATES = {
    0: "published",
    1: "publishing",
    2: "原创声明失败 (originality check failed)",
    3: "常规失败 (failed)",
    4: "平台审核不通过 (rejected by review)",
    5: "deleted by the user after publishing",
    6: "banned by the platform after publishing",
}


class WechatChannel(Channel):
    """Upload images and cover, add the draft, then publish or broadcast it; or export it for pasting."""

    type = "wechat"
    sends = ("wechat.html",)

    def plan(self, job: Job) -> list[str]:
        art = self._article(job)
        mode = self._mode(job)
        fields, warnings = self._fields(job, art)
        cover = choose_cover(job, art)
        lines = [
            f"{mode}: “{fields['title']}” by {fields['author']}, {len(art.images)} image(s), "
            f"cover: {cover.origin if cover else 'none (a WeChat article needs one: set cover: or default_cover)'}"
        ]
        if mode == "export":
            return [*lines, f"write paste.html, article.html, draft.json and images/ to {self._outbox(job)}"]
        remote = job.ledger.remote(job.issue.id, job.channel)
        # What the real run would stop at, said now (the publisher reports it as "failed").
        self._credentials(job)
        if cover is None and "media_id" not in remote:
            raise ChannelError(
                f"{job.issue.id}: no cover: the WeChat API refuses an article without one; set cover: in issue.yaml or {job.options.key_path}.default_cover"
            )
        target = f"app {job.options.raw('app_id')} at {job.options.get('api_base', DEFAULT_API)}"
        lines.append(
            f"draft already added (media_id {remote['media_id']})"
            if "media_id" in remote
            else f"upload, then draft/add to {target}"
        )
        if mode == "publish":
            lines.append("then freepublish/submit and wait for the result")
        if mode == "broadcast":
            lines.append(
                f"already broadcast (msg_id {remote['msg_id']})"
                if remote.get("msg_id")
                else "then message/mass/sendall to all followers, once"
            )
        return lines + [f"warning: {w}" for w in warnings]

    def deliver(self, job: Job) -> Result:
        art = self._article(job)
        mode = self._mode(job)
        if mode == "export":
            return self._export(job, art)
        api = self._api(job)
        remote = job.ledger.remote(job.issue.id, job.channel)
        media_id = remote.get("media_id") or self._add_draft(job, api, art, remote)
        if mode == "draft":
            return Result(
                job.channel, "done", f"draft added (media_id {media_id}); publish it from the Official Account admin"
            )
        if mode == "broadcast":
            from pipeline.channels.wechat_broadcast import broadcast

            return broadcast(job, api, media_id)
        return self._publish(job, api, media_id, job.ledger.remote(job.issue.id, job.channel))

    # ------------------------------------------------------------ settings

    @staticmethod
    def _mode(job: Job) -> str:
        mode = job.options.get("mode")
        if mode:
            return mode
        return "draft" if "app_id" in job.options and "app_secret" in job.options else "export"

    @staticmethod
    def _article(job: Job) -> WechatArticle:
        try:
            return WechatArticle.from_built(job.outputs)
        except (OSError, ValueError, KeyError, TypeError) as exc:  # a build from before wechat.json, or damaged
            raise ChannelError(
                f"{job.issue.id}: the built WeChat article in {job.outputs} cannot be read "
                f"({type(exc).__name__}); run `publish build {job.issue.id} --force`"
            ) from None

    def _api(self, job: Job):
        from pipeline.channels.wechat_api import WechatAPI

        app_id, secret = self._credentials(job)
        return WechatAPI(
            job.options.get("api_base", DEFAULT_API),
            app_id,
            secret,
            job.ledger,
            timeout=float(job.options.get("timeout", 30)),
            stop=job.stop,
            logger=job.log,
        )

    def _credentials(self, job: Job) -> tuple[str, str]:
        try:
            app_id, secret = job.options.get("app_id"), job.options.get("app_secret")
        except ConfigError as exc:  # a ${VAR} not set: say which, never a value
            raise ChannelError(str(exc)) from None
        if not app_id or not secret:
            raise ChannelError(
                f"{job.options.key_path}: mode {self._mode(job)} needs app_id and app_secret (e.g. app_secret: ${{WECHAT_APP_SECRET}}); use mode: export to paste the article by hand"
            )
        return app_id, secret

    def _outbox(self, job: Job) -> Path:
        return job.config.root / job.options.get("outbox", "outbox/wechat") / job.issue.id

    def _fields(self, job: Job, art: WechatArticle) -> tuple[dict[str, str], list[str]]:
        """title, author and digest within WeChat's limits; a warning for each one shortened."""
        author = job.options.get("author") or job.config.site.author or ""
        fields = {"title": art.title, "author": author, "digest": art.digest}
        warnings = []
        for name, value in fields.items():
            limit = WECHAT_LIMITS[name]
            if len(value) > limit:
                fields[name] = value[: limit - 1] + "…"
                warnings.append(f"{name} shortened from {len(value)} to {limit} characters: “{fields[name]}”")
        return fields, warnings

    def _payload(self, job: Job, art: WechatArticle, content: str, thumb_media_id: str) -> dict[str, Any]:
        """One article of the draft/add body, every field within WeChat's limits."""
        fields, warnings = self._fields(job, art)
        content, cut = fit_content(content)
        if cut:
            warnings.append(
                f"content shortened to {len(content)} characters of HTML ({len(content.encode())} bytes); the rest is behind 阅读原文"
            )
        for warning in warnings:
            job.log.warning("%s: wechat: %s", job.issue.id, warning)
        return {
            "title": fields["title"],
            "author": fields["author"],
            "digest": fields["digest"],
            "content": content,
            "content_source_url": art.source_url,
            "thumb_media_id": thumb_media_id,
            "need_open_comment": 1 if job.options.get("open_comment") else 0,
            "only_fans_can_comment": 1 if job.options.get("only_fans_can_comment") else 0,
        }

    # ------------------------------------------------------------ export

    def _export(self, job: Job, art: WechatArticle) -> Result:
        """paste.html (copy into the editor), article.html, draft.json and the images, for an editor without the API.

        Images are converted to what the editor's upload takes, like the cover's; every one is
        read before the first file is written."""
        folder = self._outbox(job)
        local = {
            src: prepare(job, location, COVER) for src, location in art.images if not is_url(location)
        }  # a remote image is left as its URL: offline
        cover = choose_cover(job, art)
        cover_file = prepare(job, cover.location, COVER, cover.inside) if cover and not is_url(cover.location) else None
        names: dict[str, str] = {}
        for index, (src, image) in enumerate(local.items(), 1):
            names[src] = f"images/{index:02d}-{Path(image.name).stem}{image.suffix}"
            write_atomic(folder / names[src], image.data)
        cover_name = f"images/cover{cover_file.suffix}" if cover_file else None
        if cover_file and cover_name:
            write_atomic(folder / cover_name, cover_file.data)
        article_body = self._payload(job, art, art.html_with_images(names), "")
        draft = json.dumps({"articles": [article_body]}, ensure_ascii=False, indent=2) + "\n"
        write_atomic(folder / "draft.json", draft.encode("utf-8"))
        write_atomic(folder / "article.html", preview_page(article_body).encode("utf-8"))
        paste = self._write_paste_page(job, art, folder, article_body, names, cover_name)
        from pipeline.render.wechat_paste import is_public_site

        by_hand = 0 if is_public_site(job.config.site.url) else len(local)  # else the paste brings them along
        return Result(job.channel, "done", _export_message(folder, paste, cover_name, by_hand, art, cover))

    def _write_paste_page(
        self,
        job: Job,
        art: WechatArticle,
        folder: Path,
        body: dict[str, Any],
        names: dict[str, str],
        cover_name: str | None,
    ) -> Path:
        """``paste.html``: the page whose 复制到公众号 button copies the article for the editor."""
        from pipeline.render.context import RenderContext
        from pipeline.render.wechat_paste import render_paste_page

        # The page copies the article as sent (cut to fit, if it was), image srcs as in wechat.html.
        sent_html, _ = fit_content(art.html)
        page = render_paste_page(
            art,
            RenderContext(job.config, datetime.now(timezone.utc)),
            author=body["author"],
            limits=WECHAT_LIMITS,
            html=sent_html,
            local_srcs=names,
            cover_src=cover_name,
            default_cover=job.options.get("default_cover") or "",
        )
        write_atomic(folder / "paste.html", page)
        return folder / "paste.html"

    # ------------------------------------------------------------ draft

    def _add_draft(self, job: Job, api, art: WechatArticle, remote: dict[str, Any]) -> str:
        """Upload what is not uploaded yet, then draft/add; each step recorded as it completes."""
        uploaded: dict[str, str] = dict(remote.get("images") or {})
        thumb = remote.get("thumb_media_id")
        # Every image is read, checked and converted before the first upload: a bad one fails the run early.
        images: dict[str, Prepared] = {
            src: prepare(job, location, INLINE)
            for src, location in art.images
            if src not in uploaded and not on_wechat(location)
        }
        cover_file = None if thumb else self._cover_file(job, art)
        for src, image in images.items():
            uploaded[src] = api.upload_image(image.name, image.data, image.content_type)
            job.ledger.set_remote(job.issue.id, job.channel, images=uploaded)  # saved before the next upload
        if cover_file is not None:
            thumb, url = api.add_material(cover_file.name, cover_file.data, cover_file.content_type)
            job.ledger.set_remote(job.issue.id, job.channel, thumb_media_id=thumb, cover_url=url)
        body = self._payload(job, art, art.html_with_images(uploaded), str(thumb))
        media_id = api.add_draft(body)
        job.ledger.set_remote(job.issue.id, job.channel, media_id=media_id, mode=self._mode(job))
        job.log.info("%s: wechat draft added: media_id %s", job.issue.id, media_id)
        return media_id

    @staticmethod
    def _cover_file(job: Job, art: WechatArticle) -> Prepared:
        cover = choose_cover(job, art)
        if cover is None:
            raise ChannelError(
                f"{job.issue.id}: a WeChat article needs a cover image; set `cover:` in issue.yaml, "
                f"or default_cover under {job.options.key_path} in config.yaml"
            )
        return prepare(job, cover.location, COVER, cover.inside)

    # ------------------------------------------------------------ publish
    def _publish(self, job: Job, api, media_id: str, remote: dict[str, Any]) -> Result:
        """Submit the draft (unless a submitted task is still pending) and poll until it ends."""
        publish_id = remote.get("publish_id")
        if publish_id is None or remote.get("publish_status") not in (None, 0, 1):
            publish_id = api.submit(media_id)  # a failed task is submitted again on a rerun
            job.ledger.set_remote(job.issue.id, job.channel, publish_id=publish_id, publish_status=1)
        waited, delay = 0.0, POLL_FIRST
        while True:
            answer = api.publish_status(publish_id)
            status = int(answer.get("publish_status", -1))
            if status == 0:
                items = (answer.get("article_detail") or {}).get("item") or [{}]
                url = items[0].get("article_url")
                job.ledger.set_remote(
                    job.issue.id, job.channel, publish_status=0, article_url=url, article_id=answer.get("article_id")
                )
                return Result(job.channel, "done", f"published: {url}")
            if status != 1:
                reason = PUBLISH_STATES.get(status, f"unknown publish_status {status}")
                job.ledger.set_remote(
                    job.issue.id,
                    job.channel,
                    publish_status=status,
                    publish_error=reason,
                    fail_idx=answer.get("fail_idx"),
                )
                raise ChannelError(
                    f"publish task {publish_id} ended with publish_status {status}: {reason}; the draft (media_id {media_id}) is kept, a rerun submits it again"
                )
            if waited >= POLL_BUDGET:
                raise ChannelError(
                    f"publish task {publish_id} still publishing after {waited:.0f}s; a rerun checks it again"
                )
            if job.stop.wait(delay):
                return Result(
                    job.channel, "stopped", f"publish task {publish_id} still publishing; a rerun checks it again"
                )
            waited += delay
            delay = min(POLL_MAX, delay * 2)


# ---------------------------------------------------------------- messages


def _export_message(
    folder: Path, paste: Path, cover_name: str | None, by_hand: int, art: WechatArticle, cover: Cover | None
) -> str:
    """What the editor does next, in the words of the mp.weixin.qq.com editor, not of the API."""
    steps = f"open {paste} in a browser, click 复制到公众号, and paste into the mp.weixin.qq.com editor"
    uploads = []
    if cover_name:
        uploads.append(f"the cover ({folder / cover_name})")
    if by_hand:
        uploads.append(f"{by_hand} image(s) from {folder / 'images'} where the page marks them")
    if uploads:
        steps += "; then upload " + " and ".join(uploads) + " by hand"
    if cover is None:
        steps += "; the article has no cover yet: choose one in the editor"
    pasted = len(art.images) - by_hand
    if pasted:
        steps += f" ({pasted} image(s) come along with the paste from their web address)"
    return f"exported to {folder}: {steps}"
