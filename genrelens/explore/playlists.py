"""Playlists: which files, best match first, and the extended M3U that carries them.

A genre's playlist holds the files whose genre it is, surest first; a style's, the electronic files
led by that style, by its probability; a tag's (a mood such as chill or sad), the files among whose
five strongest tags it is, by its probability. ``write_m3u`` writes ``#EXTM3U``, then per file
``#EXTINF:<seconds>,<genre> - <name>`` and the file's path (a length not known is -1, as the format
has it). A path or name that holds a line break would end its line early and make the next line a
path: such characters become spaces. ``write_folder`` is the tagger's ``--playlists DIR``: one playlist
per genre and per electronic style, paths relative to DIR, so a music server that scans DIR finds them.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass

from genrelens.explore.summary import electronic_style

_BREAKS = re.compile(r"[\r\n\x00-\x1f\x7f\u2028\u2029\x85]")


class UnknownChoice(ValueError):
    """A genre, style or tag the service does not know; ``valid`` lists the ones it does."""

    def __init__(self, kind: str, value: str, valid: list[str]):
        super().__init__(f"No {kind} '{value[:40]}'; choose one of: {', '.join(valid)}.")
        self.kind, self.value, self.valid = kind, value, valid


@dataclass(frozen=True)
class Item:
    path: str  # what the player opens: a file name or a path relative to the playlist
    title: str  # "<genre> - <file name>"
    seconds: float | None


def item(path: str, entry: dict) -> Item:
    name = entry.get("filename") or path
    return Item(path, f"{entry.get('genre') or 'unknown'} - {name.rsplit('/', 1)[-1]}", entry.get("duration_s"))


def canonical(kind: str, value: str, valid: list[str]) -> str:
    """``value`` as the service spells it (tags and styles are matched without regard to case)."""
    for choice in valid:
        if choice.casefold() == value.strip().casefold():
            return choice
    raise UnknownChoice(kind, value, list(valid))


def _tag_probability(entry: dict, tag: str) -> float | None:
    for found in entry.get("tags") or []:
        if found["tag"] == tag:
            return found["probability"]
    return None


def choose(files: list[dict], genre: str | None = None, style: str | None = None, tag: str | None = None) -> list[dict]:
    """The finished file entries that belong (one of ``genre``, ``style``, ``tag``, already canonical), best first."""
    done = [entry for entry in files if entry.get("status") == "done" and entry.get("genre")]
    if genre is not None:
        scored = [(entry["confidence"] or 0.0, entry) for entry in done if entry["genre"] == genre]
    elif style is not None:
        scored = [(entry["style"]["probability"], entry) for entry in done if electronic_style(entry) == style]
    else:
        scored = [(p, entry) for entry in done if (p := _tag_probability(entry, tag)) is not None]
    return [entry for _, entry in sorted(scored, key=lambda pair: -pair[0])]


def _line(text: str) -> str:
    return _BREAKS.sub(" ", text)


def write_m3u(items: list[Item]) -> str:
    """An extended M3U (UTF-8 text: save it as .m3u8)."""
    lines = ["#EXTM3U"]
    for entry in items:
        seconds = -1 if entry.seconds is None else max(0, round(entry.seconds))
        lines += [f"#EXTINF:{seconds},{_line(entry.title)}", _line(entry.path)]
    return "\n".join(lines) + "\n"


def playlist_names(entries: list[dict]) -> dict[str, dict]:
    """File name -> choice, for every genre and electronic style the entries hold: ``jazz.m3u8``,
    ``electronic-downtempo.m3u8``."""
    done = [entry for entry in entries if entry.get("status") == "done" and entry.get("genre")]
    names = {f"{genre}.m3u8": {"genre": genre} for genre in sorted({entry["genre"] for entry in done})}
    for style in sorted({s for s in map(electronic_style, done) if s}):
        names[f"electronic-{style.lower()}.m3u8"] = {"style": style}
    return names


def write_folder(folder: str, entries: list[dict]) -> list[str]:
    """One playlist per genre and per electronic style into ``folder`` (made if missing), each file's
    path relative to it; the playlists written. ``entries``: ``choose``'s file entries with a ``path``.
    Only these files are written (through a temp name, replaced at once): never anything else in ``folder``.
    """
    folder = os.path.abspath(folder)
    os.makedirs(folder, exist_ok=True)
    written = []
    for name, choice in playlist_names(entries).items():
        items = [item(os.path.relpath(os.path.abspath(entry["path"]), folder), entry)
                 for entry in choose(entries, **choice)]
        target = os.path.join(folder, name)
        temporary = target + ".part"
        with open(temporary, "wb") as out:  # a name that is not UTF-8 keeps its own bytes (surrogateescape)
            out.write(write_m3u(items).encode("utf-8", "surrogateescape"))
        os.replace(temporary, target)
        written.append(target)
    return written
