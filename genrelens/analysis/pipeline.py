"""The pipeline: decode -> 3-second segments -> a model on every segment -> timeline -> Analysis.

Four models can answer, each on every audible segment:

- ``student``: a small CNN distilled from musicnn and its heads (``genrelens.models.student``),
  ~1 ms a segment on the mel spectrogram the pipeline computes anyway;
- ``musicnn`` (the default, the cards' choice): the pretrained musicnn with its linear heads
  (``genrelens.models.heads``), ~24 ms a segment;
- ``mfcc_cnn``: the design card's CNN on MFCC segments;
- ``ensemble``: musicnn's and the MFCC CNN's answers averaged segment by segment.

The tags and the electronic details come from musicnn for ``musicnn`` and ``ensemble``, else from the
student. The timeline is the most likely genre path through the segments' answers
(``genrelens.analysis.timeline``).

The feature functions here are the only ones: training (``training/``) imports them, so the
model is always fed exactly what it was trained on. Their settings travel with the model in
``models/model_card.json``.
"""
from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from genrelens.analysis import musicnn_features, timeline
from genrelens.analysis.audio import DecodedAudio, decode, loop_to, rms
from genrelens.models import DEFAULT_MODEL_DIR
from genrelens.models.heads import ensemble_average
from genrelens.models.mfcc_cnn import ModelCard, load_predictor
from genrelens.models.musicnn import MSD_TAGS, MusicnnModels
from genrelens.models.runtimes import RUNTIMES_FILE
from genrelens.models.student import StudentModel, student_input

log = logging.getLogger(__name__)

DEFAULT_MAX_ANALYSIS_SECONDS = 600.0
TEMPO_WINDOW_S = 60.0
MODEL_NAMES = ("student", "musicnn", "mfcc_cnn", "ensemble")


class AnalysisError(Exception):
    """Audio that decoded but cannot be classified; ``code`` names why (for the API)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class FeatureSettings:
    sample_rate: int = 22050
    n_mfcc: int = 20
    n_fft: int = 2048
    hop_length: int = 512
    n_mels: int = 128
    segment_seconds: float = 3.0
    min_clip_seconds: float = 2.0
    silence_dbfs: float = -60.0  # a segment whose RMS is below this is dropped as silent
    # Extra rows stacked under the MFCCs (a card without these keys predates them: read as 0)
    deltas: int = 2  # 1: + first-order deltas of the MFCCs, 2: + second-order deltas as well
    contrast_bands: int = 6  # > 0: + spectral contrast over this many octave bands (bands + 1 rows)

    @property
    def n_features(self) -> int:
        """Rows of the feature matrix: MFCCs, their deltas, spectral contrast."""
        return self.n_mfcc * (1 + self.deltas) + (self.contrast_bands + 1 if self.contrast_bands else 0)

    @property
    def segment_samples(self) -> int:
        return int(round(self.segment_seconds * self.sample_rate))

    @property
    def frames_per_segment(self) -> int:
        return math.ceil(self.segment_samples / self.hop_length)

    @classmethod
    def from_dict(cls, values: dict) -> "FeatureSettings":
        known = {name: values[name] for name in cls.__dataclass_fields__ if name in values}
        for name in ("deltas", "contrast_bands"):  # model cards older than these fields had neither
            known.setdefault(name, 0)
        return cls(**known)


@dataclass
class Spectral:
    """What one STFT of the signal yields: the model's feature matrix and a few summary features."""

    features: np.ndarray  # (n_features, frames): n_mfcc MFCCs, then any deltas and spectral contrast
    mel_power: np.ndarray  # (n_mels, frames) float32: the mel spectrogram (power) the MFCCs come from
    onset_envelope: np.ndarray  # (frames,)
    centroid_hz: np.ndarray  # (frames,)


@dataclass
class Segments:
    features: np.ndarray  # (n, frames_per_segment, n_features) float32
    start_s: np.ndarray  # (n,)
    end_s: np.ndarray  # (n,)
    silent: np.ndarray  # (n,) bool
    mel: np.ndarray  # (n, frames_per_segment, n_mels) float32: each segment's mel power (the student's input)
    rms: np.ndarray  # (n,): each segment's RMS level


