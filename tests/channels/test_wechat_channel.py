"""The wechat channel against a real HTTP server that keeps the WeChat API contract (fake_wechat)."""

from __future__ import annotations

import io
import json
import logging
import re
import time
from pathlib import Path

import pytest
from conftest import NOW, paper_md, write
from fake_wechat import FakeWechat

from pipeline.channels import wechat as wechat_channel
from pipeline.channels import wechat_api
from pipeline.config import load_config
from pipeline.ledger import Ledger
from pipeline.publish.publisher import publish_issue


def _encoded(fmt: str, size: tuple[int, int], colour: str) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, fmt)
    return out.getvalue()


PNG = _encoded("PNG", (4, 4), "#1f4e79")  # real images: the channel reads each one whole before uploading
JPEG = _encoded("JPEG", (8, 6), "#c0ffee")
ISSUE = "2025-03-01"
TITLE = "大模型论文速递 · 第41期：长上下文与检索增强"
SUMMARY = "本期两篇：长上下文压缩与检索增强生成的新进展。"


def config_text(api: str, mode: str | None = "draft", extra: str = "") -> str:
    mode_line = f"\n    mode: {mode}" if mode else ""
    return f"""\
site:
  title: 测试论文速递
  url: https://digest.example.org/
  author: 测试编辑部
  timezone: Asia/Shanghai
channels:
  wechat:
    type: wechat
    api_base: {api}
    app_id: ${{WECHAT_APP_ID}}
    app_secret: ${{WECHAT_APP_SECRET}}
    open_comment: true{mode_line}{extra}
"""


def make_issue(
    root: Path,
    issue_id: str = ISSUE,
    title: str = TITLE,
    summary: str = SUMMARY,
    cover: bool = True,
    body_extra: str = "",
) -> None:
    folder = root / "issues" / issue_id
    lines = [
        f"title: {json.dumps(title, ensure_ascii=False)}",
        f"summary: {json.dumps(summary, ensure_ascii=False)}",
        "intro: |",
        "  开篇语：先看一张总览图。",
        "",
        "  ![总览图](images/overview.png)",
    ]
    if cover:
        lines.append("cover: images/cover.png")
        (folder / "images").mkdir(parents=True, exist_ok=True)
        (folder / "images" / "cover.png").write_bytes(PNG)
    write(folder / "issue.yaml", "\n".join(lines) + "\n")
    (folder / "images").mkdir(parents=True, exist_ok=True)
    (folder / "images" / "overview.png").write_bytes(PNG)
    (folder / "images" / "fig 2.jpg").write_bytes(JPEG)
    body = (
        "导语：压缩 KV 缓存。\n\n## 方法\n\n![架构图](images/fig%202.jpg)\n\n详见[论文](https://arxiv.org/abs/2404.14469)。\n"
        + body_extra
    )
    write(
        folder / "01-snapkv.md", paper_md("SnapKV: LLM Knows What You are Looking for", arxiv="2404.14469", body=body)
    )


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setattr(wechat_api, "BACKOFF", 0.01)
    monkeypatch.setattr(wechat_channel, "POLL_FIRST", 0.01)
    with FakeWechat() as server:
        monkeypatch.setenv("WECHAT_APP_ID", server.app_id)
        monkeypatch.setenv("WECHAT_APP_SECRET", server.app_secret)
        yield server


@pytest.fixture
def site(newsletter, fake):
    """A factory: site(mode=…, extra=…) → Config of a folder with one issue, wired to the fake API."""

    def make(mode: str | None = "draft", extra: str = "", **issue) -> object:
        root = newsletter(config_text(fake.url, mode, extra))
        make_issue(root, **issue)
        return load_config(root / "config.yaml")

    return make


def publish(config, issue_id: str = ISSUE, **kwargs):
    [result] = publish_issue(config, issue_id, ["wechat"], now=NOW, **kwargs)
    return result


def remote(config, issue_id: str = ISSUE) -> dict:
    with Ledger(config.state_path) as ledger:
        return ledger.remote(issue_id, "wechat")


