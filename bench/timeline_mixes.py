"""How well the timeline follows a song that changes: mixes of real sections of known genre.

    python bench/timeline_mixes.py --data-dir ../shared/data/gtzan --electronic-dir ../shared/data/ishkur \
        --split test --out bench/timeline_mixes.md

Each mix joins ``--sections`` sections of ``--section-seconds`` from different tracks of one split
(different genres, cut from the middle of each track), decoded like an upload. A timeline segment is
scored against the section that covers most of it. Rows:

- musicnn and its distilled student on every segment, each smoothed at every ``--switch-costs`` value
  (0 = no smoothing: each segment's own answer);
- the old timeline: musicnn on 4 segments spread over the mix, each segment copying the nearest one;
- the same sections uploaded on their own (track-level accuracy, the default model): what a timeline
  that knew the borders could reach.

Choose the switch cost on ``--split valid``; quote ``--split test``.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from harness import ROOT, BenchRun, write_report
from genrelens.analysis.pipeline import GenreClassifier, extract_features  # noqa: E402
from genrelens.analysis.timeline import smooth  # noqa: E402
from training.dataset import default_split_dir, load_files  # noqa: E402


def pick_mixes(files, count: int, sections: int, rng: np.random.Generator):
    """``count`` lists of ``sections`` files of different genres."""
    by_genre: dict[str, list] = {}
    for f in files:
        by_genre.setdefault(f.genre, []).append(f)
    genres = sorted(by_genre)
    mixes = []
    for _ in range(count):
        chosen = rng.choice(len(genres), size=min(sections, len(genres)), replace=False)
        mixes.append([by_genre[genres[g]][int(rng.integers(len(by_genre[genres[g]])))] for g in chosen])
    return mixes


def middle(samples: np.ndarray, length: int) -> np.ndarray | None:
    if len(samples) < length:
        return None
    start = (len(samples) - length) // 2
    return samples[start : start + length]


def old_timeline(probabilities: np.ndarray, budget: int = 4) -> np.ndarray:
    """What the server did before: hear ``budget`` segments at the middles of equal parts, copy the nearest."""
    n = len(probabilities)
    heard = np.arange(n) if n <= budget else np.floor((np.arange(budget) + 0.5) * n / budget).astype(int)
    nearest = np.abs(heard[np.newaxis, :] - np.arange(n)[:, np.newaxis]).argmin(axis=1)
    return probabilities[heard][nearest].argmax(axis=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--electronic-dir", type=Path)
    parser.add_argument("--split", default="test", choices=("valid", "test"))
    parser.add_argument("--mixes", type=int, default=40)
    parser.add_argument("--sections", type=int, default=6)
    parser.add_argument("--section-seconds", type=float, default=20.0)
    parser.add_argument("--switch-costs", default="0,1,1.5,2,3,4")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with BenchRun("bench/timeline_mixes.py", sys.argv[1:]) as bench:
        lines = measure(args)
    title = [f"# Timeline on mixes of real sections ({args.split})", "", bench.date_line(), bench.command_line()]
    write_report("\n".join(title + lines) + "\n", args.out)


def measure(args: argparse.Namespace) -> list[str]:
    """The report's lines after its title, its date and its command."""
    classifier = GenreClassifier(ROOT / "models")
    genres, sr = classifier.genres, classifier.settings.sample_rate
    length = int(args.section_seconds * sr)
    files = [f for f in load_files(args.data_dir, default_split_dir(args.data_dir), args.electronic_dir)
             if f.split == args.split and f.genre in genres]
    sections = {}
    for f in files:  # decoded once, like an upload; only tracks long enough for a whole section
        piece = middle(classifier.decode(str(f.path)).samples, length)
        if piece is not None:
            sections[f.path] = piece
    files = [f for f in files if f.path in sections]
    mixes = pick_mixes(files, args.mixes, args.sections, np.random.default_rng(args.seed))
    costs = [float(c) for c in args.switch_costs.split(",")]

    right = {f"{model} on every segment, switch cost {c:g}": [] for model in ("musicnn", "student") for c in costs}
    right["old: musicnn on 4 segments, copied to the rest"] = []
    alone = []
    for mix in mixes:
        signal = np.concatenate([sections[f.path] for f in mix])
        _, _, segments = extract_features(signal, classifier.settings, model_rows=False)
        audible = ~segments.silent
        middles = (segments.start_s[audible] + 1.5) * sr
        truth = np.array([genres.index(mix[min(int(m // length), len(mix) - 1)].genre) for m in middles])
        answers = {"student": classifier.student_answers(segments, audible).genres,
                   "musicnn": classifier.musicnn_answers(signal, segments.start_s[audible]).genres}
        for model, probabilities in answers.items():
            for c in costs:
                right[f"{model} on every segment, switch cost {c:g}"].append(smooth(probabilities, c) == truth)
        right["old: musicnn on 4 segments, copied to the rest"].append(old_timeline(answers["musicnn"]) == truth)
        for f in mix:
            analysis = classifier.analyze_signal(sections[f.path], args.section_seconds)
            alone.append(analysis.genre == f.genre)

    lines = [
        f"- **Mixes:** {len(mixes)} of {args.sections} sections x {args.section_seconds:g} s, from {len(files)} "
        f"{args.split} tracks of at least that length, each section from a different genre; default model "
        f"`{classifier.default_model}`, served switch cost {classifier.switch_cost:g}",
        "",
        "| timeline | segments on their section's genre |",
        "|---|---|",
    ]
    for name, hits in right.items():
        hits = np.concatenate(hits)
        lines.append(f"| {name} | {hits.mean():.1%} ({hits.sum()}/{hits.size}) |")
    lines.append(f"| each section uploaded alone (track-level, `{classifier.default_model}`) | "
                 f"{np.mean(alone):.1%} ({int(np.sum(alone))}/{len(alone)}) |")
    return lines


if __name__ == "__main__":
    main()
