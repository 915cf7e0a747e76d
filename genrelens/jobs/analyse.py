"""One file into the store: decode, look the audio up by its hash and the model's key, analyse only
what is new. The synchronous upload and the job workers both go through ``hear``; the upload then
names its analysis at once, a job worker when it records the file's result (``JobBook.finish``)."""
from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from genrelens.analysis.pipeline import GenreClassifier, audio_hash
from genrelens.jobs.store import AnalysisStore


@dataclass(frozen=True)
class Heard:
    result_id: str
    result: dict  # the API's answer without a filename
    cached: bool  # an earlier result: the same audio by the same model version
    samples: np.ndarray  # the decoded audio (the result's signal, for the pictures)


@dataclass(frozen=True)
class Stored:
    analysis_id: str  # this upload's own analysis
    result: dict
    cached: bool


def hear(classifier: GenreClassifier, store: AnalysisStore, path: str, model: str | None) -> Heard:
    """The result for this file's audio: the stored one, or a new analysis, stored."""
    started = time.perf_counter()
    audio = classifier.decode(path)
    decode_ms = round((time.perf_counter() - started) * 1000, 1)
    fingerprint, key = audio_hash(audio.samples), classifier.model_key(model)
    existing = store.find(fingerprint, key)
    if existing is not None:
        return Heard(existing, store.result_body(existing), True, audio.samples)
    analysis = classifier.analyze_decoded(audio, model, decode_ms)
    result = analysis.to_dict()
    result_id, cached = store.add(result, audio.samples, fingerprint, key, analysis.embedding,
                                  analysis.embedding_source)
    return Heard(result_id, store.result_body(result_id) if cached else result, cached, audio.samples)


def analyse_into_store(classifier: GenreClassifier, store: AnalysisStore, path: str, filename: str,
                       model: str | None) -> Stored:
    heard = hear(classifier, store, path, model)
    analysis_id = store.attach(heard.result_id, filename, heard.samples)
    return Stored(analysis_id, {"filename": filename, **heard.result}, heard.cached)
