"""A plain cover image for WeChat: the newsletter's title on a solid background, 2.35:1.

`publish init` writes one to ``assets/wechat-cover.png`` and names it as the WeChat channel's
``default_cover``, so that a new newsletter can send an article before anyone designs a cover.
Chinese titles need a CJK font: fontconfig is asked for one (``fc-list :lang=zh``), then a few
usual paths are tried; without one, the cover is drawn without the text rather than with boxes.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

SIZE = (900, 383)  # 2.35:1, the ratio WeChat shows a cover in the chat list and at the top of the article
BACKGROUND = "#1f4e79"
BAND = "#2f6aa3"
INK = "#ffffff"
MARGIN = 60
FONT_PATHS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-microhei.ttc",
    "/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc",
    "/System/Library/Fonts/PingFang.ttc",
    "/System/Library/Fonts/STHeiti Medium.ttc",
    "C:/Windows/Fonts/msyh.ttc",
)


def cjk_font() -> Path | None:
    """A font file that covers Chinese, or None when the system has none."""
    for candidate in (*_fontconfig_fonts(), *map(Path, FONT_PATHS)):
        if candidate.is_file():
            return candidate
    return None


def _fontconfig_fonts() -> list[Path]:
    """Fonts fontconfig says cover Chinese; sans and regular weights first."""
    if shutil.which("fc-list") is None:
        return []
    try:
        listed = subprocess.run(
            ["fc-list", ":lang=zh", "file"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    files = [Path(line.split(":")[0].strip()) for line in listed.splitlines() if line.strip()]
    return sorted(files, key=lambda p: ("Sans" not in p.name, "Regular" not in p.name, p.name))


def cover_png(title: str, font_path: Path | None = None) -> bytes:
    """The cover as png bytes; ``font_path`` (default: :func:`cjk_font`) draws the title."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", SIZE, BACKGROUND)
    draw = ImageDraw.Draw(image)
    width, height = SIZE
    draw.rectangle((0, height - 24, width, height), fill=BAND)  # a quiet band, so the cover is not one flat colour
    draw.rectangle((MARGIN, MARGIN, MARGIN + 56, MARGIN + 6), fill=INK)
    font_path = font_path if font_path is not None else cjk_font()
    if title.strip() and (font_path is not None or title.isascii()):
        _draw_title(draw, title.strip(), font_path)
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def _draw_title(draw, title: str, font_path: Path | None) -> None:
    """The title in one or two lines, as large as fits between the margins (Pillow's own font
    for a Latin title when there is no other)."""
    from PIL import ImageFont

    box = SIZE[0] - 2 * MARGIN
    for size in range(64, 23, -4):
        try:
            font = ImageFont.truetype(str(font_path), size) if font_path else ImageFont.load_default(size)
        except OSError:
            return  # a font file Pillow cannot use: the cover goes without the text
        lines = _wrap(title, font, box)
        if len(lines) <= 2:
            break
    else:
        lines = lines[:2]
    top = (SIZE[1] - len(lines) * size * 1.35) / 2
    for number, line in enumerate(lines):
        draw.text((MARGIN, top + number * size * 1.35), line, font=font, fill=INK)


def _wrap(text: str, font, width: int) -> list[str]:
    """Lines of at most ``width`` pixels; Chinese wraps between any two characters."""
    lines, line = [], ""
    for char in text:
        if line and font.getlength(line + char) > width:
            lines.append(line.rstrip())
            line = char.lstrip()
        else:
            line += char
    return [*lines, line] if line else lines
