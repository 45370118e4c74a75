"""The HTML email as a browser engine shows it: Chromium at phone and desktop width, light and dark.

The bundled issue (with a cover and a figure wider than the email added) is rendered as the
build renders it and loaded into Debian's headless Chromium through Playwright, as
tests/web/test_browser.py does; images come from the issue folder, nothing from the network.
Three ways of showing it, at 375 and 700 px: light, dark (``prefers-color-scheme: dark``) and
with every ``<style>`` removed, as some clients and forwarding paths do. Each is kept as
tests/artifacts/email-<width>-<light|dark|nostyle>.png for a person to look at, and checked
on computed styles: contrast of every piece of text against what is behind it, no
horizontal scrolling, images within the screen, and, without ``<style>``, buttons, rating,
headings and separators still styled.
CI installs: apt `chromium fonts-noto-cjk`, pip `playwright`.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from chromium import playwright_or_skip
from conftest import NOW, REPO

from pipeline.config import load_config
from pipeline.load.issues import load_issues
from pipeline.render.context import RenderContext
from pipeline.render.email import render_issue

ARTIFACTS = REPO / "tests" / "artifacts"
ISSUE = "2024-04-28"
AA = 4.5

sync_api = playwright_or_skip()

# Every visible element with text of its own: its colour, the first opaque background behind
# it, and the contrast ratio of the two (WCAG 2 relative luminance).
CONTRASTS = """() => {
  const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
  const opaque = (c) => { const v = rgb(c); return v.length >= 3 && (v.length < 4 || v[3] > 0); };
  const lum = ([r, g, b]) => [r, g, b].map((v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; })
    .reduce((sum, v, i) => sum + v * [0.2126, 0.7152, 0.0722][i], 0);
  const behind = (el) => {
    for (let e = el; e; e = e.parentElement) { const bg = getComputedStyle(e).backgroundColor; if (opaque(bg)) return bg; }
    return getComputedStyle(document.documentElement).backgroundColor || 'rgb(255, 255, 255)';
  };
  const out = [];
  for (const el of document.body.querySelectorAll('*')) {
    const own = [...el.childNodes].filter((n) => n.nodeType === 3 && n.textContent.trim()).map((n) => n.textContent.trim());
    if (!own.length || !el.getClientRects().length) continue;
    const style = getComputedStyle(el);
    if (style.visibility === 'hidden' || style.display === 'none' || Number(style.opacity) === 0) continue;
    let bg = behind(el); if (!opaque(bg)) bg = 'rgb(255, 255, 255)';
    const [a, b] = [lum(rgb(style.color)), lum(rgb(bg))];
    out.push({tag: el.tagName, cls: el.className, text: own.join(' ').slice(0, 30), color: style.color, bg,
              ratio: (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05)});
  }
  return out;
}"""
LAYOUT = """() => ({
  scroll: document.documentElement.scrollWidth, view: window.innerWidth,
  images: [...document.images].map((i) => ({src: i.src, width: i.getBoundingClientRect().width, loaded: i.naturalWidth})),
})"""
STYLES = """() => {
  const pick = (el, ...props) => el && Object.fromEntries(props.map((p) => [p, getComputedStyle(el)[p]]));
  return {
    button: pick(document.querySelector('a.b'), 'backgroundColor', 'color', 'paddingTop', 'paddingLeft', 'display'),
    rating: pick(document.querySelector('.s'), 'color', 'fontWeight'),
    separator: pick(document.querySelector('td.c'), 'borderTopWidth', 'borderTopStyle', 'borderTopColor', 'paddingTop'),
    h2: pick(document.querySelector('h2'), 'fontSize'),
    h3: pick(document.querySelector('h3'), 'fontSize'),
    text: pick(document.querySelector('td.tx > div'), 'fontFamily', 'color'),
    footer: pick(document.querySelector('td.f a'), 'color'),
  };
}"""


def png(path: Path, width: int, height: int) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (width, height), (200, 220, 240)).save(path)


@pytest.fixture(scope="module")
def email(tmp_path_factory) -> tuple[str, Path, str]:
    """``(html, issue folder, the folder's URL)``: the bundled issue with a cover and a wide figure."""
    import shutil

    root = tmp_path_factory.mktemp("email-browser")
    shutil.copy(REPO / "config.yaml", root / "config.yaml")
    shutil.copytree(REPO / "issues" / ISSUE, root / "issues" / ISSUE)
    folder = root / "issues" / ISSUE
    png(folder / "images" / "cover.png", 1200, 300)
    png(folder / "images" / "wide.png", 1600, 500)
    meta = folder / "issue.yaml"
    meta.write_text(meta.read_text(encoding="utf-8") + "cover: images/cover.png\n", encoding="utf-8")
    first = sorted(folder.glob("01-*.md"))[0]
    first.write_text(first.read_text(encoding="utf-8") + "\n![宽图](images/wide.png)\n", encoding="utf-8")
    config = load_config(root / "config.yaml")
    loaded = load_issues(config)
    assert not loaded.errors, [p.format() for p in loaded.errors]
    [issue] = [i for i in loaded.issues if i.id == ISSUE]
    html = render_issue(issue, RenderContext(config, NOW))[f"issues/{ISSUE}/email.html"].decode()
    return html, folder, config.site.absolute(f"issues/{ISSUE}/")


def without_style(html: str) -> str:
    """The email as a client that drops every ``<style>`` block shows it (inline styles stay)."""
    return re.sub(r"<style\b[^>]*>.*?</style>", "", html, flags=re.S | re.I)


def show(browser, email, width: int, scheme: str, html: str | None = None):
    """A page of ``width`` px in ``scheme`` with the email loaded; images served from the issue folder."""
    source, folder, base = email
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme, locale="zh-CN")
    page = context.new_page()

    def serve(route):
        url = route.request.url
        if url.startswith(base) and (folder / url[len(base) :]).is_file():
            route.fulfill(body=(folder / url[len(base) :]).read_bytes(), content_type="image/png")
        else:
            route.abort()  # no network: a link or image elsewhere is not fetched

    page.route("**/*", serve)
    page.set_content(html or source, wait_until="load")
    return context, page


