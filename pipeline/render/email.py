"""The email edition of an issue: ``issues/<id>/email.html`` and ``issues/<id>/email.txt``.

The HTML part is ``templates/email.mjml`` rendered by Jinja2 (autoescaped; Markdown HTML
goes in as already-escaped ``Markup``) and converted by mjml-python (the MRML engine) once
per issue — never once per recipient. The text part is ``templates/email.txt`` filled from
the same markdown-it tokens by :mod:`pipeline.render.plaintext`, not stripped HTML.

Per-recipient values are not known here. Where the template says ``{{ unsubscribe_url }}``
(the ``href`` of the footer's 退订 link; a line of its own in the text footer) both parts
carry :func:`pipeline.mail.placeholder.unsubscribe_placeholder`, a URL of the site's signup page that
works for a web reader of these public files; the email channel replaces it with each
recipient's signed link (:mod:`pipeline.mail.message`). Content is never evaluated, so it must not
be able to place such a link either: the templates are rendered with a random marker in
place of the URL, every copy of the URL that came from content is escaped (HTML: its ``#``
as ``&#35;``, which reads the same; text: the fragment's ``u`` as ``%75``, the same page),
and only then does the marker become the URL. The marker never reaches the output, so the
files stay the same from build to build, and MJML still runs once per issue.

Styles: the template's ``<mj-style inline="inline">`` (MJML's own way to ask for it; MRML
ignores the attribute) is taken out before MJML runs and written onto the elements by
css-inline afterwards, so buttons, rating, headings and separators keep their look where
``<style>`` is dropped; the other ``<style>`` blocks (media queries, dark mode) stay as they
are. Images carry a ``width`` attribute (Outlook's Word engine ignores ``max-width``): the
image's own pixel width, read from the issue folder, capped to the width of the text.

Size: Gmail clips a message whose HTML part is larger than about 102 KB *as sent*, i.e.
after transfer encoding. With 8bit (the default) that is the UTF-8 itself, 3 bytes a Chinese
character; without it, base64 adds a third (quoted-printable would triple it).
:func:`measure` gives both sizes so a check can warn before sending. The markup is a little
over half of the size (one MJML section per paper, about 1.7 KB each; inline styles only
where they carry meaning): ten papers as long as the bundled example's, about 17,000 Chinese
characters, are about 95 KB as sent with 8bit (``python bench/bench_email.py --size``).
"""

from __future__ import annotations

import html as html_escaping
import re
import secrets
from dataclasses import dataclass
from datetime import date
from urllib.parse import unquote, urlsplit

from markupsafe import Markup

from pipeline.errors import RenderError
from pipeline.mail.placeholder import UNSUBSCRIBE_FRAGMENT, unsubscribe_placeholder
from pipeline.markdown import is_relative_path, to_html
from pipeline.model import Issue, Markdown, Paper
from pipeline.render.context import RenderContext, paper_links, source_line
from pipeline.render.plaintext import heading, to_text, wrap

GMAIL_CLIP_BYTES = 102 * 1024
# The email's width (MJML's default body) and the text's within it (mj-text padding 24px each side).
EMAIL_WIDTH = 600
CONTENT_WIDTH = EMAIL_WIDTH - 2 * 24
_INLINE_STYLE = re.compile(r'<mj-style\s+inline="inline"\s*>(.*?)</mj-style>', re.S)
_IMG_SRC = re.compile(r'<img\b([^>]*?)\ssrc="([^"]*)"')
# A start tag as css-inline's serializer writes it: attribute values in double quotes, where
# it leaves "<" and ">" as they are (valid HTML, but naive filters and sanitizers read them as markup).
_START_TAG = re.compile(r'<[a-zA-Z][^\s/>]*(?:\s+[^\s"\'=<>/]+(?:="[^"]*")?)*\s*/?>')
_QUOTED = re.compile(r'"[^"]*"')
# Inline styles only where a client that drops <style> would otherwise break the layout.
HTML_STYLES = {"img": "max-width:100%;height:auto"}
# How a copy of the unsubscribe placeholder that came from content is written instead: the
# same link to a reader, other bytes to the channel's substitution.
_HTML_ESCAPE = ("#", "&#35;")
_TEXT_ESCAPE = (UNSUBSCRIBE_FRAGMENT, "#%75nsubscribe")  # %75: "u"


