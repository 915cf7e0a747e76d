"""What the tagger and its two back-ends (``local``, ``remote``) share: a track, its outcome, the
fatal error that ends a run, and writing the genre into the file."""
from __future__ import annotations

from dataclasses import dataclass

from genrelens.results_csv import printable, result_row


class Fatal(Exception):
    """The run cannot start or go on (exit code 2)."""


@dataclass(frozen=True)
class Track:
    path: str  # where to read it (a name that is not UTF-8 keeps its bytes as surrogateescape characters)
    name: str  # the CSV's filename: printable (genrelens.results_csv.printable), the same on every run

    @classmethod
    def named(cls, path: str, name: str) -> Track:
        return cls(path, printable(name))


@dataclass
class Outcome:
    track: Track
    genres: list[dict] | None = None  # the top three, strongest first
    analysis_id: str | None = None
    error: dict | None = None  # {"code", "message"}
    tag: str | None = None  # with --write-tags: "written", "already" (it said so), or None (see tag_note)
    tag_note: str | None = None  # with --write-tags: why the genre was not written into the file
    glance: dict | None = None  # length, leading style, strongest tags (genrelens.analysis.glance): --playlists

    def row(self) -> dict:
        status = "failed" if self.error else "done"
        note = f"genre tag not written: {self.tag_note}" if self.tag_note else None
        return result_row(self.track.name, status, self.genres, self.analysis_id, self.error, note)


def tag_file(outcome: Outcome) -> None:
    """Write the top genre's name into the file's genre tag; a problem becomes ``tag_note``."""
    from genrelens.library.file_tags import TagsFailed, TagsUnsupported, display_name, write_genre

    if not outcome.genres:
        outcome.tag_note = "no genre came back for it"
        return
    try:
        written = write_genre(outcome.track.path, display_name(outcome.genres[0]["genre"]))
    except (TagsUnsupported, TagsFailed) as exc:
        outcome.tag_note = printable(str(exc))
        return
    outcome.tag = "written" if written else "already"
