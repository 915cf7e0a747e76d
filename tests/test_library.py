"""The library tagger (python -m genrelens.library): a folder in, one CSV row per audio file out, on
several processes; a second run goes on where the first stopped; --write-tags leaves the audio alone."""
from __future__ import annotations

import csv
import io
import os
import re
import subprocess
import sys
from pathlib import Path

import av
import pytest

from conftest import ROOT, chord, clicks, piano, write_audio
from genrelens.analysis.audio import ffmpeg_binary
from genrelens.library.outcomes import Fatal, Outcome, Track, tag_file
from genrelens.library.tagger import Tally, plan, read_rows, record, walk_audio
from genrelens.library.remote import batches, multipart
from genrelens.results_csv import COLUMNS, escape_cell, result_row, to_csv, unescape_cell
from genrelens.library.file_tags import display_name, read_genre

SUMMARY = re.compile(r"^(\d+) done, (\d+) skipped \(done before\), (\d+) failed in \d+m \d\ds \([\d.]+ files/min\)")


def run_library(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "genrelens.library", *args],
                          capture_output=True, text=True, timeout=300, cwd=ROOT)


def counts(done: subprocess.CompletedProcess) -> tuple[int, int, int]:
    """done, skipped, failed from the summary line (the last line of stdout)."""
    match = SUMMARY.match(done.stdout.strip().splitlines()[-1])
    assert match, done.stdout + done.stderr
    return tuple(int(group) for group in match.groups())


def csv_rows(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert tuple(reader.fieldnames) == COLUMNS
        return list(reader)


def audio_packets(path: Path) -> list[bytes]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        return [bytes(packet) for packet in container.demux(stream) if packet.size]


SONGS = {"a.mp3": lambda: chord(7), "rock/b.flac": lambda: clicks(7), "rock/deep/c.ogg": lambda: piano(7),
         "d.m4a": lambda: chord(7, root_hz=330, seed=3)}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory):
    """A small library classified with two workers and --write-tags; what the run left, read at once."""
    library = tmp_path_factory.mktemp("library")
    for name, signal in SONGS.items():
        (library / name).parent.mkdir(parents=True, exist_ok=True)
        write_audio(library / name, signal())
    (library / "broken.mp3").write_text("This is not a song, only text with the wrong name.\n" * 40)
    write_audio(library / ".hidden.mp3", chord(4))
    (library / ".cache").mkdir()
    write_audio(library / ".cache" / "e.mp3", chord(4))
    (library / "notes.txt").write_text("not audio, not picked")
    packets = {name: audio_packets(library / name) for name in SONGS}
    out = library.parent / f"{library.name}-results.csv"
    done = run_library(str(library), "--out", str(out), "--workers", "2", "--write-tags")
    return {"library": library, "out": out, "done": done, "rows": csv_rows(out), "csv": out.read_text(),
            "packets": packets, "tags": {name: read_genre(library / name) for name in SONGS}}


def test_every_audio_file_gets_one_row_and_a_broken_one_fails_with_the_apis_code(first_run):
    done, rows = first_run["done"], first_run["rows"]
    assert done.returncode == 1, done.stderr
    assert counts(done) == (4, 0, 1)
    by_name = {row["filename"]: row for row in rows}
    assert len(rows) == len(by_name) == 5  # hidden files, hidden folders and notes.txt are not picked
    assert set(by_name) == {*SONGS, "broken.mp3"}  # named relative to the library, with "/"
    broken = by_name.pop("broken.mp3")
    assert broken["status"] == "failed" and broken["error_code"] == "unsupported_media"
    assert broken["error_message"].startswith("This file is not audio we can read")
    for row in by_name.values():
        assert row["status"] == "done" and row["error_code"] == ""
        probabilities = [float(row[key]) for key in ("confidence", "probability_2", "probability_3")]
        assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1.0001
        assert len({row["genre"], row["genre_2"], row["genre_3"]}) == 3


