"""Reading a subscribers CSV the way spreadsheets write it: encoding, delimiter and header.

Encodings: UTF-8 with or without a byte-order mark (Excel's "CSV UTF-8"), and UTF-16 with
its byte-order mark (Excel's "Unicode text", tab-separated). Anything else is refused with
the line of the first byte that is not UTF-8. GBK, what Excel's plain "CSV" writes on
Chinese Windows, is deliberately not guessed: almost any byte sequence decodes as GB18030,
so a Big5, Shift-JIS or Latin-1 file, or a UTF-8 file with one damaged byte, would become
wrong names (or a wrong internationalised domain) without a word; re-saving as "CSV UTF-8"
is one step, and the error says how.

Delimiter: ``,``, ``;`` (Excel in locales whose decimal mark is a comma) or a tab, chosen
from the first line: the one that gives an ``email`` column, else the most frequent.

The file is streamed line by line, so memory stays flat for a list of any size; a bad byte
is reported when its line is reached, and callers keep their changes in one transaction.
"""

from __future__ import annotations

import codecs
import csv
import io
import itertools
import re
from collections.abc import Iterator
from pathlib import Path

from pipeline.errors import PublishError

COLUMNS = ("email", "name", "status")
DELIMITERS = (",", ";", "\t")
EXPECTED_HEADER = "email,name,status"
ENCODING_HINT = (
    'Excel\'s plain "CSV" on Chinese Windows is GBK: choose "CSV UTF-8 (逗号分隔)" in "另存为" '
    '(Save As), or "Unicode 文本" (Unicode text); both are read as they are'
)

# Undecodable bytes become a lone surrogate, which no valid UTF-8 or UTF-16 text can hold,
# so the line that carries one is the line of the bad byte (TextIOWrapper decodes ahead in
# 8 KB chunks, so the csv reader's position at an exception would be the wrong line).
_MARK_ERRORS = "pipeline.audience.csvfile.mark"
codecs.register_error(_MARK_ERRORS, lambda exc: ("\udfff", exc.end))
_SUSPECT = re.compile("[\x00\ud800-\udfff]")


class CsvFileError(PublishError):
    """A subscribers file that cannot be read as CSV; the message names file and line."""


def read_rows(path: Path, header_required: bool = True) -> Iterator[tuple[int, dict[str, str]]]:
    """``(line, {column: cell})`` for each non-blank row, ``line`` being where the row starts.

    Column names are lower-cased. The first row must name the columns, with an ``email``
    column; when ``header_required`` is false a first row that starts with an address is
    data instead, read as ``email,name,status``. Raises CsvFileError.
    """
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise CsvFileError(f"{path}: cannot read the subscribers file ({exc.strerror})") from None
    encoding, label = _encoding(raw.peek(4)[:4])  # peek, not read and seek: a pipe cannot seek
    with io.TextIOWrapper(raw, encoding=encoding, errors=_MARK_ERRORS, newline="") as handle:
        yield from _rows(path, _checked_lines(path, handle, label), header_required)


def _encoding(start: bytes) -> tuple[str, str]:
    """The codec for a file starting with ``start``, and the name to give it in messages."""
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16", "UTF-16"  # a byte-order mark can never start UTF-8 text: unambiguous
    return "utf-8-sig", "UTF-8"  # -sig: drops the mark Excel writes, reads files without one too


def _checked_lines(path: Path, handle: io.TextIOWrapper, label: str) -> Iterator[str]:
    """The file's lines, refused at the first one holding a byte that did not decode."""
    for number, line in enumerate(handle, 1):
        suspect = _SUSPECT.search(line)
        if suspect is None:
            yield line
        elif suspect.group() == "\x00":
            raise CsvFileError(
                f"{path}:{number}: a NUL character: the file is not {label} CSV text", hint=ENCODING_HINT
            )
        elif label == "UTF-8":
            raise CsvFileError(
                f'{path}:{number}: not UTF-8 text: in Excel use "Save As → CSV UTF-8"', hint=ENCODING_HINT
            )
        else:
            raise CsvFileError(
                f"{path}:{number}: not {label} text (the file starts with a {label} byte-order mark)",
                hint=ENCODING_HINT,
            )


def _rows(path: Path, lines: Iterator[str], header_required: bool) -> Iterator[tuple[int, dict[str, str]]]:
    first = next(lines, None)
    if first is None:
        if header_required:
            raise CsvFileError(f"{path}:1: the file is empty", hint=f"start the file with the line: {EXPECTED_HEADER}")
        return
    separator = delimiter(first)
    reader = csv.reader(itertools.chain([first], lines), delimiter=separator)
    line = 1
    try:
        header = next(reader, [])
        line = reader.line_num
        columns = [cell.strip().lower() for cell in header]
        if "email" not in columns:
            if header_required or "@" not in (header[0] if header else ""):
                raise _no_email_column(path, header, separator)
            columns = list(COLUMNS)
            yield 1, dict(zip(columns, header))
        for row in reader:
            if any(cell.strip() for cell in row):
                yield line + 1, dict(zip(columns, row))
            line = reader.line_num
    except csv.Error as exc:
        raise CsvFileError(f"{path}:{line + 1}: malformed CSV ({exc})") from None


def delimiter(first_line: str) -> str:
    """The delimiter of a file whose first line is ``first_line``: the one that yields an
    ``email`` column, else the most frequent of , ; and tab (a comma when none occurs)."""
    for candidate in DELIMITERS:
        cells = next(csv.reader([first_line], delimiter=candidate), [])
        if "email" in (cell.strip().lower() for cell in cells):
            return candidate
    return max(DELIMITERS, key=first_line.count)  # ties go to the earlier, so a comma by default


def _no_email_column(path: Path, header: list[str], separator: str) -> CsvFileError:
    found = ", ".join(repr(cell.strip()) for cell in header if cell.strip()) or "none"
    expected = EXPECTED_HEADER.replace(",", separator).replace("\t", "<tab>")
    message = f"{path}:1: no `email` column in the first line (found columns: {found})"
    return CsvFileError(message, hint=f"the first line names the columns: {expected} (name and status are optional)")
