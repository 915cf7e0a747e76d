"""One CSV layout for a library's results: a job's export (``GET /jobs/<id>/results.csv``) and the
library tagger's ``--out`` file, so a spreadsheet or script reads both the same way.

One row per file: where it is, whether it was classified, the top three genres with their
probabilities (as decimals, 0-1, four places as in the API), the analysis id, or the API's error, and a
note (the tagger's: why a file's genre tag was not written).

Lines end with CRLF, as RFC 4180 has it (Python 3.11's writer quotes a cell holding a lone CR only when
the line terminator has one, and a file name may hold one). Every cell is written as text a
spreadsheet will not run:

- **Formulas** (OWASP's CSV-injection rule): a cell that starts with ``=``, ``+``, ``-`` or ``@`` (after
  any leading blanks and tabs), or with a tab or a carriage return, gets a single quote in front
  (``=HYPERLINK(...).mp3`` -> ``'=HYPERLINK(...).mp3``). So that reading the file back gives the exact
  text, a cell that starts with a quote followed by such a cell gets one more quote; ``unescape_cell``
  undoes both. A name like ``'Round Midnight.mp3`` is written as it is.
- **Names that are not UTF-8** (a Linux file name is bytes; Python hands the undecodable ones over as
  ``surrogateescape`` characters): ``printable`` writes each such byte as a backslash escape,
  ``caf\\xe9.mp3``. The CSV stays valid UTF-8 and the same file gets the same name on every run.
"""
from __future__ import annotations

import csv
import io
from typing import Iterable

COLUMNS = ("filename", "status", "genre", "confidence", "genre_2", "probability_2", "genre_3", "probability_3",
           "analysis_id", "error_code", "error_message", "note")
EARLIER_COLUMNS = COLUMNS[:-1]  # the layout before the note column, still read for resume

FORMULA_STARTS = ("=", "+", "-", "@")
TEXT_MARK = "'"
LINE_END = "\r\n"


def result_row(filename: str, status: str, genres: list[dict] | None = None, analysis_id: str | None = None,
               error: dict | None = None, note: str | None = None) -> dict:
    """A row from an analysis' sorted ``genres`` (``[{"genre", "probability"}, ...]``) or an error
    (``{"code", "message"}``); the cells a row does not have stay empty."""
    row = dict.fromkeys(COLUMNS, "")
    row.update(filename=filename, status=status, analysis_id=analysis_id or "", note=note or "")
    for rank, entry in enumerate((genres or [])[:3], start=1):
        genre_key, probability_key = ("genre", "confidence") if rank == 1 else (f"genre_{rank}", f"probability_{rank}")
        row[genre_key] = entry["genre"]
        row[probability_key] = f"{float(entry['probability']):.4f}"
    if error:
        row.update(error_code=error.get("code", ""), error_message=error.get("message", ""))
    return row


def printable(text: str) -> str:
    """``text`` with each byte that was not UTF-8 (a ``surrogateescape`` character) as ``\\xNN``."""
    try:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:  # a lone surrogate that stands for no byte: show its code point
        return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _needs_mark(text: str) -> bool:
    """A formula's start, or quotes before one ("'=x" is written "''=x", or it would read back as "=x")."""
    text = text.lstrip(TEXT_MARK)
    return text[:1] in ("\t", "\r") or text.lstrip(" \t")[:1] in FORMULA_STARTS


def escape_cell(value: object) -> str:
    """The cell as written: UTF-8 text that no spreadsheet reads as a formula (None: empty, as csv writes it)."""
    text = "" if value is None else printable(str(value))
    return TEXT_MARK + text if _needs_mark(text) else text


def unescape_cell(text: str) -> str:
    """The value ``escape_cell`` wrote (one leading quote fewer where it added one)."""
    return text[1:] if text[:1] == TEXT_MARK and _needs_mark(text[1:]) else text


def _cells(row: dict) -> dict:
    return {column: escape_cell(row.get(column, "")) for column in COLUMNS}


def csv_line(row: dict) -> str:
    """One row as a CSV line (CRLF-terminated), every cell escaped."""
    out = io.StringIO()
    csv.DictWriter(out, fieldnames=COLUMNS, lineterminator=LINE_END).writerow(_cells(row))
    return out.getvalue()


def to_csv(rows: Iterable[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator=LINE_END)
    writer.writeheader()
    writer.writerows(_cells(row) for row in rows)
    return out.getvalue()
