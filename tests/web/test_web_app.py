"""The web endpoint served on 127.0.0.1 and driven over real HTTP, with mail through aiosmtpd."""

from __future__ import annotations

import functools
import http.client
import http.server
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlencode, urljoin, urlsplit

import pytest
import requests
import yaml
from conftest import NOW, REPO
from servers import free_port

from pipeline.audience import subscribers, tokens
from pipeline.audience.tokens import confirm_url, load_secret, unsubscribe_url
from pipeline.build.builder import build
from pipeline.config import Config, load_config
from pipeline.ledger import Ledger
from pipeline.publish.publisher import publish_issue
from pipeline.web.endpoint import create_app, make_server

FIRST, NEXT = "2024-04-28", "2024-09-30"
ONE_CLICK = {"Content-Type": "application/x-www-form-urlencoded"}


def configure(root: Path, smtp_port: int, url: str | None = None, subscribers_source: str | None = None) -> Config:
    """The example newsletter, its email channel pointed at the test SMTP server."""
    data = yaml.safe_load((root / "config.yaml").read_text(encoding="utf-8"))
    data["channels"]["email"].update(
        smtp={"host": "127.0.0.1", "port": smtp_port, "security": "none", "timeout": 5}, retry_delay=0.01
    )
    if subscribers_source:
        data["channels"]["email"]["subscribers"] = subscribers_source
    if url:
        data["site"]["url"] = url
    (root / "config.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    config = load_config(root / "config.yaml")
    build(config, now=NOW)
    return config


@contextmanager
def serving(config: Config, **options):
    """The app under the threaded wsgiref server of `publish serve`, on a free port."""
    app = create_app(config, **options)
    server = make_server(app, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def local(url: str, config: Config, base: str) -> str:
    """A link under site.url, pointed at the local server instead."""
    assert url.startswith(config.site.url), url
    return base + "/" + url[len(config.site.url) :]


def list_unsubscribe(message) -> str:
    return next(part.strip().strip("<>") for part in message["List-Unsubscribe"].split(",") if "https://" in part)


def text(response: requests.Response) -> str:
    """The page without the line-break hints that long addresses carry."""
    return response.text.replace("<wbr>", "")


def publish(config: Config, issue: str):
    [result] = publish_issue(config, issue, ["email"], now=NOW)
    assert result.ok, result.line()
    return result


def status(config: Config, address: str) -> str | None:
    with Ledger(config.state_path) as ledger:
        sub = subscribers.get(ledger, address)
        return sub.status if sub else None


@pytest.fixture
def site(example: Path, smtp_server):
    config = configure(example, smtp_server.port)
    with serving(config) as (app, base):
        yield config, app, base


# unsubscribe ----------------------------------------------------------------------------------


def test_one_click_post_as_gmail_sends_it_unsubscribes_and_the_next_issue_skips_the_address(site, smtp_server):
    config, _, base = site
    publish(config, FIRST)
    [received] = smtp_server.handler.to("li.na@example.net")
    assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    url = local(list_unsubscribe(received.message), config, base)
    # RFC 8058: a POST of List-Unsubscribe=One-Click, no cookies, no credentials, redirects not followed.
    response = requests.post(
        url, data="List-Unsubscribe=One-Click", headers=ONE_CLICK, allow_redirects=False, timeout=10
    )
    assert response.status_code == 200
    assert "Location" not in response.headers and "Set-Cookie" not in response.headers
    assert status(config, "li.na@example.net") == "unsubscribed"
    with Ledger(config.state_path) as ledger:
        assert subscribers.events(ledger, "li.na@example.net")[-1]["method"] == "one-click"
    before = len(smtp_server.messages)
    publish(config, NEXT)  # the CSV still says active: it is imported before the send, and the suppression wins
    assert smtp_server.handler.to("li.na@example.net") == [received]
    assert {a for m in smtp_server.messages[before:] for a in m.rcpt_tos} == {
        "reader@example.org",
        "zhang.wei@example.com",
    }


def test_one_click_also_accepts_multipart_form_data(site):
    config, _, base = site
    url = local(unsubscribe_url(config, load_secret(config), "zhang.wei@example.com"), config, base)
    response = requests.post(url, files={"List-Unsubscribe": (None, "One-Click")}, allow_redirects=False, timeout=10)
    assert response.status_code == 200 and status(config, "zhang.wei@example.com") == "unsubscribed"


def test_get_and_head_show_the_address_and_change_nothing(site):
    config, _, base = site
    url = local(unsubscribe_url(config, load_secret(config), "reader@example.org"), config, base)
    for _ in range(3):  # a mail scanner prefetching the link, more than once
        page = requests.get(url, timeout=10)
        assert requests.head(url, timeout=10).status_code == 200
    assert page.status_code == 200 and page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "reader@example.org" in text(page) and 'method="post"' in page.text and "确认退订" in page.text
    assert page.headers["Referrer-Policy"] == "no-referrer" and page.headers["Cache-Control"] == "no-store"
    assert status(config, "reader@example.org") is None  # not even imported: a GET writes nothing


def test_a_tampered_or_foreign_token_is_refused_and_changes_nothing(site):
    config, app, base = site
    secret = load_secret(config)
    subscribers.add(app.ledger, "reader@example.org")
    good = unsubscribe_url(config, secret, "reader@example.org")
    token = parse_qs(urlsplit(good).query)["u"][0]
    flipped_tag = ("B" if token[0] == "A" else "A") + token[1:]
    flipped_address = token[:30] + ("A" if token[30] != "A" else "B") + token[31:]
    loose_end = token[:-1] + ("A" if token[-1] != "A" else "B")  # perhaps only pad bits: the same bytes
    other_key = unsubscribe_url(config, b"another key", "reader@example.org")
    old = legacy_url(config, secret, "reader@example.org")
    old_token = parse_qs(urlsplit(old).query)["token"][0]
    foreign = legacy_url(config, secret, "attacker@example.com").replace(
        "attacker%40example.com", "reader%40example.org"
    )
    for url in (
        good.replace(token, flipped_tag),
        good.replace(token, flipped_address),
        good.replace(token, loose_end),
        good.replace(token, token[:-3]),
        good.replace(token, token[:20]),
        good.replace(token, token + "AAAA"),
        good.replace(token, "中文令牌"),
        good.replace(token, "!!!"),
        other_key,
        old.replace(old_token, old_token[:-1] + ("A" if old_token[-1] != "A" else "B")),
        foreign,
        old.split("&token=")[0],
        config.site.url + "unsubscribe",
        config.site.url + "unsubscribe?u=",
    ):
        for method in ("GET", "POST"):
            response = requests.request(
                method, local(url, config, base), data="List-Unsubscribe=One-Click", headers=ONE_CLICK, timeout=10
            )
            assert response.status_code == 403, (method, url)
            assert "链接无效" in response.text
    assert status(config, "reader@example.org") == "active"


def legacy_url(config: Config, secret: bytes, email: str) -> str:
    """An unsubscribe link as messages sent before the sealed token carried it: address and HMAC."""
    query = urlencode({"email": email, "token": tokens.sign(secret, "unsubscribe", email)})
    return config.site.absolute(f"unsubscribe?{query}")


def test_the_link_names_no_address_and_links_already_sent_keep_working(site):
    config, app, base = site
    secret = load_secret(config)
    url = unsubscribe_url(config, secret, "Li.Na+新闻@example.net")
    assert "@" not in url and "%40" not in url and "li.na" not in url.lower() and "example.net" not in url
    assert urlsplit(url).query.startswith("u=") and "&" not in url
    assert unsubscribe_url(config, secret, "li.na@example.net") == unsubscribe_url(config, secret, "li.na@example.net")
    old = local(legacy_url(config, secret, "zhang.wei@example.com"), config, base)
    page = requests.get(old, timeout=10)
    assert page.status_code == 200 and "zhang.wei@example.com" in text(page)
    action = re.search(r'<form method="post" action="([^"]+)"', page.text).group(1).replace("&amp;", "&")
    assert "email=zhang.wei%40example.com" in action  # the button posts back the link it came from
    response = requests.post(old, data="List-Unsubscribe=One-Click", headers=ONE_CLICK, timeout=10)
    assert response.status_code == 200 and status(config, "zhang.wei@example.com") == "unsubscribed"


def test_the_page_button_unsubscribes_and_records_the_method(site):
    config, _, base = site
    url = local(unsubscribe_url(config, load_secret(config), "zhang.wei@example.com"), config, base)
    page = requests.get(url, timeout=10).text
    action = re.search(r'<form method="post" action="([^"]+)"', page).group(1).replace("&amp;", "&")
    response = requests.post(f"{base}/{action}", data={}, timeout=10)
    assert response.status_code == 200 and "已退订" in response.text
    with Ledger(config.state_path) as ledger:
        assert subscribers.events(ledger, "zhang.wei@example.com")[-1]["method"] == "page"
    assert "已经退订" in requests.get(url, timeout=10).text


# double opt-in --------------------------------------------------------------------------------


def signup(base: str, address: str, name: str = "", **extra) -> requests.Response:
    return requests.post(f"{base}/subscribe", data={"email": address, "name": name, **extra}, timeout=10)


def test_double_opt_in_end_to_end(site, smtp_server):
    config, app, base = site
    response = signup(base, "Zhou.Jie@Example.CN", "周杰")
    assert response.status_code == 200 and "请查收确认邮件" in response.text
    assert status(config, "zhou.jie@example.cn") == "pending"
    app.wait_for_mail()
    [mail] = smtp_server.handler.to("zhou.jie@example.cn")
    message = mail.message
    assert "请确认订阅" in message["Subject"] and message["To"].addresses[0].display_name == "周杰"
    body = message.get_body(("plain",)).get_content()
    link = re.search(r"https://\S+/confirm\?\S+", body).group(0)
    assert link in message.get_body(("html",)).get_content().replace("&amp;", "&")
    url = local(link, config, base)
    page = requests.get(url, timeout=10)
    assert page.status_code == 200 and "确认订阅" in page.text and "zhou.jie@example.cn" in text(page)
    assert status(config, "zhou.jie@example.cn") == "pending"  # the GET only shows the button
    confirmed = requests.post(url, timeout=10)
    assert confirmed.status_code == 200 and "订阅成功" in confirmed.text
    assert status(config, "zhou.jie@example.cn") == "active"
    publish(config, NEXT)
    [issue_mail] = [m for m in smtp_server.handler.to("zhou.jie@example.cn") if m is not mail]
    assert issue_mail.message["To"].addresses[0].display_name == "周杰"


def test_a_signup_never_reveals_whether_the_address_is_on_the_list(site, smtp_server):
    config, app, base = site
    subscribers.add(app.ledger, "zhang.wei@example.com", "张伟")
    known = signup(base, "zhang.wei@example.com")
    unknown = signup(base, "new.reader@example.com")
    assert known.status_code == unknown.status_code == 200
    assert text(known).replace("zhang.wei@example.com", "X") == text(unknown).replace("new.reader@example.com", "X")
    app.wait_for_mail()
    assert smtp_server.handler.to("zhang.wei@example.com") == []  # active: nothing to confirm, nothing sent
    assert len(smtp_server.handler.to("new.reader@example.com")) == 1
    assert status(config, "zhang.wei@example.com") == "active"


def test_signups_are_rate_limited_per_client_and_bad_input_is_refused(example, smtp_server):
    config = configure(example, smtp_server.port)
    with serving(config, signup_limit=(2, 3600)) as (app, base):
        assert signup(base, "not an address").status_code == 400
        assert signup(base, "a@example.org", website="http://spam.example").status_code == 200  # the honeypot field
        limited = signup(base, "b@example.org")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) > 0
        app.wait_for_mail()
    assert (
        smtp_server.messages == []
        and status(config, "a@example.org") is None
        and status(config, "b@example.org") is None
    )


def test_confirm_links_expire_and_tampered_ones_are_refused(site):
    config, _, base = site
    secret = load_secret(config)
    expired = local(confirm_url(config, secret, "late@example.org", ttl=-60), config, base)
    response = requests.post(expired, timeout=10)
    assert response.status_code == 403 and "链接已过期" in response.text
    good = confirm_url(config, secret, "someone@example.org")
    longer = re.sub(r"expires=(\d+)", lambda m: f"expires={int(m.group(1)) + 86400}", good)
    assert requests.post(local(longer, config, base), timeout=10).status_code == 403
    assert status(config, "late@example.org") is None and status(config, "someone@example.org") is None


# the subscription page ------------------------------------------------------------------------


class Outline(HTMLParser):
    """What a test needs of a page: its element ids, its links (text, href) and its forms."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.ids: set[str] = set()
        self.links: list[tuple[str, str]] = []
        self.forms: list[tuple[str, str]] = []  # (method, action)
        self.inputs: list[str] = []
        self._link: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {name: value or "" for name, value in attrs}
        if "id" in values:
            self.ids.add(values["id"])
        if tag == "a" and "href" in values:
            self._link = [values["href"], ""]
        elif tag == "form":
            self.forms.append((values.get("method", "get").lower(), values.get("action", "")))
        elif tag == "input":
            self.inputs.append(values.get("name", ""))

    def handle_data(self, data: str) -> None:
        if self._link is not None:
            self._link[1] += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "a" and self._link is not None:
            self.links.append((self._link[1].strip(), self._link[0]))
            self._link = None


@contextmanager
def static_host(folder: Path):
    """The output folder under Python's plain file server: a static host, no app behind it."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_public_email_copys_unsubscribe_link_explains_unsubscribing_served_and_static(site, smtp_server):
    config, app, base = site
    folder = config.output_dir / "issues" / FIRST
    [href] = [h for label, h in Outline((folder / "email.html").read_text(encoding="utf-8")).links if label == "退订"]
    assert href in (folder / "email.txt").read_text(encoding="utf-8").split()
    url, _, fragment = href.partition("#")
    assert fragment == "unsubscribe"

    served = requests.get(local(url, config, base), timeout=10)
    with static_host(config.output_dir) as static:
        hosted = requests.get(local(url, config, static), timeout=10)  # /subscribe → 301 /subscribe/ → index.html
    assert served.status_code == hosted.status_code == 200
    assert hosted.content == (config.output_dir / "subscribe" / "index.html").read_bytes()
    for response, page_url in ((served, url), (hosted, config.site.absolute("subscribe/"))):
        html = response.content.decode("utf-8")  # the file server names no charset: the page's <meta> does
        page = Outline(html)
        assert fragment in page.ids
        assert "每封邮件底部都有只属于你的退订链接" in html and "订阅「大模型前沿论文速递」" in html
        # Nothing to look an address up with: the one form is the signup form, posting to the app.
        [(method, action)] = page.forms
        assert method == "post" and urljoin(page_url, action) == config.site.absolute("subscribe")
        assert sorted(page.inputs) == ["email", "name", "website"]
        assert not any("unsubscribe?" in h for _, h in page.links)

    # The built subscribe/ folder never shadows the handler: both spellings take the POST.
    for path in ("subscribe", "subscribe/"):
        answer = requests.post(f"{base}/{path}", data={"email": f"xin.{len(path)}@example.cn"}, timeout=10)
        assert answer.status_code == 200 and "请查收确认邮件" in answer.text
    app.wait_for_mail()
    assert len(smtp_server.handler.to("xin.9@example.cn")) == len(smtp_server.handler.to("xin.10@example.cn")) == 1


def test_without_an_email_channel_the_subscription_page_only_explains(example):
    data = yaml.safe_load((example / "config.yaml").read_text(encoding="utf-8"))
    del data["channels"]["email"]
    (example / "config.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    config = load_config(example / "config.yaml")
    build(config, now=NOW)
    with serving(config) as (_, base):
        page = requests.get(f"{base}/subscribe", timeout=10)
        refused = requests.post(f"{base}/subscribe", data={"email": "a@example.org"}, timeout=10)
    built = (config.output_dir / "subscribe" / "index.html").read_text(encoding="utf-8")
    for html in (page.text, built):
        outline = Outline(html)
        assert "unsubscribe" in outline.ids and not outline.forms
        assert "这份通讯没有邮件版" in html and any(label == "RSS" for label, _ in outline.links)
    assert page.status_code == 200 and refused.status_code == 404 and status(config, "a@example.org") is None


# mail that cannot go out --------------------------------------------------------------------------


def test_signups_are_refused_alike_while_a_variable_the_email_channel_reads_is_unset(
    example, smtp_server, monkeypatch, caplog
):
    config = configure(example, smtp_server.port)
    data = yaml.safe_load(config.path.read_text(encoding="utf-8"))
    data["channels"]["email"]["smtp"]["host"] = "${DIGEST_SMTP_HOST}"
    config.path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    config = load_config(config.path)
    monkeypatch.delenv("DIGEST_SMTP_HOST", raising=False)
    with caplog.at_level(logging.WARNING, logger="pipeline.web"), serving(config) as (app, base):
        [warning] = [r.getMessage() for r in caplog.records if r.name == "pipeline.web"]
        assert "'email'" in warning and "channels.email.smtp.host" in warning and "${DIGEST_SMTP_HOST}" in warning
        subscribers.add(app.ledger, "zhang.wei@example.com", "张伟")
        known = signup(base, "zhang.wei@example.com")
        unknown = signup(base, "new.reader@example.com")
        assert known.status_code == unknown.status_code == 503
        assert "暂时无法发送确认邮件，请稍后再试" in unknown.text and "请查收" not in unknown.text
        assert text(known).replace("zhang.wei@example.com", "X") == text(unknown).replace("new.reader@example.com", "X")
        assert status(config, "new.reader@example.com") is None  # nothing recorded: the reader was told to try again

        monkeypatch.setenv("DIGEST_SMTP_HOST", "127.0.0.1")
        again = signup(base, "new.reader@example.com")
        assert again.status_code == 200 and "请查收确认邮件" in again.text
        app.wait_for_mail()
    assert [m.rcpt_tos for m in smtp_server.messages] == [["new.reader@example.com"]]


def test_publish_serve_warns_at_start_about_an_unset_variable_of_the_email_channel(example, smtp_server):
    config = configure(example, smtp_server.port)
    data = yaml.safe_load(config.path.read_text(encoding="utf-8"))
    data["channels"]["email"]["smtp"].update(username="digest", password="${DIGEST_SMTP_PASSWORD}")
    config.path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if k != "DIGEST_SMTP_PASSWORD"}
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "--config", str(config.path), "serve", "--port", "0"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        lines = []
        for line in process.stderr:  # the warning comes before the "serving …" line
            lines.append(line)
            if line.startswith("serving "):
                break
    finally:
        process.terminate()
        process.wait(timeout=10)
    warnings = [line for line in lines if "WARNING" in line]
    assert len(warnings) == 1, lines
    assert (
        "'email'" in warnings[0]
        and "channels.email.smtp.password" in warnings[0]
        and "${DIGEST_SMTP_PASSWORD}" in warnings[0]
    )


# the archive ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("rss.xml", "application/rss+xml"),
        ("atom.xml", "application/atom+xml"),
        ("feed.json", "application/feed+json"),
        ("papers.xml", "application/atom+xml"),
        ("papers.json", "application/feed+json"),
        ("tags/%E9%95%BF%E4%B8%8A%E4%B8%8B%E6%96%87/feed.xml", "application/atom+xml"),  # 长上下文's feed
        ("sitemap.xml", "application/xml"),
        ("", "text/html"),
        ("style.css", "text/css"),
    ],
)
def test_archive_files_have_their_types_and_answer_conditional_gets(site, path, kind):
    config, _, base = site
    response = requests.get(f"{base}/{path}", timeout=10)
    assert response.status_code == 200 and response.headers["Content-Type"].split(";")[0] == kind
    target = config.output_dir / (unquote(path) or "index.html")
    assert response.content == target.read_bytes()
    etag, modified = response.headers["ETag"], response.headers["Last-Modified"]
    assert requests.get(f"{base}/{path}", headers={"If-None-Match": etag}, timeout=10).status_code == 304
    not_modified = requests.get(f"{base}/{path}", headers={"If-Modified-Since": modified}, timeout=10)
    assert not_modified.status_code == 304 and not_modified.content == b"" and not_modified.headers["ETag"] == etag
    assert requests.get(f"{base}/{path}", headers={"If-None-Match": '"other"'}, timeout=10).status_code == 200
    target.write_bytes(target.read_bytes() + b"\n")
    os.utime(target, (time.time() + 5, time.time() + 5))
    changed = requests.get(f"{base}/{path}", headers={"If-None-Match": etag, "If-Modified-Since": modified}, timeout=10)
    assert changed.status_code == 200 and changed.headers["ETag"] != etag


