"""The pretrained musicnn's input: 96-band log-mel patches at 16 kHz, one per 3-s segment.

MSD_musicnn was trained on ``log10(10000 * mel + 1)`` of 16 kHz audio (n_fft 512, hop 256, 96
bands, librosa's Slaney mel filters) in patches of 187 frames (2.99 s). For the segment that
starts at ``t`` seconds we take the server's decoded 22,050 Hz signal from ``t`` to ``t + 3``,
resample it with soxr (librosa's default resampler) and compute that spectrogram. Training
(``training/musicnn_embeddings.py``) calls the same functions, so the head sees exactly what the
server feeds it.

The original casts the mel power to float16 before the log, which overflows to inf on loud
bins; we keep float32.
"""
from __future__ import annotations

import numpy as np

from genrelens.analysis.audio import loop_to, rms

SAMPLE_RATE = 16000
N_FFT = 512
HOP = 256
N_MELS = 96
PATCH_FRAMES = 187
SEGMENT_SECONDS = 3.0  # 48,000 samples at 16 kHz: 188 frames, of which the patch takes 187
MAX_GAIN = 10 ** (24 / 20)


def patch(samples: np.ndarray, sample_rate: int, start_s: float, level_dbfs: float | None = None) -> np.ndarray:
    """The (187, 96) log-mel patch of the 3 s of ``samples`` from ``start_s`` (looped if shorter).

    Only those 3 s are resampled and transformed, so the cost per patch does not grow with the
    track's length. ``level_dbfs``: first scale the piece to this RMS level (at most +24 dB), so a
    quieter copy of a song gets the same patch.
    """
    import librosa

    length = int(round(SEGMENT_SECONDS * sample_rate))
    first = int(round(start_s * sample_rate))
    piece = samples[first : first + length]
    piece = loop_to(piece, length)
    if sample_rate != SAMPLE_RATE:
        piece = librosa.resample(piece, orig_sr=sample_rate, target_sr=SAMPLE_RATE, res_type="soxr_hq")
    piece = piece.astype(np.float32)
    if level_dbfs is not None:
        piece = piece * min(10 ** (level_dbfs / 20) / max(rms(piece), 1e-9), MAX_GAIN)
    mel = librosa.feature.melspectrogram(y=piece, sr=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP, n_mels=N_MELS)
    return np.log10(10000.0 * mel.T[:PATCH_FRAMES] + 1.0).astype(np.float32)


def patches(samples: np.ndarray, sample_rate: int, starts_s, level_dbfs: float | None = None) -> np.ndarray:
    """(len(starts_s), 187, 96): one ``patch`` per start time."""
    out = np.empty((len(starts_s), PATCH_FRAMES, N_MELS), dtype=np.float32)
    for i, start in enumerate(starts_s):
        out[i] = patch(samples, sample_rate, float(start), level_dbfs)
    return out
