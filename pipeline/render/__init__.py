"""Render: model → bytes, one module per output. Nothing here writes files or sends anything (what a
render may reuse from an earlier build comes through ``RenderContext.part_cache``).

Takes a loaded :class:`pipeline.model.Issue` and a :class:`context.RenderContext`. Each output
module exposes ``render_issue(issue, ctx) -> dict[path, bytes]`` (paths relative to the
output folder) and, for outputs that span issues, ``render_site(cards, ctx)``. Site outputs
work from :class:`context.Card` summaries kept by the build, so an unchanged issue is never
loaded again to rebuild the index or the feeds.

    context.py    settings, templates and URL rules of one build; Card; shared paper lines
    web.py        the archive: issue pages, index, subscription page
    feeds.py      RSS 2.0, Atom 1.0, JSON Feed 1.1 of the newest issues
    papers.py     the per-paper feeds (papers.xml, papers.json)
    email.py      the email's HTML (MJML) and text parts
    plaintext.py  Markdown → wrapped plain text for the text part
    pages.py      what every archive page shares; the tag slug rule
    tags.py       tag pages and per-tag Atom feeds
    sitemap.py    sitemap.xml and robots.txt
    search.py     the archive's search index (terms per year) and each issue's documents
    siteimage.py  the drawn og-image.png of pages without a cover
    wechat.py     the WeChat article: Markdown with 引用链接 and inline-styled HTML
    wechat_style.py   the article's inline styles, inherited ones set once on the root
    wechat_limits.py  the article measured as the API counts it; the size reports
    wechat_paste.py   the paste page: the article to copy into the mp.weixin.qq.com editor
    images.py     images converted to what the WeChat API takes
    cover.py      the generated default cover
    mdout.py      Markdown writer the WeChat Markdown uses
    bibtex.py     BibTeX of an issue's papers
"""