def test_write_tags_puts_the_top_genre_in_each_file_and_leaves_its_audio_packets_alone(first_run):
    rows = {row["filename"]: row for row in first_run["rows"]}
    for name in SONGS:  # mp3 (ID3), flac and ogg (Vorbis comments), m4a (MP4)
        assert first_run["tags"][name] == [display_name(rows[name]["genre"])], name
        assert audio_packets(first_run["library"] / name) == first_run["packets"][name], name
    assert "genre tag written to 4 file(s)" in first_run["done"].stdout
    assert read_genre(first_run["library"] / ".hidden.mp3") == []


def test_a_second_run_classifies_only_new_and_failed_files(first_run, tmp_path):
    library, out = first_run["library"], first_run["out"]
    write_audio(library / "rock" / "new.mp3", clicks(7, bpm=90))
    write_audio(library / "broken.mp3", chord(7, root_hz=262))  # the failed file, mended: retried
    loose = write_audio(tmp_path / "loose.flac", piano(7, seed=5))  # a file named on the command line
    done = run_library(str(library), str(loose), "--out", str(out), "--quiet")
    assert done.returncode == 0, done.stderr
    assert counts(done) == (3, 4, 0)
    rows = csv_rows(out)
    old_done = [line for line in first_run["csv"].splitlines()[1:] if ",done," in line]
    assert out.read_text().splitlines()[1:5] == old_done  # the rows of files done before are kept as they were
    assert [row["filename"] for row in rows[4:]].count("broken.mp3") == 1
    assert {row["filename"]: row["status"] for row in rows[4:]} == \
        {"broken.mp3": "done", "rock/new.mp3": "done", str(loose): "done"}
    assert len(rows) == 7
    assert read_genre(library / "rock" / "new.mp3") == []  # no --write-tags this time


def test_a_format_without_a_genre_tag_is_a_warning_in_the_row_and_the_summary_not_a_failure(tmp_path, caplog):
    source = write_audio(tmp_path / "source.wav", chord(3))
    video = tmp_path / "clip.webm"
    subprocess.run([ffmpeg_binary(), "-nostdin", "-loglevel", "error", "-i", str(source), "-c:a", "libopus",
                    str(video)], check=True, timeout=60)
    outcome = Outcome(Track(str(video), "clip.webm"), genres=[{"genre": "jazz", "probability": 0.9}])
    tag_file(outcome)
    tally, out = Tally(), tmp_path / "results.csv"
    with open(out, "w", newline="", encoding="utf-8") as handle:
        record(outcome, handle, tally)
    assert out.read_text() == \
        "clip.webm,done,jazz,0.9000,,,,,,,,genre tag not written: mutagen does not know this format\n"
    assert (tally.done, tally.failed, tally.tagged, tally.untagged) == (1, 0, 0, 1)
    assert "genre tag written to 0 file(s), not written to 1 (see the note column)" in tally.line(60.0, write_tags=True)
    assert "clip.webm: genre tag not written: mutagen does not know this format" in caplog.text


def test_resume_keeps_complete_rows_and_drops_a_row_cut_off_by_a_kill(tmp_path):
    out = tmp_path / "results.csv"
    kept = result_row("a.mp3", "done", [{"genre": "jazz", "probability": 0.9}])
    failed = result_row("b.mp3", "failed", error={"code": "silent", "message": "The audio is silent."})
    other = result_row("gone.mp3", "failed", error={"code": "not_found", "message": "There is no such file."})
    out.write_text(to_csv([kept, failed, other]) + "c.mp3,done,jaz")
    tracks = [Track(f"/music/{name}", name) for name in ("a.mp3", "b.mp3", "c.mp3")]
    todo, skipped = plan(tracks, str(out))
    assert [track.name for track in todo] == ["b.mp3", "c.mp3"] and skipped == 1
    assert [row["filename"] for row in read_rows(str(out))] == ["a.mp3", "gone.mp3"]

    out.write_text("name,genre\nx.mp3,jazz\n")
    with pytest.raises(Fatal):
        plan(tracks, str(out))
    assert out.read_text() == "name,genre\nx.mp3,jazz\n"  # not ours: left alone


