"""The email edition of an issue: ``issues/<id>/email.html`` and ``issues/<id>/email.txt``.

The HTML part is ``templates/email.mjml`` rendered by Jinja2 (autoescaped; Markdown HTML
goes in as already-escaped ``Markup``) and converted by mjml-python (the MRML engine) once
per issue — never once per recipient. The text part is ``templates/email.txt`` filled from
the same markdown-it tokens by :mod:`pipeline.render.plaintext`, not stripped HTML.

Per-recipient values are not known here. Both parts carry the ASCII placeholder
:data:`UNSUBSCRIBE_PLACEHOLDER` (``%%UNSUBSCRIBE_URL%%``): in the HTML footer it is the
``href`` of the unsubscribe link, in the text footer it stands on a line of its own. The
sending channel serialises the message once and replaces the placeholder in the serialised
bytes for each recipient. So that a quoted-printable soft line break never falls inside it,
a line break is put before every ``href="%%UNSUBSCRIBE_URL%%"`` in the HTML (and the text
template gives it a line of its own); it has no ``=`` to encode either. Base64 would hide
it, so the channel must send both parts quoted-printable (or 8bit).

Size: Gmail clips a message whose HTML part is larger than about 102 KB *as sent*, i.e.
after transfer encoding; quoted-printable turns each byte of UTF-8 Chinese text into three.
:func:`measure` gives both sizes so a check can warn before sending; the template keeps
the markup lean (one white section, one ``mj-text`` for all the text, shared CSS in one
``mj-style``) so that nearly all of the size is the text itself. Chinese text is still
heavy: each character is 3 bytes raw and 9 bytes as sent, so roughly 10,000 characters in
all is what fits under the clip.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from markupsafe import Markup

from ..errors import RenderError
from ..markdown import to_html
from ..model import Issue, Markdown, Paper
from . import RenderContext, paper_links
from .plaintext import heading, to_text, wrap

UNSUBSCRIBE_PLACEHOLDER = "%%UNSUBSCRIBE_URL%%"
GMAIL_CLIP_BYTES = 102 * 1024
# Inline styles only where a client that drops <style> would otherwise break the layout.
HTML_STYLES = {"img": "max-width:100%;height:auto"}


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
    values = _template_values(issue, ctx)
    html = _to_html(_render("email.mjml", ctx, values), issue)
    text = _render("email.txt", ctx, values)
    return {
        f"issues/{issue.id}/email.html": html.encode("utf-8"),
        f"issues/{issue.id}/email.txt": _normalise_text(text).encode("utf-8"),
    }


def measure(html: bytes, eight_bit: bool = True) -> tuple[int, int]:
    """``(raw bytes, bytes as sent)`` of the HTML part: what Gmail counts against its clip.

    "As sent" is the part's body encoded exactly as the email channel sends it
    (:func:`pipeline.mail.encode_body`: 8bit when allowed, else the smaller of
    quoted-printable and base64; CRLF line ends), with an unsubscribe URL of typical length
    in place of the placeholder.
    """
    from ..mail import encode_body

    typical_url = b"https://digest.example.org/unsubscribe?email=reader%40example.org&amp;token=" + b"x" * 22
    return len(html), len(encode_body(html.decode("utf-8"), eight_bit).encode(typical_url))


def _template_values(issue: Issue, ctx: RenderContext) -> dict[str, object]:
    def rewrite(src: str) -> str:
        return ctx.asset_url(issue, src)

    def block(fragment: Markdown | None) -> Block | None:
        if fragment is None or fragment.is_empty:
            return None
        return Block(Markup(to_html(fragment, rewrite_src=rewrite, styles=HTML_STYLES)), to_text(fragment, rewrite))

    papers = [
        PaperView(
            paper=p,
            meta=_meta_line(p),
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
        "cover_url": ctx.asset_url(issue, issue.cover) if issue.cover else None,
        "intro": block(issue.intro),
        "outro": block(issue.outro),
        "papers": papers,
        "web_url": ctx.issue_url(issue.id),
        "unsubscribe_url": UNSUBSCRIBE_PLACEHOLDER,
        # For email.txt: helpers rather than filters, so the shared environment stays untouched.
        "heading": heading,
        "wrap": lambda text: "\n".join(wrap(text)),
    }


def _meta_line(paper: Paper) -> str:
    """``venue · year · arXiv:id`` without repeating what the venue already says."""
    parts = []
    venue = paper.venue or ""
    if venue:
        parts.append(venue)
    if paper.year and str(paper.year) not in venue:
        parts.append(str(paper.year))
    if paper.arxiv and (paper.arxiv_base or paper.arxiv) not in venue:
        parts.append(f"arXiv:{paper.arxiv}")
    return " · ".join(parts)


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

    try:
        # fonts={}: no web-font <link>s; comments in the template are for its readers only.
        html = mjml.mjml2html(source, disable_comments=True, fonts={})
    except ValueError as error:  # how mjml-python reports MRML's parse errors
        raise RenderError(f"issue {issue.id}: MJML conversion failed: {error}") from error
    # MRML writes the body as one long line; start a line at the placeholder (see above).
    link = f'href="{UNSUBSCRIBE_PLACEHOLDER}"'
    return html.replace(link, "\n" + link)


def _normalise_text(text: str) -> str:
    """No trailing spaces and exactly one final newline; blank lines are the template's."""
    return "\n".join(line.rstrip() for line in text.strip("\n").split("\n")) + "\n"
