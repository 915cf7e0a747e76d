"""One CSV layout for a library's results: a job's export (``GET /jobs/<id>/results.csv``) and the
library tagger's ``--out`` file, so a spreadsheet or script reads both the same way.

One row per file: where it is, whether it was classified, the top three genres with their
probabilities (as decimals, 0-1, four places as in the API), the analysis id, or the API's error.
"""
from __future__ import annotations

import csv
import io
from typing import Iterable

COLUMNS = ("filename", "status", "genre", "confidence", "genre_2", "probability_2", "genre_3", "probability_3",
           "analysis_id", "error_code", "error_message")


def result_row(filename: str, status: str, genres: list[dict] | None = None, analysis_id: str | None = None,
               error: dict | None = None) -> dict:
    """A row from an analysis' sorted ``genres`` (``[{"genre", "probability"}, ...]``) or an error
    (``{"code", "message"}``); the cells a row does not have stay empty."""
    row = dict.fromkeys(COLUMNS, "")
    row.update(filename=filename, status=status, analysis_id=analysis_id or "")
    for rank, entry in enumerate((genres or [])[:3], start=1):
        genre_key, probability_key = ("genre", "confidence") if rank == 1 else (f"genre_{rank}", f"probability_{rank}")
        row[genre_key] = entry["genre"]
        row[probability_key] = f"{float(entry['probability']):.4f}"
    if error:
        row.update(error_code=error.get("code", ""), error_message=error.get("message", ""))
    return row


def to_csv(rows: Iterable[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
