"""A small client of the WeChat Official Account API (the calls the wechat channel needs).

Shapes follow Tencent's documentation (developers.weixin.qq.com, 公众号/服务号 API):

- ``POST /cgi-bin/stable_token`` ``{grant_type: client_credential, appid, secret}`` →
  ``{access_token, expires_in}``; cached in the ledger (``wechat:<app_id>``) until five minutes
  before it expires. A call answered 40001/40014/42001 (token invalid or expired) drops the
  cached token, fetches a new one once and is repeated.
- ``POST /cgi-bin/media/uploadimg`` (multipart ``media``, jpg/png under 1 MB) → ``{url}``
- ``POST /cgi-bin/material/add_material?type=image`` (multipart ``media``) → ``{media_id, url}``
- ``POST /cgi-bin/draft/add`` ``{articles: [...]}`` → ``{media_id}``
- ``POST /cgi-bin/freepublish/submit`` ``{media_id}`` → ``{publish_id, msg_data_id}``
- ``POST /cgi-bin/freepublish/get`` ``{publish_id}`` → ``{publish_status, article_id,
  article_detail: {count, item: [{idx, article_url}]}, fail_idx}``
- ``POST /cgi-bin/message/mass/sendall`` ``{filter: {is_to_all: true}, mpnews: {media_id},
  msgtype: mpnews, send_ignore_reprint: 0, clientmsgid}`` → ``{msg_id, msg_data_id}``; the
  same clientmsgid again within 24 hours → 45065 "clientmsgid exist" with the first ``msg_id``
- ``POST /cgi-bin/message/mass/get`` ``{msg_id}`` → ``{msg_id, msg_status}`` (SENDING,
  SEND_SUCCESS, SEND_FAIL, DELETE)

JSON bodies are sent as UTF-8 with Chinese as is: the API refuses ``\\uXXXX`` escapes (40033)
or stores them literally. errcode -1 (busy) and 5xx answers are retried with backoff; 45009
(quota), 45028 (no mass-send left), 48001 (unauthorized) and 40164 (IP not whitelisted) fail
at once with what to do.
The AppSecret and the access token never appear in an exception message or a log line.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any
from urllib.parse import urlsplit

from pipeline.errors import ChannelError, TemporaryChannelError
from pipeline.ledger import Ledger

TOKEN_PATH = "/cgi-bin/stable_token"
TOKEN_MARGIN = 300.0  # seconds: a cached token is dropped five minutes before it expires
TOKEN_ERRORS = (40001, 40014, 42001)  # invalid credential, invalid token, token expired
BUSY = -1
RETRIES = 4  # retries after a busy answer, a 5xx or a refused connection
BACKOFF = 1.0  # seconds before the first retry; doubles each time
MAX_BACKOFF = 30.0

log = logging.getLogger("pipeline.wechat_api")


class WechatError(ChannelError):
    """The API answered with an errcode; ``errcode`` and ``errmsg`` say which."""

    def __init__(self, message: str, errcode: int, errmsg: str = "", answer: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.errcode = errcode
        self.errmsg = errmsg
        self.answer = answer or {}  # the whole answer: 45065 carries the msg_id of the earlier send


def explain(path: str, errcode: int, errmsg: str) -> str:
    """A message a user can act on for an errcode (errmsg is WeChat's own text)."""
    said = f"{errcode}: {errmsg}" if errmsg else str(errcode)
    if errcode == 45009:
        return f"{path}: the daily API quota is used up ({said}); try again tomorrow, or reset it in the Official Account admin"
    if errcode == 48001:
        return (
            f"{path}: this Official Account is not authorized for this API ({said}); personal and unverified "
            "accounts cannot use it: set mode: export and paste the article into the mp.weixin.qq.com editor"
        )
    if errcode == 45028:
        return (
            f"{path}: this account has no mass-send left today (subscription accounts) or this month "
            f"(service accounts) ({said}); try again tomorrow, or send the draft from the Official Account admin"
        )
    if errcode == 45065:
        return f"{path}: WeChat already has a broadcast with this clientmsgid from the last 24 hours ({said})"
    if errcode == 45067:
        return f"{path}: the clientmsgid is longer than 64 bytes ({said})"
    if errcode == 40164:
        return f"{path}: this server's IP address is not whitelisted ({said}); add it under 设置与开发 → 基本配置 → IP白名单 and retry"
    if errcode in (40001, 40125) and path == TOKEN_PATH:
        return f"{path}: the AppSecret was refused ({said}); check app_secret and that it belongs to app_id"
    if errcode == 40013:
        return f"{path}: the AppID was refused ({said}); check app_id"
    if errcode == 40033:
        return f"{path}: WeChat refused the request's characters ({said})"
    return f"{path}: WeChat answered errcode {said}"


class WechatAPI:
    """One account's API session; the token lives in the ledger so every process shares it."""

    def __init__(
        self,
        base: str,
        app_id: str,
        app_secret: str,
        ledger: Ledger,
        *,
        timeout: float = 30.0,
        stop: threading.Event | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.base = base.rstrip("/")
        self.app_id = app_id
        self._secret = app_secret
        self._token: str | None = None
        self._token_until = 0.0
        self.ledger = ledger
        self.timeout = timeout
        self.stop = stop or threading.Event()
        self.log = logger or log
        self.token_fetches = 0

    def __repr__(self) -> str:  # never show the secret, even in a traceback's locals
        return f"WechatAPI({self.base!r}, app_id={self.app_id!r})"

    @property
    def token_key(self) -> str:
        return f"wechat:{self.app_id}"

    # ------------------------------------------------------------ calls

    def upload_image(self, name: str, data: bytes, content_type: str) -> str:
        """An in-article image → the URL to put in the article's ``<img src>``."""
        answer = self.call("/cgi-bin/media/uploadimg", files={"media": (name, data, content_type)})
        return self._field(answer, "url", "/cgi-bin/media/uploadimg")

    def add_material(self, name: str, data: bytes, content_type: str, kind: str = "image") -> tuple[str, str | None]:
        """A permanent image (the cover) → ``(media_id, url)``."""
        path = "/cgi-bin/material/add_material"
        answer = self.call(path, params={"type": kind}, files={"media": (name, data, content_type)})
        return self._field(answer, "media_id", path), answer.get("url")

    def add_draft(self, article: dict[str, Any]) -> str:
        """One article into the draft box → the draft's media_id."""
        answer = self.call("/cgi-bin/draft/add", body={"articles": [article]})
        return self._field(answer, "media_id", "/cgi-bin/draft/add")

    def submit(self, media_id: str) -> str:
        """Publish a draft → the publish task's id (publishing is asynchronous)."""
        answer = self.call("/cgi-bin/freepublish/submit", body={"media_id": media_id})
        return str(self._field(answer, "publish_id", "/cgi-bin/freepublish/submit"))

    def publish_status(self, publish_id: str) -> dict[str, Any]:
        """The publish task's state: publish_status 0 done, 1 publishing, 2–6 failed."""
        return self.call("/cgi-bin/freepublish/get", body={"publish_id": publish_id})

    def send_to_all(self, media_id: str, client_msg_id: str) -> dict[str, Any]:
        """Broadcast a draft to every follower → the answer (``msg_id``, ``msg_data_id``).

        ``client_msg_id`` makes a repeat within 24 hours harmless: WeChat answers 45065 with
        the first send's msg_id (a WechatError whose ``answer`` holds it) instead of sending again.
        """
        body = {
            "filter": {"is_to_all": True},
            "mpnews": {"media_id": media_id},
            "msgtype": "mpnews",
            "send_ignore_reprint": 0,
            "clientmsgid": client_msg_id,
        }
        answer = self.call("/cgi-bin/message/mass/sendall", body=body)
        self._field(answer, "msg_id", "/cgi-bin/message/mass/sendall")
        return answer

    def mass_status(self, msg_id: int | str) -> str:
        """A broadcast's state: SENDING, SEND_SUCCESS, SEND_FAIL or DELETE."""
        answer = self.call("/cgi-bin/message/mass/get", body={"msg_id": msg_id})
        return str(self._field(answer, "msg_status", "/cgi-bin/message/mass/get"))

    # ------------------------------------------------------------ token

    def token(self) -> str:
        """The access token: from the ledger while it is fresh, else a new one."""
        cached = self.ledger.token(self.token_key)
        if cached:
            self._token = cached
            return cached
        if self._token and time.time() < self._token_until:  # short-lived, kept in memory only
            return self._token
        answer = self._with_retries(
            TOKEN_PATH,
            lambda: self._send(
                TOKEN_PATH, body={"grant_type": "client_credential", "appid": self.app_id, "secret": self._secret}
            ),
        )
        self.token_fetches += 1
        token = self._field(answer, "access_token", TOKEN_PATH)
        expires_in = float(answer.get("expires_in") or 7200)
        self._token = token
        if expires_in > TOKEN_MARGIN:
            self.ledger.save_token(self.token_key, token, time.time() + expires_in - TOKEN_MARGIN)
        else:
            self._token_until = time.time() + expires_in / 2
        return token

    def call(
        self,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """One API call with the token; a refused token is replaced once, busy answers retried."""
        for refreshed in (False, True):
            token = self.token()
            try:
                return self._with_retries(
                    path,
                    lambda token=token: self._send(
                        path, body=body, files=files, params={**(params or {}), "access_token": token}
                    ),
                )
            except WechatError as exc:
                if exc.errcode not in TOKEN_ERRORS or refreshed:
                    raise
                self.log.info("%s: access token refused (%s); fetching a new one", path, exc.errcode)
                self.ledger.drop_token(self.token_key)
                self._token_until = 0.0
        raise AssertionError("unreachable")

    # ------------------------------------------------------------ transport

    def _with_retries(self, path: str, send) -> dict[str, Any]:
        """Retry busy answers (-1), 5xx and refused connections with backoff; map errcodes to messages."""
        for attempt in range(RETRIES + 1):
            try:
                answer = send()
            except TemporaryChannelError as exc:
                problem, hint = str(exc), exc.retry_after
            else:
                code = int(answer.get("errcode") or 0)
                if code == 0:
                    return answer
                errmsg = self._clean(str(answer.get("errmsg") or ""))
                if code != BUSY:
                    raise WechatError(explain(path, code, errmsg), code, errmsg, answer)
                problem, hint = f"{path}: WeChat is busy (-1: {errmsg})", None
            if attempt == RETRIES:
                raise TemporaryChannelError(f"{problem}; gave up after {RETRIES + 1} attempts")
            delay = hint if hint is not None else min(MAX_BACKOFF, BACKOFF * 2**attempt)
            self.log.warning("%s; retrying in %.1fs", problem, delay)
            if self.stop.wait(delay):
                raise TemporaryChannelError(f"{problem}; stopped before retrying")
        raise AssertionError("unreachable")

    def _send(
        self,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        files: dict[str, tuple[str, bytes, str]] | None = None,
        params: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """One HTTP request; transport failures become TemporaryChannelError without the URL."""
        import requests  # imported here: commands that do not publish stay fast

        url = self.base + path
        kwargs: dict[str, Any] = {"params": params, "timeout": self.timeout}
        if files is not None:
            kwargs["files"] = files
        else:
            # Chinese as UTF-8, never \uXXXX: the API refuses escapes or stores them literally.
            kwargs["data"] = json.dumps(body or {}, ensure_ascii=False).encode("utf-8")
            kwargs["headers"] = {"Content-Type": "application/json; charset=utf-8"}
        host = urlsplit(url).netloc
        try:
            response = requests.post(url, **kwargs)
        except requests.exceptions.ReadTimeout:
            # Not retried: the call may have taken effect (a second draft/add would make a second draft).
            raise ChannelError(
                f"{path}: no answer from {host} within {self.timeout:g}s; it may have been done — check the Official Account admin"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise TemporaryChannelError(f"{path}: cannot reach {host} ({type(exc).__name__})") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise TemporaryChannelError(f"{path}: {host} answered HTTP {response.status_code}")
        if response.status_code != 200:
            raise ChannelError(f"{path}: {host} answered HTTP {response.status_code}")
        try:
            answer = json.loads(response.content.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ChannelError(f"{path}: {host} did not answer with JSON") from None
        if not isinstance(answer, dict):
            raise ChannelError(f"{path}: unexpected answer from {host}")
        return answer

    def _field(self, answer: dict[str, Any], name: str, path: str) -> Any:
        value = answer.get(name)
        if value in (None, ""):
            raise ChannelError(f"{path}: the answer has no {name}")
        return value

    def _clean(self, text: str) -> str:
        """Text from the remote with the secret and the token blanked out, should it echo them."""
        for secret in (self._secret, self._token):
            if secret:
                text = text.replace(secret, "***")
        return text
