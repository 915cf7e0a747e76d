"""The electronic clips of ``--electronic-dir`` (Ishkur's Guide v2.5 sound examples): labels and splits.

Layout: ``<dir>/<type>/<genre>/<nnnn>.mp3`` with ``INDEX.csv`` (file, type, genre, artist, title,
year, split, ...) and ``genres.csv`` (the guide's taxonomy). The split is by artist and is used as
is. The guide files some neighbouring styles under its 7 types; for the GENRE model they are:

- hip hop and rap -> ``hiphop`` (a second source for that genre);
- ``disco`` -> ``disco``;
- R&B, goth, industrial rock, psychedelic rock, new age, ethereal, musique concrete, new wave, acid
  jazz and J-pop -> left out of the genre model (none of our genres, or not electronic);
- everything else -> ``electronic``.

The STYLE model (electronic styles) learns the 7 types from the ``electronic`` clips only.
"""
from __future__ import annotations

import csv
from pathlib import Path

from training.files import AudioFile

STYLES = ("Trance", "House", "Breakbeat", "Downtempo", "Techno", "Jungle", "Hardcore")

HIPHOP = {"hiphop", "eastcoastrap", "westcoastrap", "gangstarap", "gfunk", "dirtysouthrap", "crunk",
          "progressivehop", "abstracthiphop", "turntablism"}
NOT_OURS = {"nusoul", "newjackswing",  # R&B
            "goth", "industrialrock", "electronicpsychedelia",  # rock
            "newage", "ethereal", "musiqueconcrete",  # the README's non-electronic list
            "newwave", "acidjazz", "jpop"}  # guitar pop/rock, jazz-funk, pop: none of our genres
# Rock-family clips from another collection: a small cross-source check for "rock" (never trained on).
ROCK_FAMILY = {"goth", "industrialrock", "electronicpsychedelia"}


def genre_label(guide_genre: str) -> str:
    """The genre-model label of a clip of the guide's ``guide_genre`` ("" = not for the genre model)."""
    if guide_genre in HIPHOP:
        return "hiphop"
    if guide_genre == "disco":
        return "disco"
    if guide_genre in NOT_OURS:
        return ""
    return "electronic"


def read_index(data_dir: Path) -> list[dict]:
    with open(Path(data_dir) / "INDEX.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def scan(data_dir: Path) -> list[AudioFile]:
    """Every clip, labelled for the genre model (``genre`` may be ""), with its style and guide genre.

    Each clip is its own track: no two clips share a recording (the data's README).
    """
    data_dir = Path(data_dir)
    return [AudioFile(path=data_dir / row["file"], genre=genre_label(row["genre"]), track="ishkur/" + row["file"],
                      split=row["split"], source="ishkur", style=row["type"], subgenre=row["genre"],
                      artist=row["artist"], title=row["title"], year=row["year"])
            for row in read_index(data_dir)]


def read_genres(data_dir: Path) -> dict[str, dict]:
    """The guide's genres (``genres.csv``): key -> title, aka, type, scene, decade."""
    with open(Path(data_dir) / "genres.csv", newline="") as handle:
        return {row["genre"]: row for row in csv.DictReader(handle)}
