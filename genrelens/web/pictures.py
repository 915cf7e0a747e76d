"""PNG pictures of a signal: waveform, spectrogram, mel spectrogram, MFCC, for ``GET /analyses/<id>/<kind>.png``.

Drawn at a bounded resolution: the STFT hop grows with the signal so there are about
``MAX_COLUMNS`` time columns, and a 10-minute song costs about what a 30-s clip does. Each picture is
its own ``matplotlib.figure.Figure`` (no pyplot): pyplot's global figure list is not thread-safe, and
a figure that raised half-way would stay in it for good.
"""
from __future__ import annotations

import io

import numpy as np
from matplotlib.figure import Figure

KINDS = ("waveform", "spectrogram", "mel_spectrogram", "mfcc")
MAX_COLUMNS = 1200
FIGSIZE = (10, 3.2)
DPI = 100


def _stft_hop(signal: np.ndarray) -> int:
    """A hop that gives about MAX_COLUMNS frames (never below 512): cost stays flat with length."""
    return max(512, int(np.ceil(len(signal) / MAX_COLUMNS)))


def _figure() -> tuple[Figure, object]:
    fig = Figure(figsize=FIGSIZE)
    return fig, fig.subplots()


def _finish(fig: Figure, ax, title: str) -> bytes:
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def waveform_png(signal: np.ndarray, sr: int) -> bytes:
    columns = min(len(signal), 2 * MAX_COLUMNS)
    step = max(1, len(signal) // columns)
    usable = len(signal) - len(signal) % step
    blocks = signal[:usable].reshape(-1, step)
    times = np.arange(blocks.shape[0]) * step / sr
    fig, ax = _figure()
    ax.fill_between(times, blocks.min(axis=1), blocks.max(axis=1), color="#3b82f6", linewidth=0)
    ax.set_xlim(0, len(signal) / sr)
    ax.set_ylim(-1, 1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("amplitude")
    return _finish(fig, ax, "Waveform")


def _image(matrix: np.ndarray, duration_s: float, y_label: str, title: str, extent_y: tuple[float, float], cmap: str) -> bytes:
    fig, ax = _figure()
    shown = ax.imshow(matrix, origin="lower", aspect="auto", cmap=cmap,
                      extent=(0, duration_s, *extent_y), interpolation="nearest")
    fig.colorbar(shown, ax=ax, pad=0.01)
    ax.set_xlabel("time (s)")
    ax.set_ylabel(y_label)
    return _finish(fig, ax, title)


def spectrogram_png(signal: np.ndarray, sr: int) -> bytes:
    import librosa

    magnitude = np.abs(librosa.stft(signal, n_fft=2048, hop_length=_stft_hop(signal)))
    db = librosa.amplitude_to_db(magnitude, ref=np.max)
    return _image(db, len(signal) / sr, "frequency (Hz)", "Spectrogram (dB)", (0, sr / 2), "magma")


def mel_spectrogram_png(signal: np.ndarray, sr: int) -> bytes:
    import librosa

    mel = librosa.feature.melspectrogram(y=signal, sr=sr, n_fft=2048, hop_length=_stft_hop(signal), n_mels=128)
    db = librosa.power_to_db(mel, ref=np.max)
    return _image(db, len(signal) / sr, "mel band", "Mel spectrogram (dB)", (0, 128), "magma")


def mfcc_png(signal: np.ndarray, sr: int, n_mfcc: int = 20) -> bytes:
    import librosa

    mfcc = librosa.feature.mfcc(y=signal, sr=sr, n_mfcc=n_mfcc, n_fft=2048, hop_length=_stft_hop(signal))
    return _image(mfcc, len(signal) / sr, "coefficient", f"MFCC ({n_mfcc} coefficients)", (0, n_mfcc), "coolwarm")


RENDERERS = {
    "waveform": waveform_png,
    "spectrogram": spectrogram_png,
    "mel_spectrogram": mel_spectrogram_png,
    "mfcc": mfcc_png,
}


def render(kind: str, signal: np.ndarray, sr: int, n_mfcc: int = 20) -> bytes:
    """The ``kind`` picture; ``n_mfcc`` as many coefficients as the model uses (the MFCC picture)."""
    if kind == "mfcc":
        return mfcc_png(signal, sr, n_mfcc)
    return RENDERERS[kind](signal, sr)
