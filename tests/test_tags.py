"""Writing the genre into a file's own tags (genrelens.library.file_tags): the tag reads back, the audio stays the same."""
from __future__ import annotations

import subprocess
from pathlib import Path

import av
import mutagen
import pytest

from conftest import ROOT, chord, write_audio
from genrelens.analysis.audio import ffmpeg_binary
from genrelens.models.mfcc_cnn import ModelCard
from genrelens.library.file_tags import TagsUnsupported, display_name, display_names, read_genre, write_genre

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
