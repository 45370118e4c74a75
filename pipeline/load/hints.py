"""Messages for a YAML value of the wrong type, each with the line to write in its place.

YAML reads some text as other types: ``2409.14270`` is a number (and loses its trailing
zero), ``yes`` is true, ``2024-09-30`` a date, ``大模型`` one text where a list is wanted, and
``"2024"`` in quotes is text where a number is. These are a new editor's commonest mistakes
in front matter, so each message quotes the value as written in the file (when the loader
found it on the key's line) and gives the corrected line, built from that same value.
Only called for values that are wrong, so nothing here is on the loader's fast path.
"""

from __future__ import annotations

import json
import math
import re
from datetime import date, datetime
from typing import Any

_TYPE_WORDS = {
    str: "text",
    int: "a whole number",
    list: "a list",
    bool: "true or false",
    date: "a date",
    datetime: "a date and time",
}
# What an example of each key looks like, for messages that cannot build one from the value.
_EXAMPLES = {
    "year": "2024",
    "rating": "8",
    "authors": "[张三, 李四]",
    "tags": "[大模型, 对齐]",
    "channels": "[feed, email]",
    "date": "2024-09-30",
    "publish_at": "2024-09-30T08:00:00+08:00",
}
_ITEM_NOUNS = {"authors": "author", "tags": "tag", "channels": "channel"}
_LIST_SEPARATORS = re.compile(r"\s*[,，、;；]\s*")
_LEADING_NUMBER = re.compile(r"\s*(\d{1,9})(?!\d)")  # 8/10, 8分, 2024年; not a 5,000-digit run
_CHINESE_DIGITS = {c: str(n) for n, c in enumerate("〇一二三四五六七八九")} | {"零": "0", "两": "2"}


def type_problem(key: str, value: Any, types: tuple[type, ...], written: str | None) -> str:
    """What is wrong with ``value`` of ``key`` (not one of ``types``) and what to write instead.

    ``written`` is the value as it stands on the key's line in the file, if it is there.
    """
    shown = written or _plain(value)
    if str in types and not (date in types or datetime in types):
        return _want_text(key, value, shown, written)
    if int in types:
        return _want_number(key, value, shown, written)
    if list in types:
        return _want_list(key, value, shown, written)
    if bool in types:
        return _want_bool(key, value, shown, written)
    want = next(_TYPE_WORDS.get(t, t.__name__) for t in types if t is not str)  # date, or date and time
    return (
        f"{key}: {shown} is {_kind(value)} to YAML, not {want}: write it like {key}: {_EXAMPLES.get(key, 'YYYY-MM-DD')}"
    )


def item_problem(key: str, items: list[Any]) -> str | None:
    """The first item of a list that is not one line of non-empty text, and the list to write."""
    noun = _ITEM_NOUNS.get(key, "item")
    for index, item in enumerate(items):
        if isinstance(item, str) and item.strip():
            continue
        place = f"the {_ordinal(index + 1)} {noun}"
        good = [_plain(i) for i in items if i is not None and _plain(i).strip() and not isinstance(i, (list, dict))]
        fix = f"{key}: {_flow_list(good)}"
        if item is None or isinstance(item, str):
            return f"{key}: {place} is empty: delete it, {fix}"
        if isinstance(item, (list, dict)):
            return f"{key}: {place} is {_kind(item)}, not text: write each {noun} as plain text, e.g. {key}: {_EXAMPLES.get(key, '[甲, 乙]')}"
        return f"{key}: {place}, {_plain(item)}, is {_kind(item)} to YAML, not text: put it in quotes, {fix}"
    return None


def _want_text(key: str, value: Any, shown: str, written: str | None) -> str:
    if isinstance(value, dict) and not written:  # `key:` with indented `a: b` lines under it
        return f'{key} must be text, found indented `name: value` lines under it: write the text on the {key} line, in quotes, e.g. {key}: "…"'
    if written and written[0] not in "\"'":
        text = written
    elif isinstance(value, list) and not written:  # a `- item` list under the key: one line of text
        text = ", ".join(_plain(v) for v in value)
    else:
        text = _plain(value)
    read_as = ""
    if isinstance(value, float) and written and written != _plain(value):
        dropped = ": it drops trailing zeros" if "." in written and written.endswith("0") else ""
        read_as = f" (read as {_plain(value)}{dropped})"
    return f"{key}: {shown} is {_kind(value)} to YAML{read_as}: write it in quotes, {key}: {_quoted(text)}"


