"""The pictures of a signal: every kind at its fixed size, showing what is in the sound (read back from the
pixels), safe to draw from threads, and a bad signal refused without harm to the next picture."""
from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import matplotlib
import numpy as np
import pytest
from PIL import Image

from conftest import SR, chord, clicks
from genrelens.web.pictures import KINDS, SIZE, render

BLUE = (0x3B, 0x82, 0xF6)  # the waveform's fill
COLOUR_MAPS = {"spectrogram": "magma", "mel_spectrogram": "magma", "mfcc": "coolwarm"}


def pixels(kind: str, signal: np.ndarray, n_mfcc: int = 13) -> np.ndarray:
    image = Image.open(io.BytesIO(render(kind, signal, SR, n_mfcc=n_mfcc)))
    return np.asarray(image.convert("RGB")).astype(int)


def frames(rgb: np.ndarray) -> tuple[tuple[int, int, int, int], tuple[int, int] | None]:
    """The plot's frame (left, top, right, bottom: its black lines) and the colour bar's (left, right), found
    from the pixels: the long runs of pure black."""
    black = (rgb == 0).all(axis=2)
    rows = np.flatnonzero(black.sum(axis=1) > 400)
    columns = np.flatnonzero(black.sum(axis=0) > 150)
    assert len(rows) == 2 and len(columns) in (2, 4), (rows, columns)
    bar = (int(columns[2]), int(columns[3])) if len(columns) == 4 else None
    return (int(columns[0]), int(rows[0]), int(columns[1]), int(rows[1])), bar


def inside(rgb: np.ndarray, frame: tuple[int, int, int, int]) -> np.ndarray:
    """The plot's pixels within its frame lines, top row first."""
    left, top, right, bottom = frame
    return rgb[top + 1 : bottom, left + 1 : right]


def levels(rgb: np.ndarray, colour_map: str) -> np.ndarray:
    """Each pixel's place in the colour map, 0 (its low end) to 1 (its high end): the nearest of its colours."""
    table = np.round(matplotlib.colormaps[colour_map](np.linspace(0, 1, 256))[:, :3] * 255)
    colours, where = np.unique(rgb.reshape(-1, 3), axis=0, return_inverse=True)
    nearest = np.argmin(((colours[:, None, :] - table[None, :, :]) ** 2).sum(axis=2), axis=1)
    return (nearest / 255)[where.ravel()].reshape(rgb.shape[:2])


def harmonic_tone(seconds: float, fundamental_hz: float, harmonics: int) -> np.ndarray:
    t = np.arange(int(seconds * SR)) / SR
    tone = sum(np.sin(2 * np.pi * fundamental_hz * k * t) / k for k in range(1, harmonics + 1))
    return (0.3 * tone).astype(np.float32)


