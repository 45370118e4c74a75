"""The newsletter's web endpoint: unsubscribe, double opt-in signup, the archive, health.

A plain WSGI application, so production runs it under any WSGI server::

    PUBLISH_CONFIG=/srv/digest/config.yaml gunicorn -w 2 'pipeline.web:app'
    PUBLISH_CONFIG=/srv/digest/config.yaml waitress-serve pipeline.web:app

and ``publish serve`` runs it with wsgiref for local use. Paths are relative to ``site.url``:
when that is ``https://example.org/digest/``, a request for ``/digest/unsubscribe`` (or
``/unsubscribe`` under ``SCRIPT_NAME=/digest``) reaches the unsubscribe handler.

- ``GET /unsubscribe?u=…`` (the token names the address; links of the earlier form
  ``?email=…&token=…`` still work) shows whose address it is and one button; a GET
  never changes anything, because mail scanners prefetch links.
- ``POST /unsubscribe?…`` unsubscribes at once: RFC 8058 one-click (body
  ``List-Unsubscribe=One-Click``; no cookie, no login, no redirect, 200) or the page's button.
- ``GET /subscribe`` is the subscription page the build also writes as
  ``subscribe/index.html``: the form, and how to unsubscribe (the public email copy's 退订
  link leads there). ``POST /subscribe`` makes a new address pending and mails it a signed,
  expiring link; ``GET /confirm?…`` shows a button, ``POST /confirm?…`` activates. A link
  mailed before the address unsubscribed, bounced or complained no longer works (a
  suppression wins; see ``subscribers.confirmable``): it gets one page that names neither
  the address nor the reason and offers the form. The answer to a signup is the same
  whether or not the address is already on the list, and the mail goes out from a
  background thread so that the response time does not tell either. When the email
  channel cannot send at all (a ``${VAR}`` it reads is not set: logged once at start),
  every signup is answered 503 "try later", again whoever the address belongs to.
- Everything else is a file from the output folder, with ETag/Last-Modified and 304s.

Signups are rate-limited in memory per client address (and confirmation mails per
recipient): each process counts on its own, so N worker processes allow N times the limit,
and a restart forgets. Behind a reverse proxy, REMOTE_ADDR is the proxy's address unless
the server rewrites it (waitress ``--trusted-proxy``) or PUBLISH_TRUST_FORWARDED=1 is set,
which takes the last X-Forwarded-For entry (the one your proxy added).
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from http import HTTPStatus
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit

from markupsafe import Markup

from pipeline.audience import subscribers, tokens
from pipeline.channels import mailing_channels
from pipeline.config import Config, load_config, require_env
from pipeline.errors import ConfigError
from pipeline.ledger import Ledger
from pipeline.web.files import BadRequest, Response, StaticFiles, parse_form

log = logging.getLogger("pipeline.web")
access = logging.getLogger("pipeline.web.access")

CONFIRM_TTL = 3 * 86400
REQUEST_TIMEOUT = 30  # seconds a client may stay silent while its request is read
MAX_REQUEST_LINE = 65536  # wsgiref's limit; a longer line is answered 414
SECURITY_HEADERS = [
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),  # the links carry tokens: never pass them on
    ("X-Frame-Options", "DENY"),
    (
        "Content-Security-Policy",
        "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    ("Cache-Control", "no-store"),
]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class RateLimiter:
    """At most ``limit`` events per ``window`` seconds per key (sliding window, in memory)."""

    def __init__(self, limit: int, window: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit, self.window, self.clock = limit, window, clock
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        """Count one event for ``key``; False (and not counted) when over the limit."""
        now = self.clock()
        with self._lock:
            if len(self._events) > 10_000:  # keep memory bounded under a flood of addresses
                self._events = {k: q for k, q in self._events.items() if q and q[-1] > now - self.window}
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(now)
            return True

    def retry_after(self, key: str) -> int:
        events = self._events.get(key)
        return max(1, int(events[0] + self.window - self.clock()) + 1) if events else 1


class Request:
    """What a handler needs of one WSGI request."""

    def __init__(self, environ: dict[str, Any], path: str, trust_forwarded: bool) -> None:
        self.environ = environ
        self.method = environ.get("REQUEST_METHOD", "GET").upper()
        self.path = path  # relative to the site root, no leading slash
        self.query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True).items()}
        self.client = environ.get("REMOTE_ADDR", "")
        forwarded = environ.get("HTTP_X_FORWARDED_FOR", "")
        if trust_forwarded and forwarded:
            self.client = forwarded.split(",")[-1].strip()
        self._form: dict[str, str] | None = None

    @property
    def form(self) -> dict[str, str]:
        if self._form is None:
            self._form = parse_form(self.environ)
        return self._form


class WebApp:
    """The WSGI application for one newsletter folder (see the module docstring)."""

    def __init__(
        self,
        config: Config,
        *,
        signup_limit: tuple[int, float] = (5, 3600),
        mail_limit: tuple[int, float] = (3, 86400),
        confirm_ttl: int = CONFIRM_TTL,
        trust_forwarded: bool = False,
    ) -> None:
        from pipeline.render.context import RenderContext

        self.config = config
        self.secret = tokens.load_secret(config)
        self.templates = RenderContext(config, datetime.now(timezone.utc)).templates
        self.prefix = urlsplit(config.site.url).path or "/"
        self.email_channel = next(iter(mailing_channels(config)), None)
        self.signups = RateLimiter(*signup_limit)
        self.mails = RateLimiter(*mail_limit)
        self.confirm_ttl = confirm_ttl
        self.trust_forwarded = trust_forwarded
        self.files = StaticFiles(config.output_dir, fallback=self._packaged)
        self._local = threading.local()
        self._mailer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="confirm-mail")
        self._sending: list[Future] = []
        # Routes are matched before files: the built subscribe/index.html never takes a POST.
        self.routes: dict[str, Callable[[Request], Response]] = {
            "unsubscribe": self.unsubscribe,
            "subscribe": self.subscribe,
            "confirm": self.confirm,
            "healthz": self.healthz,
        }
        problem = self.mail_problem()
        if problem:
            log.warning("%s; signups are answered 503 until it is fixed", problem)

    # plumbing -----------------------------------------------------------------------------

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = self._relative_path(environ)
        request = Request(environ, path, self.trust_forwarded)
        try:
            handler = self.routes.get(path.rstrip("/"))
            response = handler(request) if handler else self.files.serve(request.method, path, environ)
            if response.status == HTTPStatus.NOT_FOUND and not handler:
                response = self._message(
                    request, HTTPStatus.NOT_FOUND, "页面不存在", ["这个地址没有内容。可以从往期目录找找看。"]
                )
        except BadRequest as exc:
            response = self._message(request, exc.status, "请求无效", [str(exc)])
        except Exception:
            log.exception("error while answering %s %s", request.method, path)
            response = self._message(
                request, HTTPStatus.INTERNAL_SERVER_ERROR, "出错了", ["服务器内部错误，请稍后再试。"]
            )
        status = HTTPStatus(response.status)
        start_response(f"{status.value} {status.phrase}", response.headers)
        if request.method == "HEAD":
            getattr(response.body, "close", lambda: None)()  # an open file we will not read
            return [b""]
        return [response.body] if isinstance(response.body, bytes) else response.body

    def _relative_path(self, environ: dict[str, Any]) -> str:
        # PEP 3333: PATH_INFO holds the URL-decoded bytes as latin-1; our paths are UTF-8.
        full = (
            (environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")).encode("latin-1").decode("utf-8", "replace")
        )
        if full.startswith(self.prefix):
            return full[len(self.prefix) :]
        return full.lstrip("/")  # served at / locally although site.url has a sub-path

    @property
    def ledger(self) -> Ledger:
        """One ledger connection per thread (SQLite connections are not shared)."""
        ledger = getattr(self._local, "ledger", None)
        if ledger is None:
            ledger = self._local.ledger = Ledger(self.config.state_path)
        return ledger

    def wait_for_mail(self, timeout: float = 10.0) -> None:
        """Wait until the queued confirmation mails are sent (tests, shutdown)."""
        for future in list(self._sending):
            future.result(timeout=timeout)

    def _packaged(self, name: str) -> bytes | None:
        """style.css from the templates when the site is not built yet (pages stay readable)."""
        if name != "style.css":
            return None
        source, _, _ = self.templates.loader.get_source(self.templates, name)
        return source.encode("utf-8")

    def mail_problem(self) -> str | None:
        """Why the email channel cannot send confirmation mails at all (an unset ``${VAR}``), or None."""
        if not self.email_channel:
            return None
        try:
            require_env(self.config.channels[self.email_channel])
        except ConfigError as exc:
            return f"email channel {self.email_channel!r}: {exc}"
        return None

    def _page(self, status: int, template: str, **values: Any) -> Response:
        values.setdefault("email", "")
        values.setdefault("root", "./")
        values["address"] = breakable(values["email"])
        for name, default in (
            ("canonical", self.config.site.url),
            ("description", ""),
            ("og_type", "website"),
            ("og_title", self.config.site.title),
            ("og_image", None),
            ("noindex", True),
        ):
            values.setdefault(name, default)
        html = self.templates.get_template(template).render(**values).encode("utf-8")
        headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(html))), *SECURITY_HEADERS]
        return Response(status, html, headers)

    def _message(
        self, request: Request, status: int, heading: str, lines: list[str], *, show_form: bool = False, **extra: Any
    ) -> Response:
        extra.setdefault("note", "")
        extra.setdefault("note_link", None)
        extra.setdefault("root", "../" * request.path.count("/") or "./")  # relative links from where the page is
        return self._page(
            status,
            "page_message.html",
            heading=heading,
            lines=lines,
            show_form=show_form and bool(self.email_channel),
            **extra,
        )

    # handlers -----------------------------------------------------------------------------

    def healthz(self, request: Request) -> Response:
        """200 when the state database answers."""
        try:
            self.ledger.db.execute("SELECT 1").fetchone()
        except Exception as exc:  # the point is to report it, whatever it is
            return Response(
                503,
                f"ledger unavailable: {type(exc).__name__}\n".encode(),
                [("Content-Type", "text/plain; charset=utf-8")],
            )
        return Response(200, b"ok\n", [("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", "no-store")])

    def unsubscribe(self, request: Request) -> Response:
        """GET: the page with the button. POST: unsubscribe now (RFC 8058 one-click or the button)."""
        if request.method not in ("GET", "HEAD", "POST"):
            return self._not_allowed(request, "GET, HEAD, POST")
        address = tokens.unsubscribe_query_address(self.secret, request.query)
        if address is None:
            return self._message(
                request,
                HTTPStatus.FORBIDDEN,
                "链接无效",
                ["这个退订链接不完整或已被改动。请直接使用邮件底部的退订链接。"],
            )
        try:
            email = subscribers.normalize_address(address)
        except subscribers.InvalidAddress:
            return self._message(request, HTTPStatus.FORBIDDEN, "链接无效", ["这个退订链接中的邮箱地址无效。"])
        if request.method == "POST":
            method = "one-click" if request.form.get("List-Unsubscribe") == "One-Click" else "page"
            subscribers.unsubscribe(self.ledger, email, method)
            return self._message(
                request,
                HTTPStatus.OK,
                "已退订",
                [f"「{self.config.site.title}」不会再向这个地址发送邮件。"],
                email=email,
                note="如果是误操作，可以随时",
                note_link=("重新订阅", "subscribe"),
            )
        current = subscribers.get(self.ledger, email)
        action = "unsubscribe?" + urlencode(_unsubscribe_query(request.query))
        return self._page(
            HTTPStatus.OK,
            "page_unsubscribe.html",
            email=email,
            action=action,
            already=current is not None and current.suppressed,
        )

    def subscribe(self, request: Request) -> Response:
        """POST: a signup from the form. GET: the subscription page (the form, how to unsubscribe)."""
        if request.method in ("GET", "HEAD"):
            from pipeline.render.web import subscribe_page_values

            root = "../" * request.path.count("/") or "./"
            return self._page(
                HTTPStatus.OK, "page_subscribe.html", root=root, **subscribe_page_values(self.config.site)
            )
        if request.method != "POST":
            return self._not_allowed(request, "GET, HEAD, POST")
        if not self.email_channel:
            return self._message(
                request, HTTPStatus.NOT_FOUND, "未开通邮件订阅", ["这份通讯没有邮件版，可以用 RSS 订阅。"]
            )
        if not self.signups.allow(request.client):
            response = self._message(
                request, HTTPStatus.TOO_MANY_REQUESTS, "请稍后再试", ["提交次数太多了，请过一段时间再试。"]
            )
            response.headers.append(("Retry-After", str(self.signups.retry_after(request.client))))
            return response
        if self.mail_problem():  # logged at start; the same answer for every address, and nothing recorded
            return self._message(
                request,
                HTTPStatus.SERVICE_UNAVAILABLE,
                "暂时无法发送确认邮件",
                ["暂时无法发送确认邮件，请稍后再试。你的地址没有被记录。"],
            )
        form = request.form
        if form.get("website"):  # the hidden field only robots fill in: answer as usual, do nothing
            return self._check_inbox(request, "")
        try:
            email = subscribers.normalize_address(form.get("email", ""))
        except subscribers.InvalidAddress:
            return self._message(
                request,
                HTTPStatus.BAD_REQUEST,
                "邮箱地址有误",
                ["请检查邮箱地址的格式，例如 name@example.com。"],
                show_form=True,
            )
        name = subscribers.clean_name(form.get("name", ""))
        if subscribers.request_signup(self.ledger, email, name) == "confirm" and self.mails.allow(email):
            self._sending = [f for f in self._sending if not f.done()]
            self._sending.append(self._mailer.submit(self._send_confirmation, email, name))
        return self._check_inbox(request, email)

    def _check_inbox(self, request: Request, email: str) -> Response:
        days = max(1, self.confirm_ttl // 86400)
        return self._message(
            request,
            HTTPStatus.OK,
            "请查收确认邮件",
            [
                "如果这个地址可以订阅，我们已经向它发送了一封确认邮件。",
                f"请在 {days} 天内打开邮件中的链接完成订阅；没有收到的话，也请看看垃圾邮件文件夹。",
            ],
            email=email,
        )

    def confirm(self, request: Request) -> Response:
        """GET: the page with the button. POST: the address becomes active."""
        if request.method not in ("GET", "HEAD", "POST"):
            return self._not_allowed(request, "GET, HEAD, POST")
        address, token, expires = (request.query.get(k, "") for k in ("email", "token", "expires"))
        state = self._confirm_token_state(address, token, expires)
        if state == "expired":
            return self._message(
                request,
                HTTPStatus.FORBIDDEN,
                "链接已过期",
                ["这个确认链接已经过期。请重新提交订阅，我们会再发一封确认邮件。"],
                show_form=True,
            )
        if state != "ok":
            return self._message(
                request, HTTPStatus.FORBIDDEN, "链接无效", ["这个确认链接不完整或已被改动。请使用确认邮件中的链接。"]
            )
        email = subscribers.normalize_address(address)
        requested_at = int(expires) - self.confirm_ttl  # when the link was made (see tokens.confirm_url)
        current = subscribers.get(self.ledger, email)
        if not subscribers.confirmable(current, requested_at):
            return self._not_subscribed(request)
        if request.method == "POST":
            subscribers.confirm(self.ledger, email, requested_at=requested_at)
            after = subscribers.get(self.ledger, email)
            if after is None or after.status != "active":  # suppressed or erased in the meantime
                return self._not_subscribed(request)
            return self._message(
                request,
                HTTPStatus.OK,
                "订阅成功",
                [f"从下一期起，「{self.config.site.title}」会发送到这个地址。"],
                email=email,
                note="每封邮件底部都有退订链接，随时可以退订。",
            )
        action = "confirm?" + urlencode({"email": address, "expires": expires, "token": token})
        return self._page(
            HTTPStatus.OK,
            "page_confirm.html",
            email=email,
            action=action,
            already=current is not None and current.status == "active",
        )

    def _not_subscribed(self, request: Request) -> Response:
        """A genuine link that cannot confirm: the same page whatever the reason, naming no address."""
        return self._message(
            request,
            HTTPStatus.FORBIDDEN,
            "这个地址没有订阅",
            [
                f"这个确认链接已经不能使用，这个地址目前没有订阅「{self.config.site.title}」。",
                "如果想重新订阅，请在下面重新提交邮箱地址，并打开新的确认邮件中的链接。",
            ],
            show_form=True,
        )

    def _confirm_token_state(self, address: str, token: str, expires: str) -> str:
        """ok, expired (genuine but too old) or invalid."""
        try:
            when = int(expires)
            email = subscribers.normalize_address(address)
        except (ValueError, subscribers.InvalidAddress):
            return "invalid"
        if not token.isascii() or not hmac.compare_digest(tokens.sign(self.secret, "confirm", email, when), token):
            return "invalid"
        return "ok" if when >= time.time() else "expired"

    def _not_allowed(self, request: Request, allow: str) -> Response:
        response = self._message(request, HTTPStatus.METHOD_NOT_ALLOWED, "不支持的请求", ["这个地址不接受这种请求。"])
        response.headers.append(("Allow", allow))
        return response

    def _send_confirmation(self, email: str, name: str) -> None:
        from pipeline.mail.single import send_one

        try:
            url = tokens.confirm_url(self.config, self.secret, email, ttl=self.confirm_ttl)
            values = {"email": email, "name": name, "url": url, "days": max(1, self.confirm_ttl // 86400)}
            text = self.templates.get_template("confirm_email.txt").render(**values)
            html = self.templates.get_template("confirm_email.html").render(**values)
            subject = f"请确认订阅「{self.config.site.title}」"
            send_one(self.config, self.email_channel, email, name, subject, text, html)
        except Exception as exc:  # logged, never shown: the page must not depend on the outcome
            log.warning("confirmation mail to %s not sent: %s: %s", _masked(email), type(exc).__name__, exc)
            raise


def _unsubscribe_query(query: dict[str, str]) -> dict[str, str]:
    """The parameters of a verified unsubscribe link, for the page's button to post back as they came."""
    if query.get(tokens.UNSUBSCRIBE_KEY):
        return {tokens.UNSUBSCRIBE_KEY: query[tokens.UNSUBSCRIBE_KEY]}
    return {"email": query.get("email", ""), "token": query.get("token", "")}