def secret_free(config, fake, *texts: str) -> None:
    """The AppSecret is nowhere: not in the state files, the outputs or the given texts."""
    secret = fake.app_secret.encode()
    for path in config.root.rglob("*"):
        if path.is_file():
            assert secret not in path.read_bytes(), path
    for text in texts:
        assert fake.app_secret not in text


# ---------------------------------------------------------------- draft mode


def test_draft_uploads_images_and_cover_then_adds_one_draft(site, fake, caplog):
    caplog.set_level(logging.DEBUG)
    config = site()
    result = publish(config)
    assert result.status == "done", result.detail
    assert [c.path for c in fake.calls] == [
        "/cgi-bin/stable_token",
        "/cgi-bin/media/uploadimg",
        "/cgi-bin/media/uploadimg",
        "/cgi-bin/material/add_material",
        "/cgi-bin/draft/add",
    ]
    [article] = fake.drafts[remote(config)["media_id"]]
    assert article["title"] == TITLE and article["digest"] == SUMMARY and article["author"] == "测试编辑部"
    assert article["content_source_url"] == f"https://digest.example.org/issues/{ISSUE}/"
    assert article["need_open_comment"] == 1 and article["only_fans_can_comment"] == 0
    # Every image points at an uploadimg URL (the API drops any other), the cover is a permanent material.
    srcs = re.findall(r'<img[^>]*src="([^"]+)"', article["content"])
    assert len(srcs) == 2 and set(srcs) <= set(fake.images) and fake.filtered == []
    assert fake.images[srcs[1]] == JPEG  # "fig%202.jpg" is the file "fig 2.jpg"
    assert fake.materials[article["thumb_media_id"]] == PNG
    assert fake.calls[3].query["type"] == "image"
    # The body is UTF-8 with the Chinese as is, never \uXXXX.
    raw = fake.calls[-1].body
    assert TITLE.encode("utf-8") in raw and b"\\u" not in raw
    assert "utf-8" in fake.calls[-1].headers["content-type"].lower()
    saved = remote(config)
    assert saved["thumb_media_id"] == article["thumb_media_id"] and len(saved["images"]) == 2
    secret_free(config, fake, result.detail, caplog.text)


def test_rerun_is_already_done_and_token_is_cached_in_the_ledger(site, fake):
    config = site()
    assert publish(config).status == "done"
    assert publish(config).status == "already done"
    make_issue(config.root, "2025-03-08", title="第42期")
    assert publish(config, "2025-03-08").status == "done"
    assert fake.count("/cgi-bin/stable_token") == 1  # the second issue used the cached token
    assert fake.count("/cgi-bin/draft/add") == 2
    with Ledger(config.state_path) as ledger:
        assert ledger.token(f"wechat:{fake.app_id}") == fake.token
        [(expires_at,)] = ledger.db.execute("SELECT expires_at FROM tokens").fetchall()
    assert abs(expires_at - (time.time() + 7200 - 300)) < 60  # kept until five minutes before it expires


def test_token_expiring_within_five_minutes_is_not_cached(site, fake):
    fake.expires_in = 240
    config = site()
    assert publish(config).status == "done"
    make_issue(config.root, "2025-03-08", title="第42期")
    assert publish(config, "2025-03-08").status == "done"
    assert fake.count("/cgi-bin/stable_token") == 2


def test_expired_token_is_replaced_once_and_the_call_repeated(site, fake):
    config = site()
    assert publish(config).status == "done"
    fake.expire_token_once = True
    make_issue(config.root, "2025-03-08", title="第42期")
    result = publish(config, "2025-03-08")
    assert result.status == "done", result.detail
    assert fake.count("/cgi-bin/stable_token") == 2
    with Ledger(config.state_path) as ledger:
        assert ledger.token(f"wechat:{fake.app_id}") == "ACCESS_TOKEN_2"


def test_busy_answer_is_retried_with_backoff(site, fake):
    fake.busy["/cgi-bin/draft/add"] = 2
    result = publish(site())
    assert result.status == "done", result.detail
    assert fake.count("/cgi-bin/draft/add") == 3 and len(fake.drafts) == 1


