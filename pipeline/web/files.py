"""HTTP pieces of the web endpoint that know nothing of subscribers: responses, form bodies,
and the archive's files served from the output folder with validators.

Files: only regular files below the output folder are served; a path with a segment that
starts with a dot (``..``, ``.staging`` temp files, dotfiles) or that resolves outside the
folder (a symlink pointing away) is answered 404, and so is one longer than any file there
can have (over 1024 bytes, or a name over 255), before the file system is asked. A folder
is answered with its ``index.html``; a folder asked for without its trailing slash is
redirected to it, because the pages link relatively. Every file carries a strong ETag (SHA-256 of its bytes, cached
by mtime and size) and Last-Modified; If-None-Match wins over If-Modified-Since (RFC 9110).
"""

from __future__ import annotations

import email.policy
import hashlib
import mimetypes
import threading
from collections.abc import Callable, Iterable
from email import message_from_bytes
from email.utils import formatdate, parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

MAX_BODY = 16 * 1024  # a signup or unsubscribe form is a few hundred bytes
# Longer paths or names than the output folder can hold are 404 before the file system sees them.
MAX_PATH, MAX_NAME = 1024, 255
FEED_TYPES = {  # by file name: the archive's feeds, the paper feeds and each tag's feed (tags/<slug>/)
    "rss.xml": "application/rss+xml",
    "atom.xml": "application/atom+xml",
    "feed.json": "application/feed+json",
    "papers.xml": "application/atom+xml",
    "papers.json": "application/feed+json",
    "feed.xml": "application/atom+xml",
}
TYPES = {
    ".html": "text/html",
    ".css": "text/css",
    ".txt": "text/plain",
    ".md": "text/markdown",
    ".xml": "application/xml",
    ".json": "application/json",
    ".bib": "application/x-bibtex",
    ".svg": "image/svg+xml",
    ".webp": "image/webp",
}
TEXTUAL = (
    "text/",
    "application/xml",
    "application/json",
    "application/rss+xml",
    "application/atom+xml",
    "application/feed+json",
    "application/x-bibtex",
    "image/svg+xml",
)
CHUNK = 64 * 1024


class Response:
    """A status, headers and a body (bytes, or an iterable of bytes for files)."""

    def __init__(
        self, status: int, body: bytes | Iterable[bytes] = b"", headers: list[tuple[str, str]] | None = None
    ) -> None:
        self.status, self.body, self.headers = status, body, headers or []


