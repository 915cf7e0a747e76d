"""One file into the store: decode, look the audio up by its hash and the model's key, analyse only
what is new. The synchronous upload and the job workers both go through here."""
from __future__ import annotations

import time
from dataclasses import dataclass

from genrelens.pipeline import GenreClassifier, audio_hash
from genrelens.store import AnalysisStore


@dataclass(frozen=True)
class Stored:
    analysis_id: str  # this file's own analysis
    result: dict
    cached: bool  # its result is an earlier one's: the same audio by the same model version


def analyse_into_store(classifier: GenreClassifier, store: AnalysisStore, path: str, filename: str,
                       model: str | None) -> Stored:
    started = time.perf_counter()
    audio = classifier.decode(path)
    decode_ms = round((time.perf_counter() - started) * 1000, 1)
    fingerprint, key = audio_hash(audio.samples), classifier.model_key(model)
    existing = store.find(fingerprint, key)
    if existing is not None:
        analysis_id = store.attach(existing, filename, audio.samples)
        return Stored(analysis_id, store.result(analysis_id), cached=True)
    analysis = classifier.analyze_decoded(audio, model, decode_ms)
    result = {"filename": filename, **analysis.to_dict()}
    analysis_id, cached = store.add(result, audio.samples, filename, fingerprint, key)
    return Stored(analysis_id, store.result(analysis_id) if cached else result, cached)