def test_quota_fails_at_once_and_a_rerun_resumes_without_uploading_again(site, fake):
    config = site()
    fake.errors["/cgi-bin/draft/add"] = 45009
    result = publish(config)
    assert result.status == "failed"
    assert "45009" in result.detail and "quota" in result.detail
    assert fake.count("/cgi-bin/draft/add") == 1  # not retried
    uploads = fake.count("/cgi-bin/media/uploadimg") + fake.count("/cgi-bin/material/add_material")
    del fake.errors["/cgi-bin/draft/add"]
    assert publish(config).status == "done"
    assert fake.count("/cgi-bin/media/uploadimg") + fake.count("/cgi-bin/material/add_material") == uploads
    assert len(fake.drafts) == 1


def test_unauthorized_and_whitelist_errors_say_what_to_do(site, fake):
    config = site()
    fake.errors["/cgi-bin/stable_token"] = 40164
    result = publish(config)
    assert result.status == "failed" and "40164" in result.detail and "whitelist" in result.detail
    assert "IP白名单" in result.detail
    del fake.errors["/cgi-bin/stable_token"]
    fake.errors["/cgi-bin/media/uploadimg"] = 48001
    result = publish(config)
    assert result.status == "failed" and "48001" in result.detail and "not authorized" in result.detail
    assert fake.count("/cgi-bin/media/uploadimg") == 1


def test_wrong_secret_is_reported_without_the_secret(site, fake, monkeypatch, caplog):
    monkeypatch.setenv("WECHAT_APP_SECRET", "wrong-" + fake.app_secret)
    config = site()
    result = publish(config)
    assert result.status == "failed" and "AppSecret" in result.detail and "40001" in result.detail
    assert "wrong-" not in result.detail and fake.app_secret not in caplog.text
    secret_free(config, fake, result.detail)


def test_unreachable_api_fails_cleanly(newsletter, fake, monkeypatch):
    monkeypatch.setattr(wechat_api, "RETRIES", 1)
    root = newsletter(config_text("http://127.0.0.1:9", "draft"))  # nothing listens on the discard port
    make_issue(root)
    config = load_config(root / "config.yaml")
    result = publish(config)
    assert result.status == "failed" and "cannot reach" in result.detail
    assert fake.app_secret not in result.detail and "access_token" not in result.detail


def test_missing_environment_variable_names_it(site, fake, monkeypatch):
    config = site()
    monkeypatch.delenv("WECHAT_APP_SECRET")
    result = publish(config)
    assert result.status == "failed" and "WECHAT_APP_SECRET" in result.detail
    assert fake.calls == []


def test_overlong_fields_are_shortened_with_a_warning(site, fake, caplog):
    caplog.set_level(logging.WARNING)
    long_title = "超长标题" * 12
    config = site(
        title=long_title, summary="摘要" * 100, extra="\n    author: 一个名字特别特别特别特别特别长的编辑部门"
    )
    result = publish(config)
    assert result.status == "done", result.detail
    [article] = fake.drafts[remote(config)["media_id"]]
    assert len(article["title"]) == 32 and article["title"].endswith("…") and article["title"].startswith("超长标题")
    assert len(article["author"]) <= 16 and len(article["digest"]) <= 128
    assert "title shortened" in caplog.text and "author shortened" in caplog.text and "digest shortened" in caplog.text


def test_overlong_content_is_cut_to_fit_and_stays_balanced(site, fake, caplog):
    caplog.set_level(logging.WARNING)
    long_body = "\n\n".join(f"第{i}段：" + "长上下文的注意力开销随序列长度平方增长。" * 10 for i in range(150))
    config = site(body_extra="\n## 实验\n\n" + long_body + "\n")
    result = publish(config)
    assert result.status == "done", result.detail
    [article] = fake.drafts[remote(config)["media_id"]]
    # Counted as the API counts: on the HTML string, tags and styles included.
    assert "阅读原文" in article["content"] and len(article["content"]) < 20000
    assert article["content"].count("<section") == article["content"].count("</section>")
    assert article["content"].count("<p") == article["content"].count("</p>")


