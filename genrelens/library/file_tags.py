"""Write a genre into an audio file's own tags (mutagen), leaving the audio itself untouched.

Where the genre goes, by the tag format mutagen finds in the file (by its content, not its name):

- ID3 ``TCON``: MP3, and the ``id3`` chunk of WAV and AIFF;
- Vorbis comment ``GENRE``: FLAC, Ogg Vorbis, Opus, Ogg FLAC, Speex;
- MP4 ``\\xa9gen``: m4a, mp4 (a numeric ``gnre`` atom is dropped so players show one genre);
- APEv2 ``Genre``: Monkey's Audio, WavPack, Musepack; ASF ``WM/Genre``: WMA.

Anything else (WebM/Matroska, raw AAC, AMR, ...) raises ``TagsUnsupported``.

The file is tagged through a hidden copy next to it that then replaces it (``os.replace``), so a run
stopped half-way through a write leaves the old file or the new one, never a half-written one:

- **Its name is short** whatever the file's (``.<the name's first 40 bytes>.<8 random>.genrelens<.ext>``),
  so a file whose name is near the 255-byte limit can be tagged too.
- **A link is tagged through its target**: the copy is made beside the target and replaces the target,
  so the link stays a link (a library of links is not turned into copies). Hard links and extended
  attributes are not carried over; the copy keeps the file's permission bits (and owner, as root).
- **Changed under us**: if the file's size, mtime, ctime, inode or device differ between the copy and
  the replace (someone saved it meanwhile), it is not replaced (``TagsChanged``): it stays as it is now.
- **Interrupted**: the copy being written is listed in ``_in_progress`` from before it exists until it is
  gone; ``remove_copies_in_progress`` (the tagger's SIGINT/SIGTERM handlers) deletes it. Each copy is
  held with ``flock`` while it is written, and ``remove_leftover_copies`` deletes the copies of a run
  that was killed outright (SIGKILL, a power cut): names only we make, that no running tagger holds.

A file whose genre tag already says the genre is not rewritten.
"""
from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
from functools import lru_cache
from pathlib import Path

import mutagen
from mutagen._vorbis import VCommentDict
from mutagen.apev2 import APEv2
from mutagen.asf import ASFTags
from mutagen.id3 import ID3, TCON
from mutagen.mp4 import MP4Tags

try:
    import fcntl
except ImportError:  # Windows: no flock; a sweep then removes any copy of ours it finds
    fcntl = None

log = logging.getLogger("genrelens.library")

GENRES_JSON = Path(__file__).resolve().parents[2] / "genres.json"
COPY_STEM_BYTES = 40  # of the file's name, in its copy's name
COPY_SUFFIX_BYTES = 16  # a longer extension is left off the copy's name
# A copy's name: ".", the start of the file's name, ".", 8 random characters, ".genrelens", the file's
# extension. The random part matches hex (ours) and mkstemp's letters (the copies of earlier versions).
COPY_NAME = re.compile(r"\..*\.[a-z0-9_]{8}\.genrelens(\.[^.]*)?", re.DOTALL)

_in_progress: set[str] = set()  # the copies this process is writing now


class TagsUnsupported(Exception):
    """The file's format has no genre tag we know how to write."""


class TagsFailed(Exception):
    """The format is known but the tag could not be written (read-only file or folder, a damaged tag, ...)."""


class TagsChanged(TagsFailed):
    """The file changed while its tag was being written: it was left as it is now."""


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
    """Set the file's genre tag to ``name``; True when the file was written, False when it already said so.
    A link's target is the file written; the link stays as it is."""
    path = Path(os.path.realpath(path))
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
    before = _identity(path)
    temp, handle = _open_copy(path)
    try:
        shutil.copyfile(path, temp)
        audio = kind(temp)  # the format found in the original, not guessed again
        if audio.tags is None:
            audio.add_tags()
        _set_genre(audio, name)
        _save(audio)
        os.fsync(handle)
        _copy_owner_and_mode(path, temp)
        if _identity(path) != before:
            raise TagsChanged("the file changed while its tag was being written, so it was left as it is now")
        os.replace(temp, path)
    except (OSError, mutagen.MutagenError) as exc:
        raise TagsFailed(f"the tag could not be written ({exc})") from exc
    finally:
        _discard(temp)
        os.close(handle)


