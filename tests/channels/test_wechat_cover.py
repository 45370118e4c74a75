"""The cover: the issue's own, else ``default_cover``; `publish init` draws one and sets it up."""

from __future__ import annotations

import io
from datetime import date
from pathlib import Path

import pytest
import test_wechat_channel
from test_wechat_channel import ISSUE, PNG, publish, remote

from pipeline.authoring.scaffold import COVER_PATH, init_newsletter
from pipeline.config import load_config
from pipeline.render import cover as cover_module
from pipeline.render import images

fake, site = test_wechat_channel.fake, test_wechat_channel.site  # the fixtures, shared
ADD_MATERIAL = "/cgi-bin/material/add_material"


def picture(data: bytes):
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def light_pixels(data: bytes) -> int:
    """White pixels in the middle of the cover: the drawn title (the mark and band are elsewhere)."""
    image = picture(data).convert("L").crop((60, 100, 840, 340))
    return sum(image.histogram()[201:])


def with_default_cover(config, value: str, data: bytes | None = PNG):
    if data is not None:
        (config.root / value).parent.mkdir(parents=True, exist_ok=True)
        (config.root / value).write_bytes(data)
    text = config.path.read_text("utf-8").replace(
        "    open_comment: true", f"    open_comment: true\n    default_cover: {value}"
    )
    config.path.write_text(text, "utf-8")
    return load_config(config.path)


# ---------------------------------------------------------------- the channel


def test_an_issue_without_a_cover_gets_the_default_cover_not_its_first_image(site, fake):
    banner = cover_module.cover_png("测试论文速递")
    config = with_default_cover(site(cover=False), "assets/封面.png", banner)
    result = publish(config)
    assert result.status == "done", result.detail
    [article] = fake.drafts[remote(config)["media_id"]]
    assert fake.materials[article["thumb_media_id"]] == banner


def test_the_issues_own_cover_wins_over_the_default(site, fake):
    config = with_default_cover(site(), "assets/wechat-cover.png", cover_module.cover_png("测试"))
    assert publish(config).status == "done"
    [article] = fake.drafts[remote(config)["media_id"]]
    assert fake.materials[article["thumb_media_id"]] == PNG


@pytest.mark.parametrize(
    ("value", "data", "words"),
    [
        ("../outside.png", PNG, "outside the newsletter folder"),
        ("assets/missing.png", None, "does not exist"),
        ("assets/cover.png", "不是图片".encode(), "not a usable image"),
    ],
)
def test_a_bad_default_cover_is_named_before_anything_is_uploaded(site, fake, value, data, words):
    config = site(cover=False)
    if value.startswith("../") and data is not None:
        (config.root.parent / "outside.png").write_bytes(data)
        data = None
    config = with_default_cover(config, value, data)
    result = publish(config)
    assert result.status == "failed"
    assert "channels.wechat.default_cover" in result.detail and value in result.detail and words in result.detail
    assert fake.count("/cgi-bin/media/uploadimg") == 0 and fake.count(ADD_MATERIAL) == 0


def test_export_writes_the_default_cover_for_the_editor(site, fake):
    banner = cover_module.cover_png("测试论文速递")
    config = with_default_cover(site(mode="export", cover=False), "assets/wechat-cover.png", banner)
    result = publish(config)
    assert result.status == "done", result.detail
    folder = config.root / "outbox" / "wechat" / ISSUE
    assert (folder / "images" / "cover.png").read_bytes() == banner
    assert str(folder / "images" / "cover.png") in result.detail


def test_dry_run_names_the_cover_it_will_use(site, fake):
    from conftest import NOW

    from pipeline.publish.publisher import publish_issue

    config = with_default_cover(site(cover=False), "assets/wechat-cover.png")
    [result] = publish_issue(config, ISSUE, ["wechat"], now=NOW, dry_run=True)
    assert "cover: default_cover assets/wechat-cover.png" in result.plan[0]


# ---------------------------------------------------------------- publish init


def test_init_draws_a_cover_and_names_it_as_the_default(tmp_path):
    root = tmp_path / "新刊"
    created = init_newsletter(root, today=date(2024, 9, 30))
    assert root / COVER_PATH in created
    image = picture((root / COVER_PATH).read_bytes())
    assert image.size == (900, 383) and image.width / image.height == pytest.approx(2.35, abs=0.01)
    config = load_config(root / "config.yaml")
    [wechat] = [c for c in config.channels.values() if c.declares("default_cover")]
    assert wechat.options.get("default_cover") == COVER_PATH
    assert images.file_problem(config.root, COVER_PATH) is None
    # publish check finds nothing wrong with the cover of the new newsletter
    from pipeline.build.check import check_issues

    report = check_issues(config)
    assert [p.message for p in report.problems if "cover" in p.message.lower()] == []


def test_the_title_is_drawn_when_a_chinese_font_exists():
    font = cover_module.cjk_font()
    if font is None:
        pytest.skip("no CJK font on this system")
    assert light_pixels(cover_module.cover_png("大模型前沿论文速递")) > 500


def test_without_a_chinese_font_the_cover_is_plain_and_nothing_fails(monkeypatch, tmp_path):
    monkeypatch.setattr(cover_module.shutil, "which", lambda _name: None)  # no fontconfig
    monkeypatch.setattr(cover_module, "FONT_PATHS", (str(tmp_path / "none.ttc"),))
    assert cover_module.cjk_font() is None
    plain = cover_module.cover_png("大模型前沿论文速递")
    assert picture(plain).size == (900, 383) and light_pixels(plain) == 0  # no tofu boxes
    latin = cover_module.cover_png("Frontier Papers Weekly")  # Pillow's own font draws a Latin title
    assert light_pixels(latin) > 100
    broken = tmp_path / "broken.ttc"
    broken.write_bytes(b"not a font")
    assert picture(cover_module.cover_png("论文速递", font_path=Path(broken))).size == (900, 383)
