"""Robustness of the served models: does a TEST track keep its top genre when its audio is re-encoded?

Variants (``training.reencode``, then decoded with ``genrelens.analysis.audio.decode`` exactly as an upload is):
64 kbit/s MP3, a -12 dB gain change, and 44.1 kHz stereo input. For each, the share of test tracks
whose top genre is the same as for the original files, and the track accuracy under the variant.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

from training.files import AudioFile
from training.predictions import Predictions
from training.reencode import variant_files as copies_of

log = logging.getLogger(__name__)

ROBUSTNESS_VARIANTS = ("mp3_64kbps", "gain_minus_12db", "stereo_44100hz")


def robustness(reference: dict[str, Predictions], predict_files, files: list[AudioFile], workers: int = 2) -> dict:
    """Per model: the share of test tracks whose top genre survives each variant, and all three.

    ``reference``: each model's predictions on the original ``files``; ``predict_files(variant_files,
    cache_dir)`` returns the same models' predictions on the re-encoded copies.
    """
    result = {name: {"tracks": len(p.tracks), "variants": {}} for name, p in reference.items()}
    unchanged = {name: set(p.tracks) for name, p in reference.items()}
    with tempfile.TemporaryDirectory() as tmp:
        for variant in ROBUSTNESS_VARIANTS:
            variant_files = copies_of(files, variant, Path(tmp), workers)
            for name, predictions in predict_files(variant_files, Path(tmp) / "cache").items():
                figures, same = compare_tops(reference[name], predictions)
                result[name]["variants"][variant] = figures
                unchanged[name] &= same
                log.info("robustness %s %s: %s", name, variant, figures)
            shutil.rmtree(Path(tmp) / variant)
    for name in result:
        result[name]["same_top_genre_all_variants"] = round(len(unchanged[name]) / max(result[name]["tracks"], 1), 4)
    return result


def _top_genres(predictions: Predictions) -> dict[str, int]:
    return dict(zip(predictions.tracks, predictions.track_prob.argmax(axis=1)))


def compare_tops(reference: Predictions, variant: Predictions) -> tuple[dict, set[str]]:
    """Same top genre and accuracy of ``variant`` over the reference's tracks, and the unchanged tracks."""
    original, tops = _top_genres(reference), _top_genres(variant)
    truth = dict(zip(variant.tracks, variant.track_true))
    scored = [t for t in reference.tracks if t in tops]
    same = {t for t in scored if tops[t] == original[t]}
    correct = sum(int(tops[t] == truth[t]) for t in scored)
    n = max(len(scored), 1)
    return {"same_top_genre": round(len(same) / n, 4), "track_accuracy": round(correct / n, 4), "tracks": len(scored)}, same
