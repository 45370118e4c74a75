"""The look of the WeChat article: the inline styles of ``wechat.html``, kept short.

The draft API counts its content limit (20,000 characters) on the HTML string as sent, tags
and ``style`` attributes included, so a declaration repeated on every element costs room the
papers need. What the WeChat editor keeps through inheritance (font family, colour, font size,
line height, letter spacing, wrapping) is set once on the root ``<section>``; an element
carries only what it changes and WeChat's own stylesheet would not give it: paragraph margins
(WeChat sets none), heading weight and colour, list padding. Section headings take their
spacing from the paragraphs around them; borders take the element's colour (``currentColor``);
no declaration ends in a semicolon.

Long words and URLs break only where they would overflow the line (``overflow-wrap:anywhere``
on the root, and ``word-break:break-word`` for older WebViews): an English title in the
引用链接 list wraps between words, a URL that does not fit breaks anywhere.

Colours meet WCAG AA on the background they are shown on (tests compute every ratio): text
#333 (12.6:1), accent #1f4e79 (8.7:1), muted #595959 (7.0:1), the translated title #555
(7.5:1), the rating stars #b45309 (5.0:1), inline code #b3213f (6.6:1).
"""

from __future__ import annotations

ACCENT = "#1f4e79"
MUTED = "#595959"
# Quoted with single quotes: the styles sit inside double-quoted attributes.
FONT_STACK = "-apple-system,BlinkMacSystemFont,'PingFang SC','Hiragino Sans GB','Microsoft YaHei',sans-serif"
ROOT = (
    f"font-family:{FONT_STACK};font-size:16px;line-height:1.75;color:#333;letter-spacing:.5px;"
    "word-break:break-word;overflow-wrap:anywhere"
)
MONO = "font-family:Menlo,Consolas,monospace"
HEADING = f"font-weight:bold;color:{ACCENT}"
STYLES = {
    "p": "margin:1em 0",
    "h1": f"margin:1.5em 0 .75em;font-size:20px;{HEADING}",
    "h2": f"margin:2em 0 .5em;padding-bottom:4px;border-bottom:2px solid;font-size:19px;{HEADING}",
    "h3": HEADING,  # a paper's sections: six a paper, the budget's largest item after paragraphs
    "h4": "margin:1.2em 0 .5em;font-size:16px;font-weight:bold",
    "h5": "margin:1em 0 .5em;font-size:15px;font-weight:bold",
    "h6": f"margin:1em 0 .5em;font-size:15px;font-weight:bold;color:{MUTED}",
    "ul": "padding-left:2em",  # the browser's own bullets (disc, then circle) and numbers
    "ol": "padding-left:2em",
    "blockquote": f"margin:1em 0;padding:.5em 1em;color:{MUTED};background:#f7f7f7;border-left:4px solid #ddd",
    "code": "color:#b3213f",  # the browser's monospace face for <code>
    "pre": "margin:1em 0;padding:1em;background:#f6f8fa;overflow-x:auto",
    "code_block": f"{MONO};font-size:13px",
    "img": "display:block;max-width:100%;margin:1em auto",
    "hr": "margin:2em 0;border:0;border-top:1px solid #ddd",
}
# A link shown as text: coloured, its reference number in a <sup> inside that takes the colour.
MARKED = f"color:{ACCENT}"
LINK = f"color:{ACCENT};text-decoration:underline"  # a real link (mp.weixin.qq.com), underlined as one
TRANSLATED = "margin:0 0 .75em;font-weight:bold;color:#555"
META = f"margin:.75em 0;font-size:14px;color:{MUTED}"
STARS = "color:#b45309"
NOTE = f"margin:1.5em 0;color:{MUTED}"  # "全文较长…": the article was cut
REFERENCES = f"margin:1em 0;font-size:13px;line-height:1.6;color:{MUTED}"