def half_silent(seconds: float) -> np.ndarray:
    """Silence for the first half, a chord with a pulse for the second."""
    signal = chord(seconds)
    signal[: len(signal) // 2] = 0
    return signal


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_a_png_of_the_fixed_size(kind):
    image = Image.open(io.BytesIO(render(kind, chord(10.0), SR, n_mfcc=13)))
    assert image.format == "PNG" and image.size == SIZE == (1000, 320)


def test_a_chords_harmonics_are_bright_rows_at_their_heights_in_the_spectrogram():
    rgb = pixels("spectrogram", harmonic_tone(8.0, 1000, 4))
    frame, _ = frames(rgb)
    level = levels(inside(rgb, frame), "magma")
    middle = level[:, level.shape[1] // 10 : -level.shape[1] // 10]  # away from the padded ends
    height = level.shape[0]

    def row_of(hz: float) -> int:  # the frame's inside spans 0 Hz (its last row) to SR / 2 (its first)
        return round((1 - hz / (SR / 2)) * height - 0.5)

    for hz in (1000, 2000, 3000, 4000):
        around = middle[row_of(hz) - 2 : row_of(hz) + 3]
        assert around.max(axis=0).min() > 0.75, f"no bright row at {hz} Hz"
    for hz in (500, 1500, 2500, 3500, 6000, 9000):
        assert middle[row_of(hz)].max() < 0.3, f"a bright row at {hz} Hz, where the tone has nothing"


@pytest.mark.parametrize("kind", ["spectrogram", "mel_spectrogram"])
def test_the_silent_half_of_a_signal_is_dark_and_the_sounding_half_is_not(kind):
    rgb = pixels(kind, half_silent(8.0))
    frame, _ = frames(rgb)
    level = levels(inside(rgb, frame), "magma")
    width = level.shape[1]
    silent, sounding = level[:, width // 20 : 9 * width // 20], level[:, 11 * width // 20 : 19 * width // 20]
    assert silent.max() < 0.02, "the silent half is not at the bottom of the colour map"
    assert sounding.max(axis=0).min() > 0.9, "a column of the sounding half has nothing loud in it"
    assert np.median(sounding) > 0.3


def test_the_waveforms_fill_covers_the_loud_part_and_nothing_else():
    t = np.arange(8 * SR) / SR
    signal = (0.5 * np.sin(2 * np.pi * 440 * t) * (t >= 4)).astype(np.float32)
    rgb = pixels("waveform", signal)
    frame, bar = frames(rgb)
    assert bar is None
    plot = inside(rgb, frame)
    blue = (np.abs(plot - np.array(BLUE)).sum(axis=2) <= 6)
    white = (plot == 255).all(axis=2)
    height, width = blue.shape

    def row_of(amplitude: float) -> int:  # the frame's inside spans +1 (its first row) to -1 (its last)
        return round((1 - amplitude) / 2 * height - 0.5)

    silent, loud = slice(width // 20, 9 * width // 20), slice(11 * width // 20, 19 * width // 20)
    assert white[1:-1, silent].all(), "something is drawn where the signal is silent"  # (the frame's edge aside)
    assert blue[row_of(0.45) : row_of(-0.45) + 1, loud].all(), "the fill does not cover the sine's swing"
    assert white[1 : row_of(0.55), loud].all() and white[row_of(-0.55) + 1 : -1, loud].all(), "fill past +-0.5"


def test_the_mfcc_picture_shows_silence_as_the_lowest_first_coefficient():
    rgb = pixels("mfcc", half_silent(8.0), n_mfcc=13)
    frame, _ = frames(rgb)
    level = levels(inside(rgb, frame), "coolwarm")
    first = level[-level.shape[0] // 13 + 2 :]  # the rows of coefficient 0, at the bottom
    width = level.shape[1]
    assert first[:, width // 20 : 9 * width // 20].max() < 0.02
    assert first[:, 11 * width // 20 : 19 * width // 20].min() > 0.3


@pytest.mark.parametrize("kind", ["spectrogram", "mel_spectrogram", "mfcc"])
def test_the_colour_bar_runs_through_the_colour_map_from_bottom_to_top(kind):
    rgb = pixels(kind, chord(6.0))
    frame, bar = frames(rgb)
    assert bar is not None and frame[2] < bar[0], "no colour bar right of the plot"
    column = levels(rgb[frame[1] + 1 : frame[3], bar[0] + 1 : bar[1]], COLOUR_MAPS[kind])[:, 0][::-1]
    assert column[0] < 0.02 and column[-1] > 0.93
    assert (np.diff(column) > -0.03).all(), "the colour bar does not rise steadily"


@pytest.mark.parametrize("kind", KINDS)
def test_the_time_axis_has_a_tick_every_five_seconds_of_a_30_s_signal(kind):
    rgb = pixels(kind, chord(30.0) + clicks(30.0))
    (left, _, right, bottom), _ = frames(rgb)
    below = (rgb[bottom + 1 : bottom + 4, left : right + 1] == 0).all(axis=2).all(axis=0)  # 3 black under the frame
    ticks = left + np.flatnonzero(below)
    assert len(ticks) == 7 and ticks[0] == left and ticks[-1] == right
    assert np.abs(np.diff(ticks) - (right - left) / 6).max() <= 1


@pytest.mark.parametrize("kind", KINDS)
def test_the_title_is_readable_text_centred_over_the_plot(kind):
    rgb = pixels(kind, chord(6.0))
    (left, top, right, _), _ = frames(rgb)
    ink = np.argwhere((rgb[: top - 1, left : right + 1] < 128).all(axis=2))  # above the plot, within its width
    assert len(ink) > 100, "no title"
    rows, columns = ink[:, 0], left + ink[:, 1]
    assert 8 <= rows.max() - rows.min() + 1 <= 16, "the title is not a 10-pt line of text"
    assert 60 <= columns.max() - columns.min() <= 220
    assert abs((columns.max() + columns.min()) / 2 - (left + right) / 2) <= 3


@pytest.mark.parametrize("kind", KINDS)
def test_a_bad_signal_is_refused_and_the_next_picture_is_as_before(kind):
    good = chord(4.0)
    before = render(kind, good, SR)
    nan = good.copy()
    nan[100] = np.nan
    inf = good.copy()
    inf[-1] = np.inf
    for bad in (nan, inf, np.zeros(0, np.float32), np.stack([good, good])):
        with pytest.raises(ValueError, match="mono audio"):
            render(kind, bad, SR)
    assert render(kind, good, SR) == before


@pytest.mark.parametrize("kind", KINDS)
def test_a_tiny_or_silent_signal_still_gives_a_picture(kind):
    for signal in (chord(0.01), np.zeros(3 * SR, np.float32)):
        image = Image.open(io.BytesIO(render(kind, signal, SR)))
        assert image.size == SIZE


def test_pictures_drawn_in_threads_equal_those_drawn_one_by_one():
    signals = [chord(6.0, root_hz=110 * (i + 1)) + clicks(6.0, bpm=90 + 20 * i) for i in range(4)]
    jobs = [(kind, signal) for signal in signals for kind in KINDS]
    one_by_one = [render(kind, signal, SR) for kind, signal in jobs]
    with ThreadPoolExecutor(4) as pool:
        together = list(pool.map(lambda job: render(job[0], job[1], SR), jobs))
    assert together == one_by_one
    assert len(set(one_by_one)) == len(jobs), "every picture differs from the others"


def test_the_time_resolution_is_bounded_however_long_the_signal():
    """About MAX_COLUMNS STFT frames for a 10-minute song, the plain 512 hop for a short clip."""
    from genrelens.web.pictures import MAX_COLUMNS, _stft_hop

    ten_minutes = np.zeros(600 * SR, np.float32)
    assert 1 + len(ten_minutes) // _stft_hop(ten_minutes) <= MAX_COLUMNS + 1
    assert _stft_hop(np.zeros(10 * SR, np.float32)) == 512
