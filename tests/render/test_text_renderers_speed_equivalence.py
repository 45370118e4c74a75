"""The text renderers' fast paths give what the straightforward code gave.

``plaintext.wrap`` measures each line on a column string (a class letter per display column)
and looks break points up as pairs of columns; the version before it gave every character a
class, summed the widths into a list and bisected it. That version is kept here as the
reference and both are run on generated lines: Chinese mixed with English, full-width
punctuation, URLs longer than the line, emoji, combining marks, tabs and odd spaces.
The plain-text and Markdown writers now walk the tokens in one pass; their output on
fragments with nested lists, quotes, code, headings, links and images is pinned to what the
previous walkers gave.
"""

from __future__ import annotations

import random
import re
import unicodedata
from bisect import bisect_right
from itertools import accumulate

import pytest

from pipeline.markdown import parse
from pipeline.render.mdout import MarkdownWriter
from pipeline.render.plaintext import NO_END, NO_START, to_text, width, wrap

# ---- the reference: wrapping as it was -----------------------------------------------------


def ref_width(text: str) -> int:
    total = 0
    for char in text:
        if unicodedata.combining(char):
            continue
        total += 2 if unicodedata.east_asian_width(char) in "WF" else 1
    return total


def _is_wide(char: str) -> bool:
    return unicodedata.east_asian_width(char) in "WF"


class _Classes(dict):
    def __missing__(self, code: int) -> str:
        char = chr(code)
        if char.isspace():
            kind = "s"
        elif char in NO_START:
            kind = "W" if _is_wide(char) else "N"
        elif char in NO_END:
            kind = "O" if _is_wide(char) else "P"
        elif unicodedata.combining(char):
            kind = "z" if _is_wide(char) else "c"
        else:
            kind = "w" if _is_wide(char) else "n"
        self[code] = kind
        return kind


_CLASSES = _Classes()
_WIDE_CLASSES, _NO_START_CLASSES, _NO_END_CLASSES = set("wWOz"), set("WN"), set("OP")
_CLASS_WIDTH = {"s": 1, "w": 2, "W": 2, "O": 2, "z": 0, "n": 1, "N": 1, "P": 1, "c": 0}
_BREAK_BEFORE = {
    a: frozenset()
    if a in _NO_END_CLASSES
    else frozenset(
        b
        for b in _CLASS_WIDTH
        if b != "s" and b not in _NO_START_CLASSES and (a in _WIDE_CLASSES or b in _WIDE_CLASSES)
    )
    for a in _CLASS_WIDTH
    if a != "s"
}
_WIDTH_BYTES = bytes(_CLASS_WIDTH.get(chr(code), 0) for code in range(256))


def _can_break(classes: str, at: int) -> bool:
    if at >= len(classes) or classes[at] == "s" or classes[at - 1] == "s":
        return True
    return classes[at] in _BREAK_BEFORE[classes[at - 1]]


def _ref_wrap_line(line: str, columns: int) -> list[str]:
    text = re.sub(r"\s+", " ", line).strip(" ")
    if not text:
        return [""]
    classes = text.translate(_CLASSES)
    widths = [0, *accumulate(classes.encode("ascii").translate(_WIDTH_BYTES))]
    if widths[-1] <= columns:
        return [text]
    out: list[str] = []
    start, total = 0, len(text)
    while start < total:
        end = bisect_right(widths, widths[start] + columns) - 1
        if end >= total:
            out.append(text[start:])
            break
        cut = end
        while cut > start and not _can_break(classes, cut):
            cut -= 1
        if cut == start:
            cut = start + 1
            while cut < total and not _can_break(classes, cut):
                cut += 1
        out.append(text[start:cut].rstrip(" "))
        start = cut
        while start < total and text[start] == " ":
            start += 1
    return out


def ref_wrap(text: str, columns: int = 78) -> list[str]:
    lines: list[str] = []
    for hard in text.split("\n"):
        lines.extend(_ref_wrap_line(hard, columns))
    return lines


# ---- generated lines ------------------------------------------------------------------------

HAN = "大模型在长上下文推理中的表现缓存检索增强对齐训练数据污染问题方面"
CLOSING = "，。、；：！？）】」』》〉”’…—～·,.;:!?)]}%"
OPENING = "（【「『《〈“‘([{"
LATIN = ["in-context", "learning", "BLEU-4", "GPT", "x", "4096", "e.g.", "RLHF", "arXiv:2409.14274v2"]
URLS = ["https://github.com/example/" + "self-improving-" * 6, "https://example.org/?q=" + "x" * 90]
EMOJI = ["😀", "👍🏽", "👨‍👩‍👧", "🇨🇳", "✅", "🧪"]
MARKS = ["e\u0301", "a\u0301\u0302", "\u0301", "\u302a", "\u20dd", "字\u0300"]
SPACES = [" ", " ", " ", "  ", "\t", "\u3000", "\xa0", " \t "]
# characters from blocks the rest of the suite may not have shown the wrapper yet
RARE = [
    chr(c) for c in (0x3400, 0x4DB5, 0xAC00, 0xD7A3, 0x1100, 0xFF61, 0xFFE0, 0x0E01, 0x05D0, 0x20000, 0x2A700, 0xE000)
]

