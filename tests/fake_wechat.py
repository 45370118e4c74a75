"""A WeChat Official Account API on 127.0.0.1 that keeps the documented contract, strictly.

It implements the calls the wechat channel makes (stable_token, token, media/uploadimg,
material/add_material, draft/add, freepublish/submit, freepublish/get, message/mass/sendall,
message/mass/get) and answers errors the way the real API does: an unknown access_token →
40014, an expired one → 42001, a JSON body with ``\\uXXXX`` escapes → 40033, over-long fields
→ 45003/45004/45110, content of 20,000 characters or more *of the HTML string* (tags and
styles count) or 1 MB → 45002, an uploadimg that is not jpg/png by its first bytes → 40005 or
is 1 MB or more → 40009, a cover (add_material type=image) not bmp/png/jpeg/gif → 40005 or
over 10 MB → 40009, an unknown media_id → 40007. sendall remembers each clientmsgid for 24
hours: a repeat answers 45065 with the first send's msg_id; with the mass-send quota used up
it answers 45028; a clientmsgid over 64 bytes → 45067.

Faults are scripted on the instance:
    expire_token_once   the next call with the current token answers 42001 and expires it
    busy[path] = n      the next n calls of path answer -1 (system busy)
    errors[path] = code every call of path answers this errcode (45009, 48001, 40164, …)
    publish_statuses    what freepublish/get answers in turn (the last one repeats)
    mass_quota          broadcasts allowed (1: a subscription account's day); then 45028
    mass_status         what message/mass/get answers for every msg_id
    delay[path] = s     the answer to path waits s seconds after the call took effect (a
                        client killed meanwhile never learns that it did)
``calls`` records every request; ``filtered`` lists external image URLs a draft carried
(the real API silently drops those images, so a test asserts the list is empty);
``mass_sends`` lists every broadcast that went out (what the followers received).
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from html import unescape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40005: "invalid file type",
    40007: "invalid media_id",
    40009: "invalid image size",
    40013: "invalid appid",
    40014: "invalid access_token",
    40033: "invalid charset. please check your request, if include \\uxxxx will create fail!",
    40164: "invalid ip 127.0.0.1 ipv6 ::ffff:127.0.0.1, not in whitelist rid: 6703b1c2-1d2e3f4a",
    42001: "access_token expired",
    45002: "content size out of limit",
    45003: "title size out of limit",
    45004: "description size out of limit",
    45009: "reach max api daily quota limit",
    45028: "has no masssend quota",
    45065: "clientmsgid exist",
    45067: "clientmsgid size out of limit",
    45110: "author size out of limit",
    47001: "data format error",
    48001: "api unauthorized",
}
ESCAPE = re.compile(rb"\\u[0-9a-fA-F]{4}")
IMG_SRC = re.compile(r"<img\b[^>]*?\bsrc=\"([^\"]*)\"", re.I)


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, str]
    body: bytes
    headers: dict[str, str]


@dataclass
class MassSend:
    """One broadcast that went out: what was sent, under which clientmsgid, when."""

    msg_id: int
    media_id: str
    clientmsgid: str
    at: float  # unix time; a test moves it back to let the 24-hour memory lapse


DEDUPE_SECONDS = 24 * 3600


@dataclass
class State:
    app_id: str
    app_secret: str
    expires_in: int = 7200
    expire_token_once: bool = False
    busy: dict[str, int] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)
    publish_statuses: list[int] = field(default_factory=lambda: [1, 0])
    calls: list[Call] = field(default_factory=list)
    token: str | None = None
    expired: set[str] = field(default_factory=set)
    issued: int = 0
    images: dict[str, bytes] = field(default_factory=dict)  # uploadimg URL → bytes
    materials: dict[str, bytes] = field(default_factory=dict)  # media_id → bytes
    drafts: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    publishes: dict[str, dict[str, Any]] = field(default_factory=dict)
    filtered: list[str] = field(default_factory=list)
    counter: int = 0
    mass_quota: int = 1
    mass_status: str = "SEND_SUCCESS"
    delay: dict[str, float] = field(default_factory=dict)
    mass_sends: list[MassSend] = field(default_factory=list)

    def next_id(self) -> int:
        self.counter += 1
        return self.counter

    def count(self, path: str) -> int:
        return sum(1 for c in self.calls if c.path == path)


def _error(code: int) -> dict[str, Any]:
    return {"errcode": code, "errmsg": ERRMSG.get(code, "error")}


def _image_kind(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    return "bmp" if data.startswith(b"BM") else None


def _media(headers: dict[str, str], body: bytes) -> tuple[str, bytes] | None:
    """The multipart form field ``media``: (file name, bytes)."""
    ctype = headers.get("content-type", "")
    if not ctype.startswith("multipart/form-data"):
        return None
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {ctype}\r\n\r\n".encode() + body)
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") == "media":
            return part.get_filename() or "", part.get_payload(decode=True) or b""
    return None


class Api:
    """The endpoints; each takes the request and returns the JSON answer."""

    def __init__(self, state: State) -> None:
        self.s = state

    def token_answer(self) -> dict[str, Any]:
        # Normal mode of stable_token: the current token while it is valid, else a new one.
        if self.s.token is None or self.s.token in self.s.expired:
            self.s.issued += 1
            self.s.token = f"ACCESS_TOKEN_{self.s.issued}"
        return {"access_token": self.s.token, "expires_in": self.s.expires_in}

    def stable_token(self, call: Call) -> dict[str, Any]:
        try:
            body = json.loads(call.body.decode("utf-8"))
        except ValueError:
            return _error(47001)
        return self._credentials(body.get("grant_type"), body.get("appid"), body.get("secret"))

    def token(self, call: Call) -> dict[str, Any]:
        return self._credentials(call.query.get("grant_type"), call.query.get("appid"), call.query.get("secret"))

    def _credentials(self, grant: Any, appid: Any, secret: Any) -> dict[str, Any]:
        if grant != "client_credential":
            return {"errcode": 40002, "errmsg": "invalid grant_type"}
        if appid != self.s.app_id:
            return _error(40013)
        if secret != self.s.app_secret:
            return _error(40001)
        return self.token_answer()

    def check_token(self, call: Call) -> dict[str, Any] | None:
        token = call.query.get("access_token")
        if not token or token != self.s.token and token not in self.s.expired:
            return _error(40014)
        if self.s.expire_token_once and token == self.s.token:
            self.s.expire_token_once = False
            self.s.expired.add(token)
        if token in self.s.expired:
            return _error(42001)
        return None

    def uploadimg(self, call: Call) -> dict[str, Any]:
        media = _media(call.headers, call.body)
        if media is None:
            return {"errcode": 41005, "errmsg": "media data missing"}
        name, data = media
        if _image_kind(data) not in ("png", "jpeg"):
            return _error(40005)
        if len(data) >= 1024 * 1024:
            return _error(40009)
        url = f"http://mmbiz.qpic.cn/mmbiz_{_image_kind(data)}/fake{self.s.next_id()}/0"
        self.s.images[url] = data
        return {"url": url, "errcode": 0, "errmsg": "ok"}

    def add_material(self, call: Call) -> dict[str, Any]:
        media = _media(call.headers, call.body)
        if media is None:
            return {"errcode": 41005, "errmsg": "media data missing"}
        _, data = media
        kind, size = _image_kind(data), len(data)
        if call.query.get("type") == "thumb":
            if kind != "jpeg":
                return _error(40005)
            if size > 64 * 1024:
                return _error(40009)
        elif call.query.get("type") == "image":
            if kind is None:
                return _error(40005)
            if size > 10 * 1024 * 1024:
                return _error(40009)
        else:
            return {"errcode": 40004, "errmsg": "invalid media type"}
        media_id = f"MATERIAL_{self.s.next_id()}"
        self.s.materials[media_id] = data
        return {"media_id": media_id, "url": f"http://mmbiz.qpic.cn/mmbiz_{kind}/material{self.s.counter}/0"}

    def draft_add(self, call: Call) -> dict[str, Any]:
        body, refused = self._json(call)
        if refused:
            return refused
        articles = body.get("articles")
        if not isinstance(articles, list) or not articles:
            return _error(47001)
        for article in articles:
            problem = self._check_article(article)
            if problem:
                return _error(problem)
        media_id = f"DRAFT_{self.s.next_id()}"
        self.s.drafts[media_id] = articles
        return {"media_id": media_id}

    def _json(self, call: Call) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The JSON object of the body, or the error the API gives for it."""
        if ESCAPE.search(call.body):
            return {}, _error(40033)
        try:
            body = json.loads(call.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            return {}, _error(47001)
        return (body, None) if isinstance(body, dict) else ({}, _error(47001))

    def _check_article(self, article: dict[str, Any]) -> int | None:
        title, content = article.get("title") or "", article.get("content") or ""
        if not title or len(title) > 32:
            return 45003
        if len(article.get("author") or "") > 16:
            return 45110
        if len(article.get("digest") or "") > 128:
            return 45004
        # "少于2万字符，小于1M": counted on the content string as sent, markup and styles included.
        if not content or len(content) >= 20000 or len(content.encode("utf-8")) >= 1_000_000:
            return 45002
        if article.get("thumb_media_id") not in self.s.materials:
            return 40007
        if not article.get("content_source_url"):
            return 47001
        self.s.filtered.extend(src for src in IMG_SRC.findall(content) if unescape(src) not in self.s.images)
        return None

    def submit(self, call: Call) -> dict[str, Any]:
        body, refused = self._json(call)
        if refused:
            return refused
        if body.get("media_id") not in self.s.drafts:
            return _error(40007)
        publish_id = 100000000 + self.s.next_id()
        self.s.publishes[str(publish_id)] = {"media_id": body["media_id"], "statuses": list(self.s.publish_statuses)}
        return {"errcode": 0, "errmsg": "ok", "publish_id": publish_id, "msg_data_id": 2247483000 + self.s.counter}

    def publish_get(self, call: Call) -> dict[str, Any]:
        body, refused = self._json(call)
        if refused:
            return refused
        task = self.s.publishes.get(str(body.get("publish_id")))
        if task is None:
            return {"errcode": 53600, "errmsg": "Article ID 无效"}
        statuses = task["statuses"]
        status = statuses.pop(0) if len(statuses) > 1 else statuses[0]
        answer: dict[str, Any] = {"publish_id": str(body["publish_id"]), "publish_status": status}
        if status == 0:
            article_id = f"ARTICLE_{body['publish_id']}"
            answer.update(
                article_id=article_id,
                fail_idx=[],
                article_detail={
                    "count": 1,
                    "item": [{"idx": 1, "article_url": f"https://mp.weixin.qq.com/s/{article_id}"}],
                },
            )
        elif status != 1:
            answer["fail_idx"] = [1]
        return answer

    def sendall(self, call: Call) -> dict[str, Any]:
        body, refused = self._json(call)
        if refused:
            return refused
        to_all = (body.get("filter") or {}).get("is_to_all") is True
        media_id = (body.get("mpnews") or {}).get("media_id")
        if not to_all or body.get("msgtype") != "mpnews":
            return _error(47001)
        if media_id not in self.s.drafts:
            return _error(40007)
        clientmsgid = str(body.get("clientmsgid") or "")
        if len(clientmsgid.encode()) > 64:
            return _error(45067)
        earlier = next(
            (
                m
                for m in self.s.mass_sends
                if clientmsgid and m.clientmsgid == clientmsgid and time.time() - m.at < DEDUPE_SECONDS
            ),
            None,
        )
        if earlier is not None:
            return {**_error(45065), "msg_id": earlier.msg_id}
        if self.s.mass_quota <= 0:
            return _error(45028)
        self.s.mass_quota -= 1
        sent = MassSend(3147483000 + self.s.next_id(), media_id, clientmsgid, time.time())
        self.s.mass_sends.append(sent)
        return {
            "errcode": 0,
            "errmsg": "send job submission success",
            "msg_id": sent.msg_id,
            "msg_data_id": 2247483000 + self.s.counter,
        }

    def mass_get(self, call: Call) -> dict[str, Any]:
        body, refused = self._json(call)
        if refused:
            return refused
        if not any(m.msg_id == body.get("msg_id") for m in self.s.mass_sends):
            return _error(40007)
        return {"msg_id": body["msg_id"], "msg_status": self.s.mass_status}


ROUTES = {
    "/cgi-bin/stable_token": ("POST", "stable_token", False),
    "/cgi-bin/token": ("GET", "token", False),
    "/cgi-bin/media/uploadimg": ("POST", "uploadimg", True),
    "/cgi-bin/material/add_material": ("POST", "add_material", True),
    "/cgi-bin/draft/add": ("POST", "draft_add", True),
    "/cgi-bin/freepublish/submit": ("POST", "submit", True),
    "/cgi-bin/freepublish/get": ("POST", "publish_get", True),
    "/cgi-bin/message/mass/sendall": ("POST", "sendall", True),
    "/cgi-bin/message/mass/get": ("POST", "mass_get", True),
}


class FakeWechat:
    """The running server (context manager): ``url`` is the api_base to configure."""

    def __init__(
        self, app_id: str = "wx1234567890abcdef", app_secret: str = "s3cr3t-应用密钥-0123456789abcdef", **faults: Any
    ) -> None:
        self.state = State(app_id, app_secret, **faults)
        self.api = Api(self.state)
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __getattr__(self, name: str) -> Any:  # faults and records read and set on the state
        return getattr(self.__dict__["state"], name)

    def __setattr__(self, name: str, value: Any) -> None:
        if "state" in self.__dict__ and hasattr(self.__dict__["state"], name):
            setattr(self.__dict__["state"], name, value)
        else:
            super().__setattr__(name, value)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FakeWechat:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def answer(self, call: Call) -> dict[str, Any]:
        with self.lock:
            self.state.calls.append(call)
            route = ROUTES.get(call.path)
            if route is None or route[0] != call.method:
                return {"errcode": 404, "errmsg": "not found"}
            _, handler, needs_token = route
            if needs_token:
                refused = self.api.check_token(call)
                if refused:
                    return refused
            left = self.state.busy.get(call.path, 0)
            if left:
                self.state.busy[call.path] = left - 1
                return _error(-1)
            if call.path in self.state.errors:
                return _error(self.state.errors[call.path])
            return getattr(self.api, handler)(call)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                parts = urlsplit(self.path)
                query = {k: v[0] for k, v in parse_qs(parts.query).items()}
                call = Call(method, parts.path, query, body, {k.lower(): v for k, v in self.headers.items()})
                data = json.dumps(fake.answer(call), ensure_ascii=False).encode("utf-8")
                time.sleep(fake.state.delay.get(call.path, 0.0))  # done, but the client does not know yet
                self.send_response(200)  # the real API answers errors with HTTP 200 and an errcode
                self.send_header("Content-Type", "application/json; encoding=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                self._serve("POST")

            def do_GET(self) -> None:
                self._serve("GET")

            def log_message(self, *args: object) -> None:
                pass

        return Handler
