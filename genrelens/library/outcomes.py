"""What the tagger and its two back-ends (``local``, ``remote``) share: a track, its outcome, the
fatal error that ends a run, and writing the genre into the file."""
from __future__ import annotations

from dataclasses import dataclass

from genrelens.results_csv import result_row


class Fatal(Exception):
    """The run cannot start or go on (exit code 2)."""


@dataclass(frozen=True)
class Track:
    path: str  # where to read it
    name: str  # the CSV's filename


@dataclass
class Outcome:
    track: Track
    genres: list[dict] | None = None  # the top three, strongest first
    analysis_id: str | None = None
    error: dict | None = None  # {"code", "message"}
    tag_note: str | None = None  # with --write-tags: why the genre was not written into the file

    def row(self) -> dict:
        status = "failed" if self.error else "done"
        return result_row(self.track.name, status, self.genres, self.analysis_id, self.error)


def tag_file(outcome: Outcome) -> None:
    """Write the top genre's name into the file's genre tag; a problem becomes ``tag_note``."""
    from genrelens.library.file_tags import TagsFailed, TagsUnsupported, display_name, write_genre

    if not outcome.genres:
        outcome.tag_note = "no genre came back for it"
        return
    try:
        write_genre(outcome.track.path, display_name(outcome.genres[0]["genre"]))
    except (TagsUnsupported, TagsFailed) as exc:
        outcome.tag_note = str(exc)