KINDS = {
    "mixed": [*HAN, *LATIN, " ", " ", "，", "。"],
    "punctuation": [*HAN, *CLOSING, *OPENING, " "],
    "urls": [*HAN, *URLS, *LATIN, " ", " ", "，"],
    "emoji": [*HAN, *EMOJI, *LATIN, " ", "。"],
    "marks": [*HAN, *MARKS, *LATIN, " ", "，"],
    "spaces": [*HAN, *LATIN, *SPACES, "\n"],
    "rare": [*HAN, *RARE, *CLOSING, *OPENING, *EMOJI, *MARKS, *URLS, *SPACES, *LATIN],
}


def generated(kind: str, count: int, seed: int) -> list[str]:
    rng = random.Random(f"{kind}-{seed}")
    pool = KINDS[kind]
    lines = []
    for _ in range(count):
        size, line = rng.choice([3, 20, 60, 150, 400]), ""
        while len(line) < size:
            line += rng.choice(pool)
        lines.append(line)
    return lines


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_wrap_gives_the_reference_lines(kind):
    for line in generated(kind, 300, 1):
        for columns in (78, 40, 17, 4, 1):
            assert wrap(line, columns) == ref_wrap(line, columns), (line, columns)


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_width_is_the_unicodedata_sum(kind):
    for text in generated(kind, 200, 2):
        assert width(text) == ref_width(text), text


def test_no_line_starts_with_closing_or_ends_with_opening_punctuation():
    # Only a space may separate such punctuation from its text: without one, every line
    # start is a break point, and none is allowed before 「，」 or after 「（」.
    texts = [
        t
        for t in generated("punctuation", 400, 3)
        if not re.search(rf"\s[{re.escape(CLOSING)}]|[{re.escape(OPENING)}]\s", t)
    ]
    assert len(texts) > 50
    for text in texts:
        text = text.lstrip(CLOSING).rstrip(OPENING)
        for columns in (78, 20, 6):
            lines = wrap(text, columns)
            assert lines == ref_wrap(text, columns)
            assert not any(line[:1] in NO_START for line in lines), lines
            assert not any(line[-1:] in NO_END for line in lines), lines


def test_long_urls_stay_whole_and_other_lines_fit():
    text = "见 " + URLS[0] + " 与 " + URLS[1] + "，" + HAN * 3
    lines = wrap(text, 30)
    assert URLS[0] in lines and URLS[1] + "，" in lines
    assert all(width(line) <= 30 for line in lines if "://" not in line)


# ---- the writers on tricky fragments --------------------------------------------------------


def _marker():
    numbers: dict[str, int] = {}

    def marker(token, siblings, idx):
        return str(numbers.setdefault(str(token.attrGet("href") or ""), len(numbers) + 1))

    return marker


def _cdn(src: str) -> str:
    return "https://cdn.example/" + src


