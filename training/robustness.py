"""Robustness of the served model: does a TEST track keep its top genre when its audio is re-encoded?

Variants (made with the system ffmpeg, decoded with ``audio.decode`` exactly as an upload is):
64 kbit/s MP3, a -12 dB gain change, and 44.1 kHz stereo input. For each, the share of test tracks
whose top genre is the same as for the original files, and the track accuracy under the variant.
"""
from __future__ import annotations

import logging
import subprocess
import tempfile
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from audio import decode, ffmpeg_binary
from music_genre_classifier import AnalysisError, FeatureSettings, mfcc_segments

log = logging.getLogger(__name__)

VARIANTS: dict[str, tuple[list[str], str]] = {
    "mp3_64kbps": (["-ac", "1", "-codec:a", "libmp3lame", "-b:a", "64k"], ".mp3"),
    "gain_minus_12db": (["-af", "volume=-12dB", "-codec:a", "pcm_s16le"], ".wav"),
    "stereo_44100hz": (["-ac", "2", "-ar", "44100", "-codec:a", "pcm_s16le"], ".wav"),
}


def encode_variant(path: str, variant: str, out_dir: str) -> Path:
    """``path`` re-encoded as ``variant`` into ``out_dir`` (same stem, so the track id is kept)."""
    options, suffix = VARIANTS[variant]
    out = Path(out_dir) / f"{Path(path).stem}.{variant}{suffix}"
    command = [ffmpeg_binary(), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", path, *options, str(out)]
    subprocess.run(command, check=True, capture_output=True, timeout=120)
    return out


def _variant_segments(args: tuple[str, str, FeatureSettings, str]) -> np.ndarray | None:
    path, variant, settings, tmp_dir = args
    out = encode_variant(path, variant, tmp_dir)
    try:
        audio = decode(str(out), settings.sample_rate, 600.0)
        segments = mfcc_segments(audio.samples, settings)
    except AnalysisError:
        return None
    finally:
        out.unlink(missing_ok=True)
    return segments.features[~segments.silent]


def robustness(predictor, genres: list[str], files, reference_prob: dict[str, np.ndarray],
               settings: FeatureSettings, workers: int = 2) -> dict:
    """``reference_prob``: track -> track-level probabilities on the original files (from evaluate)."""
    index = {g: i for i, g in enumerate(genres)}
    genre_of = {f.track: f.genre for f in files}
    result: dict = {"tracks": len(reference_prob), "variants": {}}
    unchanged_all = {t: True for t in reference_prob}
    with tempfile.TemporaryDirectory() as tmp, ProcessPoolExecutor(max_workers=workers) as pool:
        for variant in VARIANTS:
            jobs = [(str(f.path), variant, settings, tmp) for f in files]
            by_track: dict[str, list[np.ndarray]] = defaultdict(list)
            for f, segs in zip(files, pool.map(_variant_segments, jobs, chunksize=4)):
                if segs is not None and len(segs):
                    by_track[f.track].append(predictor.predict(segs))
            same, correct, scored = 0, 0, 0
            for track, reference in reference_prob.items():
                if track not in by_track:
                    unchanged_all[track] = False
                    continue
                top = int(np.concatenate(by_track[track]).mean(axis=0).argmax())
                scored += 1
                same += top == int(reference.argmax())
                correct += top == index[genre_of[track]]
                if top != int(reference.argmax()):
                    unchanged_all[track] = False
            result["variants"][variant] = {
                "same_top_genre": round(same / max(scored, 1), 4),
                "track_accuracy": round(correct / max(scored, 1), 4),
                "tracks": scored,
            }
            log.info("robustness %s: top genre unchanged for %.1f%% of %d test tracks, accuracy %.3f",
                     variant, 100 * same / max(scored, 1), scored, correct / max(scored, 1))
    result["same_top_genre_all_variants"] = round(float(np.mean(list(unchanged_all.values()))), 4) if unchanged_all else None
    return result


def compare_tops(reference, variant) -> dict:
    """Share of the reference's tracks whose top genre is unchanged in ``variant`` (both ``Predictions``)."""
    tops = dict(zip(variant.tracks, variant.track_prob.argmax(axis=1)))
    truth = dict(zip(variant.tracks, variant.track_true))
    scored = [t for t in reference.tracks if t in tops]
    original = dict(zip(reference.tracks, reference.track_prob.argmax(axis=1)))
    same = sum(int(tops[t] == original[t]) for t in scored)
    correct = sum(int(tops[t] == truth[t]) for t in scored)
    return {"same_top_genre": round(same / max(len(scored), 1), 4),
            "track_accuracy": round(correct / max(len(scored), 1), 4), "tracks": len(scored)}
