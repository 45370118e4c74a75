"""The WeChat channel: the issue as an Official Account article, as a draft, published, or exported.

``mode`` says how far it goes: ``draft`` (the default when app_id and app_secret are
configured) uploads the images and the cover and adds a draft a human publishes from the
admin; ``publish`` also submits the draft and waits for the result; ``export`` (the default
without credentials) writes the exact draft/add payload, its images and a preview to
``<outbox>/<id>/`` for manual upload, offline.

Every step is recorded in the ledger as it completes (uploaded images, the cover's media_id,
the draft's media_id, the publish_id), so a rerun after a crash or a failure picks up where
it stopped and never makes a second draft.
"""

from __future__ import annotations

import html as htmllib
import json
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pipeline.atomic import write_atomic
from pipeline.channels.base import Channel, Job, Result
from pipeline.errors import ChannelError, ConfigError
from pipeline.render.wechat import WECHAT_LIMITS, WechatArticle, text_length

DEFAULT_API = "https://api.weixin.qq.com"
INLINE_MAX = 1_000_000  # uploadimg: "jpg/png, under 1 MB"
COVER_MAX = 10 * 1024 * 1024  # add_material type=image: 10 MB, bmp/png/jpeg/jpg/gif
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
CUT_NOTE = '<p style="margin:1em 0;color:#888;">（全文较长，余下内容请点击“阅读原文”查看。）</p>'


