"""Benchmark: which track vector makes "more like this" find the same kind of music? (issue 23, item 6)

    .venv/bin/python bench/similar_quality.py --data-dir ../shared/data/gtzan --electronic-dir ../shared/data/ishkur

For every track on the TEST side of GTZAN (its split lists) and of Ishkur's guide (its INDEX.csv), the
served pipeline's audible segments go through musicnn and the distilled student; each candidate vector
is one per track (the mean over its segments), compared by cosine. For each track its 5 nearest other
tracks of the same collection are found, and the score is the share of them with the same label:
GTZAN's genre; for the guide its style (the 7 top types) and its guide genre (179 keys, 1-9 clips each,
so few neighbours can share one). The baseline is the MFCC summary (mean and standard deviation of 20
MFCCs over the track, each dimension standardised over the collection), as the issue asks.

Candidates: musicnn's 50 tag likelihoods, its 200-d penultimate layer, its 1506 pooled features
(standardised as the shipped nearest-genre index does), the index's 64-d PCA of those pooled features
(``models/electronic_reference.npz``: what the service stores for musicnn) and the student's estimate of
that 64-d vector (what it stores for the student and the MFCC CNN). Per-track outputs are cached in
``.cache/similar_quality`` (a rerun only recomputes the table). Writes ``bench/similar_quality.md``.
"""
from __future__ import annotations

import argparse
import csv
import datetime as dt
import hashlib
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(HERE))

from genrelens.analysis import musicnn_features  # noqa: E402
from genrelens.analysis.pipeline import AnalysisError, GenreClassifier, extract_features  # noqa: E402
from genrelens.explore.embeddings import unit  # noqa: E402

K = 5
STARTED = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:6.1f} s] {message}", file=sys.stderr, flush=True)


def gtzan_test(data_dir: Path) -> list[dict]:
    """GTZAN's test list (lines like ``blues/blues.00012.wav``; the files may be another format)."""
    tracks = []
    for line in sorted((data_dir / "splits").glob("*test*.txt"))[0].read_text().split():
        stem = Path(line).with_suffix("")
        found = sorted((data_dir / stem.parent).glob(stem.name + ".*"))
        if found:
            tracks.append({"path": found[0], "genre": stem.parent.name})
    return tracks


def guide_test(electronic_dir: Path) -> list[dict]:
    with open(electronic_dir / "INDEX.csv", newline="") as handle:
        return [{"path": electronic_dir / row["file"], "genre": row["genre"], "style": row["type"]}
                for row in csv.DictReader(handle) if row["split"] == "test"]


def track_outputs(classifier: GenreClassifier, path: Path, cache: Path) -> dict[str, np.ndarray] | None:
    """Per-track means of musicnn's outputs, the student's 64-d estimate and the MFCC summary (cached)."""
    stat = path.stat()
    entry = cache / (hashlib.sha1(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{classifier.weights_digest}"
                                  .encode()).hexdigest() + ".npz")
    if entry.exists():
        with np.load(entry) as data:
            return dict(data)
    settings = classifier.settings
    audio = classifier.decode(str(path))
    try:
        signal, spectral, segments = extract_features(audio.samples, settings)
    except AnalysisError:
        return None
    audible = ~segments.silent
    if not audible.any():
        return None
    patches = musicnn_features.patches(signal, settings.sample_rate, segments.start_s[audible],
                                       classifier.musicnn.card.get("input_level_dbfs"))
    outputs = classifier.musicnn.network.run(patches)
    student = classifier.student_answers(segments, audible)
    mfcc = spectral.features[: settings.n_mfcc]
    found = {"tags": outputs["tags"].mean(axis=0), "penultimate": outputs["penultimate"].mean(axis=0),
             "pooled": outputs["pooled"].mean(axis=0), "student": student.projections.mean(axis=0),
             "mfcc": np.concatenate([mfcc.mean(axis=1), mfcc.std(axis=1)])}
    cache.mkdir(parents=True, exist_ok=True)
    np.savez(entry, **found)
    return found


