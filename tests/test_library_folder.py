"""The library tagger on a real music folder (python -m genrelens.library): odd file names, links, the
copies --write-tags makes, and Ctrl-C / SIGTERM sent to the real command while it tags a file."""
from __future__ import annotations

import csv
import fcntl
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mutagen.id3 import ID3, POPM

from conftest import ROOT, chord, clicks, piano, write_audio
from genrelens.library.file_tags import display_name, read_genre
from genrelens.library.tagger import read_rows
from genrelens.results_csv import result_row, to_csv
from test_library import counts, csv_rows, run_library

NOT_UTF8 = os.fsdecode(b"caf\xe9.mp3")  # Latin-1 bytes, as an old Windows or Samba share left them
BROKEN_NOT_UTF8 = os.fsdecode(b"bad\xff.mp3")
LONG = "l" * 246 + ".mp3"  # 250 bytes: the file system's limit is 255, a copy named after it would not fit
FORMULAS = ["=HYPERLINK(1+1).mp3", "-intro.mp3", "@home.mp3", " +1.mp3", "'=quoted.mp3", "'Round Midnight.mp3"]


def starts_a_formula(cell: str) -> bool:
    """OWASP's list: = + - @ after leading blanks and tabs, or a tab or a carriage return first."""
    return cell[:1] in ("\t", "\r") or cell.lstrip(" \t")[:1] in ("=", "+", "-", "@")


def summary_counts(stdout: str) -> tuple[int, int, int]:
    return counts(subprocess.CompletedProcess([], 0, stdout, ""))


def hidden_copies(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if ".genrelens" in name)


def tag_folder(library: Path, songs: list[str], broken: list[str] = ()) -> dict:
    """Songs (and broken files) under these names, classified and tagged by one run; what it left, read at once."""
    for index, name in enumerate(songs):
        write_audio(library / name, chord(5, root_hz=200 + 20 * index, seed=index))
    for name in broken:
        (library / name).write_text("not audio at all\n" * 20)
    out = library.parent / f"{library.name}.csv"
    done = run_library(str(library), "--out", str(out), "--workers", "1", "--write-tags")
    return {"library": library, "out": out, "done": done, "songs": songs, "raw": out.read_bytes(),
            "tags": {name: read_genre(library / name) for name in songs}}


@pytest.fixture(scope="module")
def not_utf8(tmp_path_factory):
    return tag_folder(tmp_path_factory.mktemp("not-utf8"), [NOT_UTF8, "ok.mp3"], [BROKEN_NOT_UTF8])


@pytest.fixture(scope="module")
def spreadsheet_names(tmp_path_factory):
    return tag_folder(tmp_path_factory.mktemp("spreadsheet-names"), [*FORMULAS, LONG])


def test_a_name_that_is_not_utf8_gets_its_row_with_those_bytes_escaped_and_resume_knows_it(not_utf8):
    done = not_utf8["done"]
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 1, done.stderr  # the broken file fails, the others are classified
    assert counts(done) == (2, 0, 1)
    raw = not_utf8["raw"].decode("utf-8")  # strict: the CSV is UTF-8 whatever the names were
    rows = {row["filename"]: row for row in csv_rows(not_utf8["out"])}
    assert set(rows) == {"caf\\xe9.mp3", "bad\\xff.mp3", "ok.mp3"} and "\ncaf\\xe9.mp3,done," in raw
    assert rows["bad\\xff.mp3"]["status"] == "failed" and rows["bad\\xff.mp3"]["error_code"] == "unsupported_media"
    assert "bad\\xff.mp3: error: This file is not audio we can read" in done.stderr  # messages escape it too
    assert not_utf8["tags"][NOT_UTF8] == [display_name(rows["caf\\xe9.mp3"]["genre"])]
    assert "genre tag written to 2 file(s)" in done.stdout

    again = run_library(str(not_utf8["library"]), "--out", str(not_utf8["out"]), "--quiet")
    assert counts(again) == (0, 2, 1), again.stderr  # only the broken file is tried again
    lines = not_utf8["out"].read_text().splitlines()
    assert lines[1:3] == [line for line in raw.splitlines() if ",done," in line]
    assert lines[3].startswith("bad\\xff.mp3,failed,") and len(lines) == 4


