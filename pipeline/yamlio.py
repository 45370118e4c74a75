"""YAML reading with the C loader when present, errors that carry a line number, and keys
given twice (which YAML itself would silently resolve to the last value) found on the way."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

# The C loader is ~8x faster than the pure-Python one; both build the same safe types.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class DuplicateKey:
    """A key given twice in one mapping: YAML silently keeps the last value."""

    key: Any
    line: int  # the repeat, in the file's numbering
    first_line: int  # where the key was first given
    # The occurrence this repeat hides (the one just before it): its line and value, so that the
    # value YAML drops is still checked. Not part of equality: the key and lines say which repeat.
    hidden_line: int = field(default=0, compare=False)
    hidden: Any = field(default=None, compare=False, repr=False)


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    """The safe loader, noting every key that repeats within one mapping (0-based lines)."""

    repeats: Sequence[
        tuple[Any, int, int, int, Any]
    ] = ()  # an instance's own list once it finds one (no __init__ to run)

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        own = node.value  # flatten_mapping deletes `<<` keys from this list and prepends merged ones to a new list
        mapping = super().construct_mapping(node, deep=deep)
        # Without repeats (the usual case) the dict is as long as the key list: one length check.
        if len(mapping) != len(own) or node.value is not own:
            self._note_repeats(own)
        return mapping

    def _note_repeats(self, pairs: list[tuple[Any, Any]]) -> None:
        seen: dict[Any, tuple[int, int, Any]] = {}  # key → (first line, latest line, latest value node)
        for key_node, value_node in pairs:
            key = self.construct_object(key_node)  # already built: construct_object caches by node
            line = key_node.start_mark.line
            try:
                before = seen.get(key)
            except TypeError:  # an unhashable key: construct_mapping has refused it already
                continue
            if before is None:
                seen[key] = (line, line, value_node)
                continue
            first, hidden_line, hidden_node = before
            # The hidden value is built already (cached by node); a list or mapping is filled in
            # by the time get_single_data returns, as the value in use is.
            hidden = self.construct_object(hidden_node)
            self.__dict__.setdefault("repeats", []).append((key, line, first, hidden_line, hidden))
            seen[key] = (first, line, value_node)


class YamlSyntaxError(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def parse_yaml(
    text: str, first_line: int = 1, duplicates: list[DuplicateKey] | None = None, shared: bool = False
) -> Any:
    """Parse YAML text; on a syntax error raise YamlSyntaxError with the file's line number.

    A key given twice in one mapping is an error too (YAML would keep the last value without a
    word). With a ``duplicates`` list, each repeat is appended to it instead and parsing goes
    on, so that the caller can report it alongside every other problem of the file.

    Explicit tags are refused, and so are aliases and merge keys unless ``shared`` (config.yaml,
    written by the operator, may share a block between channels; an issue file has no use for
    them, and they are how a few lines of YAML become gigabytes).
    """
    try:
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is not None:
                _refuse_unsupported(loader, node, first_line, shared)
            data = None if node is None else _construct(loader, node, first_line)
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        # For an unclosed [ { or quote the context mark is where it began: the line an editor
        # has to fix, not the end of the file where YAML gave up. Otherwise the problem mark.
        opened = exc.context_mark is not None and any(w in (exc.context or "") for w in ("flow", "scanning"))
        mark = exc.context_mark if opened else (exc.problem_mark or exc.context_mark)
        line = mark.line + first_line if mark is not None else None
        what = exc.problem or "invalid YAML"
        if exc.context:
            what = f"{what} ({exc.context})"
        lesson = _lesson(text.split("\n"), line - first_line if line is not None else -1, what)
        raise YamlSyntaxError(line, f"invalid YAML: {lesson or what}") from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(None, f"invalid YAML: {exc}") from None
    repeats = [
        DuplicateKey(key, line + first_line, first + first_line, hidden_line + first_line, hidden)
        for key, line, first, hidden_line, hidden in loader.repeats
    ]
    if repeats and duplicates is None:
        raise YamlSyntaxError(repeats[0].line, duplicate_message(repeats[0]))
    if repeats:
        duplicates.extend(repeats)
    return data


_PLAIN_TAGS = {"tag:yaml.org,2002:seq": yaml.SequenceNode, "tag:yaml.org,2002:map": yaml.MappingNode}
_MERGE = "tag:yaml.org,2002:merge"
# What a value that failed to build was meant to be, for the message.
_KINDS = {"tag:yaml.org,2002:timestamp": "a date or time", "tag:yaml.org,2002:int": "a whole number"}


def _refuse_unsupported(loader: Any, root: Any, first_line: int, shared: bool = False) -> None:
    """Refuse what an issue file has no use for and what turns a small file into a huge value:
    explicit tags (``!!int x``, ``!!python/…``), aliases (``*a``: "billion laughs") and merge
    keys (``<<:``). Checked on the composed nodes, before any value is built, in one pass."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        line = node.start_mark.line + first_line
        if id(node) in seen:
            if shared:  # config.yaml: an alias is fine, but its node is checked once (it may hold itself)
                continue
            raise YamlSyntaxError(line, "YAML aliases (*name) are not supported: write the value out in full")
        seen.add(id(node))
        if isinstance(node, yaml.ScalarNode):
            plain = not node.style
            if node.tag != loader.resolve(yaml.ScalarNode, node.value, (plain, not plain)):
                raise YamlSyntaxError(line, _tag_message(node.tag))
            continue
        if not isinstance(node, _PLAIN_TAGS.get(node.tag, ())):
            raise YamlSyntaxError(line, _tag_message(node.tag))
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.tag == _MERGE and not shared:
                    raise YamlSyntaxError(
                        key.start_mark.line + first_line, "YAML merge keys (<<:) are not supported: write each key out"
                    )
                stack += (key, value)
        else:
            stack += node.value


