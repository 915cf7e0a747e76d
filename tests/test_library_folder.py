"""The library tagger on a real music folder (python -m genrelens.library): odd file names and links."""
from __future__ import annotations

import csv
import os
from pathlib import Path

import pytest

from conftest import chord, piano, write_audio
from genrelens.library.file_tags import display_name, read_genre
from genrelens.library.tagger import read_rows
from test_library import counts, csv_rows, run_library

NOT_UTF8 = os.fsdecode(b"caf\xe9.mp3")  # Latin-1 bytes, as an old Windows or Samba share left them
BROKEN_NOT_UTF8 = os.fsdecode(b"bad\xff.mp3")
LONG = "l" * 246 + ".mp3"  # 250 bytes: the file system's limit is 255, a copy named after it would not fit
FORMULAS = ["=HYPERLINK(1+1).mp3", "-intro.mp3", "@home.mp3", " +1.mp3", "'=quoted.mp3", "'Round Midnight.mp3"]


def starts_a_formula(cell: str) -> bool:
    """OWASP's list: = + - @ after leading blanks and tabs, or a tab or a carriage return first."""
    return cell[:1] in ("\t", "\r") or cell.lstrip(" \t")[:1] in ("=", "+", "-", "@")


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
