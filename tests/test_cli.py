"""The command line (python music_genre_classifier.py) says what is wrong with a file in the API's words,
and names files with the API's key, ``filename``."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import ROOT, upload


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "music_genre_classifier.py"), *args],
                          capture_output=True, text=True, timeout=180, cwd=ROOT)


@pytest.fixture(scope="module")
def bad_files(audio_dir):
    text = audio_dir / "notes.txt"
    text.write_text("These are my notes, not a song.\n" * 20)
    empty = audio_dir / "empty.mp3"
    empty.write_bytes(b"")
    return {"text": text, "empty": empty}


@pytest.mark.parametrize("kind", ["text", "empty"])
def test_the_cli_gives_the_apis_code_and_message(client, bad_files, kind):
    path = bad_files[kind]
    api = upload(client, path).get_json()["error"]
    done = run_cli(str(path), "--json")
    assert done.returncode == 1
    line = json.loads(done.stdout)
    assert list(line) == ["filename", "error"] and line["filename"] == str(path)
    assert line["error"]["code"] == api["code"]
    # The same sentence; only ffmpeg's reason in brackets may differ, as the API's temp file has no
    # extension and ffmpeg guesses by it (it reads ".txt" as a text-art video: "no audio stream found").
    sentence = api["message"].split(" (")[0]
    assert line["error"]["message"].split(" (")[0] == sentence
    assert sentence in ("The file is empty.", "This file is not audio we can read")
    plain = run_cli(str(path))
    assert plain.returncode == 1 and plain.stdout == ""
    assert plain.stderr.strip().splitlines()[-1] == f"{path}: error: {line['error']['message']}"


def test_the_cli_names_good_and_bad_files_with_filename(song_mp3, audio_dir):
    missing = audio_dir / "no such song.mp3"
    done = run_cli(str(song_mp3), str(missing), str(audio_dir), "--json")
    assert done.returncode == 1
    good, gone, folder = (json.loads(line) for line in done.stdout.splitlines())
    assert good["filename"] == str(song_mp3) and "file" not in good
    assert good["genre"] == good["genres"][0]["genre"] and good["segments"]
    assert gone == {"filename": str(missing), "error": {"code": "not_found", "message": "There is no such file."}}
    assert folder["filename"] == str(audio_dir) and folder["error"]["code"] == "not_a_file"


def test_the_cli_rounds_percentages_with_the_pages_rule():
    from genrelens.cli import pct

    assert pct(0.7765, 1) == "77.7 %"  # f"{0.7765:.1%}" says 77.6 %
    assert pct(0.845) == "85 %"  # half away from zero, not to even
    assert [pct(i / 2000, 1) for i in (1, 3, 1999)] == ["0.1 %", "0.2 %", "100.0 %"]
    assert pct(-0.0004, 1) == "0.0 %"
