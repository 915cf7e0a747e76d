#!/usr/bin/env python
"""Where the time of one upload goes: startup, each pipeline step, the web layer and the pictures.

    .venv/bin/python bench/profile_upload.py              # from the repo root; about 1-2 minutes
    .venv/bin/python bench/profile_upload.py --top 30     # longer cProfile listings

In-process (no gunicorn), with the same audio as bench/bench_upload.py:
  1. startup, in a fresh interpreter: each import, the model load, the first and second warm-up;
  2. each step of the pipeline timed alone (median of a few runs), with the library calls and settings
     the code uses, plus the obvious alternatives (in-process decode, tempo on an excerpt);
  3. the pictures: loading the stored signal, the numbers, matplotlib;
  4. cProfile of one whole upload per file kind through Flask's test client, and of each picture.
Only the stdlib (cProfile) and the venv; prints to stdout.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from bench_upload import FFMPEG, FILES, PICTURES, make_audio  # noqa: E402

STARTUP = r"""
import json, sys, time
sys.path.insert(0, sys.argv[1])
marks, t = [], time.perf_counter()
def mark(name):
    global t
    now = time.perf_counter(); marks.append((name, round((now - t) * 1000, 1))); t = now
import numpy; mark("import numpy")
import flask; mark("import flask")
import gunicorn.app.wsgiapp; mark("import gunicorn")
import matplotlib.pyplot; mark("import matplotlib.pyplot (visualizations)")
import pydub; mark("import pydub (audio)")
from ai_edge_litert.interpreter import Interpreter; mark("import ai_edge_litert")
import app; mark("import app (the rest)")
import librosa.core.spectrum; mark("librosa.core.spectrum (lazy: first used in warm_up; scipy, numba)")
import librosa.feature.spectral, librosa.feature.rhythm, librosa.onset; mark("librosa.feature + onset (lazy; constantq, pitch: numba)")
from music_genre_classifier import GenreClassifier
classifier = GenreClassifier(); mark("GenreClassifier(): model card + TFLite interpreter")
classifier.warm_up(); mark("warm_up(), first: numba compile/cache load, first calls")
classifier.warm_up(); mark("warm_up(), second (what a warm call costs)")
application = app.create_app({"ANALYSIS_DIR": sys.argv[2], "UPLOAD_DIR": sys.argv[2]}); mark("create_app() again (model + warm-up again)")
print(json.dumps(marks))
"""


def timed(fn, repeat: int) -> tuple[float, object]:
    """Median milliseconds over ``repeat`` calls, and the last result."""
    times, result = [], None
    for _ in range(repeat):
        started = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def section(title: str) -> None:
    print(f"\n## {title}\n")


def startup(tmp: Path) -> None:
    section("Startup in a fresh interpreter (what gunicorn --preload does before it binds)")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    bare = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", STARTUP, str(ROOT), str(tmp / "startup-store")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    total = (time.perf_counter() - started) * 1000
    if done.returncode:
        print(done.stderr[-2000:])
        return
    print(f"{'python -c pass':62s} {bare:8.0f} ms")
    for name, ms in json.loads(done.stdout.strip().splitlines()[-1]):
        print(f"{name:62s} {ms:8.0f} ms")
    print(f"{'whole subprocess':62s} {total:8.0f} ms")


def pipeline_steps(files: dict[str, Path], classifier, store, repeat: int) -> dict[str, np.ndarray]:
    import librosa
    import soundfile
    import soxr

    from audio import decode
    from music_genre_classifier import fit_to_segment, slice_segments, spectral_features, summary_features

    s = classifier.settings
    signals = {}
    section(f"Pipeline steps, median of {repeat} (ms); settings {s}")
    rows = []
    for kind, path in files.items():
        label = FILES[kind][0]
        r = repeat if FILES[kind][1] <= 30 else max(1, repeat // 2)
        row: dict[str, float] = {}
        row["ffmpeg start (ffmpeg -version)"], _ = timed(
            lambda: subprocess.run([FFMPEG, "-version"], capture_output=True, check=True), r)
        row["ffmpeg decode only (-f null)"], _ = timed(lambda: subprocess.run(
            [FFMPEG, "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, check=True), r)
        row["DECODE: audio.decode (ffmpeg -> mono 22.05k pipe)"], audio = timed(
            lambda: decode(str(path), s.sample_rate, classifier.max_seconds), r)

        try:
            import imageio_ffmpeg

            static = imageio_ffmpeg.get_ffmpeg_exe()
        except (ImportError, RuntimeError):
            static = None
        if static:
            import audio as audio_module

            original = audio_module.ffmpeg_binary
            audio_module.ffmpeg_binary = lambda: static
            try:
                row["  alt: same, static imageio-ffmpeg binary"], alt_static = timed(
                    lambda: decode(str(path), s.sample_rate, classifier.max_seconds), r)
                row["  static ffmpeg start (-version)"], _ = timed(
                    lambda: subprocess.run([static, "-version"], capture_output=True, check=True), r)
            finally:
                audio_module.ffmpeg_binary = original
            n = min(len(alt_static.samples), len(audio.samples))
            row["  (static vs system: max |diff| x1000)"] = float(
                np.max(np.abs(alt_static.samples[:n] - audio.samples[:n]))) * 1000

        def in_process():
            data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
            return soxr.resample(data.mean(axis=1), rate, s.sample_rate, quality="HQ")
        row["  alt: soundfile.read + soxr HQ, in-process"], alt = timed(in_process, r)
        samples = audio.samples
        signals[kind] = samples
        n = min(len(alt), len(samples))
        row["  (alt vs ffmpeg: max |diff| x1000)"] = float(np.max(np.abs(alt[:n] - samples[:n]))) * 1000 if n else float("nan")
        signal = fit_to_segment(samples, s)
        row["FEATURES: spectral_features (all below)"], spectral = timed(lambda: spectral_features(signal, s), r)
        row["  stft complex64 + abs"], mag = timed(lambda: np.abs(librosa.stft(
            signal, n_fft=s.n_fft, hop_length=s.hop_length, dtype=np.complex64)), r)
        row["  spectral_centroid(S)"], _ = timed(lambda: librosa.feature.spectral_centroid(S=mag, sr=s.sample_rate), r)
        row["  melspectrogram(S=mag**2)"], mel = timed(lambda: librosa.feature.melspectrogram(
            S=mag ** 2, sr=s.sample_rate, n_mels=s.n_mels), r)
        row["  power_to_db"], mel_db = timed(lambda: librosa.power_to_db(mel), r)
        row["  mfcc(S=mel_db)"], _ = timed(lambda: librosa.feature.mfcc(S=mel_db, n_mfcc=s.n_mfcc), r)
        row["  onset_strength(S=mel_db)"], _ = timed(lambda: librosa.onset.onset_strength(
            S=mel_db, sr=s.sample_rate, hop_length=s.hop_length), r)
        row["  slice_segments (+ silence RMS per segment)"], segments = timed(
            lambda: slice_segments(signal, spectral.mfcc, s, len(samples) / s.sample_rate), r)
        row["  summary_features (tempo, rms, zcr)"], _ = timed(lambda: summary_features(signal, spectral, s), r)
        row["    tempo on the whole onset envelope"], _ = timed(lambda: librosa.feature.tempo(
            onset_envelope=spectral.onset_envelope, sr=s.sample_rate, hop_length=s.hop_length), r)
        excerpt = spectral.onset_envelope[: int(30 * s.sample_rate / s.hop_length)]
        row["    alt: tempo on the first 30 s of the envelope"], _ = timed(lambda: librosa.feature.tempo(
            onset_envelope=excerpt, sr=s.sample_rate, hop_length=s.hop_length), r)
        signs = np.signbit(signal)
        row["    rms + zcr"], _ = timed(lambda: (np.sqrt(np.mean(signal.astype(np.float64) ** 2)),
                                                np.mean(signs[1:] != signs[:-1])), r)
        batch = segments.mfcc[~segments.silent]
        row["INFERENCE: predictor.predict (all segments, 1 batch)"], _ = timed(lambda: classifier.predictor.predict(batch), r)
        row["  segments in the batch"] = float(len(batch))
        row["WEB: analyze_file total (decode+features+inference)"], (analysis, _) = timed(
            lambda: classifier.analyze_file(str(path)), r)
        result = {"filename": path.name, **analysis.to_dict()}
        row["  store.put (float16 npy + json + prune)"], _ = timed(lambda: store.put(store.new_id(), result, samples), r)
        row["  json.dumps(result)"], _ = timed(lambda: json.dumps(result), r)
        rows.append((label, row))
    names = list(rows[0][1])
    print(f"{'step':62s} " + " ".join(f"{label:>10s}" for label, _ in rows))
    for name in names:
        print(f"{name:62s} " + " ".join(f"{row[name]:10.1f}" for _, row in rows))
    return signals


def pictures(signals: dict[str, np.ndarray], classifier, store, repeat: int) -> None:
    import librosa
    import matplotlib.pyplot as plt

    import visualizations as v

    sr = classifier.settings.sample_rate
    section(f"Pictures, median of {repeat} (ms)")
    rows = []
    for kind, samples in signals.items():
        if kind == "wav_30":
            continue
        analysis_id = store.new_id()
        store.put(analysis_id, {}, samples)
        row: dict[str, float] = {}
        row["store.signal (np.load float16 -> float32)"], signal = timed(lambda: store.signal(analysis_id), repeat)
        hop = v._stft_hop(signal)
        row["  STFT hop for the pictures (samples)"] = float(hop)
        row["  spectrogram numbers: stft + amplitude_to_db"], _ = timed(lambda: librosa.amplitude_to_db(
            np.abs(librosa.stft(signal, n_fft=2048, hop_length=hop)), ref=np.max), repeat)
        row["  mel numbers: melspectrogram(y) + power_to_db"], _ = timed(lambda: librosa.power_to_db(
            librosa.feature.melspectrogram(y=signal, sr=sr, n_fft=2048, hop_length=hop, n_mels=128), ref=np.max), repeat)
        row["  mfcc numbers: mfcc(y) (recomputes the mel)"], _ = timed(lambda: librosa.feature.mfcc(
            y=signal, sr=sr, n_mfcc=13, n_fft=2048, hop_length=hop), repeat)
        matrix = np.random.default_rng(0).standard_normal((1025, 1200)).astype(np.float32)

        def draw_only():
            fig, ax = plt.subplots(figsize=v.FIGSIZE)
            shown = ax.imshow(matrix, origin="lower", aspect="auto", cmap="magma", interpolation="nearest")
            fig.colorbar(shown, ax=ax, pad=0.01)
            return fig, ax

        def draw_tight():
            fig, ax = draw_only()
            fig.tight_layout()
            plt.close(fig)

        def draw_save():
            fig, ax = draw_only()
            fig.tight_layout()
            buffer = io.BytesIO()
            fig.savefig(buffer, format="png", dpi=v.DPI)
            plt.close(fig)
        row["  matplotlib: figure + imshow(1025x1200) + colorbar"], _ = timed(lambda: plt.close(draw_only()[0]), repeat)
        row["  matplotlib: ... + tight_layout"], _ = timed(draw_tight, repeat)
        row["  matplotlib: ... + tight_layout + savefig png"], _ = timed(draw_save, repeat)
        for picture in PICTURES:
            row[f"render('{picture}') total"], png = timed(lambda: v.render(picture, signal, sr), repeat)
        rows.append((FILES[kind][0], row))
    names = list(rows[0][1])
    print(f"{'step':62s} " + " ".join(f"{label:>10s}" for label, _ in rows))
    for name in names:
        print(f"{name:62s} " + " ".join(f"{row[name]:10.1f}" for _, row in rows))


def profile(label: str, fn, top: int) -> None:
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    fn()
    profiler.disable()
    print(f"\n### {label}: {(time.perf_counter() - started) * 1000:.0f} ms wall (under cProfile)\n")
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(top)
    stats.sort_stats("tottime").print_stats(max(8, top // 2))
    text = out.getvalue()
    # keep the tables, drop pstats' preamble lines
    print("\n".join(line for line in text.splitlines() if line.strip() and not line.startswith(("   Ordered", "   List reduced"))))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per step (the 5-min file: half)")
    parser.add_argument("--top", type=int, default=18, help="rows per cProfile listing")
    parser.add_argument("--skip-startup", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    try:
        print(f"# Profile of one upload ({time.strftime('%Y-%m-%d %H:%M:%S')}, load average "
              f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())}, {len(os.sched_getaffinity(0))} CPUs)")
        files = make_audio(tmp / "audio")
        if not args.skip_startup:
            startup(tmp)
        os.chdir(ROOT)
        import app as app_module

        application = app_module.create_app({"ANALYSIS_DIR": str(tmp / "store"), "UPLOAD_DIR": str(tmp)})
        services = application.extensions["genre"]
        classifier, store = services["classifier"], services["store"]
        signals = pipeline_steps(files, classifier, store, args.repeat)
        pictures(signals, classifier, store, max(3, args.repeat))

        section("cProfile: one upload per file kind through Flask's test client (cumulative, then own time)")
        client = application.test_client()
        ids = {}
        for kind, path in files.items():
            def send(kind=kind, path=path):
                with open(path, "rb") as handle:
                    response = client.post("/file-upload", data={"file": (handle, path.name)},
                                           content_type="multipart/form-data")
                assert response.status_code == 200, response.get_data(as_text=True)[:300]
                ids[kind] = response.get_json()["id"]
            send()  # once unprofiled (first-call effects), then profiled
            profile(f"POST /file-upload, {FILES[kind][0]}", send, args.top)
        section("cProfile: each picture, first render of a fresh 30-s analysis")
        for picture in PICTURES:
            def get(picture=picture):
                response = client.get(f"/analyses/{ids['mp3_30']}/{picture}.png")
                assert response.status_code == 200
            profile(f"GET {picture}.png", get, max(10, args.top // 2))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
