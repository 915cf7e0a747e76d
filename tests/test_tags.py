"""Writing the genre into a file's own tags (genrelens.library.file_tags): the tag reads back, the audio stays the same."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import av
import mutagen
import pytest

from conftest import ROOT, chord, write_audio
from genrelens.analysis.audio import ffmpeg_binary
from genrelens.models.mfcc_cnn import ModelCard
from genrelens.library.file_tags import (TagsChanged, TagsUnsupported, display_name, display_names, read_genre,
                                         write_genre)
from genrelens.library.outcomes import Outcome, Track, tag_file

# extension -> ffmpeg's output options; every file starts with a title and a genre of its own
FORMATS = {
    "mp3": ["-c:a", "libmp3lame", "-b:a", "128k"],
    "flac": ["-c:a", "flac"],
    "ogg": ["-c:a", "libvorbis"],
    "opus": ["-c:a", "libopus", "-b:a", "64k"],
    "m4a": ["-c:a", "aac", "-b:a", "96k"],
    "faststart.m4a": ["-c:a", "aac", "-b:a", "96k", "-movflags", "+faststart"],  # moov before the audio: offsets move
    "wav": [],
    "aiff": [],
    "wma": ["-c:a", "wmav2"],
}


def encode(source: Path, target: Path, options: list[str]) -> Path:
    subprocess.run([ffmpeg_binary(), "-nostdin", "-loglevel", "error", "-y", "-i", str(source),
                    "-metadata", "title=Our Song", "-metadata", "genre=Rock", *options, str(target)],
                   check=True, timeout=60)
    return target


def audio_packets(path: Path) -> list[tuple]:
    """The first audio stream's packets as stored: timestamps and bytes."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return [(packet.pts, packet.dts, bytes(packet)) for packet in container.demux(stream) if packet.size]


def tag_keys(path: Path) -> set[str]:
    tags = mutagen.File(path).tags
    return {str(key).split(":")[0] for key in tags.keys()} if tags is not None else set()


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    return write_audio(tmp_path_factory.mktemp("tags_source") / "source.wav", chord(4), channels=2, out_sr=44100)


@pytest.mark.parametrize("extension", list(FORMATS))
def test_the_genre_is_written_and_the_audio_packets_stay_byte_identical(source, tmp_path, extension):
    path = encode(source, tmp_path / f"song.{extension}", FORMATS[extension])
    packets, keys = audio_packets(path), tag_keys(path)
    assert packets

    assert write_genre(path, "Hip-hop") is True
    assert read_genre(path) == ["Hip-hop"]  # one value: the old "Rock" is replaced, not added to
    assert audio_packets(path) == packets
    assert keys <= tag_keys(path)  # the other tags (the title, ...) are kept
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]  # no temporary copy left behind

    assert write_genre(path, "Hip-hop") is False  # already says so: the file is not rewritten


def test_an_mp3_without_any_tag_gets_an_id3_genre(tmp_path):
    path = write_audio(tmp_path / "bare.mp3", chord(3))
    assert read_genre(path) == []
    write_genre(path, "Electronic")
    assert mutagen.File(path).tags["TCON"].text == ["Electronic"]


@pytest.mark.parametrize("extension, options", [("webm", ["-c:a", "libopus"]), ("aac", ["-c:a", "aac"])])
def test_a_format_without_a_genre_tag_is_refused_and_left_alone(source, tmp_path, extension, options):
    path = encode(source, tmp_path / f"song.{extension}", options)
    before = path.read_bytes()
    with pytest.raises(TagsUnsupported):
        write_genre(path, "Jazz")
    assert path.read_bytes() == before


def test_every_genre_the_model_knows_has_a_display_name():
    genres = ModelCard.load(ROOT / "models").genres
    assert set(genres) <= set(display_names())
    assert display_name("hiphop") == "Hip-hop"
    assert display_name("not-a-genre") == "not-a-genre"


def test_a_file_whose_name_is_near_the_length_limit_is_tagged(tmp_path):
    path = write_audio(tmp_path / ("n" * 246 + ".mp3"), chord(3))  # 250 bytes of the 255 a name may have
    assert write_genre(path, "Jazz") is True
    assert read_genre(path) == ["Jazz"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def grow(path: Path) -> None:
    """A tag editor saving in place: the file grows."""
    with open(path, "ab") as handle:
        handle.write(b"\0" * 1000)


def save_by_rename(path: Path) -> None:
    """An editor saving through a new file moved over the old one, the same size and mtime as before."""
    stat = path.stat()
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    fresh = path.with_name("fresh.tmp")
    fresh.write_bytes(bytes(data))
    os.utime(fresh, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    os.replace(fresh, path)


def rewrite_keeping_the_mtime(path: Path) -> None:
    """A tag editor with 'keep the modification time': the same size, the same inode, the mtime put back;
    only the ctime moves (written again until the file system's clock has ticked, so that it does)."""
    before = path.stat()
    data = bytearray(path.read_bytes())
    while path.stat().st_ctime_ns == before.st_ctime_ns:
        data[-1] ^= 0xFF
        with open(path, "r+b") as handle:
            handle.write(bytes(data))
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))


@pytest.mark.parametrize("change", [grow, save_by_rename, rewrite_keeping_the_mtime])
def test_a_file_saved_while_it_is_being_tagged_is_left_as_it_is_now(tmp_path, monkeypatch, change):
    """Someone saves the file after its copy was made and before the copy replaces it: the save wins."""
    from genrelens.library import file_tags

    path = write_audio(tmp_path / "song.mp3", chord(3))
    real_save, saved = file_tags._save, []

    def save_while_someone_saves_the_original(audio):
        real_save(audio)  # the copy gets its genre...
        change(path)  # ...and meanwhile the original is saved by someone else
        saved.append(path.read_bytes())

    monkeypatch.setattr(file_tags, "_save", save_while_someone_saves_the_original)
    with pytest.raises(TagsChanged, match="changed while its tag was being written"):
        write_genre(path, "Jazz")
    assert path.read_bytes() == saved[-1] and read_genre(path) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]

    outcome = Outcome(Track(str(path), "song.mp3"), genres=[{"genre": "jazz", "probability": 0.9}])
    tag_file(outcome)  # the same through the tagger: its row says why
    assert outcome.tag is None and outcome.row()["note"] == (
        "genre tag not written: the file changed while its tag was being written, so it was left as it is now")
    assert path.read_bytes() == saved[-1]