def shot(page, name: str) -> None:
    """The whole page as tests/artifacts/<name>.png, in 64 colours (text stays sharp, the file small)."""
    import io

    from PIL import Image

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    image = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB")
    image.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(ARTIFACTS / f"{name}.png", optimize=True)


def low_contrast(page) -> list[dict]:
    measured = page.evaluate(CONTRASTS)
    assert len(measured) > 50  # the checks ran over the whole email
    return [item for item in measured if item["ratio"] < AA]


@pytest.mark.parametrize("width", [375, 700])
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_readable_and_within_the_screen(browser, email, width, scheme):
    context, page = show(browser, email, width, scheme)
    try:
        shot(page, f"email-{width}-{scheme}")
        assert low_contrast(page) == []
        layout = page.evaluate(LAYOUT)
        assert layout["scroll"] <= layout["view"], layout  # no horizontal scrolling
        assert len(layout["images"]) == 2 and all(image["loaded"] for image in layout["images"]), layout
        assert all(0 < image["width"] <= layout["view"] for image in layout["images"]), layout
        styles = page.evaluate(STYLES)
        assert "PingFang SC" in styles["text"]["fontFamily"].split(",")[2]  # CJK fonts before Arial
        assert styles["text"]["fontFamily"].index("Noto Sans CJK SC") < styles["text"]["fontFamily"].index("Arial")
    finally:
        context.close()


def test_dark_mode_changes_the_colours(browser, email):
    """Not the light page on a dark canvas: the email's own dark colours apply."""
    colours = {}
    for scheme in ("light", "dark"):
        context, page = show(browser, email, 700, scheme)
        colours[scheme] = page.evaluate(STYLES)
        colours[scheme]["card"] = page.evaluate("getComputedStyle(document.querySelector('.card')).backgroundColor")
        context.close()
    light, dark = colours["light"], colours["dark"]
    assert light["card"] == "rgb(255, 255, 255)" and dark["card"] == "rgb(30, 30, 30)"
    assert light["text"]["color"] == "rgb(34, 34, 34)" and dark["text"]["color"] == "rgb(232, 232, 232)"
    assert light["rating"]["color"] != dark["rating"]["color"]
    assert dark["button"]["backgroundColor"] == "rgb(26, 86, 219)" and dark["button"]["color"] == "rgb(255, 255, 255)"


def test_the_email_head_declares_both_colour_schemes(email):
    html, _, _ = email
    head = html.split("<body", 1)[0]
    assert '<meta name="color-scheme" content="light dark">' in head
    assert '<meta name="supported-color-schemes" content="light dark">' in head
    assert "@media (prefers-color-scheme:dark)" in head and "[data-ogsc]" in head


@pytest.mark.parametrize("width", [375, 700])
def test_without_style_blocks_meaning_stays(browser, email, width):
    html, _, _ = email
    bare = without_style(html)
    assert "<style" not in bare.lower() and "<style" in html.lower()
    context, page = show(browser, email, width, "light", bare)
    try:
        shot(page, f"email-{width}-nostyle")
        styles = page.evaluate(STYLES)
        button = styles["button"]
        assert button["backgroundColor"] == "rgb(26, 86, 219)" and button["color"] == "rgb(255, 255, 255)"
        assert (button["paddingTop"], button["paddingLeft"], button["display"]) == ("8px", "18px", "inline-block")
        assert styles["rating"] == {"color": "rgb(180, 83, 9)", "fontWeight": "700"}
        separator = styles["separator"]
        assert (separator["borderTopWidth"], separator["borderTopStyle"]) == ("1px", "solid")
        assert separator["borderTopColor"] == "rgb(221, 221, 221)" and separator["paddingTop"] == "16px"
        assert (styles["h2"]["fontSize"], styles["h3"]["fontSize"]) == ("20px", "17px")
        assert styles["footer"]["color"] == "rgb(85, 85, 85)"
        assert low_contrast(page) == []
        layout = page.evaluate(LAYOUT)
        assert layout["scroll"] <= layout["view"], layout
        assert all(0 < image["width"] <= layout["view"] for image in layout["images"]), layout
    finally:
        context.close()