def test_no_cell_of_the_csv_starts_a_formula_and_resume_reads_the_names_back(spreadsheet_names):
    done, out = spreadsheet_names["done"], spreadsheet_names["out"]
    assert done.returncode == 0 and counts(done) == (len(spreadsheet_names["songs"]), 0, 0), done.stderr
    with open(out, newline="", encoding="utf-8") as handle:
        cells = [cell for row in csv.reader(handle) for cell in row]
    assert [cell for cell in cells if starts_a_formula(cell)] == []
    assert {"'=HYPERLINK(1+1).mp3", "'-intro.mp3", "'@home.mp3", "' +1.mp3", "''=quoted.mp3",
            "'Round Midnight.mp3"} <= set(cells)  # a quote in front, and one more where it was there already
    assert {row["filename"] for row in read_rows(str(out))} == {*FORMULAS, LONG}

    again = run_library(str(spreadsheet_names["library"]), "--out", str(out), "--quiet")
    assert counts(again) == (0, len(spreadsheet_names["songs"]), 0), again.stderr
    assert out.read_bytes() == spreadsheet_names["raw"]


def test_a_file_whose_name_is_near_the_length_limit_is_tagged_through_a_short_copy(spreadsheet_names):
    rows = {row["filename"]: row for row in read_rows(str(spreadsheet_names["out"]))}
    assert spreadsheet_names["tags"][LONG] == [display_name(rows[LONG]["genre"])]
    assert rows[LONG]["note"] == ""
    for name in FORMULAS:
        assert spreadsheet_names["tags"][name] == [display_name(rows[name]["genre"])], name
    assert hidden_copies(spreadsheet_names["library"]) == []


def test_links_are_tagged_through_their_targets_and_stay_links(tmp_path):
    library, outside = tmp_path / "library", tmp_path / "collection"
    (library / "links").mkdir(parents=True)
    outside.mkdir()
    inside = write_audio(library / "song.mp3", chord(5, seed=41))
    elsewhere = write_audio(outside / "other.flac", piano(5, seed=42))
    os.symlink("../song.mp3", library / "links" / "same song.mp3")  # relative, into the library
    os.symlink(elsewhere, library / "links" / "other.flac")  # absolute, out of it
    out = tmp_path / "results.csv"
    done = run_library(str(library), "--out", str(out), "--workers", "1", "--write-tags", "--quiet")
    assert done.returncode == 0, done.stderr
    rows = {row["filename"]: row for row in csv_rows(out)}
    assert sorted(rows) == ["links/other.flac", "links/same song.mp3", "song.mp3"]
    assert os.readlink(library / "links" / "same song.mp3") == "../song.mp3"
    assert os.readlink(library / "links" / "other.flac") == str(elsewhere)
    assert read_genre(inside) == [display_name(rows["song.mp3"]["genre"])]
    assert read_genre(elsewhere) == [display_name(rows["links/other.flac"]["genre"])]
    assert sorted(os.listdir(library)) == ["links", "song.mp3"] and os.listdir(outside) == ["other.flac"]
    assert hidden_copies(library / "links") == []


