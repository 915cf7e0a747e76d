"""Write a genre into an audio file's own tags (mutagen), leaving the audio itself untouched.

Where the genre goes, by the tag format mutagen finds in the file (by its content, not its name):

- ID3 ``TCON``: MP3, and the ``id3`` chunk of WAV and AIFF;
- Vorbis comment ``GENRE``: FLAC, Ogg Vorbis, Opus, Ogg FLAC, Speex;
- MP4 ``\\xa9gen``: m4a, mp4 (a numeric ``gnre`` atom is dropped so players show one genre);
- APEv2 ``Genre``: Monkey's Audio, WavPack, Musepack; ASF ``WM/Genre``: WMA.

Anything else (WebM/Matroska, raw AAC, AMR, ...) raises ``TagsUnsupported``.

The file is tagged through a copy next to it that then replaces it (``os.replace``), so a run
killed half-way through a write (Ctrl-C reaches every worker) leaves the old file or the new one,
never a half-written one. The copy keeps the file's permission bits; hard links and extended
attributes are not carried over. A file whose genre tag already says the genre is not rewritten.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from functools import lru_cache
from pathlib import Path

import mutagen
from mutagen._vorbis import VCommentDict
from mutagen.apev2 import APEv2
from mutagen.asf import ASFTags
from mutagen.id3 import ID3, TCON
from mutagen.mp4 import MP4Tags

GENRES_JSON = Path(__file__).resolve().parents[2] / "genres.json"


class TagsUnsupported(Exception):
    """The file's format has no genre tag we know how to write."""


class TagsFailed(Exception):
    """The format is known but the tag could not be written (read-only file or folder, a damaged tag, ...)."""


@lru_cache(maxsize=1)
def display_names(path: Path = GENRES_JSON) -> dict[str, str]:
    """Genre key -> the name people read (``hiphop`` -> ``Hip-hop``), from the genre guide."""
    with open(path, encoding="utf-8") as handle:
        guide = json.load(handle)
    return {key: entry["name"] for key, entry in guide.items() if isinstance(entry, dict) and "name" in entry}


def display_name(genre: str) -> str:
    """The guide's name for a genre key, or the key itself for a genre the guide does not describe."""
    return display_names().get(genre, genre)


def read_genre(path: str | os.PathLike) -> list[str]:
    """The genre values the file's tags hold now (empty when none or the format is unknown)."""
    audio = mutagen.File(path)
    if audio is None or audio.tags is None:
        return []
    return _get_genre(audio.tags)


def write_genre(path: str | os.PathLike, name: str) -> bool:
    """Set the file's genre tag to ``name``; True when the file was written, False when it already said so."""
    path = Path(path)
    try:
        audio = mutagen.File(path)
    except mutagen.MutagenError as exc:
        raise TagsFailed(f"its tags cannot be read ({exc})") from exc
    if audio is None:
        raise TagsUnsupported("mutagen does not know this format")
    if audio.tags is not None and _get_genre(audio.tags) == [name]:
        return False
    if audio.tags is None:
        try:
            audio.add_tags()
        except (mutagen.MutagenError, NotImplementedError) as exc:
            raise TagsUnsupported(f"{type(audio).__name__} files cannot hold tags") from exc
    _check_supported(audio.tags, type(audio).__name__)
    _replace_through_copy(path, type(audio), name)
    return True


def _check_supported(tags, kind: str) -> None:
    if not isinstance(tags, (ID3, VCommentDict, MP4Tags, APEv2, ASFTags)):
        raise TagsUnsupported(f"no genre tag is known for {kind} files")


def _get_genre(tags) -> list[str]:
    if isinstance(tags, ID3):
        frame = tags.get("TCON")
        return list(frame.text) if frame else []
    key = _genre_key(tags)
    if key is None or key not in tags:
        return []
    values = tags[key]
    return [str(value) for value in (values if isinstance(values, list) else list(values))]


def _genre_key(tags) -> str | None:
    if isinstance(tags, VCommentDict):
        return "GENRE"
    if isinstance(tags, MP4Tags):
        return "\xa9gen"
    if isinstance(tags, APEv2):
        return "Genre"
    if isinstance(tags, ASFTags):
        return "WM/Genre"
    return None


def _set_genre(audio, name: str) -> None:
    tags = audio.tags
    if isinstance(tags, ID3):
        tags.setall("TCON", [TCON(encoding=3, text=[name])])
        return
    if isinstance(tags, MP4Tags):
        tags.pop("gnre", None)  # the ID3v1 genre number some encoders write: one genre, not two
    tags[_genre_key(tags)] = [name]


def _save(audio) -> None:
    if isinstance(audio.tags, ID3):
        # keep an ID3v2.3 tag at 2.3 (older players read only that); anything else is written as 2.4
        audio.save(v2_version=3 if audio.tags.version[:2] == (2, 3) else 4)
    else:
        audio.save()


def _replace_through_copy(path: Path, kind: type, name: str) -> None:
    """Tag a hidden copy in the same folder and move it over the file: all or nothing."""
    if not os.access(path, os.W_OK):
        raise TagsFailed("the file is read-only")
    try:
        handle, temp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=f".genrelens{path.suffix}", dir=path.parent)
    except OSError as exc:
        raise TagsFailed(f"its folder is not writable ({exc.strerror or exc})") from exc
    os.close(handle)
    try:
        shutil.copyfile(path, temp)
        audio = kind(temp)  # the format found in the original, not guessed again
        if audio.tags is None:
            audio.add_tags()
        _set_genre(audio, name)
        _save(audio)
        with open(temp, "rb+") as written:
            os.fsync(written.fileno())
        _copy_owner_and_mode(path, temp)
        os.replace(temp, path)
    except (OSError, mutagen.MutagenError) as exc:
        raise TagsFailed(f"the tag could not be written ({exc})") from exc
    finally:
        if os.path.exists(temp):
            os.unlink(temp)


def _copy_owner_and_mode(source: Path, target: str) -> None:
    shutil.copymode(source, target)
    stat = source.stat()
    if hasattr(os, "chown") and (stat.st_uid, stat.st_gid) != (os.stat(target).st_uid, os.stat(target).st_gid):
        try:
            os.chown(target, stat.st_uid, stat.st_gid)
        except PermissionError:
            pass  # only root can give a file away: the copy stays ours
