"""A portrait of each genre and electronic style, drawn from what its TRAIN tracks sound like.

    python -m training.genre_portraits --data-dir ../shared/data/gtzan --electronic-dir ../shared/data/ishkur

For every genre of ``genre_mapping.txt`` and every electronic style, every train file of it (the same
files and split as ``training.train``: GTZAN's filtered lists, the guide's artist split; valid and test
never look) is decoded and heard twice:

- its **log-mel spectrum** (48 bands up to 11 kHz, averaged over time): where the sound's energy sits;
- its **pulse**: the autocorrelation of the onset envelope for lags 0.1-2 s, normalised by its zero lag:
  how strongly the music repeats after each lag (a steady beat peaks at its period and its multiples).

Each genre's profile is the mean over its files; ``training.portrait_drawing`` turns it into a 256-px
picture in the genre's colour, written to ``static/images/genres/<slug>.png`` (styles by their lower-case
name), with ``portraits.json`` beside them (the train tracks and files of each and its strongest pulse,
as docs/training.md reports them). Deterministic: the same audio gives the same bytes.
"""
from __future__ import annotations

import argparse
import json
import logging
from collections import defaultdict
from pathlib import Path

import numpy as np

from genrelens.analysis.audio import DecodeError, decode
from training.dataset import default_split_dir, load_files
from training.files import AudioFile
from training.ishkur import STYLES
from training.portrait_drawing import FLOOR_DB, Profile, draw

log = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parent.parent
SR = 22050
HOP = 512
N_MELS = 48
MAX_SECONDS = 30.0
LAG_MIN_S, LAG_MAX_S = 0.1, 2.0
BPM_RANGE = (60.0, 180.0)


def style_slug(style: str) -> str:
    return style.lower()


def lags() -> np.ndarray:
    """The pulse's lags, in onset-envelope frames."""
    frames_per_s = SR / HOP
    return np.arange(int(round(LAG_MIN_S * frames_per_s)), int(round(LAG_MAX_S * frames_per_s)) + 1)


