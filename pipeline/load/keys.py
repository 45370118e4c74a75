"""What the issue loader and the entry loader share: reading a file, its YAML keys, its links.

:class:`Collector` gathers the problems about one file (issue.yaml or an entry's front
matter) and finds the line of a key for each. :func:`parse_mapping` reads the YAML block and
reports keys given twice; :func:`check_types` reports unknown, missing and mistyped keys and
passes on only the values that are good, so that later checks never see a bad one twice;
:func:`check_hidden` checks the values of repeated keys that YAML drops, at their own lines.
:func:`check_link_or_file` checks an asset (cover, image) is a URL or a file in the issue folder.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from difflib import get_close_matches
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from pipeline.atomic import TEXT_LIMIT, UnreadableFile, file_problem, read_file
from pipeline.errors import Problem
from pipeline.load.hints import item_problem, type_problem
from pipeline.load.text import tag_problem, text_problem
from pipeline.yamlio import DuplicateKey, YamlSyntaxError, duplicate_message, key_line, parse_yaml

# `key: value  # comment` → the value; for a quoted value, up to its closing quote
_WRITTEN = re.compile(r"""\s*:[ \t]*("[^"]*"|'[^']*'|.*?)(?:[ \t]+#.*)?[ \t]*$""")
# Keys people write in Chinese, for 'did you mean': the format's keys are English.
_CHINESE_KEYS = {
    "标题": "title",
    "中文标题": "title_translated",
    "译名": "title_translated",
    "作者": "authors",
    "会议": "venue",
    "年份": "year",
    "评分": "rating",
    "推荐指数": "rating",
    "标签": "tags",
    "链接": "url",
    "摘要": "summary",
    "日期": "date",
    "发布时间": "publish_at",
    "导语": "intro",
    "结语": "outro",
    "封面": "cover",
    "草稿": "draft",
}

_MISSING_HINTS = {"authors": "add a line `authors: [张三, 李四]` (or `authors: []` when the paper names none)"}


class Collector:
    """Problems about one file, with the file's text at hand for finding key lines."""

    def __init__(self, path: Path, problems: list[Problem], text: str = "", first_line: int = 1) -> None:
        self.path, self.problems, self.text, self.first_line = path, problems, text, first_line
        self.errors = 0
        self.repeated: dict[str, int] = {}  # top-level key given twice → the line of the value in use
        self.hidden: list[tuple[str, int, Any]] = []  # (key, line, value) of each value a repeat hides

    def error(self, message: str, line: int | None = None, key: str | None = None) -> None:
        self.errors += 1
        self._add("error", message, line, key)

    def warning(self, message: str, line: int | None = None, key: str | None = None) -> None:
        self._add("warning", message, line, key)

    def _add(self, severity: str, message: str, line: int | None, key: str | None) -> None:
        if line is None and key is not None:
            line = self.line_of(key)
        self.problems.append(Problem(self.path, line, message, severity))

    def line_of(self, key: str) -> int | None:
        """The file line of ``key:`` (of the value in use, if the key is given twice)."""
        return self.repeated.get(key) or key_line(self.text, key, self.first_line)

    def written(self, key: str) -> str | None:
        """The value of ``key`` as written on its line (no comment), or None if it is not there."""
        value = self._on_key_line(key)
        return value if value and value[0] not in "|>" else None  # a block scalar is on the next lines

    def is_literal_block(self, key: str) -> bool:
        """Whether the value of ``key`` is a `|` block, whose lines are the text's lines."""
        return self._on_key_line(key).startswith("|")

    def _on_key_line(self, key: str) -> str:
        line = self.line_of(key)
        index = line - self.first_line if line is not None else -1
        lines = self.text.split("\n")
        match = _WRITTEN.match(lines[index], len(key)) if 0 <= index < len(lines) else None
        return match.group(1) if match else ""

    @contextmanager
    def pinned(self, key: str, line: int) -> Iterator[None]:
        """Problems about ``key`` go to ``line`` meanwhile: for checking a value a repeat hides."""
        before = self.repeated.get(key)
        self.repeated[key] = line
        try:
            yield
        finally:
            if before is None:
                del self.repeated[key]
            else:
                self.repeated[key] = before


