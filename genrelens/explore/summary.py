"""A job at a glance: how many of its files fell in each genre, in each electronic style, and the tags
that come up most.

It reads only the job's own rows (``JobBook.view``: each finished file's genre, leading style and
strongest tags, kept there when the file finished), so a job of thousands is summed up without reading
any whole result. A file counts for a style when its genre is electronic (the style of a jazz track
says little); a tag counts for a file when it is among the file's strongest five.
"""
from __future__ import annotations

from collections import Counter

TOP_TAGS = 10
ELECTRONIC = "electronic"


def _ranked(counts: Counter, key: str, limit: int | None = None) -> list[dict]:
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:limit]
    return [{key: name, "count": count} for name, count in ordered]


def electronic_style(entry: dict) -> str | None:
    """The file's leading electronic style, when the file is electronic."""
    style = entry.get("style")
    return style["style"] if style and entry.get("genre") == ELECTRONIC else None


def summarise(files: list[dict]) -> dict:
    """``{"done", "genres", "styles", "tags"}`` of a job's file entries; counts largest first."""
    done = [entry for entry in files if entry.get("status") == "done" and entry.get("genre")]
    genres = Counter(entry["genre"] for entry in done)
    styles = Counter(style for style in map(electronic_style, done) if style)
    tags = Counter(tag["tag"] for entry in done for tag in entry.get("tags") or [])
    return {"done": len(done), "genres": _ranked(genres, "genre"), "styles": _ranked(styles, "style"),
            "tags": _ranked(tags, "tag", TOP_TAGS)}
