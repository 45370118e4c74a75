"""Images WeChat refuses are converted before the first upload, once; an unreadable one stops the run.

Against the fake API, which checks what the real one checks: uploadimg takes jpg/png (by their
first bytes) under 1 MB, add_material type=image takes bmp/png/jpeg/gif up to 10 MB.
"""

from __future__ import annotations

import io
import json
import random
import re
import struct
import zlib

import pytest
import test_wechat_channel
from test_wechat_channel import ISSUE, JPEG, publish, remote

from pipeline.config import load_config
from pipeline.render import images
from pipeline.render.images import COVER, INLINE

fake, site = test_wechat_channel.fake, test_wechat_channel.site  # the fixtures, shared
UPLOADIMG = "/cgi-bin/media/uploadimg"
ADD_MATERIAL = "/cgi-bin/material/add_material"


def encoded(fmt: str, size: tuple[int, int] = (240, 160), mode: str = "RGB", noise: bool = False, **options) -> bytes:
    """An image in ``fmt``; ``noise`` makes it incompressible (a photo's worth of detail)."""
    from PIL import Image

    if noise:
        image = Image.frombytes(mode, size, random.Random(7).randbytes(size[0] * size[1] * len(mode)))
    else:
        image = Image.new(mode, size, "#1f4e79" if mode != "P" else 3)
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def png_header(width: int, height: int) -> bytes:
    """The start of a png that claims ``width``×``height`` pixels (and has none)."""
    ihdr = b"IHDR" + struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = b"IDAT"
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", 13)
        + ihdr
        + struct.pack(">I", zlib.crc32(ihdr))
        + struct.pack(">I", 0)
        + idat
        + struct.pack(">I", zlib.crc32(idat))
    )


def decoded(data: bytes):
    from PIL import Image

    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def add_images(config, files: dict[str, bytes]) -> None:
    """Put ``files`` into the issue's images/ and show each in the body."""
    folder = config.issues_dir / ISSUE
    lines = []
    for name, data in files.items():
        (folder / "images" / name).write_bytes(data)
        lines.append(f"![图 {name}](images/{name})")
    entry = folder / "01-snapkv.md"
    entry.write_text(entry.read_text("utf-8") + "\n" + "\n\n".join(lines) + "\n", encoding="utf-8")


def sent_srcs(fake, config) -> list[str]:
    [article] = fake.drafts[remote(config)["media_id"]]
    return re.findall(r'<img[^>]*src="([^"]+)"', article["content"])


# ---------------------------------------------------------------- unit: fit


@pytest.mark.parametrize(
    ("fmt", "options"),
    [("WEBP", {}), ("GIF", {}), ("BMP", {}), ("TIFF", {}), ("PNG", {"compress_level": 0})],
)
def test_fit_turns_what_uploadimg_refuses_into_jpg_or_png_under_1_mb(fmt, options):
    data = encoded(fmt, (900, 700), noise=True, **options)
    assert not INLINE.accepts(images.sniff(data), len(data))  # refused as it is
    fitted, kind, converted = images.fit(data, INLINE)
    assert converted and kind in ("png", "jpeg") and images.sniff(fitted) == kind
    assert len(fitted) < 1_000_000
    assert decoded(fitted).size[0] / decoded(fitted).size[1] == pytest.approx(900 / 700, rel=0.02)


def test_transparency_and_few_colours_stay_png_photos_become_jpg():
    diagram = encoded("WEBP", (400, 300), mode="RGBA", lossless=True)
    assert images.fit(diagram, INLINE)[1] == "png"
    flat = encoded("BMP", (400, 300))  # one colour: a chart's background
    assert images.fit(flat, INLINE)[1] == "png"
    photo = encoded("WEBP", (400, 300), noise=True)
    assert images.fit(photo, INLINE)[1] == "jpeg"


def test_a_large_photo_is_shrunk_until_it_fits():
    big = encoded("PNG", (2400, 1600), noise=True, compress_level=1)  # 11 MB of incompressible pixels
    assert len(big) > 10 * 1024 * 1024
    fitted, kind, _ = images.fit(big, INLINE)
    assert kind == "jpeg" and len(fitted) < 1_000_000
    cover, cover_kind, converted = images.fit(big, COVER)
    assert converted and cover_kind in ("png", "jpeg") and len(cover) < 10 * 1024 * 1024


def test_what_fits_passes_through_byte_for_byte():
    assert images.fit(JPEG, INLINE) == (JPEG, "jpeg", False)
    gif = encoded("GIF", mode="P")
    assert images.fit(gif, COVER) == (gif, "gif", False)  # the cover may be a gif


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty"),
        ("这不是图片".encode() * 10, "not an image"),
        (JPEG[: len(JPEG) // 2], "cannot be read whole"),
        (png_header(40000, 40000), "pixels"),  # a bomb: refused before anything is decoded
        (png_header(12000, 9000), "pixels"),  # under Pillow's hard limit, over ours
    ],
)
def test_an_unreadable_image_is_a_plain_reason(data, reason):
    with pytest.raises(ValueError, match=reason):
        images.fit(data, INLINE)


