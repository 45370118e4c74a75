"""`publish preview` over HTTP and in Chromium: an edit shows without a manual refresh, a broken
file shows its error over the last good page, and nothing is written outside the scratch folder."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import NOW

from pipeline.render.search import shard_of
from pipeline.web.preview import PREFIX, Preview, serve_preview

ISSUE = "2024-09-30"


def fetch(base: str, path: str) -> str:
    with urllib.request.urlopen(base + path, timeout=10) as answer:
        return answer.read().decode("utf-8")


def wait_for_version(base: str, after: int, limit: float = 5.0) -> tuple[int, float]:
    """The next build's version and how long it took to appear (seconds)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        version = int(fetch(base, PREFIX + "version"))
        if version > after:
            return version, time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"no new build within {limit}s")


@pytest.fixture
def previewing(example: Path):
    """The bundled example under `publish preview`: (base URL, session, folder)."""
    session = Preview(example / "config.yaml", now=lambda: NOW)
    session.rebuild()
    server = serve_preview(session, "127.0.0.1", 0)
    stop = threading.Event()
    threads = [
        threading.Thread(target=server.serve_forever, daemon=True),
        threading.Thread(target=session.watch, args=(stop,), daemon=True),
    ]
    for thread in threads:
        thread.start()
    time.sleep(0.5)  # the watcher is set up
    yield f"http://127.0.0.1:{server.server_port}", session, example
    stop.set()
    server.shutdown()
    server.server_close()


def retitle(example: Path, title: str) -> None:
    path = example / "issues" / ISSUE / "issue.yaml"
    lines = [line for line in path.read_text("utf-8").split("\n") if not line.startswith("title:")]
    path.write_text("\n".join([f"title: {title}", *lines]), encoding="utf-8")


def test_an_edit_is_rebuilt_and_served_within_two_seconds(previewing):
    base, session, example = previewing
    page = fetch(base, f"/issues/{ISSUE}/")
    assert 'id="preview-bar"' in page and "EventSource" in page
    version = int(fetch(base, PREFIX + "version"))
    retitle(example, "预览里改过的标题")
    _, latency = wait_for_version(base, version)
    assert latency < 2.0
    assert "预览里改过的标题" in fetch(base, f"/issues/{ISSUE}/")


def test_a_broken_file_shows_its_error_over_the_last_good_page_until_it_is_fixed(previewing):
    base, session, example = previewing
    entry = next((example / "issues" / ISSUE).glob("01-*.md"))
    good = entry.read_text("utf-8")
    version = int(fetch(base, PREFIX + "version"))
    entry.write_text(good.replace("title:", "title: Broken: again\ntitle2:", 1), encoding="utf-8")
    version, _ = wait_for_version(base, version)
    page = fetch(base, f"/issues/{ISSUE}/")
    assert f"issues/{ISSUE}/{entry.name}:" in page and "error" in page  # file:line in the bar
    assert "<article" in page or "paper-" in page  # the last good render is still there
    entry.write_text(good, encoding="utf-8")
    wait_for_version(base, version)
    assert f"issues/{ISSUE}/{entry.name}:" not in fetch(base, f"/issues/{ISSUE}/")


def test_the_email_and_wechat_views_and_nothing_written_outside_the_scratch_folder(previewing):
    base, session, example = previewing
    email = fetch(base, f"{PREFIX}email/{ISSUE}/")
    assert email.count("<iframe") == 4 and "375px" in email and "700px" in email and "深色" in email
    assert fetch(base, f"{PREFIX}wechat/{ISSUE}/").count("<iframe") == 1
    assert "<section" in fetch(base, f"/issues/{ISSUE}/wechat.html")
    assert f'href="/issues/{ISSUE}/wechat-paste.html"' in fetch(base, f"/issues/{ISSUE}/")  # in the bar
    paste = fetch(base, f"/issues/{ISSUE}/wechat-paste.html")
    assert "复制到公众号" in paste and "preview-bar" not in paste  # served as built: its CSP admits no other script
    assert not (example / "public").exists()
    assert not (example / ".publish" / "state.db").exists()  # the ledger is never opened
    assert (example / ".publish" / "preview" / "public" / "issues" / ISSUE / "index.html").is_file()


def test_an_open_page_reloads_itself_in_a_browser(previewing):
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed")
    chromium = Path("/usr/bin/chromium")
    if not chromium.exists():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium")
    base, session, example = previewing
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page()
        page.goto(f"{base}/issues/{ISSUE}/")
        page.wait_for_timeout(300)  # the event stream is open
        started = time.monotonic()
        retitle(example, "浏览器里自动刷新的标题")
        page.wait_for_function("document.body.innerText.includes('浏览器里自动刷新的标题')", timeout=5000)
        assert time.monotonic() - started < 2.0
        browser.close()


def test_drafts_and_scheduled_issues_carry_a_banner_and_are_listed_on_the_index(previewing):
    base, session, example = previewing
    path = example / "issues" / ISSUE / "issue.yaml"
    version = int(fetch(base, PREFIX + "version"))
    path.write_text(path.read_text("utf-8") + "draft: true\n", encoding="utf-8")
    wait_for_version(base, version)
    assert "草稿：不会出现在索引和订阅源里" in fetch(base, f"/issues/{ISSUE}/")
    assert f'<a href="/issues/{ISSUE}/">{ISSUE}（草稿）</a>' in fetch(base, "/")


def test_text_from_the_url_is_never_put_into_a_page(previewing):
    base, session, example = previewing
    for view in ("email", "wechat"):
        with pytest.raises(urllib.error.HTTPError) as refused:
            fetch(base, f"{PREFIX}{view}/%3Cscript%3Ealert(1)%3C%2Fscript%3E/")
        assert refused.value.code == 404
    with pytest.raises(urllib.error.HTTPError) as missing:
        fetch(base, "/issues/%3Cscript%3Ealert(1)%3C%2Fscript%3E/")
    assert missing.value.code == 404 and b"<script>" not in missing.value.read()


def test_the_preview_is_searchable_and_an_edit_reaches_the_index(previewing):
    """The preview builds the search index with the pages (an edit costs its year), so the box
    works there as on the deployed archive."""
    base, session, example = previewing
    index = json.loads(fetch(base, "/search/index.json"))
    assert [year["issues"] for year in index["years"]] == [["2024-09-30", "2024-04-28"]]
    version = int(fetch(base, PREFIX + "version"))
    retitle(example, "预览里的琥珀标题")
    wait_for_version(base, version)
    year = json.loads(fetch(base, "/search/index.json"))["years"][0]
    shard = json.loads(fetch(base, f"/search/2024/{shard_of('琥珀', year['shards'])}.json"))
    assert [year["issues"][position] for position in shard["琥珀"]] == [ISSUE]