def _tag_message(tag: str) -> str:
    shown = tag.replace("tag:yaml.org,2002:", "!!")
    return f"YAML tags such as {shown} are not supported: write the plain value (put text in quotes)"


def _construct(loader: Any, root: Any, first_line: int) -> Any:
    """The value of the document; a scalar that cannot be built (``2024-02-30``, a 5,000-digit
    number) is reported at its own line instead of escaping as a Python error."""
    try:
        return loader.construct_document(root)
    except (ValueError, TypeError, OverflowError, KeyError, AttributeError, yaml.YAMLError):
        pass
    stack = [root]
    while stack:
        node = stack.pop()
        if isinstance(node, yaml.ScalarNode):
            try:
                _Loader("").construct_object(node)
            except (ValueError, TypeError, OverflowError, KeyError, AttributeError, yaml.YAMLError) as exc:
                kind = _KINDS.get(node.tag, "a value")
                reason = _reason(exc)
                message = f"{node.value[:40]!r} is not {kind} ({reason}): correct it, or put it in quotes if it is text"
                raise YamlSyntaxError(node.start_mark.line + first_line, message) from None
        elif isinstance(node, yaml.MappingNode):
            stack += [part for pair in node.value for part in pair]
        else:
            stack += node.value
    raise YamlSyntaxError(root.start_mark.line + first_line, "invalid YAML: a value cannot be read")


_FULL_WIDTH_COLON = re.compile(r"^(\s*)([^\s:：#\"'][^:：]*?)\s*：\s*(.*)$")
_FULL_WIDTH_QUOTES = "“”‘’「」"


def _lesson(lines: list[str], index: int, problem: str) -> str | None:
    """What to write instead, for the mistakes editors make most, from the offending line
    itself; None leaves YAML's own words. Chinese text makes each of these easy to type."""
    row = lines[index] if 0 <= index < len(lines) else ""
    indent = row[: len(row) - len(row.lstrip())]
    if "\t" in indent or ("\t" in row and "cannot start any token" in problem):
        return "this line is indented with a tab: YAML indents with spaces; replace the tab with two spaces"
    colon = _FULL_WIDTH_COLON.match(row)
    if colon and ":" not in colon.group(2):
        key, value = colon.group(2), colon.group(3)
        return (
            f"{key} is followed by a full-width colon ：; YAML needs an ASCII colon and a space: {indent}{key}: {value}"
        )
    key, sep, value = row.strip().partition(": ")
    if any(mark in row for mark in _FULL_WIDTH_QUOTES) and sep:
        plain = value.strip().strip(_FULL_WIDTH_QUOTES)
        return f"{key} uses full-width quotes, which YAML reads as text: use straight ones, {key}: {_quote(plain)}"
    if "mapping values are not allowed" in problem and sep and not key.startswith("- "):
        return f'the value of {key} contains ": ", which YAML reads as a second key: put it in quotes, {key}: {_quote(value.strip())}'
    if "quoted scalar" in problem and "end of stream" in problem:
        return "a quote opened on this line is never closed: add the closing quote at the end of the value"
    return None


def _quote(text: str) -> str:
    """``text`` as a YAML double-quoted value (JSON strings are valid YAML)."""
    return json.dumps(text, ensure_ascii=False)


def _reason(exc: Exception) -> str:
    """Python's complaint about a value, in the few words an editor needs."""
    text = str(exc)
    if "offset" in text:
        return "its UTC offset must be within ±24:00"
    if "digits" in text:
        return "it has too many digits"
    return text.split(";")[0].split(":")[0].strip()[:60]


def duplicate_message(repeat: DuplicateKey) -> str:
    """What to say about a repeated key, at the repeat's line."""
    return f"key {repeat.key!r} is given twice (first at line {repeat.first_line}); YAML would silently keep only this later value: delete one of them"


def load_yaml_file(path: Path, raw: bytes, error_cls: type[Exception]) -> Any:
    """Parse a whole YAML file, turning decode and syntax errors into ``error_cls``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error_cls(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        return parse_yaml(text, shared=True)
    except YamlSyntaxError as exc:
        where = f"{path}:{exc.line}" if exc.line else str(path)
        raise error_cls(f"{where}: {exc.message}") from None


def key_line(text: str, key: str, first_line: int = 1) -> int | None:
    """Line of a top-level ``key:`` in YAML text, for pointing at it in a message."""
    match = re.search(rf"^{re.escape(key)}\s*:", text, re.MULTILINE)
    if match is None:
        return None
    return text.count("\n", 0, match.start()) + first_line
