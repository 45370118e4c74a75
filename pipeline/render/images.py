"""Images in the formats and sizes WeChat takes: checked, converted and shrunk with Pillow.

Two targets, from the API's documentation:

- ``INLINE``: an image inside the article (``media/uploadimg``): jpg or png, under 1 MB.
- ``COVER``: the cover (``material/add_material?type=image``): bmp, png, jpeg or gif, at most 10 MB.

:func:`fit` passes an image that already meets its target through unchanged (after reading it
whole, so a truncated file is found before anything is uploaded) and converts any other: a png
for images with transparency or few colours (diagrams, screenshots), else a jpg at falling
quality, then smaller and smaller until it fits. Every problem is a ``ValueError`` whose
message says what is wrong with the file in plain words; the caller adds the file's name.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

MAX_PIXELS = 89_478_485  # Pillow's own bomb threshold (a 0.25 GB RGBA canvas); above it an image is refused
JPEG_QUALITIES = (85, 72, 60)
HOPELESS = 2.0  # a first encoding this many times over the limit goes straight to a smaller size
SHRINK = 0.8  # each further attempt scales both sides by this
MIN_SIDE = 64  # never shrink below this: an image that does not fit by then is refused
FEW_COLOURS = 256  # up to this many distinct colours an image stays png (a diagram, a chart)


@dataclass(frozen=True)
class Target:
    """What one API call takes: its name (for messages), formats (as sniffed) and a byte limit."""

    name: str
    formats: tuple[str, ...]
    limit: int  # the image must be smaller than this many bytes

    def accepts(self, kind: str | None, size: int) -> bool:
        return kind in self.formats and size < self.limit


INLINE = Target("uploadimg", ("png", "jpeg"), 1_000_000)
COVER = Target("add_material", ("png", "jpeg", "gif", "bmp"), 10 * 1024 * 1024)
SUFFIX = {"png": ".png", "jpeg": ".jpg", "gif": ".gif", "bmp": ".bmp", "webp": ".webp", "tiff": ".tif"}


def sniff(data: bytes) -> str | None:
    """The format from the file's first bytes (the extension may lie)."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data.startswith(b"BM"):
        return "bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    return None


def fit(data: bytes, target: Target) -> tuple[bytes, str, bool]:
    """``(bytes, format, converted)``: the image as ``target`` takes it; ValueError when it cannot be read."""
    kind = sniff(data)
    image = _open(data)
    if target.accepts(kind, len(data)):
        return data, str(kind), False
    return (*_convert(image, target), True)


def check_readable(data: bytes) -> str:
    """The image's format; ValueError when Pillow cannot read it whole."""
    _open(data)
    return sniff(data) or "image"


def _open(data: bytes):
    """The decoded image (first frame); ValueError for what is no image, truncated, or too large."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise ValueError("the file is empty")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise ValueError(f"{width}×{height} pixels is too large to convert safely (at most {MAX_PIXELS:,})")
            image.load()
        except UnidentifiedImageError:
            raise ValueError("it is not an image Pillow can read (or not an image at all)") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ValueError("it claims more pixels than is safe to decode (a decompression bomb?)") from None
        except (OSError, SyntaxError, EOFError) as exc:  # Pillow reports damaged data as these
            raise ValueError(f"it cannot be read whole ({_pillow_reason(exc)})") from None
    return image


def _pillow_reason(exc: BaseException) -> str:
    text = str(exc).strip()
    return text if text and len(text) < 120 else type(exc).__name__


def _convert(image, target: Target) -> tuple[bytes, str]:
    """Encode ``image`` as png or jpg, smaller and smaller, until ``target`` takes it."""
    from PIL import ImageOps

    image = ImageOps.exif_transpose(image)  # a phone photo keeps the way it was held
    as_png = "png" in target.formats and _keeps_png(image)
    scale = 1.0
    while True:
        frame = image if scale == 1.0 else _scaled(image, scale)
        smallest = None
        for data in _encodings(frame, as_png):
            if len(data) < target.limit:
                return data, "png" if as_png else "jpeg"
            smallest = len(data)
            if smallest > HOPELESS * target.limit:
                break  # lower quality alone will not do: save the encodings
        # Bytes grow with the area: aim straight at the size that fits, with some room.
        scale *= min(SHRINK, 0.95 * (target.limit / (smallest or target.limit * 2)) ** 0.5)
        if min(image.size) * scale < MIN_SIDE:
            raise ValueError(f"it cannot be made smaller than {target.limit:,} bytes for {target.name}")


def _keeps_png(image) -> bool:
    """Transparency or few colours: png keeps them crisp where jpg would blur or blacken them."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        return True
    return image.getcolors(maxcolors=FEW_COLOURS) is not None


def _scaled(image, scale: float):
    from PIL import Image

    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def _encodings(image, as_png: bool):
    """The encodings to try at one size, largest first."""
    if as_png:
        rgba = image.convert("RGBA") if image.mode not in ("RGB", "RGBA", "L", "LA", "P") else image
        yield _save(rgba, "PNG", optimize=True)
        yield _save(rgba.convert("RGBA").quantize(colors=FEW_COLOURS), "PNG", optimize=True)
        return
    rgb = _flatten(image)
    for quality in JPEG_QUALITIES:
        yield _save(rgb, "JPEG", quality=quality, optimize=True, progressive=True)


def _flatten(image):
    """RGB on white: jpg has no transparency, and a transparent area must not turn black."""
    from PIL import Image

    if image.mode in ("RGBA", "LA", "PA", "P"):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, "white")
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def _save(image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def file_problem(root: Path, value: str) -> str | None:
    """What is wrong with an image path from config.yaml (relative to ``root``), or None.

    It must stay inside the newsletter folder, exist, and be an image the cover can be made from.
    """
    folder = root.resolve()
    path = (folder / value).resolve()
    if folder not in path.parents:
        return f"{value} is outside the newsletter folder {folder}; put the image inside it (e.g. assets/)"
    if not path.is_file():
        return f"{value} does not exist in {folder}"
    try:
        check_readable(path.read_bytes())
    except OSError as exc:
        return f"{value} cannot be read: {exc.strerror or exc}"
    except ValueError as exc:
        return f"{value} is not a usable image: {exc}"
    return None
