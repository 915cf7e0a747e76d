"""Where the time of one upload goes: startup, each pipeline step, the web layer and the pictures.

    .venv/bin/python bench/profile_upload.py              # from the repo root; about 1-2 minutes
    .venv/bin/python bench/profile_upload.py --top 30     # longer cProfile listings
    .venv/bin/python bench/profile_upload.py --cold-start 3   # only: gunicorn start -> /healthz, cold numba cache

In-process (no gunicorn), with the same audio as bench/bench_upload.py:
  1. startup, in a fresh interpreter: each import, the model load, the first and second warm-up;
  2. each step of the pipeline timed alone (median of a few runs), with the library calls and settings
     the code uses, plus the obvious alternatives (in-process decode, tempo on an excerpt);
  3. the pictures: loading the stored signal, the numbers, each render, matplotlib as it was;
  4. cProfile of one whole upload per file kind through Flask's test client, and of each picture.
``--cold-start N`` measures instead the first start of a fresh install: seconds from starting gunicorn
(as `make run` does) to the first 200 from /healthz, with an empty numba cache (``NUMBA_CACHE_DIR``
pointed at a new folder, so the venv's own cache is left alone), without and then with
``python -m genrelens.analysis.warm`` run first as the Makefile's install step does; N rounds, interleaved.
cProfile and bench/harness (the audio, gunicorn as the Procfile starts it, timed takes); prints to stdout.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from harness import ROOT, BenchRun, WebServer, make_audio
from harness import UPLOAD_FILES as FILES
from harness import median_ms as timed
from genrelens.web.pictures import KINDS as PICTURES  # the harness put the repository on sys.path

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
import genrelens.web.chart; mark("import genrelens.web.chart (pictures: Pillow, matplotlib's colour maps)")
import av; mark("import av (PyAV: the decoder)")
from ai_edge_litert.interpreter import Interpreter; mark("import ai_edge_litert")
import app; mark("import app (the rest)")
import librosa.core.spectrum; mark("librosa.core.spectrum (lazy: first used in warm_up; scipy, numba)")
import librosa.feature.spectral, librosa.feature.rhythm, librosa.onset; mark("librosa.feature + onset (lazy; constantq, pitch: numba)")
from genrelens.analysis.pipeline import GenreClassifier
classifier = GenreClassifier(); mark("GenreClassifier(): model card + TFLite interpreter")
classifier.warm_up(); mark("warm_up(), first: numba compile/cache load, first calls")
classifier.warm_up(); mark("warm_up(), second (what a warm call costs)")
application = app.create_app({"ANALYSIS_DIR": sys.argv[2], "UPLOAD_DIR": sys.argv[2]}); mark("create_app() again (model + warm-up again)")
print(json.dumps(marks))
"""


def section(title: str) -> None:
    print(f"\n## {title}\n")


def startup(tmp: Path) -> None:
    section("Startup in a fresh interpreter (what gunicorn --preload does before it binds)")
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    bare = (time.perf_counter() - started) * 1000
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", STARTUP, str(ROOT), str(tmp / "startup-store")], cwd=ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    total = (time.perf_counter() - started) * 1000
    if done.returncode:
        print(done.stderr[-2000:])
        return
    print(f"{'python -c pass':62s} {bare:8.0f} ms")
    for name, ms in json.loads(done.stdout.strip().splitlines()[-1]):
        print(f"{name:62s} {ms:8.0f} ms")
    print(f"{'whole subprocess':62s} {total:8.0f} ms")


def print_rows(rows: list[tuple[str, dict[str, float]]]) -> None:
    print(f"{'step':62s} " + " ".join(f"{label:>10s}" for label, _ in rows))
    for name in rows[0][1]:
        print(f"{name:62s} " + " ".join(f"{row.get(name, float('nan')):10.1f}" for _, row in rows))