def raw_get(base: str, path: str) -> http.client.HTTPResponse:
    """A request whose path is sent exactly as written (clients normally resolve dot segments)."""
    host, port = urlsplit(base).hostname, urlsplit(base).port
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.putrequest("GET", path, skip_accept_encoding=True)
    connection.endheaders()
    response = connection.getresponse()
    response.body = response.read()
    connection.close()
    return response


def test_paths_outside_the_output_folder_and_hidden_files_are_refused(site):
    config, _, base = site
    (config.output_dir / ".secret").write_text("no", encoding="utf-8")
    (config.output_dir / "escape").symlink_to(config.root)
    for path in (
        "/../config.yaml",
        "/issues/../../config.yaml",
        "/%2e%2e/config.yaml",
        "/.secret",
        "/escape/config.yaml",
        "/..%2fconfig.yaml",
    ):
        response = raw_get(base, path)
        assert response.status in (400, 404), path
        assert b"site:" not in response.body and response.body != b"no"
    moved = raw_get(base, f"/issues/{FIRST}")
    assert moved.status == 301 and moved.getheader("Location") == f"{FIRST}/"
    # a query sent as raw UTF-8 (as some clients do) comes back percent-encoded, the same bytes
    with socket.create_connection((urlsplit(base).hostname, urlsplit(base).port), timeout=10) as raw:
        raw.sendall(f"GET /issues/{FIRST}?q=定理 HTTP/1.0\r\nHost: x\r\n\r\n".encode())
        answer = raw.makefile("rb").read().decode("latin-1")
    assert f"\r\nLocation: {FIRST}/?q=%E5%AE%9A%E7%90%86\r\n" in answer
    searched = raw_get(base, f"/issues/{FIRST}?q=%E9%95%BF%E4%B8%8A%E4%B8%8B%E6%96%87+Li")  # a search link: kept
    assert (
        searched.status == 301
        and searched.getheader("Location") == f"{FIRST}/?q=%E9%95%BF%E4%B8%8A%E4%B8%8B%E6%96%87+Li"
    )
    assert requests.get(f"{base}/issues/{FIRST}/", timeout=10).status_code == 200
    assert requests.post(f"{base}/rss.xml", timeout=10).status_code == 405


