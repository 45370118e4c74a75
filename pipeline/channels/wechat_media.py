"""The wechat channel's images: found, read, checked and converted before the first upload.

Every image of an article, and its cover, goes through :func:`prepare` before anything is
sent, so an image that cannot be read fails the run with its file name and nothing uploaded.
What WeChat refuses (webp, tiff, a 3 MB png, …) is converted by :mod:`pipeline.render.images`;
the converted file is kept in ``<state>/wechat/images/<sha256>-<target>.<ext>``, keyed by the
source's bytes, so a rerun (after a failed upload, say) does not convert it again.

The cover is the issue's ``cover:``, else the channel's ``default_cover`` (a file in the
newsletter folder), else the article's first image.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from pipeline.atomic import write_atomic
from pipeline.channels.base import Job
from pipeline.errors import ChannelError
from pipeline.render import images
from pipeline.render.images import Target
from pipeline.render.wechat import WechatArticle


@dataclass(frozen=True)
class Prepared:
    """An image ready to upload: the file name to send, its bytes and content type."""

    name: str
    data: bytes
    kind: str  # png, jpeg, gif or bmp
    converted: bool = False

    @property
    def content_type(self) -> str:
        return f"image/{self.kind}"

    @property
    def suffix(self) -> str:
        return images.SUFFIX[self.kind]


@dataclass(frozen=True)
class Cover:
    """Where the cover comes from (for messages) and where it is read."""

    origin: str  # "cover: in issue.yaml", "default_cover assets/x.png", "the first image"
    location: str  # a file path or a URL
    inside: Path | None  # the folder a local file must stay in


def is_url(location: str) -> bool:
    return urlsplit(location).scheme in ("http", "https")


def on_wechat(location: str) -> bool:
    """Images already on WeChat's servers are used as they are."""
    host = urlsplit(location).hostname or ""
    return is_url(location) and (host == "qpic.cn" or host.endswith(".qpic.cn"))


def choose_cover(job: Job, art: WechatArticle) -> Cover | None:
    """The issue's cover, else ``default_cover``, else the first image; None when there is none."""
    if art.cover:
        return Cover("cover: in issue.yaml", art.cover[1], job.outputs)
    default = job.options.get("default_cover")
    if default:
        problem = images.file_problem(job.config.root, default)
        if problem:
            raise ChannelError(
                f"{job.options.key_path}.default_cover: {problem}",
                hint="point it at an image inside the newsletter folder, e.g. assets/wechat-cover.png",
            )
        return Cover(f"default_cover {default}", str(job.config.root / default), job.config.root)
    if art.images:
        return Cover("the first image", art.images[0][1], job.outputs)
    return None


def prepare(job: Job, location: str, target: Target, inside: Path | None = None) -> Prepared:
    """The image at ``location`` as ``target`` takes it, converted (and cached) when needed."""
    name, data = read_image(job, location, inside or job.outputs)
    try:
        fitted, kind, converted = _cached_fit(job, data, target)
    except ValueError as exc:
        raise ChannelError(f"{job.issue.id}: image {name} cannot be used: {exc}") from None
    if converted:
        job.log.info(
            "%s: wechat: %s converted to %s (%d bytes) for %s", job.issue.id, name, kind, len(fitted), target.name
        )
        name = Path(name).stem + images.SUFFIX[kind]
    return Prepared(name, fitted, kind, converted)


def read_image(job: Job, location: str, inside: Path) -> tuple[str, bytes]:
    """``(file name, bytes)`` of a local file (which must stay inside ``inside``) or a URL."""
    if is_url(location):
        return Path(urlsplit(location).path).name or "image", _fetch(job, location)
    path = Path(location).resolve()
    if inside.resolve() not in path.parents:
        raise ChannelError(f"{job.issue.id}: image {location} is outside {inside}")
    try:
        return path.name, path.read_bytes()
    except OSError as exc:
        raise ChannelError(f"{job.issue.id}: cannot read image {location}: {exc.strerror}") from None


def _fetch(job: Job, url: str) -> bytes:
    import requests

    try:
        response = requests.get(url, timeout=float(job.options.get("timeout", 30)))
        response.raise_for_status()
    except requests.exceptions.RequestException as exc:
        raise ChannelError(f"{job.issue.id}: cannot fetch image {url} ({type(exc).__name__})") from None
    return response.content


def cache_dir(job: Job) -> Path:
    return job.config.state_dir / "wechat" / "images"


def _cached_fit(job: Job, data: bytes, target: Target) -> tuple[bytes, str, bool]:
    """:func:`images.fit`, with converted results kept in the state folder for the next run."""
    key = f"{hashlib.sha256(data).hexdigest()}-{target.name}"
    folder = cache_dir(job)
    for path in folder.glob(f"{key}.*") if folder.is_dir() else ():
        kind = images.sniff(cached := path.read_bytes())
        if target.accepts(kind, len(cached)):
            return cached, str(kind), True
    fitted, kind, converted = images.fit(data, target)
    if converted:
        write_atomic(folder / f"{key}{images.SUFFIX[kind]}", fitted)
    return fitted, kind, converted
