"""PNG pictures of a signal (1000x320): waveform, spectrogram, mel spectrogram, MFCC, for
``GET /analyses/<id>/<kind>.png``.

Drawn straight from the arrays into pixels (``genrelens.web.chart``: Pillow, matplotlib's colour maps as lookup
tables), not through a matplotlib figure: tens of milliseconds a picture instead of hundreds
(``bench/bench_pictures.py``), with the look the figures had. Nothing is shared between calls but read-only
tables and each thread's own font, so pictures may be drawn from many threads at once.

``render`` refuses a signal that is not mono, empty or not finite everywhere (``ValueError``).

At a bounded resolution: the STFT hop grows with the signal so there are about ``MAX_COLUMNS`` time columns, and
a 10-minute song costs about what a 30-s clip does. Where there are more columns or frequency bins than pixels, a
pixel shows the mean of the cells it covers (of their power, in the decibel pictures), so a thin harmonic or a
short hit is never skipped, as matplotlib's nearest-cell sampling could.
"""
from __future__ import annotations

import functools

import numpy as np
from scipy import sparse

from genrelens.web.chart import HEIGHT, WIDTH, Chart, ColourBar, Scale, band, colour_mapped, resampled

KINDS = ("waveform", "spectrogram", "mel_spectrogram", "mfcc")
SIZE = (WIDTH, HEIGHT)
MAX_COLUMNS = 1200
N_FFT = 2048
N_MELS = 128
WAVEFORM_COLOUR = (0x3B, 0x82, 0xF6)
WAVEFORM_SUBCOLUMNS = 3  # slices of the signal per pixel column (the figures filled between 2,400 blocks' extremes)
TIME = "time (s)"


def _stft_hop(signal: np.ndarray) -> int:
    """A hop that gives about MAX_COLUMNS frames (never below 512): cost stays flat with length."""
    return max(512, int(np.ceil(len(signal) / MAX_COLUMNS)))


def _duration(signal: np.ndarray, sr: int) -> float:
    return len(signal) / sr


def waveform_png(signal: np.ndarray, sr: int) -> bytes:
    """The lowest and highest sample of each third of a pixel column, filled; a column's colour is the mean of its
    thirds, so a peak that lasts a moment shows lighter, as the anti-aliased matplotlib fill had it."""
    chart = Chart("Waveform", Scale(0, _duration(signal, sr), TIME), Scale(-1, 1, "amplitude"))
    slices = WAVEFORM_SUBCOLUMNS * chart.plot.width
    starts = np.arange(slices) * len(signal) // slices  # the first sample under each slice
    lows, highs = np.minimum.reduceat(signal, starts), np.maximum.reduceat(signal, starts)
    return chart.png(band(lows, highs, chart.y, chart.plot.height, WAVEFORM_COLOUR, WAVEFORM_SUBCOLUMNS))


def _image_png(matrix: np.ndarray, duration_s: float, y: Scale, title: str, colour_map: str, decibels: bool) -> bytes:
    """``matrix`` (row 0 the lowest) as an image; the colour bar spans its whole range, as the figures' did."""
    low, high = float(matrix.min()), float(matrix.max())
    chart = Chart(title, Scale(0, duration_s, TIME), y, ColourBar(low, high, colour_map))
    rows, columns = chart.plot.height, chart.plot.width
    if decibels:  # a pixel over several cells shows their mean power, not the mean of their decibels
        shown = 10 * np.log10(np.maximum(resampled(np.power(10, matrix / 10), rows, columns), 1e-30))
    else:
        shown = resampled(matrix, rows, columns)
    return chart.png(colour_mapped(shown[::-1], low, high, colour_map))


def spectrogram_png(signal: np.ndarray, sr: int) -> bytes:
    import librosa

    magnitude = np.abs(librosa.stft(signal, n_fft=N_FFT, hop_length=_stft_hop(signal)))
    db = librosa.amplitude_to_db(magnitude, ref=np.max)
    return _image_png(db, _duration(signal, sr), Scale(0, sr / 2, "frequency (Hz)"), "Spectrogram (dB)", "magma",
                      decibels=True)


@functools.lru_cache(maxsize=8)
def _mel_filters(sr: int) -> sparse.csr_array:
    """librosa's mel filter bank as a sparse matrix: each filter spans a few bins (about 2,000 of 131,000 cells)."""
    import librosa

    return sparse.csr_array(librosa.filters.mel(sr=sr, n_fft=N_FFT, n_mels=N_MELS))


def _mel_power(signal: np.ndarray, sr: int) -> np.ndarray:
    """``librosa.feature.melspectrogram``'s numbers (the same STFT power, the same filters) by a sparse product:
    its dense ``einsum`` multiplies 65 times as many cells, most of them zeros, on as many BLAS threads as cores."""
    import librosa

    power = np.abs(librosa.stft(signal, n_fft=N_FFT, hop_length=_stft_hop(signal))) ** 2
    return _mel_filters(sr) @ power


def mel_spectrogram_png(signal: np.ndarray, sr: int) -> bytes:
    import librosa

    db = librosa.power_to_db(_mel_power(signal, sr), ref=np.max)
    return _image_png(db, _duration(signal, sr), Scale(0, N_MELS, "mel band"), "Mel spectrogram (dB)", "magma",
                      decibels=True)


def mfcc_png(signal: np.ndarray, sr: int, n_mfcc: int = 20) -> bytes:
    import librosa

    mfcc = librosa.feature.mfcc(S=librosa.power_to_db(_mel_power(signal, sr)), n_mfcc=n_mfcc)  # as mfcc(y=...) does
    return _image_png(mfcc, _duration(signal, sr), Scale(0, n_mfcc, "coefficient"), f"MFCC ({n_mfcc} coefficients)",
                      "coolwarm", decibels=False)


RENDERERS = {
    "waveform": waveform_png,
    "spectrogram": spectrogram_png,
    "mel_spectrogram": mel_spectrogram_png,
    "mfcc": mfcc_png,
}


def render(kind: str, signal: np.ndarray, sr: int, n_mfcc: int = 20) -> bytes:
    """The ``kind`` picture; ``n_mfcc`` as many coefficients as the model uses (the MFCC picture).

    ``signal`` is mono audio: one dimension, at least one sample, every sample finite (else ``ValueError``).
    """
    if kind not in RENDERERS:
        raise KeyError(f"no picture of kind {kind!r}; kinds: {', '.join(KINDS)}")
    signal = np.asarray(signal)
    if signal.ndim != 1 or len(signal) == 0 or not np.isfinite(signal).all():
        raise ValueError("a picture needs mono audio with at least one sample, every sample finite")
    if kind == "mfcc":
        return mfcc_png(signal, sr, n_mfcc)
    return RENDERERS[kind](signal, sr)