def test_unsupported_image_fails_before_anything_is_uploaded(site, fake):
    config = site()
    folder = config.issues_dir / ISSUE
    (folder / "images" / "overview.gif").write_bytes(b"GIF89a" + b"\x00" * 20)  # uploadimg takes jpg/png only
    meta = folder / "issue.yaml"  # the intro holds the image
    meta.write_text(meta.read_text("utf-8").replace("overview.png", "overview.gif"), encoding="utf-8")
    result = publish(config)
    assert result.status == "failed" and "overview.gif" in result.detail and "gif" in result.detail
    assert fake.count("/cgi-bin/media/uploadimg") == 0


def test_no_cover_falls_back_to_the_first_image(site, fake):
    config = site(cover=False)
    assert publish(config).status == "done"
    [article] = fake.drafts[remote(config)["media_id"]]
    assert fake.materials[article["thumb_media_id"]] == PNG


# ---------------------------------------------------------------- publish mode


def test_publish_polls_until_published_and_records_the_url(site, fake):
    fake.publish_statuses = [1, 1, 0]
    config = site(mode="publish")
    result = publish(config)
    assert result.status == "done", result.detail
    saved = remote(config)
    assert saved["article_url"].startswith("https://mp.weixin.qq.com/s/") and saved["article_url"] in result.detail
    assert saved["publish_status"] == 0 and saved["publish_id"]
    assert fake.count("/cgi-bin/freepublish/get") == 3
    assert json.loads(fake.calls[-1].body) == {"publish_id": saved["publish_id"]}


def test_publish_ending_in_status_3_is_recorded_and_a_rerun_submits_again(site, fake):
    fake.publish_statuses = [1, 3]
    config = site(mode="publish")
    result = publish(config)
    assert result.status == "failed" and "publish_status 3" in result.detail
    saved = remote(config)
    assert saved["publish_status"] == 3 and saved["fail_idx"] == [1] and "article_url" not in saved
    fake.publish_statuses = [0]
    assert publish(config).status == "done"
    assert fake.count("/cgi-bin/draft/add") == 1  # the same draft, submitted twice
    assert fake.count("/cgi-bin/freepublish/submit") == 2
    assert remote(config)["article_url"]


def test_draft_saved_before_a_failed_submit_is_not_added_twice(site, fake):
    config = site(mode="publish")
    fake.errors["/cgi-bin/freepublish/submit"] = 45009
    assert publish(config).status == "failed"
    assert "media_id" in remote(config)
    del fake.errors["/cgi-bin/freepublish/submit"]
    assert publish(config).status == "done"
    assert fake.count("/cgi-bin/draft/add") == 1 and len(fake.drafts) == 1


# ---------------------------------------------------------------- export mode


def test_export_is_the_default_without_credentials(example_config, example_issues):
    [result] = publish_issue(example_config, "2024-09-30", ["wechat"], now=NOW)
    assert result.status == "done", result.detail
    folder = example_config.root / "outbox" / "wechat" / "2024-09-30"
    payload = json.loads((folder / "draft.json").read_text("utf-8"))
    [article] = payload["articles"]
    issue = example_issues["2024-09-30"]
    assert article["title"] == issue.title and article["digest"] == issue.summary
    assert article["author"] == "论文速递编辑部" and article["content_source_url"].endswith("/issues/2024-09-30/")
    assert "\\u" not in (folder / "draft.json").read_text("utf-8")
    assert (folder / "article.html").read_text("utf-8").count(issue.title) >= 1


def test_export_writes_images_and_points_the_payload_at_them(site, fake):
    config = site(mode=None, extra="")
    # Without credentials the default is export, and nothing goes to the network.
    text = (
        config.path.read_text("utf-8")
        .replace("    app_id: ${WECHAT_APP_ID}\n", "")
        .replace("    app_secret: ${WECHAT_APP_SECRET}\n", "")
    )
    config.path.write_text(text, "utf-8")
    config = load_config(config.path)
    assert publish(config).status == "done"
    folder = config.root / "outbox" / "wechat" / ISSUE
    [article] = json.loads((folder / "draft.json").read_text("utf-8"))["articles"]
    srcs = re.findall(r'<img[^>]*src="([^"]+)"', article["content"])
    assert srcs == ["images/01-overview.png", "images/02-fig 2.jpg"]
    assert (folder / srcs[1]).read_bytes() == JPEG and (folder / "images" / "cover.png").read_bytes() == PNG
    assert fake.calls == []
    assert publish(config).status == "already done"