def fit_to_segment(samples: np.ndarray, settings: FeatureSettings) -> np.ndarray:
    """Loop a clip shorter than one segment (but at least ``min_clip_seconds``) to a full segment.

    Looping keeps the clip's own timbre and rhythm in every frame, where zero padding would add
    frames of silence the model never hears in a whole song. The 2-3 s excerpts in the training
    data go through the same function.
    """
    if len(samples) < settings.min_clip_seconds * settings.sample_rate:
        raise AnalysisError(
            "too_short",
            f"The audio is {len(samples) / settings.sample_rate:.1f} s long; "
            f"at least {settings.min_clip_seconds:g} s is needed.",
        )
    if len(samples) >= settings.segment_samples:
        return samples
    return loop_to(samples, settings.segment_samples)


STFT_BLOCK_FRAMES = 2048  # ~47 s of audio per STFT block: bounds the memory of a 10-minute upload


def _padded_slice(signal: np.ndarray, start: int, stop: int) -> np.ndarray:
    """``signal[start:stop]`` with zeros where the range runs past either end (no copy of the rest)."""
    if start >= 0 and stop <= len(signal):
        return signal[start:stop]
    piece = np.zeros(stop - start, dtype=signal.dtype)
    lo, hi = max(start, 0), min(stop, len(signal))
    piece[lo - start : hi - start] = signal[lo:hi]
    return piece


