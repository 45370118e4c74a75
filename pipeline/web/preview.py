"""`publish preview`: the newsletter as its readers will see it, rebuilt on every change.

The preview builds into a scratch folder of its own (``<state folder>/preview/``: its own
``public/`` and build state), so it never touches ``public/``, never opens the ledger and never
sends anything. A thread watches ``issues/``, ``templates/`` and ``config.yaml`` (watchfiles) and
on each change checks again the issues that changed (:mod:`pipeline.build.recheck`; checking a
500-issue archive took a minute) and builds again, incrementally, as ``publish build`` does.
Every HTML page it serves
carries a bar at the top (the issue's email and WeChat views, and the problems ``publish check``
finds, with file:line) and a script that reloads the page when a build finishes (server-sent
events on ``/__preview/events``). An issue with errors keeps its last good render under the
problems, because only the issues without errors are built.
"""

from __future__ import annotations

import dataclasses
import html
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import unquote
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from pipeline.build.builder import build
from pipeline.build.recheck import CheckedIssue, CheckMemory
from pipeline.config import Config, load_config
from pipeline.errors import Problem, PublishError
from pipeline.model import is_issue_id
from pipeline.web.files import StaticFiles

log = logging.getLogger("pipeline.preview")
PREFIX = "/__preview/"
EVENTS_WAIT = 15.0  # seconds between keep-alive comments on the event stream
# The email as Gmail's apps show it in forced dark mode: they invert light backgrounds.
DARK = "filter:invert(1) hue-rotate(180deg)"
RELOAD = (
    "<script>(function(){var v=null,s=new EventSource('/__preview/events');"
    "s.onmessage=function(e){if(v!==null&&e.data!==v){location.reload();}v=e.data;};})();</script>"
)
STYLE = (
    "position:sticky;top:0;z-index:99999;margin:0;padding:6px 10px;font:13px/1.5 system-ui,sans-serif;"
    "background:#fffbe6;color:#222;border-bottom:1px solid #e0c060"
)


def scratch_config(config: Config) -> Config:
    """The config with its outputs and build state moved into the preview's scratch folder."""
    scratch = config.state_dir / "preview"
    return dataclasses.replace(config, output_dir=scratch / "public", state_path=scratch / "state.db")


class Preview:
    """The scratch build, what ``check`` says of it, and a counter that moves with each build."""

    def __init__(self, config_path: Path, now: Callable[[], datetime] | None = None) -> None:
        self.config_path = config_path
        self.now = now or (lambda: datetime.now(timezone.utc))
        self.version = 0
        self.problems: dict[str, list[str]] = {}  # issue id ("" for the site) → formatted problems
        self.error: str | None = None  # a config or build failure, shown on every page
        self.states: dict[str, str] = {}  # issue id → "" (public), or why it stays off the index
        self.config = scratch_config(load_config(config_path))
        self.memory = CheckMemory(self.config.state_dir / "checked.json")  # in the scratch folder
        self.changed = threading.Condition()

    def rebuild(self) -> None:
        """Check every issue, build those without errors, and tell the open pages."""
        started = time.monotonic()
        try:
            self.config = scratch_config(load_config(self.config_path))
            report = self.memory.check(self.config)  # the issues that changed, as `publish check` does
            self.problems = _by_issue(report.problems, self.config.root, self.config.issues_dir)
            valid = report.valid
            now = self.now()
            self.states = {issue_id: _state(report.issues[issue_id], now) for issue_id in valid}
            if valid:
                build(self.config, valid, now=now)  # the search index too: an edit costs its year, ~50 ms
            self.error = None
        except PublishError as exc:
            self.error = f"{exc}" + (f" — {exc.hint}" if exc.hint else "")
            log.warning("preview: %s", self.error)
        except Exception as exc:  # a file changing mid-build, say: the watcher must live on
            self.error = f"the build stopped ({type(exc).__name__}: {exc}); it runs again on the next change"
            log.warning("preview: %s", self.error)
        with self.changed:
            self.version += 1
            self.changed.notify_all()
        log.info("preview %d built in %.2fs", self.version, time.monotonic() - started)

    def wait(self, seen: int, timeout: float) -> int:
        """The version once it differs from ``seen``, or ``seen`` after ``timeout`` seconds."""
        with self.changed:
            self.changed.wait_for(lambda: self.version != seen, timeout)
            return self.version

    def watch(self, stop: threading.Event) -> None:
        """Build again after each change of the issues, the templates or config.yaml."""
        import watchfiles

        config = self.config
        folders = (config.issues_dir, config.templates_dir)

        def relevant(_change: Any, path: str) -> bool:  # not the scratch build's own writes
            changed = Path(path)
            return changed == self.config_path or any(changed.is_relative_to(f) for f in folders)

        # The newsletter folder (so that templates/ may appear later), and issues/ if elsewhere.
        watched = {str(config.root), *(str(f) for f in folders if f.exists())}
        for _ in watchfiles.watch(*sorted(watched), watch_filter=relevant, stop_event=stop, debounce=150, step=30):
            self.rebuild()


