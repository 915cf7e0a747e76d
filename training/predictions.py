"""Track-level predictions and their scores: the probabilities of all audible segments of all pieces
of a track are averaged, exactly as the server averages the segments of an upload."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from training.files import AudioFile


@dataclass
class Predictions:
    genres: list[str]
    tracks: list[str]
    track_true: np.ndarray  # (n_tracks,)
    track_prob: np.ndarray  # (n_tracks, n_genres)
    segment_true: np.ndarray  # (n_segments,)
    segment_prob: np.ndarray  # (n_segments, n_genres)


def predict(predictor, genres: list[str], files: list[AudioFile], segments: list[np.ndarray]) -> Predictions:
    """Run ``predictor`` (the MFCC CNN) over each file's MFCC segments."""
    return collect(genres, files, [
        np.concatenate([predictor.predict(segs[i : i + 256]) for i in range(0, len(segs), 256)]) if len(segs) else segs
        for segs in segments])


def collect(genres: list[str], files: list[AudioFile], probabilities: list[np.ndarray]) -> Predictions:
    """Segment and track predictions from each file's per-segment probabilities (files may share a track)."""
    index = {g: i for i, g in enumerate(genres)}
    by_track: dict[str, list[np.ndarray]] = defaultdict(list)
    genre_of: dict[str, str] = {}
    segment_true, segment_prob = [], []
    for file, probs in zip(files, probabilities):
        if len(probs) == 0:
            continue
        by_track[file.track].append(probs)
        genre_of[file.track] = file.genre
        segment_prob.append(probs)
        segment_true.extend([index[file.genre]] * len(probs))
    tracks = sorted(by_track)
    return Predictions(
        genres=genres,
        tracks=tracks,
        track_true=np.array([index[genre_of[t]] for t in tracks]),
        track_prob=np.stack([np.concatenate(by_track[t]).mean(axis=0) for t in tracks]),
        segment_true=np.array(segment_true),
        segment_prob=np.concatenate(segment_prob),
    )


def score(pred: Predictions) -> dict:
    from sklearn.metrics import accuracy_score, f1_score, precision_recall_fscore_support

    labels = list(range(len(pred.genres)))
    track_hat = pred.track_prob.argmax(axis=1)
    precision, recall, f1, support = precision_recall_fscore_support(
        pred.track_true, track_hat, labels=labels, zero_division=0
    )
    present = support > 0
    return {
        "tracks": int(len(pred.tracks)),
        "segments": int(len(pred.segment_true)),
        "track_accuracy": round(float(accuracy_score(pred.track_true, track_hat)), 4),
        "segment_accuracy": round(float(accuracy_score(pred.segment_true, pred.segment_prob.argmax(axis=1))), 4),
        # macro-F1 over the genres this split holds (a genre with no test track has no F1)
        "macro_f1": round(float(f1_score(pred.track_true, track_hat, labels=np.flatnonzero(present), average="macro", zero_division=0)), 4),
        "per_genre": {
            genre: {
                "precision": round(float(precision[i]), 4),
                "recall": round(float(recall[i]), 4),
                "f1": round(float(f1[i]), 4),
                "support": int(support[i]),
            }
            for i, genre in enumerate(pred.genres)
        },
    }