class WechatChannel(Channel):
    """Upload images and cover, add the draft, optionally publish it; or export it for manual upload."""

    type = "wechat"
    sends = ("wechat.html",)

    def plan(self, job: Job) -> list[str]:
        art = self._article(job)
        mode = self._mode(job)
        fields, warnings = self._fields(job, art)
        lines = [
            f"{mode}: “{fields['title']}” by {fields['author']}, {len(art.images)} image(s), cover: {art.cover[0] if art.cover else 'none'}"
        ]
        if mode == "export":
            lines.append(f"write draft.json, article.html and images/ to {self._outbox(job)}")
        else:
            remote = job.ledger.remote(job.issue.id, job.channel)
            target = f"app {job.options.raw('app_id')} at {job.options.get('api_base', DEFAULT_API)}"
            lines.append(
                f"draft already added (media_id {remote['media_id']})"
                if "media_id" in remote
                else f"upload, then draft/add to {target}"
            )
            if mode == "publish":
                lines.append("then freepublish/submit and wait for the result")
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

        try:
            app_id, secret = job.options.get("app_id"), job.options.get("app_secret")
        except ConfigError as exc:  # a ${VAR} not set: say which, never a value
            raise ChannelError(str(exc)) from None
        if not app_id or not secret:
            raise ChannelError(
                f"{job.options.key_path}: mode {self._mode(job)} needs app_id and app_secret (e.g. app_secret: ${{WECHAT_APP_SECRET}}); use mode: export to upload by hand"
            )
        return WechatAPI(
            job.options.get("api_base", DEFAULT_API),
            app_id,
            secret,
            job.ledger,
            timeout=float(job.options.get("timeout", 30)),
            stop=job.stop,
            logger=job.log,
        )

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
        content, cut = shorten_html(
            content, WECHAT_LIMITS["content_chars"] - 200, WECHAT_LIMITS["content_bytes"] - 4096, CUT_NOTE
        )
        if cut:
            warnings.append(
                f"content shortened to {text_length(content)} characters of text ({len(content.encode())} bytes); the rest is behind 阅读原文"
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
        """draft.json (the draft/add body, images pointing at images/), the images and a preview."""
        folder = self._outbox(job)
        local: dict[str, str] = {}
        skipped = []
        for index, (src, location) in enumerate(art.images, 1):
            if _is_url(location):
                skipped.append(src)  # offline: a remote image is left as its URL
                continue
            name = f"images/{index:02d}-{Path(location).name}"
            write_atomic(folder / name, _read_local(job, location))
            local[src] = name
        if art.cover and not _is_url(art.cover[1]):
            write_atomic(folder / f"images/cover{Path(art.cover[1]).suffix.lower()}", _read_local(job, art.cover[1]))
        article_body = self._payload(job, art, art.html_with_images(local), "")
        draft = json.dumps({"articles": [article_body]}, ensure_ascii=False, indent=2) + "\n"
        write_atomic(folder / "draft.json", draft.encode("utf-8"))
        write_atomic(folder / "article.html", _preview(article_body).encode("utf-8"))
        detail = (
            f"exported to {folder}; upload the cover as thumb_media_id and the images with uploadimg, then draft/add"
        )
        if skipped:
            detail += f" ({len(skipped)} remote image(s) left as URLs)"
        return Result(job.channel, "done", detail)

    # ------------------------------------------------------------ draft

    def _add_draft(self, job: Job, api, art: WechatArticle, remote: dict[str, Any]) -> str:
        """Upload what is not uploaded yet, then draft/add; each step recorded as it completes."""
        uploaded: dict[str, str] = dict(remote.get("images") or {})
        # Every image is read and checked before the first upload: a bad one fails the run early.
        images = {
            src: _load(job, location, INLINE_MAX, ("png", "jpeg"))
            for src, location in art.images
            if src not in uploaded and not _on_wechat(location)
        }
        cover = art.cover or (art.images[0] if art.images else None)
        if cover is None:
            raise ChannelError(f"{job.issue.id}: a WeChat article needs a cover image; set `cover:` in issue.yaml")
        for src, (name, data, kind) in images.items():
            if src not in uploaded:
                uploaded[src] = api.upload_image(name, data, kind)
                job.ledger.set_remote(job.issue.id, job.channel, images=uploaded)  # saved before the next upload
        thumb = remote.get("thumb_media_id")
        if not thumb:
            name, data, kind = _load(job, cover[1], COVER_MAX, ("png", "jpeg", "gif", "bmp"))
            thumb, url = api.add_material(name, data, kind)
            job.ledger.set_remote(job.issue.id, job.channel, thumb_media_id=thumb, cover_url=url)
        body = self._payload(job, art, art.html_with_images(uploaded), thumb)
        media_id = api.add_draft(body)
        job.ledger.set_remote(job.issue.id, job.channel, media_id=media_id, mode=self._mode(job))
        job.log.info("%s: wechat draft added: media_id %s", job.issue.id, media_id)
        return media_id

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


# ---------------------------------------------------------------- images


def _is_url(location: str) -> bool:
    return urlsplit(location).scheme in ("http", "https")


def _on_wechat(location: str) -> bool:
    """Images already on WeChat's servers are used as they are."""
    host = urlsplit(location).hostname or ""
    return _is_url(location) and (host == "qpic.cn" or host.endswith(".qpic.cn"))


def _read_local(job: Job, location: str) -> bytes:
    """A file of the built issue (the build's copy of the issue folder's files); paths leaving it are refused."""
    path = Path(location).resolve()
    folder = job.outputs.resolve()
    if folder not in path.parents:
        raise ChannelError(f"{job.issue.id}: image {location} is outside the built issue folder")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ChannelError(f"{job.issue.id}: cannot read image {location}: {exc.strerror}") from None


def _load(job: Job, location: str, limit: int, formats: tuple[str, ...]) -> tuple[str, bytes, str]:
    """``(file name, bytes, content type)`` of an image, checked against WeChat's format and size rules."""
    if _is_url(location):
        import requests

        try:
            response = requests.get(location, timeout=float(job.options.get("timeout", 30)))
            response.raise_for_status()
        except requests.exceptions.RequestException as exc:
            raise ChannelError(f"{job.issue.id}: cannot fetch image {location} ({type(exc).__name__})") from None
        data, name = response.content, Path(urlsplit(location).path).name or "image"
    else:
        data, name = _read_local(job, location), Path(location).name
    kind = _image_kind(data)
    if kind not in formats:
        raise ChannelError(
            f"{job.issue.id}: image {name} is {kind or 'not a known image format'}; WeChat takes {'/'.join(formats)} here"
        )
    if len(data) >= limit:
        raise ChannelError(f"{job.issue.id}: image {name} is {len(data)} bytes; WeChat takes less than {limit}")
    return name, data, f"image/{kind}"


def _image_kind(data: bytes) -> str | None:
    """The format from the file's first bytes (the extension may lie)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data.startswith(b"BM"):
        return "bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


class _Cutter(HTMLParser):
    """Copies HTML until a budget of text characters or bytes runs out, keeping tags balanced."""

    VOID = {"br", "img", "hr", "wbr", "input", "meta", "source"}

    def __init__(self, max_chars: int, max_bytes: int) -> None:
        super().__init__(convert_charrefs=True)
        self.max_chars, self.max_bytes = max_chars, max_bytes
        self.out: list[str] = []
        self.stack: list[str] = []
        self.chars = self.size = 0
        self.full = False

    def _emit(self, text: str, chars: int = 0) -> None:
        closing = sum(len(tag) + 3 for tag in self.stack) + 1024  # room to close what is open, and the note
        if (
            self.full
            or self.chars + chars > self.max_chars
            or self.size + len(text.encode()) + closing > self.max_bytes
        ):
            self.full = True
            return
        self.out.append(text)
        self.chars += chars
        self.size += len(text.encode())

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self._emit(self.get_starttag_text() or f"<{tag}>")
        if not self.full and tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list) -> None:
        self._emit(self.get_starttag_text() or f"<{tag}>")

    def handle_endtag(self, tag: str) -> None:
        if not self.full and tag in self.stack:
            self._emit(f"</{tag}>")
            while self.stack and self.stack.pop() != tag:
                pass

    def handle_data(self, data: str) -> None:
        self._emit(htmllib.escape(data, quote=False), len(data) - data.count("\n"))


def shorten_html(markup: str, max_chars: int, max_bytes: int, note: str) -> tuple[str, bool]:
    """``markup`` cut to at most ``max_chars`` characters of text and ``max_bytes`` bytes, ``note`` appended
    inside the outermost element; ``(markup, False)`` when it already fits."""
    if text_length(markup) <= max_chars and len(markup.encode()) <= max_bytes:
        return markup, False
    cutter = _Cutter(max_chars, max_bytes)
    cutter.feed(markup)
    cutter.close()
    inner, outer = cutter.stack[1:], cutter.stack[:1]
    tail = "".join(f"</{tag}>" for tag in reversed(inner)) + note + "".join(f"</{tag}>" for tag in outer)
    return "".join(cutter.out) + tail + "\n", True


def _preview(body: dict[str, Any]) -> str:
    """article.html: the content as a page, to look at before uploading."""
    title = htmllib.escape(body["title"])
    return (
        f'<!DOCTYPE html>\n<html lang="zh-CN">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n</head>\n'
        f'<body style="max-width:677px;margin:0 auto;padding:16px;">\n<h1 style="font-size:22px;">{title}</h1>\n'
        f"{body['content']}</body>\n</html>\n"
    )