def _identity(path: Path) -> tuple | None:
    """What changes when anyone writes or replaces the file (ctime too: a tag editor may put the mtime back)."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns


def _copy_name(path: Path) -> str:
    suffix = path.suffix if len(os.fsencode(path.suffix)) <= COPY_SUFFIX_BYTES else ""
    return f".{_first_bytes(path.stem, COPY_STEM_BYTES)}.{secrets.token_hex(4)}.genrelens{suffix}"


def _first_bytes(text: str, limit: int) -> str:
    """The longest start of ``text`` whose file-system bytes fit in ``limit`` (whole characters)."""
    kept, size = [], 0
    for character in text:
        size += len(os.fsencode(character))
        if size > limit:
            break
        kept.append(character)
    return "".join(kept)


def _open_copy(path: Path) -> tuple[str, int]:
    """A new, empty, locked hidden file beside ``path``: its name and an open descriptor."""
    for _ in range(100):
        temp = str(path.parent / _copy_name(path))
        _in_progress.add(temp)  # listed before it exists: an interrupt from now on removes it
        try:
            handle = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            _in_progress.discard(temp)
            continue
        except OSError as exc:
            _in_progress.discard(temp)
            raise TagsFailed(f"no copy can be made in its folder to tag ({exc.strerror or exc})") from exc
        _lock(handle)
        return temp, handle
    raise TagsFailed("no free name for a copy in its folder")


def _discard(temp: str) -> None:
    try:
        os.unlink(temp)
    except FileNotFoundError:
        pass  # it became the file (os.replace), or an interrupt removed it
    except OSError as exc:
        log.warning("%s: could not be removed (%s)", temp, exc.strerror or exc)
    _in_progress.discard(temp)


def _lock(handle: int) -> bool:
    """Hold an exclusive flock on the file; False when another process holds one (where there is no
    flock, or the file system has no locks, True: nothing tells us it is in use)."""
    if fcntl is None:
        return True
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError:
        return True
    return True


def remove_copies_in_progress() -> None:
    """Delete the copies this process is writing now (for a signal handler: the run is ending)."""
    for temp in list(_in_progress):
        try:
            os.unlink(temp)
        except OSError:
            pass


def remove_leftover_copies(folder: str | os.PathLike) -> list[str]:
    """Delete the hidden copies a killed run left in ``folder``: regular files named as only we name
    them, that no running tagger holds (its flock). The paths removed."""
    try:
        entries = [entry for entry in os.scandir(folder) if COPY_NAME.fullmatch(entry.name)]
    except OSError:
        return []
    removed = []
    for entry in entries:
        if not entry.is_file(follow_symlinks=False):
            continue
        try:
            handle = os.open(entry.path, os.O_RDWR | os.O_NOFOLLOW)
        except OSError:
            continue  # not ours to open (another user's), or gone
        try:
            if _lock(handle):
                os.unlink(entry.path)
                removed.append(entry.path)
        except OSError as exc:
            log.warning("%s: could not be removed (%s)", entry.path, exc.strerror or exc)
        finally:
            os.close(handle)
    return removed


def _copy_owner_and_mode(source: Path, target: str) -> None:
    shutil.copymode(source, target)
    stat = source.stat()
    if hasattr(os, "chown") and (stat.st_uid, stat.st_gid) != (os.stat(target).st_uid, os.stat(target).st_gid):
        try:
            os.chown(target, stat.st_uid, stat.st_gid)
        except PermissionError:
            pass  # only root can give a file away: the copy stays ours