def _state(issue: CheckedIssue, now: datetime) -> str:
    """What keeps an issue off the index and the feeds, as the preview labels it."""
    if issue.draft:
        return "草稿：不会出现在索引和订阅源里，也不会发送"
    publish_at = datetime.fromisoformat(issue.publish_at or "")
    if publish_at > now:
        return f"定时：{publish_at:%Y-%m-%d %H:%M} 发布，此前不会出现在索引和订阅源里"
    return ""


def _by_issue(problems: Iterable[Any], root: Path, issues: Path) -> dict[str, list[str]]:
    grouped: dict[str, list[str]] = {}
    for problem in problems:
        try:  # the issue is the folder right under issues/ (the newsletter's own name may look like one)
            issue = Path(problem.path).relative_to(issues).parts[0]
        except (ValueError, IndexError):
            issue = ""
        grouped.setdefault(issue, []).append(_formatted(problem, root))
    return grouped


@lru_cache(maxsize=65536)  # each build shows every kept finding again: resolving its path costs ~0.3 ms
def _formatted(problem: Problem, root: Path) -> str:
    return problem.format(root)


class PreviewApp:
    """WSGI: the scratch site with the bar and the reload script, and the preview's own pages."""

    def __init__(self, preview: Preview) -> None:
        self.preview = preview

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = unquote(environ.get("PATH_INFO", "/"))
        if path == PREFIX + "events":
            start_response("200 OK", [("Content-Type", "text/event-stream"), ("Cache-Control", "no-store")])
            return self._events()
        if path == PREFIX + "version":
            return _answer(start_response, "200 OK", str(self.preview.version).encode(), "text/plain")
        for view in ("email", "wechat"):
            if path.startswith(f"{PREFIX}{view}/"):
                issue = path.removeprefix(f"{PREFIX}{view}/").strip("/")
                if issue not in self.preview.states:  # only a built issue, and never text from the URL
                    return _answer(start_response, "404 Not Found", b"no such issue", "text/plain; charset=utf-8")
                return _answer(start_response, "200 OK", self._page(issue, view), "text/html; charset=utf-8")
        files = StaticFiles(self.preview.config.output_dir)
        response = files.serve(environ.get("REQUEST_METHOD", "GET"), path, environ)
        body = response.body if isinstance(response.body, bytes) else b"".join(response.body)
        # Never cached: a page must come fresh after each build.
        dropped = ("content-length", "etag", "last-modified", "cache-control")
        headers = [(k, v) for k, v in response.headers if k.lower() not in dropped]
        # Shown inside the preview's own pages; the paste page as it is (its CSP admits only its own script).
        as_is = path.endswith(("/email.html", "/wechat.html", "/wechat-paste.html"))
        if not as_is and any(k.lower() == "content-type" and v.startswith("text/html") for k, v in headers):
            body = self._decorate(body, _issue_of(path))
        headers.append(("Cache-Control", "no-store"))
        headers.append(("Content-Length", str(len(body))))
        start_response(f"{response.status} {_reason(response.status)}", headers)
        return [body]

    def _events(self) -> Iterator[bytes]:
        seen = -1
        while True:
            version = self.preview.wait(seen, EVENTS_WAIT)
            yield f"data: {version}\n\n".encode() if version != seen else b": waiting\n\n"
            seen = version

    def _bar(self, issue: str) -> str:
        links = ['<a href="/">全部</a>']
        if issue:
            links += [
                f'<a href="/issues/{issue}/">网页</a>',
                f'<a href="{PREFIX}email/{issue}/">邮件</a>',
                f'<a href="{PREFIX}wechat/{issue}/">微信</a>',
            ]
            if (self.preview.config.output_dir / "issues" / issue / "wechat-paste.html").is_file():
                links.append(f'<a href="/issues/{issue}/wechat-paste.html">粘贴到公众号</a>')
        notes = [self.preview.states[issue]] if self.preview.states.get(issue) else []
        if not issue:  # the index lists every issue, drafts and scheduled ones too
            links += [
                f'<a href="/issues/{key}/">{key}{"（" + state.split("：")[0] + "）" if state else ""}</a>'
                for key, state in sorted(self.preview.states.items(), reverse=True)
            ]
        problems = ([self.preview.error] if self.preview.error else []) + self.preview.problems.get(issue, [])
        if not issue:
            problems += [p for key, found in self.preview.problems.items() if key for p in found]
        shown = "".join(f'<div style="color:#7a5a00">{html.escape(n)}</div>' for n in notes)
        items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
        listed = f'<ul style="margin:4px 0 0;padding-left:1.2em;color:#8a1f11">{items}</ul>' if items else ""
        return f'<div id="preview-bar" style="{STYLE}">预览 · {" · ".join(links)}{shown}{listed}</div>'

    def _decorate(self, body: bytes, issue: str) -> bytes:
        text = body.decode("utf-8", "replace")
        at = text.find(">", text.find("<body")) + 1 if "<body" in text else 0
        text = text[:at] + self._bar(issue) + text[at:]
        closing = text.rfind("</body>")
        text = text[:closing] + RELOAD + text[closing:] if closing >= 0 else text + RELOAD
        return text.encode("utf-8")

    def _page(self, issue: str, view: str) -> bytes:
        """The issue's email at 375 and 700 px, light and (as Gmail forces it) dark; or its
        WeChat article at phone width."""
        if view == "email":
            source = f"/issues/{issue}/email.html"
            frames = [(375, ""), (700, ""), (375, DARK), (700, DARK)]
        else:
            source = f"/issues/{issue}/wechat.html"
            frames = [(375, "")]
        cells = "".join(
            f'<figure style="display:inline-block;vertical-align:top;margin:8px">'
            f"<figcaption>{width}px{' · 深色' if dark else ''}</figcaption>"
            f'<iframe src="{source}" style="width:{width}px;height:900px;border:1px solid #ccc;{dark}"></iframe></figure>'
            for width, dark in frames
        )
        page = f'<!doctype html><html lang="zh-CN"><meta charset="utf-8"><title>预览 {issue}</title><body>{cells}</body></html>'
        return self._decorate(page.encode("utf-8"), issue)


def _issue_of(path: str) -> str:
    """The issue a page belongs to; only a valid issue id (the bar puts it into links)."""
    parts = [p for p in path.split("/") if p]
    issue = parts[1] if len(parts) > 1 and parts[0] == "issues" else ""
    return issue if is_issue_id(issue) else ""


def _answer(start_response: Callable[..., Any], status: str, body: bytes, kind: str) -> list[bytes]:
    start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body))), ("Cache-Control", "no-store")])
    return [body]


def _reason(status: int) -> str:
    from http import HTTPStatus

    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # open event streams must not keep the process alive


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: Any) -> None:  # every reload would print a line
        pass


def serve_preview(preview: Preview, host: str = "127.0.0.1", port: int = 8000) -> WSGIServer:
    """A server for ``preview`` on ``host:port`` (0: any free port); the caller serves it."""
    return make_server(host, port, PreviewApp(preview), server_class=_ThreadingServer, handler_class=_QuietHandler)