def max_diff_x1000(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    return float(np.max(np.abs(a[:n] - b[:n]))) * 1000 if n else float("nan")


def cli_decode(path: Path, sr: int, cap: float) -> np.ndarray:
    """The decoder before PyAV: one ffmpeg process per upload, mono float32 on a pipe."""
    from genrelens.analysis import audio

    done = subprocess.run([audio.ffmpeg_binary(), "-nostdin", "-loglevel", "error", "-t", f"{cap:.3f}", "-i", str(path),
                           "-map", "0:a:0", "-vn", "-sn", "-dn", "-ac", "1", "-rematrix_maxval", "1.0", "-ar", str(sr),
                           "-f", "f32le", "pipe:1"], capture_output=True, check=True)
    return np.frombuffer(done.stdout, "<f4")


def decode_steps(path: Path, classifier, repeat: int) -> tuple[dict[str, float], np.ndarray]:
    """audio.decode (PyAV, in-process), its parts, and the alternatives (bench/decode_parity.py compares more)."""
    import av
    import soundfile
    import soxr

    from genrelens.analysis import audio

    sr, cap = classifier.settings.sample_rate, classifier.max_seconds
    row: dict[str, float] = {}

    def demux_decode() -> None:
        with av.open(str(path)) as container:
            for _ in container.decode(container.streams.audio[0]):
                pass
    row["PyAV demux + decode only, native rate"], _ = timed(demux_decode, repeat)
    row["DECODE: audio.decode (PyAV -> swr -> mono 22.05k)"], decoded = timed(
        lambda: audio.decode(str(path), sr, cap), repeat)
    row["  alt: the ffmpeg command line (the decoder before PyAV)"], old = timed(
        lambda: cli_decode(path, sr, cap), repeat)
    row["    (max |diff| vs PyAV, x1000)"] = max_diff_x1000(old, decoded.samples)

    def in_process() -> np.ndarray:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        return soxr.resample(data.mean(axis=1), rate, sr, quality="HQ")
    row["  alt: soundfile.read + soxr HQ, in-process"], alt = timed(in_process, repeat)
    row["    (max |diff| vs PyAV, x1000: a different resampler)"] = max_diff_x1000(alt, decoded.samples)
    return row, decoded.samples


def feature_steps(samples: np.ndarray, classifier, repeat: int) -> tuple[dict[str, float], object]:
    """spectral_features and summary_features, each library call alone with the code's settings."""
    import librosa

    from genrelens.analysis.pipeline import fit_to_segment, slice_segments, spectral_features, summary_features

    s = classifier.settings
    signal = fit_to_segment(samples, s)
    row: dict[str, float] = {}
    row["FEATURES: spectral_features (all below)"], spectral = timed(lambda: spectral_features(signal, s), repeat)
    row["  stft complex64 + abs"], mag = timed(lambda: np.abs(librosa.stft(
        signal, n_fft=s.n_fft, hop_length=s.hop_length, dtype=np.complex64)), repeat)
    row["  spectral_centroid(S)"], _ = timed(lambda: librosa.feature.spectral_centroid(S=mag, sr=s.sample_rate), repeat)
    freqs = librosa.fft_frequencies(sr=s.sample_rate, n_fft=s.n_fft).astype(np.float32)
    row["    alt: freqs @ S / S.sum(axis=0)"], _ = timed(
        lambda: (freqs @ mag) / np.maximum(mag.sum(axis=0), np.finfo(np.float32).tiny), repeat)
    row["  melspectrogram(S=mag**2)"], mel = timed(lambda: librosa.feature.melspectrogram(
        S=mag ** 2, sr=s.sample_rate, n_mels=s.n_mels), repeat)
    row["  power_to_db"], mel_db = timed(lambda: librosa.power_to_db(mel), repeat)
    row["  mfcc(S=mel_db)"], _ = timed(lambda: librosa.feature.mfcc(S=mel_db, n_mfcc=s.n_mfcc), repeat)
    row["  onset_strength(S=mel_db)"], _ = timed(lambda: librosa.onset.onset_strength(
        S=mel_db, sr=s.sample_rate, hop_length=s.hop_length), repeat)
    row["  slice_segments (+ silence RMS per segment)"], segments = timed(
        lambda: slice_segments(signal, spectral, s, len(samples) / s.sample_rate), repeat)
    row["  summary_features (tempo, rms, zcr)"], _ = timed(lambda: summary_features(signal, spectral, s), repeat)
    row["    tempo on the whole onset envelope"], _ = timed(lambda: librosa.feature.tempo(
        onset_envelope=spectral.onset_envelope, sr=s.sample_rate, hop_length=s.hop_length), repeat)
    frames_30s = int(30 * s.sample_rate / s.hop_length)
    middle = max(0, (len(spectral.onset_envelope) - frames_30s) // 2)
    excerpt = spectral.onset_envelope[middle : middle + frames_30s]
    row["    alt: tempo on 30 s of the envelope (the middle)"], _ = timed(lambda: librosa.feature.tempo(
        onset_envelope=excerpt, sr=s.sample_rate, hop_length=s.hop_length), repeat)
    signs = np.signbit(signal)
    row["    rms (float64 copy) + zcr"], _ = timed(lambda: (np.sqrt(np.mean(signal.astype(np.float64) ** 2)),
                                                        np.mean(signs[1:] != signs[:-1])), repeat)
    return row, segments


def pipeline_steps(files: dict[str, Path], classifier, store, repeat: int) -> dict[str, np.ndarray]:
    section(f"Pipeline steps, median of {repeat} runs (5-min file: {max(1, repeat // 2)}), ms; {classifier.settings}")
    signals, rows = {}, []
    for kind, path in files.items():
        r = repeat if FILES[kind][1] <= 30 else max(1, repeat // 2)
        row, samples = decode_steps(path, classifier, r)
        signals[kind] = samples
        features, segments = feature_steps(samples, classifier, r)
        row |= features
        batch = segments.features[~segments.silent]
        row["INFERENCE: predictor.predict (all segments, 1 batch)"], _ = timed(
            lambda: classifier.predictor.predict(batch), r)  # noqa: B023 -- called at once
        row["  segments in the batch"] = float(len(batch))
        row["WEB: analyze_file total (decode+features+inference)"], (analysis, _) = timed(
            lambda: classifier.analyze_file(str(path)), r)  # noqa: B023
        result = {"filename": path.name, **analysis.to_dict()}
        row["  store.add (float16 signal + json + prune)"], _ = timed(
            lambda: store.add(result, samples), r)  # noqa: B023
        row["  json.dumps(result)"], _ = timed(lambda: json.dumps(result), r)  # noqa: B023
        rows.append((FILES[kind][0], row))
    print_rows(rows)
    return signals


def picture_steps(store, samples: np.ndarray, sr: int, repeat: int) -> dict[str, float]:
    """One stored analysis: loading its signal, the numbers of each picture, each whole render."""
    import librosa

    from genrelens.web import pictures as v

    result_id, _ = store.add({}, samples)
    analysis_id = store.attach(result_id, "picture-steps", samples)
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
    for picture in PICTURES:
        row[f"render('{picture}') total"], _ = timed(
            lambda: v.render(picture, signal, sr), repeat)  # noqa: B023 -- called at once
    return row


def matplotlib_steps(repeat: int) -> dict[str, float]:
    """What one image cost in matplotlib alone (a 1025 x 1200 matrix, as the spectrogram), and cheaper ways: the
    pictures as they were drawn before genrelens/web/chart.py (bench/pictures_matplotlib.py)."""
    import matplotlib.pyplot as plt
    import pictures_matplotlib as v

    matrix = np.random.default_rng(0).standard_normal((1025, 1200)).astype(np.float32)

    def draw(tight: bool = True, save: dict | None = None, rows: int | None = None) -> None:
        fig, ax = plt.subplots(figsize=v.FIGSIZE)
        shown = ax.imshow(matrix[:rows], origin="lower", aspect="auto", cmap="magma", interpolation="nearest")
        fig.colorbar(shown, ax=ax, pad=0.01)
        if tight:
            fig.tight_layout()
        else:
            fig.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.9)
        if save is not None:
            fig.savefig(io.BytesIO(), format="png", dpi=v.DPI, **save)
        plt.close(fig)

    row: dict[str, float] = {}
    row["figure + imshow + colorbar"], _ = timed(lambda: draw(tight=False), repeat)
    row["  + tight_layout"], _ = timed(lambda: draw(), repeat)
    row["  + tight_layout + savefig png (as the pictures were)"], _ = timed(lambda: draw(save={}), repeat)
    row["  alt: fixed margins instead of tight_layout"], _ = timed(lambda: draw(tight=False, save={}), repeat)
    row["  alt: png compress_level 1"], _ = timed(lambda: draw(save={"pil_kwargs": {"compress_level": 1}}), repeat)
    row["  alt: only 320 matrix rows (the image is 320 px high)"], _ = timed(lambda: draw(save={}, rows=320), repeat)
    return row


def pictures(signals: dict[str, np.ndarray], classifier, store, repeat: int) -> None:
    section(f"Pictures, median of {repeat} runs (ms)")
    sr = classifier.settings.sample_rate
    print_rows([(FILES[kind][0], picture_steps(store, samples, sr, repeat))
                for kind, samples in signals.items() if kind != "wav_30"])
    print()
    print_rows([("any", matplotlib_steps(repeat))])


WRAPPERS = ("/werkzeug/", "/flask/", "profile_upload.py", "/contextlib.py", "/click/", "/threading.py")


def _where(path: str, line: int, function: str) -> str:
    for marker in ("site-packages/", str(ROOT) + "/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{path}:{line}({function})" if line else function


def profile(label: str, fn, top: int) -> None:
    """cProfile ``fn`` once; list the top calls by cumulative time (web/test wrappers left out), then by own time."""
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    fn()
    profiler.disable()
    wall = (time.perf_counter() - started) * 1000
    stats = pstats.Stats(profiler).stats
    rows = [(ct, tt, nc, _where(*key), key[0]) for key, (_, nc, tt, ct, _) in stats.items()]
    print(f"\n### {label}: {wall:.0f} ms wall (under cProfile)\n")
    print(f"{'cum ms':>8s} {'own ms':>8s} {'calls':>6s}  function")
    shown = [r for r in sorted(rows, reverse=True) if not any(w in r[4] for w in WRAPPERS)]
    for ct, tt, nc, where, _ in shown[:top]:
        print(f"{ct * 1000:8.1f} {tt * 1000:8.1f} {nc:6d}  {where}")
    print("  -- by own time --")
    for ct, tt, nc, where, _ in sorted(rows, key=lambda r: -r[1])[: max(6, top // 2)]:
        print(f"{ct * 1000:8.1f} {tt * 1000:8.1f} {nc:6d}  {where}")


def start_to_health(bench: BenchRun, workdir: Path, env: dict) -> float:
    """Seconds from starting gunicorn as the Procfile does (`make run`'s command) to the first 200 from
    /healthz; prints its warm-up log lines."""
    server = bench.start(WebServer(workdir, "cold start", env=env))
    try:
        return server.wait_healthy(timeout_s=300, poll_s=0.05)
    finally:
        bench.stop(server)
        print("    " + "\n    ".join(line for line in server.log_text().splitlines() if "warm" in line))


def cold_start(rounds: int, bench: BenchRun) -> None:
    section(f"Cold start: gunicorn start -> /healthz 200 with an empty numba cache, {rounds} rounds interleaved")
    results: dict[str, list[float]] = {"no install warm-up (before)": [], "after `python -m genrelens.analysis.warm`": []}
    for round_ in range(rounds):
        for label in results:
            name = f"{round_}-{len(results[label])}-{label[:5]}"
            cache = bench.tmp / f"numba-{name}"
            cache.mkdir(parents=True)
            env = {"NUMBA_CACHE_DIR": str(cache)}
            if label.startswith("after"):
                done = subprocess.run([sys.executable, "-m", "genrelens.analysis.warm"], cwd=ROOT, env=os.environ | env,
                                      capture_output=True, text=True, timeout=600, check=True)
                print(f"  install step: {done.stdout.strip().splitlines()[-1]}")
            seconds = start_to_health(bench, bench.tmp / f"server-{name}", env)
            results[label].append(seconds)
            print(f"  round {round_ + 1}, {label}: {seconds:.2f} s")
    for label, values in results.items():
        print(f"{label:40s} median {statistics.median(values):6.2f} s  ({', '.join(f'{v:.2f}' for v in values)})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="runs per step (the 5-min file: half)")
    parser.add_argument("--top", type=int, default=18, help="rows per cProfile listing")
    parser.add_argument("--skip-startup", action="store_true")
    parser.add_argument("--cold-start", type=int, default=0, metavar="N",
                        help="only measure the first start with a cold numba cache, N rounds")
    args = parser.parse_args()
    with BenchRun("bench/profile_upload.py", sys.argv[1:]) as bench:
        tmp = bench.tmp
        if args.cold_start:
            cold_start(args.cold_start, bench)
            return 0
        print(f"# Profile of one upload ({time.strftime('%Y-%m-%d %H:%M:%S')}, load average "
              f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())}, {len(os.sched_getaffinity(0))} CPUs)")
        # two copies of each file: the service answers audio it has seen from its database, so the profiled
        # upload must be another copy than the warm-up upload before it
        copies = make_audio(tmp / "audio", dict.fromkeys(FILES, 2))
        files = {kind: paths[0] for kind, paths in copies.items()}
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
        for kind, (first, second) in copies.items():
            def send(path: Path, kind=kind):
                with open(path, "rb") as handle:
                    response = client.post("/file-upload", data={"file": (handle, path.name)},
                                           content_type="multipart/form-data")
                assert response.status_code == 200, response.get_data(as_text=True)[:300]
                assert not response.get_json().get("cached"), "a profiled upload must be new audio"
                ids[kind] = response.get_json()["id"]
            send(first)  # once unprofiled (first-call effects), then another copy profiled
            profile(f"POST /file-upload, {FILES[kind][0]}", lambda second=second, send=send: send(second), args.top)
        section("cProfile: each picture, first render of a fresh 30-s analysis")
        for picture in PICTURES:
            def get(picture=picture):
                response = client.get(f"/analyses/{ids['mp3_30']}/{picture}.png")
                assert response.status_code == 200
            profile(f"GET {picture}.png", get, max(10, args.top // 2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