def test_a_csv_of_the_layout_before_the_note_column_is_resumed(tmp_path):
    out = tmp_path / "results.csv"
    out.write_text(",".join(COLUMNS[:-1]) + "\n"  # as the tagger wrote it before the note column
                   "'=a.mp3,done,jazz,0.9000,,,,,,,\nb.mp3,failed,,,,,,,,silent,The audio is silent.\n")
    todo, skipped = plan([Track("/music/=a.mp3", "=a.mp3"), Track("/music/b.mp3", "b.mp3")], str(out))
    assert [track.name for track in todo] == ["b.mp3"] and skipped == 1
    assert out.read_text() == ",".join(COLUMNS) + "\n'=a.mp3,done,jazz,0.9000,,,,,,,,\n"


@pytest.mark.parametrize("value, written", [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-intro.mp3", "'-intro.mp3"), ("@home", "'@home"),
    (" \t=x", "' \t=x"), ("\tx", "'\tx"), ("\rx", "'\rx"),  # after blanks and tabs; a tab or CR first
    ("'=x", "''=x"), ("''-x", "'''-x"),  # a quote already there: one more, so that it reads back the same
    ("'Round Midnight", "'Round Midnight"), ("a=b", "a=b"), ("", ""), ("0.9000", "0.9000"), ("café", "café"),
])
def test_a_cell_that_would_start_a_formula_is_written_as_text_and_read_back_as_it_was(value, written):
    assert escape_cell(value) == written and unescape_cell(written) == value
    text = to_csv([result_row(value, "failed", error={"code": "x", "message": value})])
    row = next(csv.DictReader(io.StringIO(text, newline="")))
    assert row["filename"] == row["error_message"] == written


def test_a_missing_value_is_an_empty_cell_and_a_long_run_of_quotes_is_no_trouble():
    text = to_csv([result_row("a.mp3", "failed", error={"code": "x", "message": None})])
    row = next(csv.DictReader(io.StringIO(text, newline="")))
    assert row["error_message"] == ""  # a job's file without a message, as before
    many = "'" * 5000 + "=x"
    assert escape_cell(many) == "'" + many and unescape_cell("'" + many) == many


def test_bytes_of_a_name_that_are_not_utf8_are_written_as_backslash_escapes():
    name = os.fsdecode(b"caf\xe9 \xff.mp3")  # what os.listdir gives for such a name on Linux
    text = to_csv([result_row(name, "failed", error={"code": "x", "message": f"{name} cannot be read"})])
    assert text.encode("utf-8").decode("utf-8") == text  # valid UTF-8: it encodes at all
    row = next(csv.DictReader(io.StringIO(text)))
    assert row["filename"] == "caf\\xe9 \\xff.mp3" and row["error_message"] == "caf\\xe9 \\xff.mp3 cannot be read"
    assert Track.named("/music/" + name, name).name == row["filename"]  # the tagger's name for it: the same


def test_the_walk_is_sorted_and_skips_hidden_and_non_audio_files(tmp_path):
    for name in ("b/2.FLAC", "b/1.ogg", "a.mp3", "c.opus", ".x/d.mp3", "b/.e.mp3", "f.txt", "g.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = [Path(path).relative_to(tmp_path).as_posix() for path in walk_audio(str(tmp_path))]
    assert found == ["a.mp3", "c.opus", "b/1.ogg", "b/2.FLAC"]


def test_server_uploads_are_batched_under_both_limits_as_multipart_files(tmp_path):
    from werkzeug.formparser import parse_form_data

    tracks = []
    for index, size in enumerate((300_000, 300_000, 500_000, 100, 100, 100)):
        path = tmp_path / f'song "{index}".mp3'
        path.write_bytes(bytes([index]) * size)
        tracks.append(Track(str(path), path.name))
    groups = list(batches(tracks, max_mb=0.7, max_files=2))
    assert [[track.name for track in group] for group in groups] == \
        [[tracks[0].name, tracks[1].name], [tracks[2].name, tracks[3].name], [tracks[4].name, tracks[5].name]]

    body, content_type = multipart([track.path for track in groups[0]])
    environ = {"REQUEST_METHOD": "POST", "CONTENT_TYPE": content_type, "CONTENT_LENGTH": str(len(body)),
               "wsgi.input": io.BytesIO(body)}
    files = parse_form_data(environ)[2].getlist("file")
    assert [f.filename for f in files] == ['song "0".mp3', 'song "1".mp3']  # quotes sent as %22, as browsers do
    assert [f.read() for f in files] == [Path(track.path).read_bytes() for track in groups[0]]
