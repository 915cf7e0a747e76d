"""Run the ORIGINAL musicnn package once and keep its outputs as parity data for our port.

This is the only place the original TensorFlow-1 code runs. It needs a throwaway environment,
because musicnn 0.1.0 does not install with its dependencies on Python 3.11::

    python -m venv /tmp/musicnn-orig
    /tmp/musicnn-orig/bin/pip install tensorflow-cpu==2.21.0 tf_keras==2.21.0 librosa==0.11.0
    /tmp/musicnn-orig/bin/pip download musicnn==0.1.0 --no-deps --no-binary :all: -d /tmp/musicnn-orig
    /tmp/musicnn-orig/bin/pip install --no-deps /tmp/musicnn-orig/musicnn-0.1.0.tar.gz
    TF_USE_LEGACY_KERAS=1 /tmp/musicnn-orig/bin/python training/musicnn_reference.py

The inputs are log-mel patches of audio this script generates (a chord, noise, a click track, a
sweep), computed the original's way (``librosa.feature.melspectrogram`` at 16 kHz, n_fft 512, hop
256, 96 bands, then ``log10(10000 x + 1)``) but in float32: the original casts the mel power to
float16 first, and ``10000 x`` then overflows to inf on any loud bin (a -6 dBFS chord already
does). It writes the patches, with the original network's tags, penultimate layer and pooled
features for each, to ``tests/data/musicnn_reference.npz``.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "musicnn_reference.npz"
SR = 16000
SECONDS = 3.2  # one 187-frame patch


def generated_clips(seconds: float = SECONDS, sr: int = SR) -> dict[str, np.ndarray]:
    """Four deterministic test signals with different spectra and rhythms."""
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(7)
    chord = sum(np.sin(2 * np.pi * f * t) for f in (220.0, 277.2, 329.6, 440.0)) / 4
    clicks = np.zeros_like(t)
    for beat in np.arange(0, seconds, 0.5):
        start = int(beat * sr)
        clicks[start : start + 400] += np.exp(-np.arange(len(clicks[start : start + 400])) / 60.0)
    sweep = np.sin(2 * np.pi * (100 * t + (4000 - 100) / (2 * seconds) * t**2))
    return {
        "chord": 0.5 * chord,
        "noise": 0.3 * rng.standard_normal(len(t)),
        "clicks": 0.8 * clicks + 0.05 * rng.standard_normal(len(t)),
        "sweep": 0.4 * sweep * (0.5 + 0.5 * np.sin(2 * np.pi * 2 * t)),
    }


def main() -> int:
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
    import librosa
    import tensorflow as tf
    from musicnn import configuration, models

    checkpoint = str(Path(models.__file__).parent / "MSD_musicnn") + "/"
    names, patches = [], []
    for name, clip in generated_clips().items():
        mel = librosa.feature.melspectrogram(y=clip.astype(np.float32), sr=SR, hop_length=configuration.FFT_HOP,
                                             n_fft=configuration.FFT_SIZE, n_mels=configuration.N_MELS).T
        names.append(name)
        patches.append(np.log10(10000 * mel[:187] + 1))
    inputs = np.stack(patches).astype(np.float32)
    assert np.isfinite(inputs).all()

    tf.compat.v1.disable_eager_execution()  # the original is graph-mode TensorFlow 1 code
    tf.compat.v1.reset_default_graph()
    x = tf.compat.v1.placeholder(tf.float32, [None, 187, configuration.N_MELS])
    is_training = tf.compat.v1.placeholder(tf.bool)
    logits, *_, mean_pool, max_pool, penultimate = models.define_model(
        x, is_training, "MSD_musicnn", len(configuration.MSD_LABELS))
    with tf.compat.v1.Session() as session:
        tf.compat.v1.train.Saver().restore(session, checkpoint)
        tags, mean_, max_, penultimate_ = session.run(
            [tf.nn.sigmoid(logits), mean_pool, max_pool, penultimate],
            feed_dict={x: inputs, is_training: False})

    OUT.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(OUT, names=np.array(names), inputs=inputs, tags=tags, mean_pool=mean_,
                        max_pool=max_, penultimate=penultimate_, labels=np.array(configuration.MSD_LABELS))
    print(f"wrote {OUT}: {len(names)} patches; strongest tag per patch:")
    for name, row in zip(names, tags):
        print(f"  {name:7s} {configuration.MSD_LABELS[int(row.argmax())]} {row.max():.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