# ---------------------------------------------------------------- the channel


def test_every_format_is_converted_and_the_fake_api_accepts_them(site, fake):
    config = site()
    add_images(
        config,
        {
            "photo.webp": encoded("WEBP", (640, 480), noise=True),
            "anim.gif": encoded("GIF", mode="P"),
            "scan.bmp": encoded("BMP", (300, 200)),
            "figure.tiff": encoded("TIFF", (300, 200), noise=True),
            "huge.png": encoded("PNG", (1200, 1000), noise=True),
        },
    )
    result = publish(config)
    assert result.status == "done", result.detail
    srcs = sent_srcs(fake, config)
    assert len(srcs) == 7 and fake.filtered == []  # every image is on WeChat's servers
    for src in srcs:
        data = fake.images[src]
        assert images.sniff(data) in ("png", "jpeg") and len(data) < 1_000_000
    assert fake.count(UPLOADIMG) == 7  # none refused and retried
    cached = sorted(p.suffix for p in (config.state_dir / "wechat" / "images").iterdir())
    assert len(cached) == 5 and set(cached) <= {".png", ".jpg"}


def test_a_webp_cover_becomes_what_add_material_takes(site, fake):
    config = site()
    folder = config.issues_dir / ISSUE
    (folder / "images" / "cover.webp").write_bytes(encoded("WEBP", (470, 200), noise=True))
    meta = folder / "issue.yaml"
    meta.write_text(meta.read_text("utf-8").replace("cover.png", "cover.webp"), encoding="utf-8")
    assert publish(config).status == "done"
    [article] = fake.drafts[remote(config)["media_id"]]
    cover = fake.materials[article["thumb_media_id"]]
    assert images.sniff(cover) in ("png", "jpeg") and decoded(cover).size == (470, 200)


def test_an_unreadable_image_fails_before_any_upload_and_conversions_are_kept_for_the_rerun(
    site,
    fake,
    monkeypatch,
):
    config = site()
    big = encoded("PNG", (1200, 1000), noise=True)
    add_images(config, {"huge.png": big, "图表3.jpg": JPEG[:40]})  # the second is cut short
    result = publish(config)
    assert result.status == "failed"
    assert "图表3.jpg" in result.detail and "cannot be read" in result.detail
    assert fake.count(UPLOADIMG) == 0 and fake.count(ADD_MATERIAL) == 0  # nothing went out
    [kept] = (config.state_dir / "wechat" / "images").iterdir()
    made = kept.stat().st_mtime_ns

    conversions = []
    real = images._convert
    monkeypatch.setattr(images, "_convert", lambda *a: conversions.append(a) or real(*a))
    (config.issues_dir / ISSUE / "images" / "图表3.jpg").write_bytes(JPEG)  # the editor fixes the file
    result = publish(config)
    assert result.status == "done", result.detail
    assert conversions == [] and kept.stat().st_mtime_ns == made  # the png was not converted again
    assert kept.read_bytes() in fake.images.values()


def test_a_file_that_is_no_image_names_the_file(site, fake):
    config = site()
    add_images(config, {"notes.tif": "# 笔记\n不是图片。\n".encode()})  # the loader checks known suffixes only
    result = publish(config)
    assert result.status == "failed" and "notes.tif" in result.detail and "not an image" in result.detail
    assert fake.count(UPLOADIMG) == 0


def test_export_converts_for_the_editor_and_says_what_to_do_in_plain_words(site, fake):
    config = site(mode="export")
    add_images(config, {"photo.webp": encoded("WEBP", (320, 240), noise=True)})
    result = publish(config)
    assert result.status == "done", result.detail
    folder = config.root / "outbox" / "wechat" / ISSUE
    [article] = json.loads((folder / "draft.json").read_text("utf-8"))["articles"]
    srcs = re.findall(r'<img[^>]*src="([^"]+)"', article["content"])
    assert srcs[-1] in ("images/03-photo.png", "images/03-photo.jpg")
    assert images.sniff((folder / srcs[-1]).read_bytes()) in ("png", "jpeg")
    detail = result.detail
    assert "mp.weixin.qq.com" in detail and "by hand" in detail and "3 image(s)" in detail and "cover" in detail
    for api_word in ("thumb_media_id", "draft/add", "uploadimg", "add_material"):
        assert api_word not in detail
    if (folder / "paste.html").exists():
        assert f"{folder / 'paste.html'}" in detail and "复制到公众号" in detail
    assert fake.calls == []
    assert load_config(config.path).channels["wechat"].options.get("mode") == "export"