@dataclass(frozen=True)
class Block:
    """A piece of Markdown in both renderings: HTML for the MJML, wrapped text for the text part."""

    html: Markup
    text: str


@dataclass(frozen=True)
class SectionView:
    title: str
    body: Block | None


@dataclass(frozen=True)
class PaperView:
    """What the templates show of one paper; strings are plain (the template escapes them)."""

    paper: Paper
    meta: str  # venue, year and arXiv id as one line of text
    score: str | None
    lead: Block | None
    sections: tuple[SectionView, ...]
    links: tuple[tuple[str, str], ...]


def render_issue(issue: Issue, ctx: RenderContext) -> dict[str, bytes]:
    """The issue's email parts: ``issues/<id>/email.html`` and ``issues/<id>/email.txt``."""
    # Unguessable, so no content can hold it; digits, so that a filter cannot hide a leftover.
    digits = f"{secrets.randbits(128):039d}"
    marker = f"unsubscribe-{digits}"
    values = _template_values(issue, ctx, marker)
    html = _to_html(_render("email.mjml", ctx, values), issue)
    text = _normalise_text(_render("email.txt", ctx, values))
    url = unsubscribe_placeholder(ctx.config)
    html = _place(html, marker, url, url.replace(*_HTML_ESCAPE))
    text = _place(text, marker, url, url.replace(*_TEXT_ESCAPE))
    if digits[:20] in html or digits[:20] in text:  # a template altered the value: the output would be random
        raise RenderError(f"issue {issue.id}: the email templates must use {{{{ unsubscribe_url }}}} as it is")
    # MRML writes the body as one long line; the link starts a line of its own.
    link = f'href="{url}"'
    return {
        f"issues/{issue.id}/email.html": html.replace(link, "\n" + link).encode("utf-8"),
        f"issues/{issue.id}/email.txt": text.encode("utf-8"),
    }


def _place(rendered: str, marker: str, url: str, escaped: str) -> str:
    """Escape each copy of ``url`` (all from content), then put ``url`` where the marker is."""
    return rendered.replace(url, escaped).replace(marker, url)


def measure(html: bytes, eight_bit: bool = True, placeholder: str | None = None) -> tuple[int, int]:
    """``(raw bytes, bytes as sent)`` of the HTML part: what Gmail counts against its clip.

    "As sent" is the part's body encoded exactly as the email channel sends it
    (:func:`pipeline.mail.message.encode_body`: 8bit when allowed, else the smaller of
    quoted-printable and base64; CRLF line ends), with an unsubscribe URL of typical length
    in place of ``placeholder`` when given (without it, the figure is a few dozen bytes short).
    """
    from pipeline.mail.message import PLACEHOLDER, encode_body

    text = html.decode("utf-8")
    if placeholder is None:  # measured as it is: the encoder's default mark stays itself
        return len(html), len(encode_body(text, eight_bit, html=True).encode(PLACEHOLDER.encode()))
    # The token of a 20-character address: a 16-byte tag and the address, in base64url.
    typical_url = b"https://digest.example.org/unsubscribe?u=" + b"x" * 48
    return len(html), len(encode_body(text, eight_bit, placeholder, html=True).encode(typical_url))


@dataclass(frozen=True)
class Cover:
    url: str
    width: int | None  # pixels, at most EMAIL_WIDTH; None when the image cannot be read here


def image_width(issue: Issue, src: str, limit: int) -> int | None:
    """The pixel width of the issue's image ``src``, at most ``limit``; None for a URL or an unreadable file."""
    if not is_relative_path(src):
        return None
    from PIL import Image, UnidentifiedImageError

    folder = issue.folder.resolve()
    path = (folder / unquote(urlsplit(src).path)).resolve()
    if not path.is_relative_to(folder):
        return None
    try:
        with Image.open(path) as image:  # reads the header only
            return min(image.width, limit)
    except (OSError, UnidentifiedImageError, ValueError):
        return None


def with_image_widths(html: str, widths: dict[str, int]) -> str:
    """``html`` with ``width="N"`` on each ``<img>`` whose URL has a known width."""

    def add(match: re.Match) -> str:
        width = widths.get(html_escaping.unescape(match.group(2)))
        if width is None or re.search(r"\swidth=", match.group(1)):
            return match.group(0)
        return f'<img width="{width}"{match.group(1)} src="{match.group(2)}"'

    return _IMG_SRC.sub(add, html)