def listen(samples: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """One file's mean log-mel spectrum (dB, power) and pulse; None for silence or a clip shorter than the lags."""
    import librosa

    if samples.size < HOP * (lags()[-1] + 2) or not np.any(samples):
        return None
    mel = librosa.feature.melspectrogram(y=samples, sr=SR, hop_length=HOP, n_mels=N_MELS, fmax=SR / 2)
    mel_db = librosa.power_to_db(mel.mean(axis=1), ref=1.0)
    onset = librosa.onset.onset_strength(S=librosa.power_to_db(mel, ref=np.max), sr=SR, hop_length=HOP)
    onset = onset - onset.mean()
    energy = float(np.dot(onset, onset))
    if energy <= 0.0:
        return mel_db, np.zeros(len(lags()))
    corr = librosa.autocorrelate(onset, max_size=lags()[-1] + 1)
    return mel_db, np.clip(corr[lags()] / energy, 0.0, 1.0)


def profile(slug: str, name: str, color: str, files: list[AudioFile], heard: dict[Path, tuple]) -> Profile:
    """The mean of the files' spectra (in power, then dB below the loudest band) and of their pulses."""
    kept = [f for f in files if heard.get(f.path) is not None]
    if not kept:
        raise ValueError(f"{slug}: no train audio to draw from")
    power = np.mean([10.0 ** (heard[f.path][0] / 10.0) for f in kept], axis=0)
    mel_db = np.maximum(10.0 * np.log10(power / power.max()), FLOOR_DB)
    pulse = np.mean([heard[f.path][1] for f in kept], axis=0)
    bpm = 60.0 * SR / HOP / lags()
    window = (bpm >= BPM_RANGE[0]) & (bpm <= BPM_RANGE[1])
    # a steady beat repeats at its period and at every multiple of it: lean towards 120 BPM (one octave
    # either way costs a factor of 0.6), so a beat is not read at half its speed
    prior = np.exp(-0.5 * np.log2(bpm / 120.0) ** 2)
    pulse_bpm = float(bpm[window][np.argmax((pulse * prior)[window])])
    return Profile(slug, name, color, len({f.track for f in kept}), len(kept), mel_db, pulse, pulse_bpm)


def groups(files: list[AudioFile], genres: list[str]) -> dict[str, list[AudioFile]]:
    """slug -> its train files: each genre, and each electronic style (the electronic clips of that style)."""
    out: dict[str, list[AudioFile]] = defaultdict(list)
    for f in files:
        if f.split != "train":
            continue
        if f.genre in genres:
            out[f.genre].append(f)
        if f.genre == "electronic" and f.style in STYLES:
            out[style_slug(f.style)].append(f)
    return out


def colours(guide: dict) -> dict[str, tuple[str, str]]:
    """slug -> (display name, colour) from genres.json, styles included."""
    found = {key: (entry.get("name", key), entry.get("color", "#888888")) for key, entry in guide.items()}
    for style, entry in guide.get("electronic", {}).get("styles", {}).items():
        found[style_slug(style)] = (entry.get("name", style), entry.get("color", "#888888"))
    return found


def hear(files: list[AudioFile]) -> dict[Path, tuple | None]:
    """Each file's ``listen`` result (None for a file that does not decode or is too short)."""
    heard: dict[Path, tuple | None] = {}
    paths = sorted({f.path for f in files})
    for i, path in enumerate(paths):
        try:
            heard[path] = listen(decode(str(path), SR, MAX_SECONDS).samples)
        except DecodeError as exc:
            log.warning("%s: %s", path, exc)
            heard[path] = None
        if (i + 1) % 100 == 0:
            log.info("heard %d/%d files", i + 1, len(paths))
    return heard


def reference(profiles: dict[str, Profile], genres: list[str]) -> np.ndarray:
    """The genres' mean spectrum (dB): what each portrait's petals are measured against."""
    chosen = [profiles[g].mel_db for g in genres if g in profiles] or [p.mel_db for p in profiles.values()]
    return np.mean(chosen, axis=0)


def draw_all(profiles: dict[str, Profile], genres: list[str], out_dir: Path) -> dict[str, dict]:
    """Write ``<slug>.png`` for every profile and ``portraits.json``; returns the summary written."""
    ref = reference(profiles, genres)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary: dict[str, dict] = {}
    for slug in sorted(profiles):
        portrait = profiles[slug]
        (out_dir / f"{slug}.png").write_bytes(draw(portrait, ref))
        summary[slug] = {"name": portrait.name, "tracks": portrait.tracks, "files": portrait.files,
                         "pulse_bpm": round(portrait.pulse_bpm, 1)}
        log.info("%s: %d tracks, pulse %.0f BPM", slug, portrait.tracks, portrait.pulse_bpm)
    (out_dir / "portraits.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n")
    return summary


def make_portraits(data_dir: Path, electronic_dir: Path | None, genres: list[str], guide: dict,
                   out_dir: Path) -> dict[str, dict]:
    """Hear every train file once, draw every genre and style, write the PNGs and portraits.json."""
    files = load_files(data_dir, default_split_dir(data_dir), electronic_dir)
    by_slug = groups(files, genres)
    heard = hear([f for members in by_slug.values() for f in members])
    names = colours(guide)
    profiles = {slug: profile(slug, *names.get(slug, (slug, "#888888")), members, heard)
                for slug, members in by_slug.items()}
    return draw_all(profiles, genres, out_dir)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Draw each genre's and style's portrait from its train tracks.")
    parser.add_argument("--data-dir", type=Path, required=True, help="GTZAN-style folders (with splits/)")
    parser.add_argument("--electronic-dir", type=Path, help="Ishkur's guide clips (INDEX.csv)")
    parser.add_argument("--mapping", type=Path, default=ROOT / "genre_mapping.txt")
    parser.add_argument("--genres-json", type=Path, default=ROOT / "genres.json")
    parser.add_argument("--out-dir", type=Path, default=ROOT / "static" / "images" / "genres")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    genres = args.mapping.read_text().split()
    guide = json.loads(args.genres_json.read_text(encoding="utf-8"))
    summary = make_portraits(args.data_dir, args.electronic_dir, genres, guide, args.out_dir)
    missing = [g for g in genres if g not in summary]
    if missing:
        raise SystemExit(f"no train audio for: {', '.join(missing)}")


if __name__ == "__main__":
    main()
