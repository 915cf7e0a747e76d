"""The pictures of a signal: every kind, at its fixed size, safe to draw from threads and after errors."""
from __future__ import annotations

import io
from concurrent.futures import ThreadPoolExecutor

import matplotlib.axes
import matplotlib.pyplot as plt
import pytest
from PIL import Image

from conftest import SR, chord, clicks
from genrelens.web.pictures import DPI, FIGSIZE, KINDS, render


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_is_a_png_of_the_fixed_size(kind):
    png = render(kind, chord(10.0), SR, n_mfcc=13)
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.size == (FIGSIZE[0] * DPI, FIGSIZE[1] * DPI)


def test_a_drawing_that_fails_leaves_no_figure_behind(monkeypatch):
    def broken(self, *args, **kwargs):
        raise RuntimeError("drawing failed")

    before = plt.get_fignums()
    monkeypatch.setattr(matplotlib.axes.Axes, "set_title", broken)
    for kind in KINDS:
        with pytest.raises(RuntimeError, match="drawing failed"):
            render(kind, chord(4.0), SR)
    assert plt.get_fignums() == before, "a figure that raised is still open in pyplot"


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
    import numpy as np

    from genrelens.web.pictures import MAX_COLUMNS, _stft_hop

    ten_minutes = np.zeros(600 * SR, np.float32)
    assert 1 + len(ten_minutes) // _stft_hop(ten_minutes) <= MAX_COLUMNS + 1
    assert _stft_hop(np.zeros(10 * SR, np.float32)) == 512