def _magnitude_blocks(signal: np.ndarray, settings: FeatureSettings):
    """|STFT| in blocks of frames: the same frames as one centred ``librosa.stft`` over the signal."""
    import librosa

    n_fft, hop = settings.n_fft, settings.hop_length
    n_frames = 1 + len(signal) // hop
    for first in range(0, n_frames, STFT_BLOCK_FRAMES):
        last = min(first + STFT_BLOCK_FRAMES, n_frames)
        # frame t is centred on sample t * hop (librosa's zero-padded centring)
        piece = _padded_slice(signal, first * hop - n_fft // 2, (last - 1) * hop + n_fft // 2 + n_fft % 2)
        yield np.abs(librosa.stft(piece, n_fft=n_fft, hop_length=hop, center=False, dtype=np.complex64))


def spectral_features(signal: np.ndarray, settings: FeatureSettings, model_rows: bool = True) -> Spectral:
    """The model's feature matrix (and the by-products the summary needs) from one STFT over the signal.

    Rows: ``n_mfcc`` MFCCs; with ``deltas`` their first (and second) time derivatives; with
    ``contrast_bands`` the spectral contrast (peak-to-valley in dB per octave band). The STFT is
    taken in blocks, so memory stays flat however long the signal; every per-frame quantity is
    computed per block and only the small per-frame results are joined. ``model_rows=False`` skips
    the MFCC CNN's rows (``features`` then has none) for when only musicnn listens.
    """
    import librosa

    sr = settings.sample_rate
    mel_basis = librosa.filters.mel(sr=sr, n_fft=settings.n_fft, n_mels=settings.n_mels)
    frequencies = librosa.fft_frequencies(sr=sr, n_fft=settings.n_fft).astype(np.float32)
    mel_parts, centroid_parts, contrast_parts = [], [], []
    for magnitude in _magnitude_blocks(signal, settings):
        mel_parts.append(mel_basis @ (magnitude * magnitude))
        centroid_parts.append((frequencies @ magnitude) / np.maximum(magnitude.sum(axis=0), np.finfo(np.float32).tiny))
        if settings.contrast_bands and model_rows:
            contrast_parts.append(librosa.feature.spectral_contrast(
                S=magnitude, sr=sr, n_fft=settings.n_fft, n_bands=settings.contrast_bands))
    mel_power = np.concatenate(mel_parts, axis=1).astype(np.float32, copy=False)
    mel_db = librosa.power_to_db(mel_power)
    onset = librosa.onset.onset_strength(S=mel_db, sr=sr, hop_length=settings.hop_length)
    if not model_rows:
        return Spectral(np.zeros((0, mel_db.shape[1]), np.float32), mel_power, onset, np.concatenate(centroid_parts))
    mfcc = librosa.feature.mfcc(S=mel_db, n_mfcc=settings.n_mfcc)
    rows = [mfcc]
    for order in range(1, settings.deltas + 1):
        rows.append(librosa.feature.delta(mfcc, order=order, width=9, mode="nearest"))
    if contrast_parts:
        rows.append(np.concatenate(contrast_parts, axis=1))
    return Spectral(np.concatenate(rows).astype(np.float32), mel_power, onset, np.concatenate(centroid_parts))


def slice_segments(signal: np.ndarray, spectral: Spectral, settings: FeatureSettings, duration_s: float) -> Segments:
    """Cut the whole-signal feature and mel matrices into segments that start every ``segment_seconds``."""
    frames = settings.frames_per_segment
    step = settings.segment_samples
    # A segment whose samples are all in the signal may need up to two frames past the last one
    # (130 frames span 3.02 s): repeat the edge frame rather than lose the segment.
    features = np.pad(spectral.features, ((0, 0), (0, 2)), mode="edge")
    mel = np.pad(spectral.mel_power, ((0, 0), (0, 2)), mode="edge")
    starts = list(range(0, len(signal) - step + 1, step))
    feature_blocks, mel_blocks, levels = [], [], []
    for start in starts:
        first = round(start / settings.hop_length)
        feature_blocks.append(features[:, first : first + frames].T)
        mel_blocks.append(mel[:, first : first + frames].T)
        levels.append(rms(signal[start : start + step]))
    start_s = np.array(starts, dtype=np.float64) / settings.sample_rate
    levels = np.array(levels, dtype=np.float64)

    def stack(blocks: list, width: int) -> np.ndarray:
        return np.stack(blocks).astype(np.float32) if blocks else np.zeros((0, frames, width), np.float32)

    return Segments(
        features=stack(feature_blocks, features.shape[0]),
        start_s=start_s,
        end_s=np.minimum(start_s + settings.segment_seconds, duration_s),
        silent=levels < 10 ** (settings.silence_dbfs / 20),
        mel=stack(mel_blocks, mel.shape[0]),
        rms=levels,
    )


def extract_features(samples: np.ndarray, settings: FeatureSettings,
                     model_rows: bool = True) -> tuple[np.ndarray, Spectral, Segments]:
    """Signal (looped if short), its spectral features and its MFCC segments."""
    signal = fit_to_segment(samples, settings)
    spectral = spectral_features(signal, settings, model_rows)
    segments = slice_segments(signal, spectral, settings, len(samples) / settings.sample_rate)
    return signal, spectral, segments


def mfcc_segments(samples: np.ndarray, settings: FeatureSettings) -> Segments:
    """The model's input for a decoded clip: used by training and serving alike."""
    return extract_features(samples, settings)[2]


@dataclass
class Analysis:
    duration_s: float
    analyzed_s: float
    capped: bool  # True when the file is longer than what was analysed (MAX_ANALYSIS_SECONDS)
    genre: str
    confidence: float
    genres: list[dict]
    segments: list[dict]
    tags: list[dict]  # the 50 MSD style tags, strongest first (empty when musicnn is off)
    electronic: dict | None  # styles and nearest guide genres (genrelens.models.electronic); None when musicnn is off
    features: dict
    model: dict
    timing_ms: dict = field(default_factory=dict)
    # "more like this": the track's unit vector in the nearest-genre index's space (musicnn's, or the
    # student's estimate of it) and which network made it; kept beside the answer, never in its JSON
    embedding: np.ndarray | None = field(default=None, repr=False)
    embedding_source: str | None = None

    def to_dict(self) -> dict:
        answer = asdict(self)
        del answer["embedding"], answer["embedding_source"]
        return answer


@dataclass
class SegmentAnswers:
    """What musicnn with its heads, or its student, says about each audible segment."""

    genres: np.ndarray  # (n, n_genres)
    tags: np.ndarray  # (n, 50)
    styles: np.ndarray  # (n, 7)
    projections: np.ndarray  # (n, m): the nearest-genre index's space


class GenreClassifier:
    """Loads the models once; ``analyze_file`` runs the whole pipeline for one file.

    Every model answers every audible segment. The default is the musicnn heads' choice (the card's
    ``default_model``); when that is ``musicnn``, the student serves in its place if its card says it
    scored as well by the rule that chose musicnn (``serves_default``, ``training/distill.py``).
    """

    def __init__(self, model_dir: Path | str = DEFAULT_MODEL_DIR, max_seconds: float = DEFAULT_MAX_ANALYSIS_SECONDS,
                 decode_timeout_s: float = 60.0, default_model: str | None = None, musicnn_threads: int = 1,
                 runtime: str = "auto"):
        """``runtime``: ``MODEL_RUNTIME`` (``genrelens.models.runtimes``), the engine of each network."""
        model_dir = Path(model_dir)
        self.card = ModelCard.load(model_dir)
        self.settings = FeatureSettings.from_dict(self.card.features)
        self.predictor = load_predictor(model_dir, self.card, runtime=runtime)
        self.musicnn = MusicnnModels.load(model_dir, self.card.genres, musicnn_threads, runtime)
        self.student = StudentModel.load(model_dir, self.card.genres, runtime=runtime) if self.musicnn else None
        self.weights_digest = files_digest(model_dir)
        self.max_seconds = float(max_seconds)
        self.decode_timeout_s = float(decode_timeout_s)
        self.switch_cost = timeline.DEFAULT_SWITCH_COST
        self.models = tuple(name for name in MODEL_NAMES if name == "mfcc_cnn" or
                            (name == "student" and self.student) or (name in ("musicnn", "ensemble") and self.musicnn))
        if default_model is None:
            default_model = self.musicnn.card.get("default_model", "musicnn") if self.musicnn else "mfcc_cnn"
            if default_model == "musicnn" and self.student and self.student.card.raw.get("serves_default"):
                default_model = "student"
        if default_model not in self.models:
            raise ValueError(f"default model {default_model!r} is not one of {self.models}")
        self.default_model = default_model

    @property
    def genres(self) -> list[str]:
        return self.card.genres

    def release(self) -> None:
        """Free the engines' sessions and interpreters, which must not cross a fork (gunicorn's master,
        before forking): each process makes its own on first use."""
        for model in (self.musicnn, self.student):
            if model:
                model.network.release()
        if hasattr(self.predictor, "release"):
            self.predictor.release()

    def warm_up(self) -> None:
        """Compile librosa's numba code and the models' kernels now, not in the first request."""
        rng = np.random.default_rng(0)
        noise = (0.1 * rng.standard_normal(self.settings.segment_samples * 2)).astype(np.float32)
        for model in self.models:  # every network's kernels, whichever model the first request picks
            self.analyze_signal(noise, len(noise) / self.settings.sample_rate, model)

    def decode(self, path: str) -> DecodedAudio:
        return decode(path, self.settings.sample_rate, self.max_seconds, self.decode_timeout_s)

    def model_version(self, model: str) -> str:
        """The version on the card of the model that answered (the ensemble's: both cards', MFCC CNN first)."""
        versions = {"mfcc_cnn": self.card.version,
                    "musicnn": self.musicnn.card.get("version") if self.musicnn else None,
                    "student": self.student.card.raw.get("version") if self.student else None}
        if model == "ensemble":
            return "+".join(v for v in (versions["mfcc_cnn"], versions["musicnn"]) if v)
        return versions.get(model) or self.card.version

    def model_key(self, model: str | None = None) -> str:
        """Names the model, the exact files and the engines it runs on: equal keys give equal answers for
        equal audio (engines agree only to within rounding, so an answer is not reused across them)."""
        model = model or self.default_model
        key = f"{model}@{self.card.version}+{self.weights_digest}"
        return key if self._backend(model) == "tflite" else f"{key}/{self._backend(model)}"

    def analyze_file(self, path: str, model: str | None = None) -> tuple[Analysis, np.ndarray]:
        """Analyse one file; returns the result and the decoded signal (for the pictures)."""
        started = time.perf_counter()
        audio = self.decode(path)
        return self.analyze_decoded(audio, model, decode_ms=_ms(time.perf_counter() - started)), audio.samples

    def analyze_decoded(self, audio: DecodedAudio, model: str | None = None, decode_ms: float = 0.0) -> Analysis:
        started = time.perf_counter()
        analysis = self.analyze_signal(audio.samples, audio.source_duration_s, model, capped=audio.capped)
        analysis.timing_ms = {"decode": decode_ms, **analysis.timing_ms}
        analysis.timing_ms["total"] = _ms(decode_ms / 1000 + time.perf_counter() - started)
        return analysis

    def musicnn_answers(self, signal: np.ndarray, starts_s: np.ndarray) -> SegmentAnswers:
        """musicnn itself on every audible segment (~24 ms of CPU each) and its heads."""
        patches = musicnn_features.patches(signal, self.settings.sample_rate, starts_s,
                                           self.musicnn.card.get("input_level_dbfs"))
        outputs = self.musicnn.network.run(patches)
        styles, projections = self.musicnn.electronic.from_pooled(outputs["pooled"])
        return SegmentAnswers(self.musicnn.head.predict(outputs), outputs["tags"], styles, projections)

    def student_answers(self, segments: Segments, audible: np.ndarray) -> SegmentAnswers:
        out = self.student.network.run(student_input(segments.mel[audible], segments.rms[audible], self.student.card.level_dbfs))
        return SegmentAnswers(out["genres"], out["tags"], out["styles"], out["embedding"])

    def network_inputs(self, samples: np.ndarray) -> dict[str, np.ndarray]:
        """What each network is fed for a decoded signal, as ``analyze_signal`` feeds it (audible segments
        only), by the names of ``models/runtimes.json``: for comparing engines on real inputs."""
        signal, _, segments = extract_features(samples, self.settings, model_rows=True)
        audible = ~segments.silent
        inputs = {"mfcc_cnn": segments.features[audible]}
        if self.musicnn:
            inputs["musicnn"] = musicnn_features.patches(signal, self.settings.sample_rate, segments.start_s[audible],
                                                         self.musicnn.card.get("input_level_dbfs"))
        if self.student:
            inputs["student"] = student_input(segments.mel[audible], segments.rms[audible], self.student.card.level_dbfs)
        return inputs

    def _backend(self, model: str) -> str:
        """What ran the model that answered: each network's engine (``tflite`` for LiteRT; the heads on numpy)."""
        musicnn = self.musicnn.network.label if self.musicnn else None
        student = self.student.network.label if self.student else musicnn
        parts = {"mfcc_cnn": [self.predictor.backend], "musicnn": [musicnn], "student": [student],
                 "ensemble": [self.predictor.backend, musicnn]}[model]
        return "+".join(dict.fromkeys(parts))

    def analyze_signal(self, samples: np.ndarray, source_duration_s: float, model: str | None = None,
                       capped: bool = False) -> Analysis:
        """``capped``: the decoder's word (``DecodedAudio.capped``) that the audio went on past what it gave."""
        model = model or self.default_model
        if model not in self.models:
            raise ValueError(f"unknown model {model!r}; choose from {self.models}")
        settings = self.settings
        started = time.perf_counter()
        duration_s = len(samples) / settings.sample_rate
        signal, spectral, segments = extract_features(samples, settings, model_rows=model in ("mfcc_cnn", "ensemble"))
        audible = ~segments.silent
        if not audible.any():
            raise AnalysisError("silent", "The audio is silent: there is nothing to classify.")
        summary = summary_features(signal, spectral, settings)
        timing = {"features": _ms(time.perf_counter() - started)}
        models_started = time.perf_counter()
        answers = None  # musicnn's or the student's: the tags and the electronic details whichever model answers
        if model in ("musicnn", "ensemble"):
            answers = self.musicnn_answers(signal, segments.start_s[audible])
        elif self.student:
            answers = self.student_answers(segments, audible)
        if model in ("mfcc_cnn", "ensemble"):
            probabilities = self.predictor.predict(segments.features[audible])
            if model == "ensemble":
                weight = float(self.musicnn.card.get("ensemble_weight", 0.5))
                probabilities = ensemble_average(answers.genres, probabilities, weight)
        else:
            probabilities = answers.genres
        timing["inference"] = _ms(time.perf_counter() - models_started)

        track = probabilities.mean(axis=0)
        track = track / track.sum()
        order = np.argsort(-track)
        genres = [{"genre": self.genres[i], "probability": round(float(track[i]), 4)} for i in order]
        path = timeline.smooth(probabilities, self.switch_cost)
        segment_entries = [
            {
                "start_s": round(float(start), 2),
                "end_s": round(float(end), 2),
                "genre": self.genres[g],
                "probability": round(float(p[g]), 4),
                "own_genre": self.genres[int(np.argmax(p))],
            }
            for start, end, p, g in zip(segments.start_s[audible], segments.end_s[audible], probabilities, path)
        ]
        tags, electronic, embedding = [], None, None
        if answers is not None:
            embedding = track_vector(answers.projections)
            tag_probabilities = answers.tags.mean(axis=0)
            tags = [{"tag": MSD_TAGS[i], "probability": round(float(tag_probabilities[i]), 4)}
                    for i in np.argsort(-tag_probabilities)]
            electronic = self.musicnn.electronic.describe(answers.styles, answers.projections)
        return Analysis(
            duration_s=round(float(max(source_duration_s, duration_s)), 2),
            analyzed_s=round(duration_s, 2),
            capped=bool(capped),
            genre=genres[0]["genre"],
            confidence=genres[0]["probability"],
            genres=genres,
            segments=segment_entries,
            tags=tags,
            electronic=electronic,
            features=summary,
            model={"name": model, "version": self.model_version(model), "backend": self._backend(model),
                   "tags_from": None if answers is None else ("student" if model in ("student", "mfcc_cnn") else "musicnn")},
            timing_ms=timing,
            embedding=embedding,
            embedding_source=None if embedding is None else ("musicnn" if model in ("musicnn", "ensemble") else "student"),
        )


def track_vector(projections: np.ndarray) -> np.ndarray:
    """One unit float32 vector for a track from its segments' nearest-genre projections (their mean: the
    projection is linear, so it is the projection of the mean pooled features). docs/performance.md has
    the measurement that chose this space over musicnn's tags, its other layers and the MFCCs."""
    mean = np.asarray(projections, np.float64).mean(axis=0)
    return (mean / max(float(np.linalg.norm(mean)), 1e-12)).astype(np.float32)


def summary_features(signal: np.ndarray, spectral: Spectral, settings: FeatureSettings) -> dict:
    """Tempo, spectral centroid, RMS and zero-crossing rate of the analysed audio."""
    import librosa

    # Tempo from at most TEMPO_WINDOW_S of onset envelope around the middle: the autocorrelation
    # over a whole long song costs ~150 ms and says nothing more about its beat.
    frames = int(TEMPO_WINDOW_S * settings.sample_rate / settings.hop_length)
    onset = spectral.onset_envelope
    middle = max(0, (len(onset) - frames) // 2)
    tempo = librosa.feature.tempo(
        onset_envelope=onset[middle : middle + frames], sr=settings.sample_rate, hop_length=settings.hop_length
    )
    signs = np.signbit(signal)
    return {
        "tempo_bpm": round(float(tempo[0]), 1),
        "spectral_centroid_hz": round(float(np.mean(spectral.centroid_hz)), 1),
        "rms": round(rms(signal), 4),
        "zero_crossing_rate": round(float(np.count_nonzero(signs[1:] != signs[:-1]) / (len(signal) - 1)), 4),
    }


def audio_hash(samples: np.ndarray) -> str:
    """A fingerprint of the decoded audio: the same music in another container or with other tags
    hashes the same; any change to the samples (another cap, another decoder) does not."""
    return hashlib.blake2b(memoryview(np.ascontiguousarray(samples, np.float32)).cast("B"), digest_size=16).hexdigest()


def files_digest(folder: Path) -> str:
    """A short digest of every file in the model folder: retraining any model changes it. Not of
    ``runtimes.json``: which engine ran is in ``model_key`` itself, and a new bench record that changes
    no engine must not make every stored answer look stale."""
    digest = hashlib.blake2b(digest_size=6)
    for path in sorted(p for p in folder.iterdir() if p.is_file() and p.name != RUNTIMES_FILE):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)