def candidates(outputs: list[dict], classifier: GenreClassifier) -> dict[str, np.ndarray]:
    """Each candidate as unit rows (tracks, d)."""
    reference = classifier.musicnn.electronic.reference
    stack = {name: np.stack([o[name] for o in outputs]).astype(np.float64) for name in outputs[0]}
    mfcc = stack["mfcc"]
    mfcc = (mfcc - mfcc.mean(axis=0)) / np.maximum(mfcc.std(axis=0), 1e-9)
    return {
        "MFCC summary (baseline)": unit(mfcc),
        "musicnn tags (50)": unit(stack["tags"]),
        "musicnn penultimate (200)": unit(stack["penultimate"]),
        "musicnn pooled, standardised (1506)": unit((stack["pooled"] - reference.mean) / reference.scale),
        "musicnn pooled -> index PCA (64), shipped": unit(reference.project(stack["pooled"])),
        "student's estimate of the 64-d vector, shipped": unit(stack["student"]),
    }


def neighbour_share(vectors: np.ndarray, labels: list[str], k: int = K) -> float:
    """Mean share of each track's ``k`` nearest other tracks (cosine) that carry its label."""
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -np.inf)
    nearest = np.argsort(-similarity, axis=1)[:, :k]
    labels_array = np.array(labels)
    return float((labels_array[nearest] == labels_array[:, None]).mean())


def evaluate(name: str, tracks: list[dict], classifier: GenreClassifier, cache: Path,
             label_keys: tuple[str, ...]) -> dict:
    kept, outputs = [], []
    for i, track in enumerate(tracks):
        found = track_outputs(classifier, track["path"], cache)
        if found is not None:
            kept.append(track)
            outputs.append(found)
        if (i + 1) % 50 == 0:
            progress(f"{name}: {i + 1}/{len(tracks)} tracks")
    vectors = candidates(outputs, classifier)
    scores = {key: {vector: neighbour_share(rows, [t[key] for t in kept]) for vector, rows in vectors.items()}
              for key in label_keys}
    chance = {key: chance_share([t[key] for t in kept]) for key in label_keys}
    return {"name": name, "tracks": len(kept), "scores": scores, "chance": chance}


def chance_share(labels: list[str]) -> float:
    """What a random neighbour would score: the chance another track shares a track's label."""
    counts = {label: labels.count(label) for label in set(labels)}
    n = len(labels)
    return sum(c * (c - 1) for c in counts.values()) / (n * (n - 1))


def table(results: list[dict], command: str) -> str:
    columns = [(r, key) for r in results for key in r["scores"]]
    header = " | ".join(f"{r['name']} ({r['tracks']} tracks): same {key}" for r, key in columns)
    lines = [
        "# Neighbour quality of the track vectors (bench/similar_quality.py)",
        "",
        f"Measured {dt.date.today().isoformat()} with `{command}`.",
        "",
        f"The share of each TEST track's {K} nearest other tracks of the same collection (cosine) with the same "
        "label; higher is better. `chance` is the share a random neighbour would have.",
        "",
        f"| vector | {header} |",
        "|---|" + "---|" * len(columns),
    ]
    for vector in results[0]["scores"][next(iter(results[0]["scores"]))]:
        cells = " | ".join(f"{r['scores'][key][vector]:.3f}" for r, key in columns)
        lines.append(f"| {vector} | {cells} |")
    lines.append("| chance | " + " | ".join(f"{r['chance'][key]:.3f}" for r, key in columns) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True, help="GTZAN-style folder with splits/")
    parser.add_argument("--electronic-dir", type=Path, required=True, help="Ishkur's guide folder with INDEX.csv")
    parser.add_argument("--cache", type=Path, default=HERE / ".cache" / "similar_quality")
    parser.add_argument("--out", type=Path, default=HERE / "bench" / "similar_quality.md")
    args = parser.parse_args(argv)
    classifier = GenreClassifier()
    if not classifier.musicnn or not classifier.student:
        raise SystemExit("musicnn and the student must be installed (models/)")
    results = [evaluate("GTZAN test", gtzan_test(args.data_dir), classifier, args.cache, ("genre",)),
               evaluate("guide test", guide_test(args.electronic_dir), classifier, args.cache, ("style", "genre"))]
    command = "bench/similar_quality.py " + " ".join(a if " " not in a else repr(a) for a in (argv or sys.argv[1:]))
    text = table(results, command.strip())
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