def read_text(path: Path, inside: Path, problems: list[Problem]) -> str | None:
    """The file's text (without a byte-order mark), or None after reporting why there is none:
    not a regular file inside ``inside`` (the issue folder), too large, or not UTF-8."""
    try:
        raw = read_file(path, inside, TEXT_LIMIT)
    except UnreadableFile as exc:
        problems.append(Problem(path, None, f"{path.name} {exc.reason}"))
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        problems.append(Problem(path, line, "not UTF-8 text: save the file as UTF-8"))
        return None
    return text.removeprefix("\ufeff")


def parse_mapping(text: str, first_line: int, out: Collector, not_a_mapping: str) -> dict[str, Any] | None:
    """The YAML mapping in ``text``, or None after reporting why there is none.

    A key given twice is an error at its second line; the mapping is still returned (with the
    later value, as YAML has it) so that the other keys are checked in the same run, and each
    value the repeat hides goes to ``out.hidden`` for :func:`check_hidden`.
    """
    repeats: list[DuplicateKey] = []
    try:
        data = parse_yaml(text, first_line, repeats)
    except YamlSyntaxError as exc:
        out.error(exc.message, exc.line)
        return None
    lines = text.split("\n") if repeats else []
    for repeat in repeats:
        out.error(duplicate_message(repeat), repeat.line)
        index = repeat.line - first_line
        # a top-level key (not one of a nested mapping): YAML keeps this later value, point at it
        if isinstance(repeat.key, str) and 0 <= index < len(lines) and key_line(lines[index], repeat.key):
            out.repeated[repeat.key] = repeat.line
            out.hidden.append((repeat.key, repeat.hidden_line, repeat.hidden))
    if not isinstance(data, dict):
        out.error(not_a_mapping, first_line)
        return None
    return data


def check_types(
    data: dict[str, Any], schema: dict[str, tuple[tuple[type, ...], bool]], out: Collector, title_hint: str
) -> dict[str, Any]:
    """Report unknown, missing, empty and mistyped keys; return the known keys whose values passed.

    The checks that build on a value (dates, ranges, files) look only at what this returns, so a
    bad value is reported once and the other keys are still checked.
    """
    for key in data:
        if key not in schema:
            out.error(_unknown_key(key, schema), key=str(key))
    valid: dict[str, Any] = {}
    for key, (types, required) in schema.items():
        value = data.get(key)
        if value is None:
            if required and key not in data:
                out.error(
                    f"required key {key!r} is missing: "
                    + (title_hint if key == "title" else _MISSING_HINTS.get(key, f"add a `{key}:` line"))
                )
            elif required and key != "authors":  # `authors:` with nothing after it is an empty list
                out.error(f"{key!r} must not be empty" + (f": {title_hint}" if key == "title" else ""), key=key)
            continue
        problem = _value_problem(key, value, types, out)
        if problem is None and key == "title" and not value.strip():
            problem = f"'title' must not be empty: {title_hint}"
        if problem is None:
            valid[key] = value
        else:
            out.error(problem, key=key)
    return valid


def _unknown_key(key: Any, schema: dict[str, Any]) -> str:
    """The message for a key not in ``schema``: the key probably meant, or the list to pick from."""
    meant = _CHINESE_KEYS.get(str(key).strip())
    close = [meant] if meant in schema else get_close_matches(str(key), list(schema), n=1, cutoff=0.7)
    if close:
        return f"unknown key {key!r}: did you mean {close[0]!r}? (known keys: {', '.join(schema)})"
    return f"unknown key {key!r}: delete it or rename it to one of the known keys: {', '.join(schema)}"


def check_hidden(
    schema: dict[str, tuple[tuple[type, ...], bool]],
    out: Collector,
    title_hint: str,
    check_values: Callable[[dict[str, Any]], Any],
) -> None:
    """Check each value that a repeated key hides, as the value in use was, at its own line.

    ``check_values`` is the file's checks beyond types, given the one key's value if it passed.
    """
    for key, line, value in out.hidden:
        if key in schema:  # an unknown key is reported once already
            with out.pinned(key, line):
                check_values(check_types({key: value}, {key: schema[key]}, out, title_hint))