def test_healthz(site):
    _, _, base = site
    response = requests.get(f"{base}/healthz", timeout=10)
    assert response.status_code == 200 and response.text == "ok\n"


def test_paths_are_relative_to_a_site_url_with_a_sub_path(example, smtp_server):
    config = configure(example, smtp_server.port, url="https://example.org/digest/")
    with serving(config) as (_, base):
        assert requests.get(f"{base}/digest/healthz", timeout=10).text == "ok\n"
        assert "<html" in requests.get(f"{base}/digest/", timeout=10).text
        url = unsubscribe_url(config, load_secret(config), "reader@example.org")
        assert url.startswith("https://example.org/digest/unsubscribe?")
        response = requests.post(
            base + urlsplit(url).path + "?" + urlsplit(url).query,
            data="List-Unsubscribe=One-Click",
            headers=ONE_CLICK,
            timeout=10,
        )
        assert response.status_code == 200 and status(config, "reader@example.org") == "unsubscribed"


def test_publish_serve_runs_the_app_and_keeps_tokens_out_of_its_log(example, smtp_server):
    config = configure(example, smtp_server.port)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "--config", str(config.path), "serve", "--port", str(port)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(process.stderr), daemon=True).start()
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if requests.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        url = local(unsubscribe_url(config, load_secret(config), "reader@example.org"), config, base)
        assert requests.get(url, timeout=10).status_code == 200
        for _ in range(50):  # the access line is written just after the response went out
            if any("GET /unsubscribe" in line for line in lines):
                break
            time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(timeout=10)
    log = "".join(lines)
    assert "GET /unsubscribe" in log and "token" not in log and "reader@example.org" not in log


def test_an_oversized_body_is_refused_before_anything_changes(site):
    config, _, base = site
    url = local(unsubscribe_url(config, load_secret(config), "reader@example.org"), config, base)
    response = requests.post(url, data=b"List-Unsubscribe=One-Click&x=" + b"a" * 20_000, headers=ONE_CLICK, timeout=10)
    assert response.status_code == 413 and status(config, "reader@example.org") is None


def test_the_module_level_app_reads_publish_config_on_its_first_request(example, smtp_server, monkeypatch):
    from pipeline.web import endpoint as web

    config = configure(example, smtp_server.port)
    monkeypatch.setenv("PUBLISH_CONFIG", str(config.path))
    monkeypatch.chdir(config.root.parent)  # not the newsletter folder: the variable must be what counts
    lazy = web._LazyApp()  # what `gunicorn pipeline.web:app` imports, fresh for this test
    server = make_server(lazy, "127.0.0.1", 0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_port}"
        assert requests.get(f"{base}/healthz", timeout=10).text == "ok\n"
        assert requests.get(f"{base}/feed.json", timeout=10).json()["title"] == config.site.title
    finally:
        server.shutdown()
        server.server_close()