def test_dry_run_sends_nothing(site, fake):
    [result] = publish_issue(site(), ISSUE, ["wechat"], now=NOW, dry_run=True)
    assert result.status == "would send" and any("draft/add" in line for line in result.plan)
    assert fake.calls == []


def test_dry_run_says_failed_where_the_send_would_fail(site, fake, monkeypatch):
    """No credentials, or no cover at all: the dry run says "failed" and why, as the send would."""
    monkeypatch.delenv("WECHAT_APP_SECRET")
    [result] = publish_issue(site(), ISSUE, ["wechat"], now=NOW, dry_run=True)
    assert result.status == "failed" and "WECHAT_APP_SECRET" in result.detail
    monkeypatch.setenv("WECHAT_APP_SECRET", fake.app_secret)
    config = site()
    write(config.root / "issues/2025-03-08/issue.yaml", "title: 无封面\nsummary: 一篇，没有图。\n")
    write(config.root / "issues/2025-03-08/01-a.md", paper_md("没有图的论文", "2503.00001"))
    [result] = publish_issue(config, "2025-03-08", ["wechat"], now=NOW, dry_run=True)
    assert result.status == "failed" and "no cover" in result.detail, result.detail
    assert fake.calls == []


def test_remote_images_are_fetched_and_uploaded(site, fake):
    from fake_http import Answer, FakeHTTP

    with FakeHTTP(default=Answer(200, JPEG, {"Content-Type": "image/jpeg"})) as images:
        config = site(body_extra=f"\n![远程图]({images.url}/figs/remote.jpg)\n")
        result = publish(config)
        assert result.status == "done", result.detail
        assert [r.path for r in images.requests] == ["/figs/remote.jpg"]
    [article] = fake.drafts[remote(config)["media_id"]]
    srcs = re.findall(r'<img[^>]*src="([^"]+)"', article["content"])
    assert len(srcs) == 3 and fake.filtered == [] and fake.images[srcs[2]] == JPEG
    assert images.url not in article["content"]


def test_the_safety_cut_counts_the_html_string_as_the_api_does():
    from pipeline.channels.wechat_content import shorten_html

    paragraph = '<p style="margin:1em 0;color:#333;font-size:16px">' + "注意力开销" * 8 + "</p>\n"
    markup = "<section>" + paragraph * 300 + "</section>\n"  # 12,000 characters of text, 26,700 of HTML
    cut, was_cut = shorten_html(markup, 19800, 995_904, "<p>余下内容请点击“阅读原文”查看。</p>")
    assert was_cut and len(cut) <= 19800 and "阅读原文" in cut
    assert cut.count("<p") == cut.count("</p>") and cut.rstrip().endswith("</section>")


# ---------------------------------------------------------------- the bundled example, for real


def test_the_bundled_five_paper_issue_is_accepted_whole_in_draft_mode(example, example_issues, fake):
    """The example's 2024-04-28 switched to draft mode: the fake API (20,000 characters of HTML
    as sent, images at their uploaded URLs) takes it with every paper and every reference."""
    config_path = example / "config.yaml"
    text = config_path.read_text("utf-8").replace(
        "    mode: export\n",
        f"    mode: draft\n    api_base: {fake.url}\n    app_id: ${{WECHAT_APP_ID}}\n    app_secret: ${{WECHAT_APP_SECRET}}\n",
    )
    config_path.write_text(text, "utf-8")
    [result] = publish_issue(load_config(config_path), "2024-04-28", ["wechat"], now=NOW)
    assert result.status == "done", result.detail
    [articles] = fake.drafts.values()
    content = articles[0]["content"]
    assert len(content) < 20_000
    assert "阅读原文" not in content  # not cut
    issue = example_issues["2024-04-28"]
    for paper in issue.papers:
        assert (paper.title_translated or paper.title) in content
    markers = set(re.findall(r"\[(\d+)\]", content))
    assert markers and all(f"[{n}]" in content.split("引用链接")[1] for n in markers)