def breakable(address: str) -> Markup:
    """An address (escaped) that may wrap after a dot or before the @, not mid-word, on a phone."""
    local, at, domain = address.partition("@")
    dotted = Markup(".<wbr>")
    return dotted.join(local.split(".")) + (Markup("<wbr>@") + dotted.join(domain.split(".")) if at else Markup(""))


def _masked(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def create_app(config: Config, **options: Any) -> WebApp:
    """The WSGI application for ``config`` (options: see WebApp)."""
    return WebApp(config, **options)


class _LazyApp:
    """``pipeline.web:app``: reads PUBLISH_CONFIG (default ./config.yaml) on the first request."""

    def __init__(self) -> None:
        self._app: WebApp | None = None
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        if self._app is None:
            with self._lock:
                if self._app is None:
                    config = load_config(Path(os.environ.get("PUBLISH_CONFIG", "config.yaml")))
                    self._app = create_app(config, trust_forwarded=os.environ.get("PUBLISH_TRUST_FORWARDED") == "1")
        return self._app(environ, start_response)


app = _LazyApp()


def make_server(application: Callable, host: str = "127.0.0.1", port: int = 8000, timeout: float = REQUEST_TIMEOUT):
    """A threaded wsgiref server for ``publish serve`` and tests; access lines without query strings.

    A client silent for ``timeout`` seconds while its request is read is disconnected, so that
    idle connections do not each hold a thread forever. Requests wsgiref refuses before the app
    sees them are answered by it: 414 for a request line over 64 KB, 400 for a malformed one.
    """
    import socket
    import socketserver
    from wsgiref.simple_server import WSGIRequestHandler, WSGIServer
    from wsgiref.simple_server import make_server as wsgiref_server

    class Server(socketserver.ThreadingMixIn, WSGIServer):
        daemon_threads = True

    class Handler(WSGIRequestHandler):
        # http.server assumes HTTP/0.9 until the request line says otherwise, and answers a
        # malformed line without a status line; nobody speaks 0.9 any more.
        default_request_version = "HTTP/1.0"

        def handle(self) -> None:
            try:
                super().handle()
                if len(self.raw_requestline) > MAX_REQUEST_LINE:
                    self._drain()
            except TimeoutError:
                access.info("%s timed out", self.client_address[0])

        def _drain(self) -> None:
            # Closing with unread input resets the connection, and the client may lose the 414.
            with contextlib.suppress(OSError):
                self.connection.shutdown(socket.SHUT_WR)
                self.connection.settimeout(1)
                for _ in range(16):
                    if not self.connection.recv(65536):
                        break

        def log_request(self, code: object = "-", size: object = "-") -> None:
            # The query string holds addresses and tokens: log the path only. A request refused
            # before it was read (too long, malformed) has no path.
            path = quote(getattr(self, "path", "").split("?", 1)[0], safe="/%") or "-"
            access.info('%s "%s %s" %s', self.client_address[0], self.command or "-", path, code)

        def log_message(self, format: str, *args: Any) -> None:
            access.warning("%s %s", self.client_address[0], re.sub(r"\?\S*", "?…", format % args))

    Handler.timeout = timeout
    return wsgiref_server(host, port, application, server_class=Server, handler_class=Handler)