def _want_number(key: str, value: Any, shown: str, written: str | None) -> str:
    example = _EXAMPLES.get(key, "1")
    if isinstance(value, str):
        number = _as_int(value)
        if number is not None:
            if written and written[0] in "\"'":
                return f"{key}: {shown} is text because of the quotes: write the number without them, {key}: {number}"
            return f"{key}: {shown} is text to YAML, not a number: write it in plain digits, {key}: {number}"
        chinese = _chinese_number(value.strip())
        if chinese is not None:
            return f"{key}: {shown} is not written in digits: write {key}: {chinese}"
        leading = _LEADING_NUMBER.match(value)
        if leading:  # 8/10, 8分, 2024年
            return f"{key}: {shown} is text, not a number: write only the number, {key}: {int(leading.group(1))}"
        return f"{key}: {shown} is not a number: write it in digits, e.g. {key}: {example}"
    if isinstance(value, float) and not math.isfinite(value):  # .inf, .nan
        return f"{key}: {shown} is not a number to count with: write it in digits, e.g. {key}: {example}"
    if isinstance(value, float):
        return f"{key}: {shown} is not a whole number: write a whole number, e.g. {key}: {int(value + 0.5)}"
    return f"{key}: {shown} is {_kind(value)} to YAML, not a number: write it in digits, e.g. {key}: {example}"


def _want_list(key: str, value: Any, shown: str, written: str | None) -> str:
    if isinstance(value, str) and not value.strip():
        return f"{key}: {shown} is empty text, not a list: write {key}: [] for none, or a list, e.g. {key}: {_EXAMPLES.get(key, '[甲, 乙]')}"
    if isinstance(value, str):
        unquoted = written is not None and written[0] not in "\"'"
        items = [i for i in _LIST_SEPARATORS.split(value.strip()) if i] if unquoted else [value.strip()]
        several = " (one item per comma)" if len(items) > 1 else ""
        return f"{key}: {shown} is one text, not a list: write it in brackets{several}, {key}: {_flow_list(items)}"
    if isinstance(value, dict):
        return f"{key} must be a list, found {_kind(value)}: write the items in brackets, e.g. {key}: {_EXAMPLES.get(key, '[甲, 乙]')}"
    return f"{key}: {shown} is {_kind(value)} to YAML, not a list: write it in brackets, {key}: {_flow_list([_plain(value)])}"


def _want_bool(key: str, value: Any, shown: str, written: str | None) -> str:
    if isinstance(value, str) and value.strip().lower() in ("true", "false") and written and written[0] in "\"'":
        return f"{key}: {shown} is text because of the quotes: write it without them, {key}: {value.strip().lower()}"
    return f"{key}: {shown} is not true or false: write {key}: true or {key}: false"


def _kind(value: Any) -> str:
    """What YAML made of a value, in words."""
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, datetime):
        return "a date and time"
    if isinstance(value, date):
        return "a date"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping (name: value pairs)"
    return "text"


def _plain(value: Any, depth: int = 0) -> str:
    """The value as YAML would print it, for a message when the file's own text is not at hand.

    Nested lists are shown two levels deep: each level quotes the one inside it, so the text
    would double per level (30 nested lines made a gigabyte); a message needs only the shape."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    if isinstance(value, list):
        if depth >= 2 or len(value) > 20:
            return "[…]"
        return _flow_list([_plain(v, depth + 1) for v in value])
    return str(value)[:200]


def _quoted(text: str) -> str:
    # A JSON string is a valid YAML double-quoted scalar, escapes and all.
    return json.dumps(text, ensure_ascii=False)


def _flow_list(items: list[str]) -> str:
    """``[甲, "2024"]``: items left plain where YAML reads them back as the same text."""
    return "[" + ", ".join(i if _plain_ok(i) else _quoted(i) for i in items) + "]"


def _plain_ok(item: str) -> bool:
    from pipeline.yamlio import YamlSyntaxError, parse_yaml

    try:
        return parse_yaml(f"[{item}]") == [item]
    except YamlSyntaxError:
        return False


def _as_int(text: str) -> int | None:
    try:
        return int(text.strip())  # also full-width digits: ２０２４
    except ValueError:  # not digits, or more than Python converts (4,300)
        return None


def _chinese_number(text: str) -> int | None:
    """八 → 8, 十 → 10, 二〇二四 → 2024: numbers written in Chinese digits (a year, a score)."""
    if text == "十":
        return 10
    if text and all(c in _CHINESE_DIGITS for c in text):
        return int("".join(_CHINESE_DIGITS[c] for c in text))
    return None


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