def _template_values(issue: Issue, ctx: RenderContext, unsubscribe_marker: str) -> dict[str, object]:
    widths: dict[str, int] = {}

    def rewrite(src: str) -> str:
        url = ctx.asset_url(issue, src)
        width = image_width(issue, src, CONTENT_WIDTH)
        if width is not None:
            widths[url] = width
        return url

    def block(fragment: Markdown | None) -> Block | None:
        if fragment is None or fragment.is_empty:
            return None
        html = to_html(fragment, rewrite_src=rewrite, styles=HTML_STYLES)
        return Block(Markup(with_image_widths(html, widths)), to_text(fragment, rewrite))

    papers = [
        PaperView(
            paper=p,
            meta=source_line(p),
            score=f"推荐阅读指数 {p.rating}/10" if p.rating is not None else None,
            lead=block(p.lead),
            sections=tuple(SectionView(s.title, block(s.body)) for s in p.sections),
            links=tuple(paper_links(p)),
        )
        for p in issue.papers
    ]
    return {
        "issue": issue,
        "date": format_date(issue.date, ctx.site.language),
        "cover": Cover(ctx.cover_url(issue), image_width(issue, issue.cover, EMAIL_WIDTH)) if issue.cover else None,
        "intro": block(issue.intro),
        "outro": block(issue.outro),
        "papers": papers,
        "web_url": ctx.issue_url(issue.id),
        "unsubscribe_url": unsubscribe_marker,
        # For email.txt: helpers rather than filters, so the shared environment stays untouched.
        "heading": heading,
        "wrap": lambda text: "\n".join(wrap(text)),
    }


def format_date(day: date, language: str) -> str:
    """The issue date as readers of ``language`` write it (2024年4月28日 or 2024-04-28)."""
    if language.lower().startswith(("zh", "ja")):
        return f"{day.year}年{day.month}月{day.day}日"
    return day.isoformat()


def _render(name: str, ctx: RenderContext, values: dict[str, object]) -> str:
    import jinja2

    try:
        return ctx.templates.get_template(name).render(**values)
    except jinja2.TemplateError as error:
        raise RenderError(f"template {name}: {error}") from error


def _to_html(source: str, issue: Issue) -> str:
    import mjml  # mjml-python; imported here because the extension is slow to load

    inline_css = "\n".join(_INLINE_STYLE.findall(source))
    source = _INLINE_STYLE.sub("", source)
    try:
        # fonts={}: no web-font <link>s; comments in the template are for its readers only.
        html = mjml.mjml2html(source, disable_comments=True, fonts={})
    except ValueError as error:  # how mjml-python reports MRML's parse errors
        raise RenderError(f"issue {issue.id}: MJML conversion failed: {error}") from error
    return inline_styles(html, inline_css) if inline_css.strip() else html


def inline_styles(html: str, css: str) -> str:
    """``css`` written onto the elements of ``html``; its own ``<style>`` blocks kept as they are."""
    import css_inline

    inliner = css_inline.CSSInliner(
        inline_style_tags=False, keep_style_tags=True, load_remote_stylesheets=False, minify_css=True, extra_css=css
    )
    try:
        inlined = inliner.inline(html)
    except ValueError as error:  # css-inline's InlineError: CSS it cannot parse
        raise RenderError(f"email template: the inline CSS cannot be applied: {error}") from error
    return _START_TAG.sub(_escape_brackets_in_values, inlined)


def _escape_brackets_in_values(tag: re.Match) -> str:
    """The start tag with ``<`` and ``>`` in its attribute values written as references, as MJML wrote them."""

    def escape(value: re.Match) -> str:
        return value.group(0).replace("<", "&lt;").replace(">", "&gt;")

    return tag.group(0)[0] + _QUOTED.sub(escape, tag.group(0)[1:-1]) + tag.group(0)[-1]


def _normalise_text(text: str) -> str:
    """No trailing spaces and exactly one final newline; blank lines are the template's."""
    return "\n".join(line.rstrip() for line in text.strip("\n").split("\n")) + "\n"