def test_copies_a_killed_run_left_are_removed_when_the_next_run_tags(tmp_path):
    """Names only the tagger makes, in the folders it tags: removed before it starts (nothing left to
    classify here, so no model is loaded); anything else, or a copy a running tagger holds, stays."""
    library = tmp_path / "library"
    (library / "album").mkdir(parents=True)
    for name in ("song.mp3", "album/track.flac"):
        write_audio(library / name, clicks(3))
    out = tmp_path / "results.csv"
    out.write_text(to_csv([result_row(name, "done", [{"genre": "rock", "probability": 0.9}])
                           for name in ("album/track.flac", "song.mp3")]))
    leftovers = [".song.k2x_9qaz.genrelens.mp3",  # an earlier version's (mkstemp's letters)
                 ".song.0a1b2c3d.genrelens.mp3", "album/.track.f00dfeed.genrelens.flac",
                 "album/." + "t" * 40 + ".12345678.genrelens.flac"]
    kept = [".song.genrelens.mp3", "song.0a1b2c3d.genrelens", ".song.0a1b2c3d.mp3", ".song.0A1B2C3D.genrelens.mp3",
            "album/notes.txt"]
    for name in leftovers + kept:
        (library / name).write_bytes(b"a partial copy")
    os.symlink(library / "song.mp3", library / ".song.abcdabcd.genrelens.mp3")  # not a file we make
    held = library / ".song.feedf00d.genrelens.mp3"  # a tagger running now is writing this one
    held.write_bytes(b"being written")
    kept += [".song.abcdabcd.genrelens.mp3", held.name]

    quiet = run_library(str(library), "--out", str(out), "--quiet")
    assert counts(quiet) == (0, 2, 0)
    assert all(os.path.lexists(library / name) for name in leftovers)  # a run that does not tag writes nothing there

    with open(held, "rb+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        tagging = run_library(str(library), "--out", str(out), "--write-tags")
    assert tagging.returncode == 0 and counts(tagging) == (0, 2, 0), tagging.stderr
    assert [name for name in leftovers if os.path.lexists(library / name)] == []
    assert [name for name in kept if not os.path.lexists(library / name)] == []
    assert ".song.0a1b2c3d.genrelens.mp3: removed" in tagging.stderr


# ---- interrupts ----

def heavy_mp3(path: Path, frames: int = 40_000) -> Path:
    """A short song with a large ID3 tag: mutagen takes seconds to read and write it, so the copy that
    --write-tags makes of it stays in the folder long enough to be seen and interrupted. (Ratings:
    frames ffmpeg skips, so decoding it stays quick.)"""
    write_audio(path, chord(4, seed=7))
    tags = ID3()
    for index in range(frames):
        tags.add(POPM(email=f"listener{index}@example.org", rating=128, count=1))
    tags.save(path)
    return path


@pytest.fixture(scope="module")
def heavy(tmp_path_factory) -> Path:
    return heavy_mp3(tmp_path_factory.mktemp("heavy") / "z heavy.mp3")


def start_library(*args: str, logs: Path) -> subprocess.Popen:
    """The tagger in its own process group (as a shell starts it), its output in files."""
    with open(logs / "stdout", "wb") as stdout, open(logs / "stderr", "wb") as stderr:
        return subprocess.Popen([sys.executable, "-m", "genrelens.library", *args], cwd=ROOT, stdout=stdout,
                                stderr=stderr, start_new_session=True)


def wait_for_copy(folder: Path, prefix: str, process: subprocess.Popen, logs: Path, timeout_s: float = 240) -> str:
    """The name of the hidden copy --write-tags makes of the file, as soon as it is there."""
    deadline = time.monotonic() + timeout_s  # only so that a broken tagger fails the test instead of hanging it
    while time.monotonic() < deadline:
        found = [name for name in os.listdir(folder) if name.startswith(prefix) and ".genrelens" in name]
        if found:
            return found[0]
        if process.poll() is not None:
            pytest.fail(f"the tagger ended ({process.returncode}) before it tagged the file: "
                        + (logs / "stderr").read_text(errors="replace")[-3000:])
        time.sleep(0.005)
    process.kill()
    pytest.fail("the tagger made no copy of the file")


@pytest.mark.parametrize("signum, whom, code, words", [
    (signal.SIGINT, "group", 130, "interrupted (Ctrl-C, SIGINT)"),  # Ctrl-C in a terminal: every process
    (signal.SIGTERM, "parent", 143, "stopped (SIGTERM)"),  # kill <pid>: the tagger alone
], ids=["ctrl-c", "sigterm"])
def test_an_interrupt_while_tagging_leaves_no_copy_and_the_summary_counts_what_was_done(
        heavy, tmp_path, signum, whom, code, words):
    library = tmp_path / "library"
    library.mkdir()
    for index, make in enumerate((chord, clicks)):
        write_audio(library / f"{index}.mp3", make(4, seed=index))
    (library / heavy.name).write_bytes(heavy.read_bytes())  # sorted last: the others are done before it
    out = tmp_path / "results.csv"
    process = start_library(str(library), "--out", str(out), "--workers", "1", "--write-tags", logs=tmp_path)
    try:
        wait_for_copy(library, ".z heavy.", process, tmp_path)
        os.killpg(process.pid, signum) if whom == "group" else process.send_signal(signum)
        assert process.wait(timeout=120) == code
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    stdout, stderr = (tmp_path / "stdout").read_text(), (tmp_path / "stderr").read_text()
    assert hidden_copies(library) == [], stderr
    assert f"{words}: the rows of the files finished are in {out}" in stderr
    assert "Traceback" not in stderr, stderr
    rows = {row["filename"]: row for row in csv_rows(out)}
    assert summary_counts(stdout) == (len(rows), 0, 0) and heavy.name not in rows
    tagged = [name for name, row in rows.items() if read_genre(library / name) == [display_name(row["genre"])]]
    assert sorted(tagged) == sorted(rows)  # each file the summary counts is tagged, and no other
    assert f"genre tag written to {len(tagged)} file(s)" in stdout
    assert read_genre(library / heavy.name) == []  # the interrupted file was not replaced half-done

    again = run_library(str(library), "--out", str(out), "--workers", "1", "--write-tags", "--quiet")
    assert again.returncode == 0 and counts(again) == (3 - len(rows), len(rows), 0), again.stderr
    assert read_genre(library / heavy.name) == [display_name(csv_rows(out)[-1]["genre"])]
    assert hidden_copies(library) == []