def _value_problem(key: str, value: Any, types: tuple[type, ...], out: Collector) -> str | None:
    """Why ``value`` is not a good value of ``key`` (type, list items, control characters)."""
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        return type_problem(key, value, types, out.written(key))
    if isinstance(value, str):
        return text_problem(key, value.strip())
    if isinstance(value, list):
        # the usual case first: every item one line of text
        if not all(isinstance(v, str) and v.strip() for v in value):
            return item_problem(key, value)
        found = next((p for p in (text_problem(key, v.strip()) for v in value) if p), None)
        if found is None and key == "tags":
            found = next((p for p in (tag_problem(v.strip()) for v in value) if p), None)
        return found
    return None


def is_url(value: str) -> bool:
    """Whether ``value`` is an http(s) URL with a host and no white space in it."""
    try:
        parts = urlsplit(value)
    except ValueError:  # e.g. "http://[::1": an opened IPv6 bracket never closed
        return False
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not any(c.isspace() for c in value)


def check_link_or_file(
    value: str, folder: Path, out: Collector, what: str, line: int | None, encoded: bool = False
) -> None:
    """An asset is a URL or a relative path to a file inside the issue folder.

    ``encoded``: the value is a Markdown image's src, which markdown-it percent-encodes
    (spaces, Chinese file names); the file has the plain name, and so has the message.
    """
    try:
        scheme = urlsplit(value).scheme
    except ValueError:
        out.error(f"{what}: {value!r} is not a valid URL (a [ without its ]?): correct the address", line)
        return
    if scheme:
        if not is_url(value):
            out.error(f"{what}: {value!r} is neither an http(s) URL nor a relative path", line)
        return
    from pipeline.markdown import is_relative_path

    if not is_relative_path(value):
        out.error(
            f"{what}: {value!r} must be a path relative to the issue folder (like images/fig1.png) or a URL", line
        )
        return
    plain = unquote(value)
    shown = plain if encoded else value
    problem = file_problem(folder / plain, folder)
    if problem == "does not exist":
        out.error(f"{what}: file {shown!r} does not exist in {folder.name}/{_did_you_mean(folder, plain)}", line)
    elif problem is not None and problem.startswith("leads outside"):
        out.error(f"{what}: {shown!r} points outside the issue folder", line)
    elif problem is not None:
        out.error(f"{what}: {shown[:80]!r} {problem}", line)
    else:
        mismatch = _image_mismatch(folder / plain)
        if mismatch:
            out.error(f"{what}: {shown!r} {mismatch}", line)


# The first bytes of each image format by the suffixes it is saved under.
_SIGNATURES = {
    ".png": (b"\x89PNG",),
    ".jpg": (b"\xff\xd8",),
    ".jpeg": (b"\xff\xd8",),
    ".gif": (b"GIF8",),
    ".webp": (b"RIFF",),
    ".bmp": (b"BM",),
}


def _image_mismatch(path: Path) -> str | None:
    """Why a file named like an image is not one (by its first bytes), or None."""
    expected = _SIGNATURES.get(path.suffix.lower())
    if expected is None:
        return None
    with path.open("rb") as handle:  # a regular file inside the folder: file_problem said so
        head = handle.read(12)
    if head.startswith(expected) and (path.suffix.lower() != ".webp" or head[8:12] in (b"WEBP", b"")):
        return None
    found = next((ext for ext, sigs in _SIGNATURES.items() if head.startswith(sigs) and ext != ".jpeg"), None)
    actual = f"a {found[1:].upper()} image" if found else "not an image"
    return (
        f"is {actual}, though its name ends in {path.suffix}: save it as a real {path.suffix[1:].upper()} or rename it"
    )


def _did_you_mean(folder: Path, plain: str) -> str:
    """A hint for a path that is almost right: backslashes, or another case of the same name."""
    if "\\" in plain:
        return f": write paths with /, e.g. {plain.replace(chr(92), '/')!r}"
    parent = (folder / plain).parent
    if not parent.is_dir():
        return ""
    name = Path(plain).name
    same = [p.name for p in parent.iterdir() if p.name.lower() == name.lower()]
    close = same or get_close_matches(name, [p.name for p in parent.iterdir()], n=1, cutoff=0.8)
    if not close:
        return ""
    return f"; did you mean {str(Path(plain).parent / close[0]).removeprefix('./')!r}?"