class BadRequest(Exception):
    """A request the app cannot read; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_form(environ: dict[str, Any]) -> dict[str, str]:
    """The fields of a urlencoded or multipart/form-data body (first value of each name).

    Raises BadRequest for a body that is too large or whose length is not a number.
    """
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise BadRequest(400, "Content-Length is not a number") from None
    if length > MAX_BODY:
        raise BadRequest(413, f"the request body is larger than {MAX_BODY} bytes")
    try:
        body = environ["wsgi.input"].read(length) if length > 0 else b""
    except TimeoutError:  # the server's socket timeout: the client announced more than it sent
        raise BadRequest(408, "the request body did not arrive in time") from None
    content_type = environ.get("CONTENT_TYPE", "")
    if content_type.lower().startswith("multipart/form-data"):
        return _multipart(content_type, body)
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def _multipart(content_type: str, body: bytes) -> dict[str, str]:
    # The email parser reads MIME multipart bodies; the cgi module is gone from Python 3.13.
    message = message_from_bytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body, policy=email.policy.HTTP
    )
    fields: dict[str, str] = {}
    if not message.is_multipart():
        return fields
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name and name not in fields:
            payload = part.get_payload(decode=True) or b""
            fields[str(name)] = payload.decode(part.get_content_charset() or "utf-8", "replace")
    return fields


class StaticFiles:
    """The output folder over HTTP (see the module docstring)."""

    def __init__(self, root: Path, fallback: Callable[[str], bytes | None] | None = None) -> None:
        self.root = root
        self.fallback = fallback
        self._etags: dict[str, tuple[int, int, str]] = {}
        self._lock = threading.Lock()

    def serve(self, method: str, path: str, environ: dict[str, Any]) -> Response:
        """Answer GET/HEAD for ``path`` (relative to the output folder)."""
        if method not in ("GET", "HEAD"):
            return _plain(405, "method not allowed", [("Allow", "GET, HEAD")])
        target = self._locate(path, environ.get("QUERY_STRING", ""))
        if isinstance(target, Response):
            return target
        if target is None:
            data = self.fallback(path) if self.fallback else None
            if data is None:
                return _plain(404, "not found")
            return Response(200, data, [("Content-Type", content_type(path)), ("Content-Length", str(len(data)))])
        try:
            return self._file(target, path, environ)
        except (FileNotFoundError, NotADirectoryError):  # gone since it was found: a build replaced it
            return _plain(404, "not found")

    def _locate(self, path: str, query: str = "") -> Path | Response | None:
        parts = [p for p in path.split("/") if p]
        if len(path.encode("utf-8", "replace")) > MAX_PATH or any(_unservable(p) for p in parts):
            return _plain(404, "not found")
        try:
            root = self.root.resolve()
            target = root.joinpath(*parts).resolve() if parts else root
            if target != root and root not in target.parents:
                return _plain(404, "not found")
            if target.is_dir():
                if parts and not path.endswith("/"):
                    # the query kept (a search link, ?q=…), quoted again: nothing raw reaches the header
                    kept = "?" + quote(_query_bytes(query), safe="=&%+;/?:@,!$'()*-._~") if query else ""
                    return Response(301, b"", [("Location", quote(parts[-1]) + "/" + kept), ("Content-Length", "0")])
                target = target / "index.html"
            return target if target.is_file() else None
        except OSError:  # a name the file system refuses (too long, a symlink loop): nothing to serve
            return _plain(404, "not found")

    def _file(self, target: Path, path: str, environ: dict[str, Any]) -> Response:
        stat = target.stat()
        etag = self._etag(target, stat.st_mtime_ns, stat.st_size)
        headers = [
            ("ETag", etag),
            ("Last-Modified", formatdate(stat.st_mtime, usegmt=True)),
            ("Cache-Control", "no-cache"),  # always revalidate: cheap with the validators above
            ("X-Content-Type-Options", "nosniff"),
        ]
        if _not_modified(environ, etag, stat.st_mtime):
            return Response(304, b"", headers)
        headers += [("Content-Type", content_type(target.name)), ("Content-Length", str(stat.st_size))]
        handle = target.open("rb")
        wrapper = environ.get("wsgi.file_wrapper")
        body = wrapper(handle, CHUNK) if wrapper else _chunks(handle)
        return Response(200, body, headers)

    def _etag(self, target: Path, mtime_ns: int, size: int) -> str:
        key = str(target)
        with self._lock:
            cached = self._etags.get(key)
        if cached and cached[:2] == (mtime_ns, size):
            return cached[2]
        digest = hashlib.sha256()
        with target.open("rb") as handle:
            for chunk in iter(lambda: handle.read(CHUNK), b""):
                digest.update(chunk)
        etag = f'"{digest.hexdigest()[:32]}"'
        with self._lock:
            self._etags[key] = (mtime_ns, size, etag)
        return etag


def _unservable(part: str) -> bool:
    """A path segment never served: hidden or relative (a dot first), odd bytes, or too long a name."""
    return part.startswith(".") or "\\" in part or "\0" in part or len(part.encode("utf-8", "replace")) > MAX_NAME


def content_type(name: str) -> str:
    """The Content-Type of a file name; feeds get their registered types, text gets UTF-8."""
    base = name.rsplit("/", 1)[-1]
    kind = (
        FEED_TYPES.get(base)
        or TYPES.get(Path(base).suffix.lower())
        or mimetypes.guess_type(base)[0]
        or "application/octet-stream"
    )
    return f"{kind}; charset=utf-8" if kind.startswith(TEXTUAL) else kind


def _not_modified(environ: dict[str, Any], etag: str, mtime: float) -> bool:
    if_none_match = environ.get("HTTP_IF_NONE_MATCH")
    if if_none_match is not None:
        tags = [t.strip().removeprefix("W/") for t in if_none_match.split(",")]
        return "*" in tags or etag in tags
    since = environ.get("HTTP_IF_MODIFIED_SINCE")
    if since:
        try:
            return int(mtime) <= parsedate_to_datetime(since).timestamp()
        except (TypeError, ValueError, IndexError):
            return False
    return False


def _chunks(handle) -> Iterable[bytes]:
    with handle:
        yield from iter(lambda: handle.read(CHUNK), b"")


def _plain(status: int, text: str, headers: list[tuple[str, str]] | None = None) -> Response:
    body = f"{status} {text}\n".encode()
    return Response(
        status,
        body,
        [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body))), *(headers or [])],
    )


def _query_bytes(query: str) -> bytes:
    """The request's query as it was sent: WSGI hands over its bytes decoded as Latin-1 (PEP 3333)."""
    try:
        return query.encode("latin-1")
    except UnicodeEncodeError:  # a server that decoded it otherwise
        return query.encode("utf-8", "surrogateescape")
