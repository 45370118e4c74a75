"""YAML reading with the C loader when present, and errors that carry a line number."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

# The C loader is ~8x faster than the pure-Python one; both build the same safe types.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YamlSyntaxError(Exception):
    def __init__(self, line: int | None, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def parse_yaml(text: str, first_line: int = 1) -> Any:
    """Parse YAML text; on a syntax error raise YamlSyntaxError with the file's line number."""
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a safe loader
    except yaml.MarkedYAMLError as exc:
        # For an unclosed [ { or quote the context mark is where it began: the line an editor
        # has to fix, not the end of the file where YAML gave up. Otherwise the problem mark.
        opened = exc.context_mark is not None and any(w in (exc.context or "") for w in ("flow", "scanning"))
        mark = exc.context_mark if opened else (exc.problem_mark or exc.context_mark)
        line = mark.line + first_line if mark is not None else None
        what = exc.problem or "invalid YAML"
        if exc.context:
            what = f"{what} ({exc.context})"
        raise YamlSyntaxError(line, f"invalid YAML: {what}") from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(None, f"invalid YAML: {exc}") from None


def load_yaml_file(path: Path, raw: bytes, error_cls: type[Exception]) -> Any:
    """Parse a whole YAML file, turning decode and syntax errors into ``error_cls``."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error_cls(f"{path}: not UTF-8 text (byte {exc.start})") from None
    try:
        return parse_yaml(text)
    except YamlSyntaxError as exc:
        where = f"{path}:{exc.line}" if exc.line else str(path)
        raise error_cls(f"{where}: {exc.message}") from None


def key_line(text: str, key: str, first_line: int = 1) -> int | None:
    """Line of a top-level ``key:`` in YAML text, for pointing at it in a message."""
    match = re.search(rf"^{re.escape(key)}\s*:", text, re.MULTILINE)
    if match is None:
        return None
    return text.count("\n", 0, match.start()) + first_line