# (Markdown source, to_text at 24 columns, MarkdownWriter with headings moved down one, from h4)
PINNED = [
    (
        "本期导语，含**加粗**、*强调*与 `code`，以及[链接](https://example.org/a)。\n第二行 English\nwords 接着\n中文。",
        "本期导语，含加粗、强调与\n`code`，以及链接\n(https://example.org/a)。\n第二行 English words 接\n着中文。",
        "本期导语，含**加粗**、*强调*与 `code`，以及链接\\[1\\]。\n第二行 English\nwords 接着\n中文。\n",
    ),
    (
        "- 外层一\n  - 内层一\n  - 内层二\n- 外层二\n\n  外层二的第二段，足够长以便在较窄的宽度下换行，并且含有 English words 与全角标点。\n\n3. 三\n4. 四\n",
        "- 外层一\n\n  - 内层一\n  - 内层二\n\n- 外层二\n\n  外层二的第二段，足够长\n  以便在较窄的宽度下换\n  行，并且含有 English\n  words 与全角标点。\n\n3. 三\n4. 四",
        "- 外层一\n\n  - 内层一\n  - 内层二\n\n- 外层二\n\n  外层二的第二段，足够长以便在较窄的宽度下换行，并且含有 English words 与全角标点。\n\n3. 三\n4. 四\n",
    ),
    (
        "> 引用第一段\n>\n> - 引用中的列表\n> - 第二项\n>\n> ```\n> code in quote\n> ```\n",
        "> 引用第一段\n\n> - 引用中的列表\n> - 第二项\n\n>     code in quote",
        "> 引用第一段\n>\n> - 引用中的列表\n> - 第二项\n>\n> ```\n> code in quote\n> ```\n",
    ),
    (
        "# 一级标题 #号\n\n## 二级标题\n\n### 三级\n\n#### 四级 `代码`\n\n---\n\n正文。",
        "一级标题 #号\n============\n\n二级标题\n--------\n\n【三级】\n\n【四级 `代码`】\n\n--------------------\n\n正文。",
        "#### 一级标题 \\#号\n\n#### 二级标题\n\n#### 三级\n\n##### 四级 `代码`\n\n***\n\n正文。\n",
    ),
    (
        "````python\n```inner```\n\tindented  \n````\n\n    缩进代码块\n      第二行  \n\n~~~a`b\nx\n~~~",
        "    ```inner```\n    \tindented\n\n    缩进代码块\n      第二行\n\n    x",
        "````python\n```inner```\n\tindented  \n````\n\n```\n缩进代码块\n  第二行  \n```\n\n~~~a`b\nx\n~~~\n",
    ),
    (
        "自动链接 <https://auto.example/a_b*c> 与邮件 <mail@example.org>，[同名](https://same.example/) 与 [](https://empty.example)。",
        "自动链接\nhttps://auto.example/a_b*c\n与邮件\nmail@example.org，同名\n(https://same.example/)\n与\nhttps://empty.example。",
        "自动链接 <https://auto.example/a_b*c> 与邮件 <mail@example.org>，同名\\[1\\] 与 \\[2\\]。\n",
    ),
    (
        '![架构图 *强调* `c`](images/arch.png "标题 \\"引号\\"") 与 ![](b c.png) 以及 [mail](mailto:m@example.org)。',
        "[图: 架构图 强调 c]\nhttps://cdn.example/images/arch.png\n与 ![](b c.png) 以及\nmail\n(mailto:m@example.org)。",
        '![架构图 强调 c](https://cdn.example/images/arch.png "标题 \\"引号\\"") 与 !\\[\\](b c.png) 以及 mail\\[1\\]。\n',
    ),
    (
        "1. 第一项\n\n2) 另一种列表\n\n- \n- 空项之后\n+ 加号列表\n",
        "1. 第一项\n\n2. 另一种列表\n\n- 空项之后\n\n- 加号列表",
        "1. 第一项\n\n2) 另一种列表\n\n-\n- 空项之后\n\n+ 加号列表\n",
    ),
    (
        "转义：\\* \\_ \\# &amp; &#35; &lt;b&gt; $x$ | ~ [a] 12. 开头\n\\#标题样\n1986\\. 年\n- 不是列表",
        "转义：* _ # & # <b> $x$\n| ~ [a] 12. 开头 #标题样\n1986. 年\n\n- 不是列表",
        "转义：\\* \\_ # & # \\<b\\> \\$x\\$ \\| \\~ \\[a\\] 12. 开头\n\\#标题样\n1986\\. 年\n\n- 不是列表\n",
    ),
    (
        "很长的网址 https://example.org/pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp 之后继续， 之后继续， 之后继续，硬换行  \n下一行\\\n再下一行",
        "很长的网址\nhttps://example.org/pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp\n之后继续， 之后继续， 之\n后继续，硬换行\n下一行\n再下一行",
        "很长的网址 https://example.org/pppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppppp 之后继续， 之后继续， 之后继续，硬换行\\\n下一行\\\n再下一行\n",
    ),
    (
        "> > 嵌套引用\n> 回到外层\n\n- > 列表中的引用\n  > 第二行\n- ```\n  列表中的代码\n  ```\n",
        "> > 嵌套引用回到外层\n\n- > 列表中的引用第二行\n\n-     列表中的代码",
        "> > 嵌套引用\n> > 回到外层\n\n- > 列表中的引用\n  > 第二行\n\n- ```\n  列表中的代码\n  ```\n",
    ),
    (
        'emoji 😀👍🏽 与组合字符 é á̂，全角（括号）「引号」《书名》，半角 (paren) "quote"。',
        'emoji 😀👍🏽 与组合字符\né á̂，全角（括号）「引\n号」《书名》，半角\n(paren) "quote"。',
        'emoji 😀👍🏽 与组合字符 é á̂，全角（括号）「引号」《书名》，半角 (paren) "quote"。\n',
    ),
]


@pytest.mark.parametrize("source,text,markdown", PINNED)
def test_writers_give_the_pinned_output(source, text, markdown):
    fragment = parse(source)
    assert to_text(fragment, _cdn, 24) == text
    assert MarkdownWriter(_marker(), _cdn, 4, 1).render(fragment.tokens) == markdown
