"""The genre portraits (training/genre_portraits.py): every genre and style has one committed, and the
script draws the same bytes from the same audio, on a tiny data set made here."""
from __future__ import annotations

import csv
import io
import json
import wave
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training import genre_portraits
from training.portrait_drawing import SIZE

ROOT = Path(__file__).resolve().parent.parent
PORTRAITS = ROOT / "static" / "images" / "genres"
SR = 22050


def guide() -> dict:
    return json.loads((ROOT / "genres.json").read_text(encoding="utf-8"))


def every_slug() -> list[str]:
    genres = (ROOT / "genre_mapping.txt").read_text().split()
    styles = [genre_portraits.style_slug(s) for s in guide()["electronic"]["styles"]]
    return genres + styles


@pytest.mark.parametrize("slug", every_slug())
def test_every_genre_and_style_has_a_small_portrait(slug):
    path = PORTRAITS / f"{slug}.png"
    assert path.exists(), f"no portrait for {slug}: run training/genre_portraits.py"
    assert path.stat().st_size < 60_000
    with Image.open(path) as image:
        assert image.format == "PNG" and image.size == (SIZE, SIZE)
    summary = json.loads((PORTRAITS / "portraits.json").read_text())
    assert summary[slug]["tracks"] > 0 and 60 <= summary[slug]["pulse_bpm"] <= 180


# ----------------------------------------------------------------------------- a tiny data set


def write_wav(path: Path, samples: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(SR)
        w.writeframes((np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes())


def beat(bpm: float, pitch_hz: float, seconds: float = 8.0, seed: int = 0) -> np.ndarray:
    """A tone struck on every beat (a decaying note), with a little noise: a pulse at ``bpm``."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    y = 0.01 * rng.standard_normal(n)
    hit = np.arange(int(0.2 * SR)) / SR
    note = np.exp(-hit * 25) * np.sin(2 * np.pi * pitch_hz * hit)
    for start in np.arange(0.0, seconds - 0.2, 60.0 / bpm):
        a = int(start * SR)
        y[a:a + note.size] += 0.6 * note
    return y.astype(np.float32)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory) -> tuple[Path, Path]:
    """Two GTZAN-style genres (5 tracks each: 3 on train by the hash split) and an electronic folder
    with one style's clips: low thuds at 90 BPM, bright clicks at 120, mid tones at 150."""
    root = tmp_path_factory.mktemp("tiny")
    data, electronic = root / "gtzan", root / "ishkur"
    for genre, bpm, pitch in (("blues", 90.0, 110.0), ("jazz", 120.0, 2500.0)):
        for i in range(5):
            write_wav(data / genre / f"{genre}.{i:05d}.wav", beat(bpm, pitch, seed=i))
    rows = []
    for i in range(3):
        name = f"house/deephouse/{i + 1:04d}.wav"
        write_wav(electronic / name, beat(150.0, 700.0, seed=10 + i))
        rows.append({"file": name, "type": "House", "genre": "deephouse", "artist": f"A{i}", "title": "T",
                     "year": "", "split": "train"})
    with open(electronic / "INDEX.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return data, electronic


TINY_GUIDE = {"blues": {"name": "Blues", "color": "#4f8ef7"}, "jazz": {"name": "Jazz", "color": "#2bb3a3"},
              "electronic": {"name": "Electronic", "color": "#19c8e6",
                             "styles": {"House": {"name": "House", "color": "#ffa94d"}}}}


def draw_tiny(tiny_data, out_dir: Path) -> dict:
    data, electronic = tiny_data
    return genre_portraits.make_portraits(data, electronic, ["blues", "jazz", "electronic"], TINY_GUIDE, out_dir)


def test_the_same_audio_draws_the_same_bytes(tiny_data, tmp_path):
    first = draw_tiny(tiny_data, tmp_path / "one")
    second = draw_tiny(tiny_data, tmp_path / "two")
    assert first == second and set(first) == {"blues", "jazz", "electronic", "house"}
    for slug in first:
        a, b = (tmp_path / "one" / f"{slug}.png").read_bytes(), (tmp_path / "two" / f"{slug}.png").read_bytes()
        assert a == b, f"{slug}: two runs drew different pictures"
        assert Image.open(io.BytesIO(a)).size == (SIZE, SIZE)


def test_a_portrait_is_drawn_from_its_own_train_tracks(tiny_data, tmp_path):
    summary = draw_tiny(tiny_data, tmp_path)
    # 3 of 5 tracks per genre are on train (70/15/15); valid and test never count
    assert summary["blues"]["tracks"] == 3 and summary["jazz"]["tracks"] == 3
    assert summary["house"]["tracks"] == 3 and summary["electronic"]["tracks"] == 3
    # the pulse is the one played (or a multiple of it, within the 60-180 BPM window)
    assert summary["jazz"]["pulse_bpm"] == pytest.approx(120, abs=4)
    assert summary["house"]["pulse_bpm"] == pytest.approx(150, abs=5)
    assert summary["blues"]["pulse_bpm"] == pytest.approx(90, abs=3) or summary["blues"]["pulse_bpm"] == pytest.approx(
        180, abs=6)
    pictures = {slug: (tmp_path / f"{slug}.png").read_bytes() for slug in summary}
    assert len(set(pictures.values())) == len(pictures), "different music drew the same picture"
