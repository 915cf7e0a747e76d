"""The tagger's --playlists DIR: one M3U per genre and electronic style, paths relative to DIR, and nothing
written into the music folder."""
from __future__ import annotations

import os
from pathlib import Path

from conftest import chord, piano, write_audio
from test_explore import drum_loop
from test_library import csv_rows, run_library


def playlist_paths(path: Path) -> list[str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "#EXTM3U" and all(line.startswith("#EXTINF:") for line in lines[1::2])
    return lines[2::2]


def test_playlists_per_genre_and_style_relative_to_their_folder_and_the_music_left_alone(tmp_path):
    music = tmp_path / "Music"
    (music / "album").mkdir(parents=True)
    write_audio(music / "album" / "soft.mp3", piano(8, seed=7))
    write_audio(music / "loop.mp3", drum_loop(8, seed=8))
    (music / "broken.mp3").write_text("not audio\n" * 50)
    before = sorted(p.relative_to(music) for p in music.rglob("*"))
    lists, out = tmp_path / "Playlists", tmp_path / "results.csv"

    done = run_library(str(music), "--out", str(out), "--workers", "2", "--playlists", str(lists), "--quiet")
    assert done.returncode == 1, done.stderr  # the broken file failed; the others are in playlists
    assert sorted(p.relative_to(music) for p in music.rglob("*")) == before
    rows = {row["filename"]: row for row in csv_rows(out) if row["status"] == "done"}
    assert sorted(rows) == ["album/soft.mp3", "loop.mp3"]
    written = {p.name for p in lists.iterdir()}
    genres = {row["genre"] for row in rows.values()}
    assert {f"{genre}.m3u8" for genre in genres} <= written
    assert all(name in {f"{g}.m3u8" for g in genres} or name.startswith("electronic-") for name in written)
    for name, row in rows.items():
        paths = playlist_paths(lists / f"{row['genre']}.m3u8")
        assert f"../Music/{name}" in paths
        assert all((lists / path).resolve().is_file() for path in paths)
    text = (lists / f"{rows['loop.mp3']['genre']}.m3u8").read_text()
    assert f"#EXTINF:8,{rows['loop.mp3']['genre']} - loop.mp3" in text

    # a second run with one new file: the earlier rows stay in the genre playlists; a DIR inside the music works
    write_audio(music / "more.mp3", chord(8, seed=9))
    inside = music / "playlists"
    again = run_library(str(music), "--out", str(out), "--workers", "1", "--playlists", str(inside), "--quiet")
    assert again.returncode == 1, again.stderr  # broken.mp3 is tried again and fails again
    listed = {path for name in os.listdir(inside) if not name.startswith("electronic-")
              for path in playlist_paths(inside / name)}
    assert listed == {"../album/soft.mp3", "../loop.mp3", "../more.mp3"}


def test_a_playlists_folder_that_cannot_be_made_is_a_clear_error_after_the_csv(tmp_path):
    music = tmp_path / "Music"
    music.mkdir()
    write_audio(music / "soft.mp3", piano(6, seed=10))
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the playlists folder should go")
    out = tmp_path / "results.csv"
    done = run_library(str(music), "--out", str(out), "--workers", "1", "--playlists", str(blocker / "lists"))
    assert done.returncode == 2, done.stderr
    assert "the playlists could not be written into" in done.stderr and "Traceback" not in done.stderr
    assert [row["status"] for row in csv_rows(out)] == ["done"]  # the CSV is whole all the same
