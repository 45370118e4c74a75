"""What the issue loader and the entry loader share: reading a file, its YAML keys, its links.

:class:`Collector` gathers the problems about one file (issue.yaml or an entry's front
matter) and finds the line of a key for each. :func:`parse_mapping` reads the YAML block and
reports keys given twice; :func:`check_types` reports unknown, missing and mistyped keys and
passes on only the values that are good, so that later checks never see a bad one twice.
:func:`check_link_or_file` checks an asset (cover, image) is a URL or a file in the issue folder.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .errors import Problem
from .textchecks import text_problem
from .yamlio import DuplicateKey, YamlSyntaxError, duplicate_message, key_line, parse_yaml

_TYPE_WORDS = {str: "text", int: "a whole number", list: "a list", bool: "true or false", date: "a date", datetime: "a date and time"}


class Collector:
    """Problems about one file, with the file's text at hand for finding key lines."""

    def __init__(self, path: Path, problems: list[Problem], text: str = "", first_line: int = 1) -> None:
        self.path, self.problems, self.text, self.first_line = path, problems, text, first_line
        self.errors = 0
        self.repeated: dict[str, int] = {}  # top-level key given twice → the line of the value in use

    def error(self, message: str, line: int | None = None, key: str | None = None) -> None:
        self.errors += 1
        self._add("error", message, line, key)

    def warning(self, message: str, line: int | None = None, key: str | None = None) -> None:
        self._add("warning", message, line, key)

    def _add(self, severity: str, message: str, line: int | None, key: str | None) -> None:
        if line is None and key is not None:
            line = self.repeated.get(key) or key_line(self.text, key, self.first_line)
        self.problems.append(Problem(self.path, line, message, severity))


def read_text(path: Path, problems: list[Problem]) -> str | None:
    """The file's text (without a byte-order mark), or None after reporting that it is not UTF-8."""
    raw = path.read_bytes()
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
    later value, as YAML has it) so that the other keys are checked in the same run.
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
    if not isinstance(data, dict):
        out.error(not_a_mapping, first_line)
        return None
    return data


def check_types(data: dict[str, Any], schema: dict[str, tuple[tuple[type, ...], bool]], out: Collector, title_hint: str) -> dict[str, Any]:
    """Report unknown, missing, empty and mistyped keys; return the known keys whose values passed.

    The checks that build on a value (dates, ranges, files) look only at what this returns, so a
    bad value is reported once and the other keys are still checked.
    """
    for key in data:
        if key not in schema:
            out.error(f"unknown key {key!r} (known keys: {', '.join(schema)})", key=str(key))
    valid: dict[str, Any] = {}
    for key, (types, required) in schema.items():
        value = data.get(key)
        if value is None:
            if required and key not in data:
                out.error(f"required key {key!r} is missing" + (f": {title_hint}" if key == "title" else ""))
            elif required and key != "authors":  # `authors:` with nothing after it is an empty list
                out.error(f"{key!r} must not be empty" + (f": {title_hint}" if key == "title" else ""), key=key)
            continue
        problem = _value_problem(key, value, types)
        if problem is None and key == "title" and not value.strip():
            problem = f"'title' must not be empty: {title_hint}"
        if problem is None:
            valid[key] = value
        else:
            out.error(problem, key=key)
    return valid


def _value_problem(key: str, value: Any, types: tuple[type, ...]) -> str | None:
    """Why ``value`` is not a good value of ``key`` (type, list items, control characters)."""
    if isinstance(value, bool) and bool not in types or not isinstance(value, types):
        want = " or ".join(_TYPE_WORDS.get(t, t.__name__) for t in types)
        return f"{key!r} must be {want}, found {value!r}"
    if isinstance(value, str):
        return text_problem(key, value.strip())
    if isinstance(value, list):
        if not all(isinstance(v, str) and v.strip() for v in value):
            return f"{key!r} must be a list of text items"
        return next((p for p in (text_problem(key, v.strip()) for v in value) if p), None)
    return None


def is_url(value: str) -> bool:
    """Whether ``value`` is an http(s) URL with a host and no white space in it."""
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc) and not any(c.isspace() for c in value)


def check_link_or_file(value: str, folder: Path, out: Collector, what: str, line: int | None, encoded: bool = False) -> None:
    """An asset is a URL or a relative path to a file inside the issue folder.

    ``encoded``: the value is a Markdown image's src, which markdown-it percent-encodes
    (spaces, Chinese file names); the file has the plain name, and so has the message.
    """
    if urlsplit(value).scheme:
        if not is_url(value):
            out.error(f"{what}: {value!r} is neither an http(s) URL nor a relative path", line)
        return
    from .markdown import is_relative_path

    if not is_relative_path(value):
        out.error(f"{what}: {value!r} must be a path relative to the issue folder (like images/fig1.png) or a URL", line)
        return
    plain = unquote(value)
    shown = plain if encoded else value
    target = (folder / plain).resolve()
    if not target.is_relative_to(folder.resolve()):
        out.error(f"{what}: {shown!r} points outside the issue folder", line)
    elif not target.is_file():
        out.error(f"{what}: file {shown!r} does not exist in {folder.name}/", line)
